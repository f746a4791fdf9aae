"""The /imports/ page: maintainers upload a Dolly JSONL file and read what became of each line."""

from __future__ import annotations

import base64
import html
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.core.models import IdempotencyKey
from tests.factories import PromptFactory

pytestmark = pytest.mark.django_db

URL = "/imports/"


def web(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def record(n: int, **changes: Any) -> dict[str, Any]:
    return {
        "instruction": f"Give one tip for keeping basil alive indoors, number {n}.",
        "context": "",
        "response": f"Water it from below and give it the sunniest window ({n}).",
        "category": "general_qa",
        **changes,
    }


def jsonl_file(*lines: Any, name: str = "dolly.jsonl") -> SimpleUploadedFile:
    body = "".join((x if isinstance(x, str) else json.dumps(x)) + "\n" for x in lines)
    return file_of(body.encode(), name=name)


def file_of(body: bytes, name: str = "dolly.jsonl") -> SimpleUploadedFile:
    return SimpleUploadedFile(name, body, content_type="application/octet-stream")


def form(file: SimpleUploadedFile | None, key: str = "key-1", **fields: str) -> dict[str, Any]:
    data: dict[str, Any] = {
        "idempotency_key": key,
        "source": "garden-tips",
        "licence": "",
        "language": "en",
        "state": "accepted",
        **fields,
    }
    if file is not None:
        data["file"] = file
    return data


def text(fragment: str) -> str:
    """What a fragment of the page reads as: tags dropped, entities decoded, spaces folded."""
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", fragment)).split())


def problem_rows(page: str) -> list[str]:
    """The rows of the 'Lines not imported' table, each as read."""
    body = re.search(r"<tbody>(.*?)</tbody>", page, re.S)
    assert body is not None, "no table of lines not imported"
    return [text(row) for row in re.findall(r"<tr>(.*?)</tr>", body.group(1), re.S)]


def count(page: str, name: str) -> str:
    found = re.search(rf'data-testid="count-{name}">([^<]*)<', page)
    assert found is not None
    return found.group(1)


def file_errors(page: str) -> list[str]:
    found = re.search(r'<ul class="errorlist" id="id_file_error">(.*?)</ul>', page, re.S)
    return (
        [text(item) for item in re.findall(r"<li>(.*?)</li>", found.group(1), re.S)]
        if found
        else []
    )


def field_error(page: str, name: str) -> str:
    found = re.search(rf'<ul class="errorlist" id="id_{name}_error">(.*?)</ul>', page, re.S)
    return text(found.group(1)) if found else ""


def report_jsonl(page: str) -> list[dict[str, Any]]:
    found = re.search(r'<pre id="report-jsonl">(.*?)</pre>', page, re.S)
    assert found is not None
    return [json.loads(line) for line in html.unescape(found.group(1)).splitlines()]


# --- importing --------------------------------------------------------------------------------


def test_the_form_offers_the_apis_options_and_defaults(maintainer, settings):
    page = web(maintainer).get(URL)

    assert page.status_code == 200
    content = page.content.decode()
    assert 'enctype="multipart/form-data"' in content
    assert re.search(r'<input type="text" name="source" value="upload"[^>]* required', content)
    # Marked as required, as a blank source is refused.
    assert re.search(r'Source <span class="required-mark" aria-hidden="true">\*</span>', content)
    assert re.search(rf'name="licence" value="{settings.HEARTH_LICENCE_NAME}"', content)
    assert re.search(r'name="language" value="en"', content)
    assert re.search(r'name="state" value="accepted"[^>]*checked', content)
    assert 'name="state" value="review"' in content
    assert "at most 64.0\xa0MB" in html.unescape(content)


def test_a_maintainer_imports_a_file_and_reads_the_report(maintainer):
    existing = PromptFactory(instruction="Give one tip for keeping basil alive indoors, number 2.")
    file = jsonl_file(record(1), record(2), "", record(4, category="recipe"), "{not json")

    response = web(maintainer).post(URL, form(file, state="review", licence="CC BY 4.0"))

    assert response.status_code == 200
    page = response.content.decode()
    imported = Prompt.objects.get(origin="garden-tips")
    assert (imported.author, imported.state, imported.licence, imported.language) == (
        maintainer,
        PromptState.REVIEW,
        "CC BY 4.0",
        "en",
    )
    assert imported.responses.get().state == ResponseState.REVIEW
    assert Prompt.objects.count() == 2
    assert (count(page, "imported"), count(page, "duplicates"), count(page, "rejected")) == (
        "1",
        "1",
        "2",
    )
    assert problem_rows(page) == [
        f"2 duplicate Already in Hearth as prompt #{existing.pk}",
        "4 rejected category : Choose one of the categories: open_qa, general_qa, closed_qa, "
        "classification, brainstorming, information_extraction, summarization, "
        "creative_writing.",
        "5 rejected Not valid JSON: a field name in double quotes was expected at column 2.",
    ]
    assert f'href="/prompts/{existing.pk}/"' in page
    assert f'<a href="/prompts/{imported.pk}/">Line 1: prompt #{imported.pk}</a>' in page
    lines = [
        {"line": 1, "status": "imported", "prompt_id": imported.pk},
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
        {
            "line": 5,
            "status": "rejected",
            "errors": {
                "line": ["Not valid JSON: a field name in double quotes was expected at column 2."]
            },
        },
    ]
    assert report_jsonl(page) == lines
    link = re.search(r'href="data:application/x-ndjson;base64,([^"]+)" download="([^"]+)"', page)
    assert link is not None
    assert link.group(2) == "import-report.jsonl"
    downloaded = base64.b64decode(link.group(1)).decode()
    assert [json.loads(line) for line in downloaded.splitlines()] == lines


def test_a_report_too_long_for_a_link_is_offered_as_text_only(maintainer, monkeypatch):
    from apps.collection import views

    monkeypatch.setattr(views, "_REPORT_LINK_MAX_CHARS", 100)

    response = web(maintainer).post(URL, form(jsonl_file(record(1), record(2), record(3))))

    page = response.content.decode()
    assert "data:application/x-ndjson" not in page
    assert "The report is too long to download from this page; copy it from here." in page
    assert [line["status"] for line in report_jsonl(page)] == ["imported"] * 3


def test_the_next_form_has_a_new_key_and_keeps_the_options(maintainer):
    response = web(maintainer).post(
        URL, form(jsonl_file(record(1)), key="first", source="basil", language="de")
    )

    page = response.content.decode()
    assert 'name="idempotency_key" value="first"' not in page
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', page)
    assert 'name="source" value="basil"' in page
    assert 'name="language" value="de"' in page
    assert Prompt.objects.get().language == "de"


def test_resubmitting_the_same_key_shows_the_first_report_and_imports_nothing(maintainer):
    client = web(maintainer)

    first = client.post(URL, form(jsonl_file(record(1), record(2)), key="basil-1"))
    again = client.post(URL, form(jsonl_file(record(1), record(2)), key="basil-1"))

    assert first.status_code == again.status_code == 200
    assert Prompt.objects.count() == 2
    assert Response.objects.count() == 2
    assert IdempotencyKey.objects.get().key.startswith("form:")
    first_page, again_page = first.content.decode(), again.content.decode()
    assert count(again_page, "imported") == "2"
    assert count(again_page, "duplicates") == "0"
    assert report_jsonl(again_page) == report_jsonl(first_page)
    assert "The import is done." in first_page
    assert "already imported from this form" in again_page
    assert "Nothing was imported again." in again_page


def test_a_rejected_line_lists_every_problem(maintainer):
    bad = record(1, instruction="Hi", category="poetry", response="  ", language="english!")

    response = web(maintainer).post(URL, form(jsonl_file(bad, record(2, context=7))))

    page = response.content.decode()
    assert problem_rows(page) == [
        "1 rejected "
        "instruction : The instruction is too short: at least 4 characters, got 2. "
        "response : The answer is required and cannot be only whitespace. "
        "category : Choose one of the categories: open_qa, general_qa, closed_qa, "
        "classification, brainstorming, information_extraction, summarization, "
        "creative_writing. "
        "language : 'english!' is not a valid BCP-47 language tag (e.g. en, de, pt-BR).",
        "2 rejected context : Must be a JSON string, not a number.",
    ]
    assert not Prompt.objects.exists()


# --- refused uploads --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param(b"", "The file is empty: it has no line to import.", id="empty"),
        pytest.param(b"\n  \n\n", "The file is empty: it has no line to import.", id="blank"),
        pytest.param(
            json.dumps(record(1)).encode("utf-16"),
            "The file is not UTF-8 text: line 1 has the byte 0xff. Save it as UTF-8 (and unpack "
            "it, if it is compressed), then upload it again.",
            id="utf-16",
        ),
        pytest.param(
            "\n".join(
                json.dumps(r, ensure_ascii=False) for r in (record(1), record(2, context="café"))
            ).encode("latin-1"),
            "The file is not UTF-8 text: line 2 has the byte 0xe9. Save it as UTF-8 (and unpack "
            "it, if it is compressed), then upload it again.",
            id="latin-1-on-line-2",
        ),
        pytest.param(
            b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03",
            "The file is not UTF-8 text: line 1 has the byte 0x8b. Save it as UTF-8 (and unpack "
            "it, if it is compressed), then upload it again.",
            id="gzip",
        ),
        pytest.param(
            b"instruction,context,response,category\nHi,,Hello,open_qa\n",
            "This does not look like a Dolly JSONL file. Line 1: Not valid JSON: a value was expected "
            "at column 1.",
            id="csv",
        ),
        pytest.param(
            json.dumps([record(1), record(2)]).encode(),
            "This does not look like a Dolly JSONL file. Line 1: Each line must be a JSON object "
            "with instruction, context, response and category; this one is an array.",
            id="json-array",
        ),
        pytest.param(
            b'\n{"question": "Why?", "answer": "Because."}\n',
            "This does not look like a Dolly JSONL file: line 2 has none of the fields "
            "instruction, context, response and category (it has answer, question).",
            id="other-fields",
        ),
    ],
)
def test_a_file_that_is_not_dolly_jsonl_is_refused_and_nothing_imported(maintainer, body, message):
    response = web(maintainer).post(URL, form(file_of(body)))

    assert response.status_code == 400  # refused, as the API refuses it
    page = response.content.decode()
    assert file_errors(page) == [message]
    assert 'aria-invalid="true"' in re.search(r'<input type="file"[^>]*>', page).group(0)
    assert 'id="report-title"' not in page
    assert not Prompt.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_a_refused_file_leaves_the_key_free_for_the_corrected_one(maintainer):
    client = web(maintainer)

    refused = client.post(URL, form(file_of(b"not json\n"), key="retry-1"))
    corrected = client.post(URL, form(jsonl_file(record(1)), key="retry-1"))

    assert file_errors(refused.content.decode())
    assert count(corrected.content.decode(), "imported") == "1"
    assert Prompt.objects.count() == 1


