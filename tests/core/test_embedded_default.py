"""The embedded default (SQLite, no Redis) that `make run` serves: migrate, seed the demo,
then the main pages and a round of tasks, in a subprocess with no DATABASE_URL or REDIS_URL."""

from __future__ import annotations

import pytest

from tests.embedded import embedded_env, run_python

SCRIPT = r"""
import django
django.setup()
from django.conf import settings
from django.test import Client
from rest_framework.test import APIClient
from apps.accounts.models import User
from apps.collection.models import Prompt

assert settings.DATABASES["default"]["ENGINE"].endswith("sqlite3")
assert not settings.REDIS_URL
ada = User.objects.get(email="maintainer@hearth.local")
web = Client()
web.force_login(ada)
prompt = Prompt.objects.filter(state="collecting").first()
for path in ["/", "/browse/", f"/prompts/{prompt.pk}/", "/write/", "/mine/", "/profile/",
             "/contribute/", "/api/v1/prompts/", "/api/docs/", "/readyz", "/releases/v1/",
             "/training/new/"]:
    r = web.get(path, follow=True)
    assert r.status_code == 200, (path, r.status_code)
from apps.releases.models import Release
(release,) = Release.objects.all()  # the demo's, built by seed_demo on SQLite
for file in release.files:
    r = web.get(f"/releases/v1/files/{file['path']}")
    assert r.status_code == 200, (file, r.status_code)
    assert len(b"".join(r.streaming_content)) == file["bytes"], file
api = APIClient()
api.force_authenticate(ada)
kinds = set()
for n in range(16):
    task = api.get("/api/v1/tasks/next/").json()
    kinds.add(task["type"])
    if task["type"] == "write":
        payload = {"instruction": f"Name a fruit that starts with the letter {n}x.", "category": "open_qa", "language": "en", "response": "Fig."}
    elif task["type"] == "respond":
        payload = {"text": "An answer from the smoke test."}
    elif task["type"] == "rank":
        payload = {"order": [r["id"] for r in task["responses"]]}
        # An id beyond 64 bits is refused as no answer of the set (SQLite cannot take it).
        wrong = {"order": payload["order"][:-1] + [2**63]}
        r = api.post(f"/api/v1/tasks/{task['id']}/submit/", wrong, format="json")
        assert r.status_code == 400, (r.status_code, r.content[:300])
        assert r.json()["order"][0].startswith("Order every answer exactly once"), r.json()
    else:
        payload = {"labels": [], "quality": 4}
    r = api.post(f"/api/v1/tasks/{task['id']}/submit/", payload, format="json")
    assert r.status_code == 200, (task["type"], r.status_code, r.content[:300])
# Ids no row can have are no task of anyone's, through the API and the task page.
for task_id in (2**63, 10**23):
    for action in ("submit", "skip"):
        r = api.post(f"/api/v1/tasks/{task_id}/{action}/", {}, format="json")
        assert r.status_code == 404, (action, r.status_code, r.content[:300])
        assert r.json()["detail"] == "This task is not yours, or does not exist."
    r = web.post(f"/contribute/{task_id}/", {"idempotency_key": "k"}, follow=True)
    assert r.status_code == 200, r.status_code
    assert b"This task is not yours, or does not exist." in r.content
print("kinds", sorted(kinds))
"""


@pytest.mark.slow(seconds=8)
def test_the_embedded_default_serves_pages_and_tasks(tmp_path):
    env = embedded_env(tmp_path)
    run_python(env, "manage.py", "migrate", "--noinput")
    seeded = run_python(env, "manage.py", "seed_demo").stdout
    assert "ada@hearth.local" in seeded
    assert "Demo release: v1, built from it" in seeded
    result = run_python(env, "-c", SCRIPT)
    # The maintainer wrote none of the demo prompts: every kind of task is open to them.
    assert "rank" in result.stdout and "review_prompt" in result.stdout
    assert (tmp_path / "hearth.sqlite3").exists()
