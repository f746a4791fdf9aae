"""Every environment variable Hearth reads is documented: in .env.example (with its default)
and in the README's Configuration table."""

from __future__ import annotations

import re
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]
# The typed readers (apps.core.env's envstr/envbool/…, the worker's env_int/_env_float) and
# os.environ itself, each with the variable's name as a literal.
READS = re.compile(
    r"""(?:\b_?env_?[a-z]*\(|os\.environ\.get\(|os\.environ\[|os\.getenv\()\s*"([A-Z][A-Z0-9_]*)\""""
)
# Set by a process for its children, not by whoever deploys Hearth.
NOT_CONFIGURATION = {
    "HEARTH_PARENT_PID",  # worker.jobs, for the ranks it starts
    "WORLD_SIZE",  # torchrun, for each rank (.env.example says so)
    "RANK",
    "LOCAL_RANK",
}


def variables_read() -> dict[str, str]:
    found: dict[str, str] = {}
    for folder in ("apps", "worker"):
        for path in sorted((BASE_DIR / folder).rglob("*.py")):
            for name in READS.findall(path.read_text()):
                found.setdefault(name, str(path.relative_to(BASE_DIR)))
    return {n: where for n, where in found.items() if n not in NOT_CONFIGURATION}


def test_the_scan_finds_the_variables_it_should():
    read = variables_read()
    for name in (
        "SECRET_KEY",
        "HEARTH_HTTPS",
        "HF_TOKEN",
        "HEARTH_GPUS_PER_RUN",
        "WEB_CONCURRENCY",
    ):
        assert name in read


def test_env_example_and_the_readme_list_every_variable_read():
    env_example = (BASE_DIR / ".env.example").read_text()
    readme = (BASE_DIR / "README.md").read_text()
    undocumented = [
        f"{name} ({where})"
        for name, where in sorted(variables_read().items())
        if not re.search(rf"^(# )?{name}=", env_example, re.MULTILINE)
        or f"| `{name}` |" not in readme
    ]
    assert undocumented == []