def test_it_needs_a_file(maintainer):
    response = web(maintainer).post(URL, form(None))

    assert file_errors(response.content.decode()) == ["Choose a JSONL file to import."]
    assert not Prompt.objects.exists()


def test_a_file_over_the_import_limit_is_refused_before_it_is_read(maintainer, settings):
    settings.HEARTH_IMPORT_MAX_BYTES = 4096
    lines = [record(n) for n in range(40)]

    response = web(maintainer).post(URL, form(jsonl_file(*lines)))

    assert response.status_code == 413
    html = response.content.decode()
    assert "the limit is 4096 bytes." in html
    assert "The file is still on your computer: import it in smaller parts." in html
    assert not Prompt.objects.exists()


def test_bad_options_get_the_apis_messages_by_their_fields_and_import_nothing(maintainer):
    response = web(maintainer).post(
        URL,
        form(
            jsonl_file(record(1)),
            source="hearth",
            licence="x" * 65,
            language="not a tag",
            state="published",
        ),
    )

    page = response.content.decode()
    assert field_error(page, "source") == (
        "'hearth' marks work written in Hearth; name the data set you import."
    )
    assert field_error(page, "licence") == (
        "Name the licence in 1 to 64 printable characters, e.g. CC BY-SA 3.0."
    )
    assert field_error(page, "language") == (
        "'not a tag' is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."
    )
    assert field_error(page, "state") == "Choose one of the states: accepted, review."
    assert 'name="source" value="hearth"' in page
    assert not Prompt.objects.exists()


