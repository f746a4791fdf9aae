""".env.example's examples load as written both ways the README gives: through the shell
(`set -a; . ./.env; set +a`, for make run and manage.py) and through docker compose's env_file
(which strips one pair of quotes around a value). Unquoted, `NAME=CC BY-SA 3.0` runs `BY-SA` as
a command and leaves NAME unset, and `NAME=Hearth <a@b>` stops the shell reading the file."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SETTING = re.compile(r"^(?:# ?)?([A-Z][A-Z0-9_]*)=(.*)$")


def as_compose_reads(value: str) -> str:
    """A value as docker compose's env_file gives it: one pair of matching quotes removed."""
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return value[1:-1]
    return value


def test_every_example_uncommented_is_read_by_the_shell_as_compose_reads_it(
    tmp_path: Path,
) -> None:
    lines = (ROOT / ".env.example").read_text().splitlines()
    settings = [m.groups() for m in map(SETTING.match, lines) if m]
    assert len(settings) > 60  # the whole file, not a part of it
    env_file = tmp_path / "env"
    env_file.write_text("".join(f"{name}={value}\n" for name, value in settings))
    dump = "import json, os; print(json.dumps(dict(os.environ)))"
    load = f'set -a; . "$1"; set +a; exec "{sys.executable}" -c "$2"'
    done = subprocess.run(
        ["bash", "-c", load, "-", str(env_file), dump],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0 and done.stderr == ""
    read = json.loads(done.stdout)
    wrong = {
        name: (read.get(name), as_compose_reads(value))
        for name, value in settings
        if read.get(name) != as_compose_reads(value)
    }
    assert wrong == {}
    assert read["HEARTH_LICENCE_NAME"] == "CC BY-SA 3.0"
    assert read["DEFAULT_FROM_EMAIL"] == "Hearth <hearth@example.org>"
