"""A release build leaves pandas unimported: pyarrow imports it (about 45 MB of RSS) the first
time a Python list or value reaches ``pa.array``, ``pa.scalar`` or a compute function, and
whenever Acero or pyarrow.dataset is used, so the build avoids all of these."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from apps.releases.models import Release, ReleaseState
from apps.releases.services import release_create
from tests.celery_workers import django_env
from tests.releases.helpers import build

ROOT = Path(__file__).resolve().parents[2]

BUILD = """
import json, sys
import django
django.setup()
from apps.releases.building import release_build
release = release_build(int(sys.argv[1]))
print(json.dumps({"state": release.state, "pandas": "pandas" in sys.modules}))
"""


def test_a_build_in_a_fresh_process_never_imports_pandas(world):
    # A previous release too, so the build also reads its row keys back to count changes.
    assert build().state == ReleaseState.READY
    release = release_create(user=None, enqueue=False)
    result = subprocess.run(
        [sys.executable, "-c", BUILD, str(release.pk)],
        cwd=ROOT,
        env=django_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout.splitlines()[-1]) == {
        "state": ReleaseState.READY,
        "pandas": False,
    }
    release = Release.objects.get(pk=release.pk)
    assert release.changes is not None
    # Every config has rows: the rankings and preferences code ran.
    for config in ("sft", "preferences", "rankings", "prompts"):
        assert sum(release.counts["rows"][config].values()) > 0, config
