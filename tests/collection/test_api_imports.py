"""POST /api/v1/imports/: maintainers upload Dolly-format JSONL."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.test import APIClient

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.core.models import IdempotencyKey
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"


def upload(*lines: Any, name: str = "dolly.jsonl") -> SimpleUploadedFile:
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return SimpleUploadedFile(name, body.encode(), content_type="application/x-ndjson")


def record(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "instruction": f"Give one tip for keeping basil alive indoors, number {n}.",
        "context": "",
        "response": f"Water it from below and give it the sunniest window ({n}).",
        "category": "general_qa",
        **changes,
    }


def test_it_imports_the_file_and_answers_with_the_report(api_maintainer, maintainer):
    existing = PromptFactory(instruction="Give one tip for keeping basil alive indoors, number 2.")
    file = upload(record(1), record(2), "", record(4, category="recipe"), record(5, language="fr"))

    response = api_maintainer.post(
        URL, {"file": file, "source": "garden-tips", "state": "accepted"}, format="multipart"
    )

    assert response.status_code == 201
    first = Prompt.objects.get(origin="garden-tips", language="en")
    fifth = Prompt.objects.get(origin="garden-tips", language="fr")
    assert response.json() == {
        "imported": 2,
        "duplicates": 1,
        "rejected": 1,
        "lines": [
            {"line": 1, "status": "imported", "prompt_id": first.pk},
            {"line": 2, "status": "duplicate", "prompt_id": existing.pk},
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
    assert first.author == maintainer
    assert first.state == PromptState.COLLECTING
    assert first.licence == "CC BY-SA 3.0"
    assert first.responses.get().state == ResponseState.ACCEPTED
    assert Prompt.objects.count() == 3


def test_it_defaults_to_source_upload_english_and_accepted(api_maintainer):
    response = api_maintainer.post(URL, {"file": upload(record(1))}, format="multipart")

    assert response.status_code == 201
    prompt = Prompt.objects.get()
    assert (prompt.origin, prompt.language, prompt.state) == (
        "upload",
        "en",
        PromptState.COLLECTING,
    )


def test_it_can_leave_the_import_in_review_under_another_licence(api_maintainer):
    response = api_maintainer.post(
        URL,
        {"file": upload(record(1)), "state": "review", "licence": "CC BY 4.0", "language": "de"},
        format="multipart",
    )

    assert response.status_code == 201
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


def test_it_refuses_two_files_rather_than_import_one_of_them(api_maintainer):
    response = api_maintainer.post(
        URL, {"file": [upload(record(1)), upload(record(2))]}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json() == {"file": ["Send one file at a time: this request has 2."]}
    assert not Prompt.objects.exists()


def test_it_refuses_bad_options_and_imports_nothing(api_maintainer):
    response = api_maintainer.post(
        URL,
        {"file": upload(record(1)), "state": "published", "language": "not a tag"},
        format="multipart",
    )

    assert response.status_code == 400
    assert response.json() == {"state": ['"published" is not a valid choice.']}
    assert not Prompt.objects.exists()


def test_it_refuses_a_language_that_is_not_a_tag(api_maintainer):
    response = api_maintainer.post(
        URL, {"file": upload(record(1)), "language": "not a tag"}, format="multipart"
    )

    assert response.status_code == 400
    assert response.json() == {
        "language": ["'not a tag' is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."]
    }
    assert not Prompt.objects.exists()


def test_a_volunteer_may_not_import(api):
    response = api.post(URL, {"file": upload(record(1))}, format="multipart")

    assert response.status_code == 403
    assert response.json() == {"detail": "Only maintainers may do this."}
    assert not Prompt.objects.exists()


def test_a_moderator_may_not_import(moderator):
    client = APIClient()
    client.force_authenticate(moderator)

    response = client.post(URL, {"file": upload(record(1))}, format="multipart")

    assert response.status_code == 403
    assert not Prompt.objects.exists()


def test_an_anonymous_client_must_sign_in(api_anon):
    response = api_anon.post(URL, {"file": upload(record(1))}, format="multipart")

    assert response.status_code == 401
    assert response.json() == {"detail": "Authentication credentials were not provided."}
    assert not Prompt.objects.exists()


def test_replaying_an_idempotency_key_returns_the_first_report_and_creates_nothing(
    api_maintainer,
):
    def post() -> Any:
        return api_maintainer.post(
            URL,
            {"file": upload(record(1), record(2)), "source": "basil"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="import-basil-1",
        )

    first = post()
    again = post()

    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert first.json()["imported"] == 2
    assert again["Idempotent-Replayed"] == "true"
    assert Prompt.objects.count() == 2
    assert Response.objects.count() == 2
    assert IdempotencyKey.objects.get().key == "import-basil-1"


def test_it_accepts_a_file_larger_than_the_ordinary_request_limit(api_maintainer, settings):
    settings.HEARTH_MAX_BODY_BYTES = 256 * 1024  # a small ordinary limit keeps the file small
    context = "The library opens at nine and closes at six on weekdays. " * 180
    lines = [
        record(n, category="closed_qa", context=context, response=f"At nine ({n}).")
        for n in range(30)
    ]
    file = upload(*lines)
    assert file.size > settings.HEARTH_MAX_BODY_BYTES

    response = api_maintainer.post(URL, {"file": file}, format="multipart")

    assert response.status_code == 201
    assert response.json()["imported"] == 30
    assert Prompt.objects.filter(category="closed_qa").count() == 30


def test_a_retried_large_upload_with_a_new_boundary_replays_the_first_report(
    api_maintainer, settings
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
        return api_maintainer.post(
            URL,
            data=encode_multipart(boundary, {"file": file, "source": "museum"}),
            content_type=f"multipart/form-data; boundary={boundary}",
            HTTP_IDEMPOTENCY_KEY="museum-1",
        )

    first = post("first-boundary-1234")
    again = post("another-boundary-5678")

    assert first.status_code == 201, first.content
    assert again.status_code == 201, again.content
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
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


def test_a_csv_file_is_refused_at_its_first_line(api_maintainer):
    file = SimpleUploadedFile("dolly.csv", b"instruction,context,response,category\n")

    response = api_maintainer.post(URL, {"file": file}, format="multipart")

    assert response.status_code == 400
    assert list(response.json()) == ["file"]
    assert not Prompt.objects.exists()
