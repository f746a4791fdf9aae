"""The web process imports the releases app at start-up; pyarrow (and the ML stack) must
stay out of it until a release is built."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_importing_the_releases_app_loads_no_pyarrow():
    code = (
        "import sys, django\n"
        "django.setup()\n"
        "from django.urls import get_resolver\n"
        "get_resolver().url_patterns\n"
        "import apps.releases.building, apps.releases.cards, apps.releases.services\n"
        "import apps.releases.selectors, apps.releases.tasks, apps.releases.admin\n"
        "import apps.releases.management.commands.release\n"
        "heavy = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'pyarrow', 'torch', 'transformers', 'datasets'})\n"
        "print(heavy)\n"
    )
    env = dict(os.environ, DJANGO_SETTINGS_MODULE="apps.settings")
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