# --- who may import ---------------------------------------------------------------------------


def test_a_volunteer_gets_the_403_page(volunteer):
    for response in (
        web(volunteer).get(URL),
        web(volunteer).post(URL, form(jsonl_file(record(1)))),
    ):
        assert response.status_code == 403
        assert "Only maintainers may import data." in response.content.decode()
    assert not Prompt.objects.exists()


def test_a_moderator_gets_the_403_page(moderator):
    response = web(moderator).post(URL, form(jsonl_file(record(1))))

    assert response.status_code == 403
    assert not Prompt.objects.exists()


def test_an_anonymous_visitor_is_sent_to_log_in():
    for response in (web(None).get(URL), web(None).post(URL, form(jsonl_file(record(1))))):
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/imports/"
    assert not Prompt.objects.exists()


def test_only_maintainers_see_the_import_link(maintainer, volunteer):
    link = '<a href="/imports/"'

    assert link in web(maintainer).get("/").content.decode()
    assert link not in web(volunteer).get("/").content.decode()
    assert link not in web(None).get("/").content.decode()
    current = web(maintainer).get(URL).content.decode()
    assert '<a href="/imports/" aria-current="page">Import</a>' in current


def test_an_overlong_first_line_is_one_rejected_line_not_a_refused_file(maintainer):
    from apps.collection.importing import max_line_bytes

    limit = max_line_bytes()
    huge = record(1, context="x" * (limit + 10))
    page = web(maintainer).post(URL, form(jsonl_file(huge, record(2)))).content.decode()

    assert (count(page, "imported"), count(page, "rejected")) == ("1", "1")
    assert problem_rows(page) == [f"1 rejected The line is longer than {limit:,} bytes."]
    # A file of nothing but such lines is no Dolly file, and says why.
    page = web(maintainer).post(URL, form(jsonl_file(huge), key="key-2")).content.decode()
    assert file_errors(page) == [
        f"This does not look like a Dolly JSONL file: every line is longer than {limit:,} bytes."
    ]


