"""/api/v1/imports/: maintainers upload Dolly-format JSONL, which the exports worker imports;
they follow the import, read its report and resume one that stopped."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from apps.collection import import_jobs, importing, services
from apps.collection.models import (
    Import,
    ImportStatus,
    Prompt,
    PromptState,
    Response,
    ResponseState,
)
from apps.core.models import IdempotencyKey
from tests.collection.dolly import record
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"


def upload(*lines: Any, name: str = "dolly.jsonl") -> SimpleUploadedFile:
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return SimpleUploadedFile(name, body.encode(), content_type="application/x-ndjson")


def followed(client: APIClient, response: Any) -> dict[str, Any]:
    """The import a 202 answered with, as its URL shows it now."""
    assert response.status_code == 202, response.content[:500]
    shown = client.get(response.json()["url"])
    assert shown.status_code == 200, shown.content[:500]
    return shown.json()


def done(client: APIClient, response: Any) -> dict[str, Any]:
    """The import a 202 answered with, which must have been run to its end."""
    job = followed(client, response)
    assert job["status"] == "done", job["error"]
    return job


def nothing_queued() -> None:
    assert not Import.objects.exists()
    folder = import_jobs.imports_folder()
    assert not folder.exists() or not any(folder.iterdir())


def test_it_queues_the_file_and_its_import_reports_each_line(
    api_maintainer, maintainer, send_import
):
    existing = PromptFactory(instruction="Give one tip for keeping basil alive indoors, number 2.")
    file = upload(record(1), record(2), "", record(4, category="recipe"), record(5, language="fr"))
    size = file.size

    response = send_import(
        api_maintainer.post,
        URL,
        {"file": file, "source": "garden-tips", "state": "accepted"},
        format="multipart",
    )

    assert response.status_code == 202
    queued = response.json()
    job_id = queued["id"]
    assert queued["url"] == f"http://testserver/api/v1/imports/{job_id}/"
    assert response["Location"] == queued["url"]
    # The answer is the import as it was sent: queued, nothing read yet.
    assert {key: queued[key] for key in ("status", "error", "stalled", "bytes_done")} == {
        "status": "queued",
        "error": "",
        "stalled": False,
        "bytes_done": 0,
    }
    assert (queued["lines_read"], queued["started_at"], queued["finished_at"]) == (0, None, None)
    assert queued["report"]["lines"] == []
    assert (queued["file_name"], queued["file_size"]) == ("dolly.jsonl", size)
    assert queued["options"] == {
        "source": "garden-tips",
        "licence": "CC BY-SA 3.0",
        "language": "en",
        "state": "accepted",
    }
    assert queued["created_by"] == maintainer.public_name

    job = done(api_maintainer, response)
    first = Prompt.objects.get(origin="garden-tips", language="en")
    fifth = Prompt.objects.get(origin="garden-tips", language="fr")
    # Line 2's prompt was already in Hearth, without its answer: the answer is added to it.
    assert job["report"] == {
        "imported": 2,
        "answers_added": 1,
        "duplicates": 0,
        "rejected": 1,
        "lines": [
            {"line": 1, "status": "imported", "prompt_id": first.pk},
            {"line": 2, "status": "answer_added", "prompt_id": existing.pk},
            {
                "line": 4,
                "status": "rejected",
                "errors": {
                    "category": [
                        "Choose one of the categories: open_qa, general_qa, closed_qa, "
                        "classification, brainstorming, information_extraction, summarization, "
                        "creative_writing."
                    ]
                },
            },
            {"line": 5, "status": "imported", "prompt_id": fifth.pk},
        ],
        "lines_truncated": False,
        "lines_omitted": 0,
        "lines_listed_per_status": 1000,
    }
    assert job["id"] == job_id
    assert (job["error"], job["stalled"]) == ("", False)
    assert (job["bytes_done"], job["lines_read"]) == (size, 5)
    assert job["started_at"] is not None and job["finished_at"] is not None
    assert job["options"] == queued["options"]
    # The upload is kept only until its import is done.
    assert not import_jobs.import_path(job_id).exists()
    assert first.author == maintainer
    assert first.state == PromptState.COLLECTING
    assert first.licence == "CC BY-SA 3.0"
    assert first.responses.get().state == ResponseState.ACCEPTED
    assert Prompt.objects.count() == 3
    assert existing.responses.get().text == record(2)["response"]


def test_the_file_waits_on_disk_until_a_worker_imports_it(api_maintainer, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(import_jobs, "_send", sent.append)
    file = upload(record(1))
    body = file.read()
    file.seek(0)

    response = api_maintainer.post(URL, {"file": file}, format="multipart")

    assert response.status_code == 202
    job = Import.objects.get()
    assert job.status == ImportStatus.QUEUED
    assert import_jobs.import_path(job.pk).read_bytes() == body
    # Nothing is imported in the request, and nothing is sent before the row commits (a
    # test's transaction never does).
    assert not Prompt.objects.exists()
    assert sent == []


@pytest.mark.parametrize("replayed", [False, True])
def test_a_request_with_an_idempotency_key_gets_the_location_too(
    api_maintainer, send_import, replayed
):
    """The 202's Location says where to follow the import, whether or not the client sent a
    key, and on the replay a retrying client gets: that is when it needs it most."""

    def post() -> Any:
        return send_import(
            api_maintainer.post,
            URL,
            {"file": upload(record(1))},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="import-location-1",
        )

    response = post()
    if replayed:
        response = post()
        assert response["Idempotent-Replayed"] == "true"

    assert response.status_code == 202
    assert response.get("Location") == response.json()["url"]


def test_it_defaults_to_source_upload_english_and_accepted(api_maintainer, send_import):
    response = send_import(
        api_maintainer.post, URL, {"file": upload(record(1))}, format="multipart"
    )

    job = done(api_maintainer, response)
    assert job["options"] == {
        "source": "upload",
        "licence": "CC BY-SA 3.0",
        "language": "en",
        "state": "accepted",
    }
    assert job["report"]["imported"] == 1
    prompt = Prompt.objects.get()
    assert (prompt.origin, prompt.language, prompt.state) == (
        "upload",
        "en",
        PromptState.COLLECTING,
    )


def test_it_can_leave_the_import_in_review_under_another_licence(api_maintainer, send_import):
    response = send_import(
        api_maintainer.post,
        URL,
        {"file": upload(record(1)), "state": "review", "licence": "CC BY 4.0", "language": "de"},
        format="multipart",
    )

    job = done(api_maintainer, response)
    assert job["options"] == {
        "source": "upload",
        "licence": "CC BY 4.0",
        "language": "de",
        "state": "review",
    }
    prompt = Prompt.objects.get()
    assert (prompt.state, prompt.licence, prompt.language) == (
        PromptState.REVIEW,
        "CC BY 4.0",
        "de",
    )
    assert prompt.responses.get().state == ResponseState.REVIEW


def test_it_needs_a_file(api_maintainer):
    response = api_maintainer.post(URL, {"source": "x"}, format="multipart")

    assert response.status_code == 400
    assert response.json() == {"file": ["No file was submitted."]}
    nothing_queued()


def test_it_refuses_two_files_rather_than_import_one_of_them(api_maintainer):
    response = api_maintainer.post(
        URL, {"file": [upload(record(1)), upload(record(2))]}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json() == {"file": ["Send one file at a time: this request has 2."]}
    assert not Prompt.objects.exists()
    nothing_queued()


def test_it_refuses_bad_options_and_imports_nothing(api_maintainer):
    response = api_maintainer.post(
        URL,
        {"file": upload(record(1)), "state": "published", "language": "not a tag"},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json() == {
        "state": ["“published” is not a valid choice. Choose one of: accepted, review."]
    }
    assert not Prompt.objects.exists()
    nothing_queued()


def test_it_refuses_a_language_that_is_not_a_tag(api_maintainer):
    response = api_maintainer.post(
        URL, {"file": upload(record(1)), "language": "not a tag"}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json() == {
        "language": ["“not a tag” is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."]
    }
    assert not Prompt.objects.exists()
    nothing_queued()


def test_a_volunteer_may_not_import(api):
    response = api.post(URL, {"file": upload(record(1))}, format="multipart")

    assert response.status_code == 403
    assert response.json() == {"detail": "Only maintainers may do this."}
    assert not Prompt.objects.exists()
    nothing_queued()


def test_a_moderator_may_not_import(moderator):
    client = APIClient()
    client.force_authenticate(moderator)

    response = client.post(URL, {"file": upload(record(1))}, format="multipart")

    assert response.status_code == 403
    assert not Prompt.objects.exists()
    nothing_queued()


def test_an_anonymous_client_must_sign_in(api_anon):
    response = api_anon.post(URL, {"file": upload(record(1))}, format="multipart")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert not Prompt.objects.exists()
    nothing_queued()


def test_replaying_an_idempotency_key_returns_the_first_import_and_creates_nothing(
    api_maintainer, send_import
):
    def post() -> Any:
        return send_import(
            api_maintainer.post,
            URL,
            {"file": upload(record(1), record(2)), "source": "basil"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="import-basil-1",
        )

    first = post()
    again = post()

    assert first.status_code == again.status_code == 202
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert done(api_maintainer, again)["report"]["imported"] == 2
    assert Import.objects.count() == 1
    assert Import.objects.get().pk == first.json()["id"]
    assert Prompt.objects.count() == 2
    assert Response.objects.count() == 2
    assert IdempotencyKey.objects.get().key == "import-basil-1"


def test_it_accepts_a_file_larger_than_the_ordinary_request_limit(
    api_maintainer, settings, send_import
):
    settings.HEARTH_MAX_BODY_BYTES = 256 * 1024  # a small ordinary limit keeps the file small
    context = "The library opens at nine and closes at six on weekdays. " * 180
    lines = [
        record(n, category="closed_qa", context=context, response=f"At nine ({n}).")
        for n in range(30)
    ]
    file = upload(*lines)
    assert file.size > settings.HEARTH_MAX_BODY_BYTES

    response = send_import(api_maintainer.post, URL, {"file": file}, format="multipart")

    job = done(api_maintainer, response)
    assert job["report"]["imported"] == 30
    assert job["file_size"] == job["bytes_done"] == file.size
    assert Prompt.objects.filter(category="closed_qa").count() == 30


def test_a_retried_large_upload_with_a_new_boundary_replays_the_first_import(
    api_maintainer, settings, send_import
):
    """Browsers and HTTP clients pick a new multipart boundary on every retry, and imports
    may be larger than the ordinary body limit: the key must still match."""
    from django.test.client import encode_multipart

    settings.HEARTH_MAX_BODY_BYTES = 256 * 1024  # a small ordinary limit keeps the file small
    context = "The museum is open from ten to five, closed on Mondays. " * 180
    lines = [
        record(n, category="closed_qa", context=context, response=f"Ten ({n}).") for n in range(30)
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()
    assert len(body) > settings.HEARTH_MAX_BODY_BYTES

    def post(boundary: str) -> Any:
        file = SimpleUploadedFile("museum.jsonl", body, content_type="application/x-ndjson")
        return send_import(
            api_maintainer.post,
            URL,
            data=encode_multipart(boundary, {"file": file, "source": "museum"}),
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="museum-1",
        )

    first = post("first-boundary-1234")
    again = post("another-boundary-5678")

    assert first.status_code == 202, first.content
    assert again.status_code == 202, again.content
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert done(api_maintainer, first)["report"]["imported"] == 30
    assert Import.objects.count() == 1
    assert Prompt.objects.filter(origin="museum").count() == 30


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"", "The file is empty: it has no line to import."),
        (b"\n\n", "The file is empty: it has no line to import."),
        (b'{"instruction": "caf\xe9"}\n', "The file is not UTF-8 text: line 1 has the byte 0xe9."),
    ],
)
def test_a_file_that_is_not_dolly_jsonl_imports_nothing(api_maintainer, body, message):
    file = SimpleUploadedFile("dolly.jsonl", body, content_type="application/x-ndjson")

    response = api_maintainer.post(URL, {"file": file}, format="multipart")

    assert response.status_code == 400
    (error,) = response.json()["file"]
    assert error.startswith(message)
    assert not Prompt.objects.exists()
    nothing_queued()


def test_a_csv_file_is_refused_at_its_first_line(api_maintainer):
    file = SimpleUploadedFile("dolly.csv", b"instruction,context,response,category\n")

    response = api_maintainer.post(URL, {"file": file}, format="multipart")

    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    assert not Prompt.objects.exists()
    nothing_queued()


# --- following imports ----------------------------------------------------------------------


def test_maintainers_list_the_imports_newest_first(api_maintainer, monkeypatch):
    monkeypatch.setattr(import_jobs, "_send", lambda import_id: None)
    ids = []
    for name in ("first.jsonl", "second.jsonl"):
        response = api_maintainer.post(
            URL, {"file": upload(record(1), name=name)}, format="multipart"
        )
        assert response.status_code == 202
        ids.append(response.json()["id"])

    listed = api_maintainer.get(URL)

    assert listed.status_code == 200
    page = listed.json()
    assert page["count"] == 2
    assert [job["id"] for job in page["results"]] == ids[::-1]
    assert [job["file_name"] for job in page["results"]] == ["second.jsonl", "first.jsonl"]
    one = api_maintainer.get(f"{URL}{ids[1]}/").json()
    counts = {"imported": 0, "answers_added": 0, "duplicates": 0, "rejected": 0}
    # The list gives each import's counts in place of its report.
    assert page["results"][0] == {
        **{name: value for name, value in one.items() if name != "report"},
        **counts,
    }
    assert {name: one["report"][name] for name in counts} == counts
    assert page["results"][0]["status"] == "queued"


def test_the_list_pages_its_imports(api_maintainer, maintainer):
    for n in range(3):
        Import.objects.create(
            created_by=maintainer,
            file_name=f"{n}.jsonl",
            file_size=10,
            options={"source": "x", "licence": "", "language": "en", "state": "accepted"},
            lines_per_status=importing.REPORT_LINES_PER_STATUS,
        )

    Import.objects.filter(file_name="2.jsonl").update(
        imported=1, rejected=1, listed=[{"line": 1, "status": "imported", "prompt_id": 7}]
    )

    page = api_maintainer.get(URL, {"page_size": 2}).json()

    assert page["count"] == 3
    assert [job["file_name"] for job in page["results"]] == ["2.jsonl", "1.jsonl"]
    assert page["next"] is not None
    # The counts, not the report's lines: those are at each import's url.
    newest = page["results"][0]
    assert (newest["imported"], newest["duplicates"], newest["rejected"]) == (1, 0, 1)
    assert "report" not in newest
    assert api_maintainer.get(newest["url"]).json()["report"]["lines"] == [
        {"line": 1, "status": "imported", "prompt_id": 7}
    ]


@pytest.mark.parametrize("path", ["", "{id}/"])
def test_only_maintainers_see_imports(api, api_anon, moderator, maintainer, path):
    job = Import.objects.create(
        created_by=maintainer,
        file_name="dolly.jsonl",
        file_size=10,
        options={"source": "x", "licence": "", "language": "en", "state": "accepted"},
        lines_per_status=importing.REPORT_LINES_PER_STATUS,
    )
    url = URL + path.format(id=job.pk)
    moderating = APIClient()
    moderating.force_authenticate(moderator)

    assert api.get(url).status_code == 403
    assert api.get(url).json() == {"detail": "Only maintainers may do this."}
    assert moderating.get(url).status_code == 403
    assert api_anon.get(url).status_code == 401
    assert api_anon.get(url).json() == {"detail": "Authentication credentials were not provided."}


def test_an_unknown_import_is_404(api_maintainer, maintainer):
    job = Import.objects.create(
        created_by=maintainer,
        file_name="dolly.jsonl",
        file_size=10,
        options={"source": "x", "licence": "", "language": "en", "state": "accepted"},
        lines_per_status=importing.REPORT_LINES_PER_STATUS,
    )

    assert api_maintainer.get(f"{URL}{job.pk}/").status_code == 200
    assert api_maintainer.get(f"{URL}{job.pk + 1}/").status_code == 404
    assert api_maintainer.post(f"{URL}{job.pk + 1}/resume/").status_code == 404


# --- resuming -------------------------------------------------------------------------------


def test_a_done_import_cannot_be_resumed(api_maintainer, send_import):
    response = send_import(
        api_maintainer.post, URL, {"file": upload(record(1))}, format="multipart"
    )
    job = done(api_maintainer, response)

    again = send_import(api_maintainer.post, f"{job['url']}resume/")

    assert again.status_code == 409
    assert again.json() == {"detail": "This import is done; there is nothing left to import."}
    assert followed(api_maintainer, response) == job
    assert Prompt.objects.count() == 1


def test_resuming_an_import_still_under_way_sends_nothing(
    api_maintainer, monkeypatch, django_capture_on_commit_callbacks
):
    sent: list[int] = []
    monkeypatch.setattr(import_jobs, "_send", sent.append)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        response = api_maintainer.post(URL, {"file": upload(record(1))}, format="multipart")
    assert response.status_code == 202
    assert sent == [response.json()["id"]] and len(callbacks) == 1
    sent.clear()

    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        resumed = api_maintainer.post(f"{response['Location']}resume/")

    assert resumed.status_code == 202
    assert resumed["Location"] == response["Location"]
    assert (resumed.json()["status"], resumed.json()["stalled"]) == ("queued", False)
    assert sent == [] and callbacks == []
    assert Import.objects.get().status == ImportStatus.QUEUED
    assert not Prompt.objects.exists()


def test_a_stalled_import_is_sent_again_and_finishes(api_maintainer, send_import):
    # Sent outside send_import: the task is never sent, as if its worker were lost.
    response = api_maintainer.post(URL, {"file": upload(record(1), record(2))}, format="multipart")
    assert response.status_code == 202
    Import.objects.update(
        updated_at=timezone.now() - import_jobs.STALLED_AFTER - timedelta(seconds=1)
    )
    assert followed(api_maintainer, response)["stalled"] is True

    resumed = send_import(api_maintainer.post, f"{response['Location']}resume/")

    assert resumed.status_code == 202
    assert resumed.json()["status"] == "queued"
    job = done(api_maintainer, resumed)
    assert (job["stalled"], job["report"]["imported"]) == (False, 2)
    assert Prompt.objects.count() == 2


def test_a_failed_import_resumes_from_its_last_committed_batch(
    api_maintainer, monkeypatch, send_import
):
    # Two lines a batch, and the second batch's write fails once, as a lost database might.
    check = importing.check_import_options
    monkeypatch.setattr(
        importing,
        "check_import_options",
        lambda **options: check(**{**options, "batch_size": 2}),
    )
    create = services.prompts_create_imported
    writes: list[int] = []

    def failing_once(**kwargs: Any) -> Any:
        writes.append(len(kwargs["prompts"]))
        if len(writes) == 2:
            raise RuntimeError("the database went away")
        return create(**kwargs)

    monkeypatch.setattr(services, "prompts_create_imported", failing_once)
    file = upload(*[record(n) for n in range(1, 6)])

    response = send_import(api_maintainer.post, URL, {"file": file}, format="multipart")

    failed = followed(api_maintainer, response)
    assert failed["status"] == "failed"
    assert failed["error"] == "RuntimeError: the database went away"
    assert failed["stalled"] is False
    assert failed["lines_read"] == 2 and 0 < failed["bytes_done"] < failed["file_size"]
    assert failed["finished_at"] is None
    assert (failed["report"]["imported"], len(failed["report"]["lines"])) == (2, 2)
    assert Prompt.objects.count() == 2
    assert import_jobs.import_path(failed["id"]).exists()  # kept for the resume

    resumed = send_import(api_maintainer.post, f"{failed['url']}resume/")

    assert resumed.status_code == 202
    assert (resumed.json()["status"], resumed.json()["error"]) == ("queued", "")
    job = done(api_maintainer, resumed)
    prompts = list(Prompt.objects.order_by("pk").values_list("pk", flat=True))
    # No line was imported or counted twice: the resume began at line 3.
    assert job["report"] == {
        "imported": 5,
        "answers_added": 0,
        "duplicates": 0,
        "rejected": 0,
        "lines": [
            {"line": n, "status": "imported", "prompt_id": pk}
            for n, pk in enumerate(prompts, start=1)
        ],
        "lines_truncated": False,
        "lines_omitted": 0,
        "lines_listed_per_status": importing.REPORT_LINES_PER_STATUS,
    }
    assert writes == [2, 2, 2, 1]
    assert (job["lines_read"], job["bytes_done"]) == (5, job["file_size"])
    assert job["error"] == ""
    assert len(prompts) == 5
    assert not import_jobs.import_path(job["id"]).exists()


def test_a_volunteer_may_not_resume_an_import(api, maintainer, monkeypatch):
    sent: list[int] = []
    monkeypatch.setattr(import_jobs, "_send", sent.append)
    job = Import.objects.create(
        created_by=maintainer,
        file_name="dolly.jsonl",
        file_size=10,
        status=ImportStatus.FAILED,
        error="Boom",
        options={"source": "x", "licence": "", "language": "en", "state": "accepted"},
        lines_per_status=importing.REPORT_LINES_PER_STATUS,
    )

    response = api.post(f"{URL}{job.pk}/resume/")

    assert response.status_code == 403
    job.refresh_from_db()
    assert (job.status, job.error) == (ImportStatus.FAILED, "Boom")
