"""A request that finds SQLite's write lock taken for the whole busy timeout ("database is
locked") answers 503 with Retry-After and words a person understands, as JSON under /api/ and
as the site's 503 page elsewhere, and saves nothing; the log gets one WARNING line, not an
ERROR with a traceback. It was a 500 (upgrade QA: a volunteer's ``GET /api/v1/tasks/next/``
while a maintainer's import ran on the embedded default)."""

from __future__ import annotations

import json
import sqlite3

import pytest
from django.db import OperationalError as DjangoOperationalError

from apps.core.middleware import is_database_busy
from tests.embedded import script_outcome

# On the embedded default, in a subprocess (as tests/core's smoke test): another connection
# holds the write lock (BEGIN IMMEDIATE) while the requests run, with a busy timeout of 0.3 s
# instead of the settings' 20 s.
SCRIPT = r"""
import json, logging, sqlite3
import django
django.setup()
from django.conf import settings
from django.contrib.auth.models import Group
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient
from apps.accounts import roles
from apps.assignments.models import Assignment
from apps.collection.models import Prompt, PromptState
from tests.factories import LicenceAcceptanceFactory, PromptFactory, UserFactory

assert settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
connection.settings_dict["OPTIONS"]["timeout"] = 0.3  # read when each connection opens

records = []
class Keep(logging.Handler):
    def emit(self, record):
        records.append((record.levelname, record.name, record.getMessage()))
logging.getLogger().addHandler(Keep(level=logging.WARNING))

volunteer = UserFactory()
volunteer.groups.add(Group.objects.get(name=roles.VOLUNTEER))
LicenceAcceptanceFactory(user=volunteer)
PromptFactory(state=PromptState.REVIEW)  # a task to take
api = APIClient(raise_request_exception=False)
api.force_authenticate(volunteer)
web = Client(raise_request_exception=False)
web.force_login(volunteer)
PROMPT = {
    "category": "open_qa", "instruction": "Why do cats purr?", "context": "",
    "language": "en", "response": "Mostly to signal contentment, though not only.",
}

def answer(r):
    return {
        "status": r.status_code,
        "retry_after": r.get("Retry-After"),
        "type": r.get("Content-Type", "").split(";")[0],
        "body": r.content.decode(),
    }

holder = sqlite3.connect(settings.DATABASES["default"]["NAME"], isolation_level=None)
holder.execute("BEGIN IMMEDIATE")
busy = {
    "next": answer(api.get("/api/v1/tasks/next/")),
    "api_prompt": answer(api.post("/api/v1/prompts/", PROMPT, format="json")),
    "page_write": answer(web.post("/write/", {**PROMPT, "idempotency_key": "k" * 32})),
}
logged = list(records)
holder.execute("ROLLBACK")
saved = {
    "prompts": Prompt.objects.filter(instruction=PROMPT["instruction"]).count(),
    "assignments": Assignment.objects.count(),
}
free = api.get("/api/v1/tasks/next/").status_code
print(json.dumps({"busy": busy, "logged": logged, "saved": saved, "free": free}))
"""

MESSAGE = "The site is busy; try again in a few seconds. Nothing was saved."


@pytest.mark.slow(seconds=10)
def test_a_request_that_finds_sqlite_locked_is_a_503_to_retry_and_saves_nothing(tmp_path):
    outcome = script_outcome(tmp_path, SCRIPT)
    busy = outcome["busy"]

    for name in ("next", "api_prompt"):
        answered = busy[name]
        assert (answered["status"], answered["type"]) == (503, "application/json"), answered
        assert json.loads(answered["body"]) == {"detail": MESSAGE}
        assert answered["retry_after"] == "5"
    page = busy["page_write"]
    assert (page["status"], page["type"], page["retry_after"]) == (503, "text/html", "5"), page
    assert "<h1>The site is busy</h1>" in page["body"]
    assert MESSAGE in page["body"]
    assert "Traceback" not in page["body"]
    # One WARNING line a request, no ERROR (Django logs a 5xx as one, with the traceback).
    assert [(level, name) for level, name, _message in outcome["logged"]] == [
        ("WARNING", "apps.core.middleware")
    ] * 3, outcome["logged"]
    assert "GET /api/v1/tasks/next/: the database stayed locked" in outcome["logged"][0][2]
    # Nothing half-saved: no prompt, no task held; and once the lock is free, the same
    # request is served.
    assert outcome["saved"] == {"prompts": 0, "assignments": 0}
    assert outcome["free"] == 200


def _locked() -> sqlite3.OperationalError:
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = 5  # type: ignore[attr-defined]
    error.sqlite_errorname = "SQLITE_BUSY"  # type: ignore[attr-defined]
    return error


def test_only_sqlites_busy_error_counts_as_a_busy_database():
    wrapped = DjangoOperationalError("database is locked")
    wrapped.__cause__ = _locked()
    assert is_database_busy(wrapped)
    assert is_database_busy(_locked())
    assert is_database_busy(sqlite3.OperationalError("database is locked"))  # no error name
    assert not is_database_busy(DjangoOperationalError("database is locked"))  # not SQLite's
    assert not is_database_busy(sqlite3.OperationalError("no such table: collection_prompt"))
    other = DjangoOperationalError("no such table: x")
    other.__cause__ = sqlite3.OperationalError("no such table: x")
    assert not is_database_busy(other)
    assert not is_database_busy(ValueError("database is locked"))