def test_the_report_reads_as_spanish_in_spanish(maintainer):
    page = (
        web(maintainer)
        .post(
            URL,
            form(jsonl_file(record(1), ["a", "list"], "{oops"), key="es-1"),
            HTTP_ACCEPT_LANGUAGE="es",
        )
        .content.decode()
    )
    stats = re.findall(r'class="number"[^>]*>([^<]*)</span><span>([^<]*)</span>', page)
    assert stats == [("1", "importada"), ("0", "duplicadas"), ("2", "rechazadas")]
    assert problem_rows(page) == [
        "2 rechazada Cada línea debe ser un objeto JSON con instruction, context, response y "
        "category; esta es una lista.",
        "3 rechazada JSON no válido: se esperaba un nombre de campo entre comillas dobles en la "
        "columna 2.",
    ]


def test_an_import_leaves_its_progress_for_its_sender_only(maintainer, moderator):
    """The page polls ``?progress=<form key>`` while its upload runs; the import writes there,
    under the sender's id, how many lines it has checked and how much of the file it read."""
    sender = web(maintainer)
    assert sender.get("/imports/", {"progress": "key-1"}).status_code == 404  # nothing yet

    sender.post("/imports/", form(jsonl_file(record(1), record(2))))

    progress = sender.get("/imports/", {"progress": "key-1"})
    assert progress.status_code == 200
    body = progress.json()
    assert body["lines"] >= 1 and 0 < body["bytes"] <= body["total"]
    from django.contrib.auth.models import Group

    from apps.accounts import roles

    moderator.groups.add(Group.objects.get(name=roles.MAINTAINER))  # another maintainer
    assert web(moderator).get("/imports/", {"progress": "key-1"}).status_code == 404
