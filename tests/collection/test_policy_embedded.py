"""The collection policy on the embedded default (SQLite), which stores any integer where
PostgreSQL's small integer column stops at 32767: there only the policy's own ranges guard the
numbers it computes with. In a subprocess with no DATABASE_URL, as tests/core's smoke test."""

from __future__ import annotations

import pytest

from tests.embedded import script_outcome

SCRIPT = r"""
import json
import django
django.setup()
from django.conf import settings
from django.contrib.auth.models import Group
from rest_framework.test import APIClient
from apps.accounts import roles
from tests.factories import LicenceAcceptanceFactory, UserFactory

assert settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
maintainer = UserFactory()
maintainer.groups.add(Group.objects.get(name=roles.VOLUNTEER), Group.objects.get(name=roles.MAINTAINER))
LicenceAcceptanceFactory(user=maintainer)
api = APIClient(raise_request_exception=False)
api.force_authenticate(maintainer)
patch = api.patch("/api/v1/policy/", {"write_minutes": 10**12}, format="json")
task = api.get("/api/v1/tasks/next/", {"type": "write"})
print(json.dumps({"patch": [patch.status_code, patch.json()], "task": task.status_code}))
"""


@pytest.mark.slow(seconds=8)
def test_a_task_time_past_any_date_is_a_400_on_sqlite_and_tasks_are_still_handed_out(tmp_path):
    outcome = script_outcome(tmp_path, SCRIPT)
    # It was a 200, and then every next writing task a 500 (OverflowError: date value out of
    # range, from now plus that many minutes).
    assert outcome == {"patch": [400, {"write_minutes": ["From 1 to 10080."]}], "task": 200}
