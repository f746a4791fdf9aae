"""The /imports/ page: maintainers upload a Dolly JSONL file, which the exports worker imports,
and read on the import's own page what became of each line.

``send_import`` (tests/collection/conftest.py) runs an import in this process as soon as the
request that sent it commits, so the import's page shows its report straight away."""

from __future__ import annotations

import base64
import html
import json
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.utils import timezone, translation

from apps.collection import import_jobs, importing
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
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

URL = "/imports/"
SendImport = Callable[..., Any]


def web(user: Any) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


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


def status(page: str) -> str:
    """What the import's status badge says."""
    found = re.search(r'data-testid="import-status">([^<]*)<', page)
    assert found is not None, "no status badge"
    return found.group(1)


def messages_of(page: str) -> list[str]:
    """The site's messages at the top of a page."""
    found = re.search(r'<ul class="messages">(.*?)</ul>', page, re.S)
    return (
        [text(m) for m in re.findall(r"<li[^>]*>(.*?)</li>", found.group(1), re.S)] if found else []
    )


def redirected_import(response: Any) -> Import:
    """The import a POST sent, read from where it redirected."""
    assert response.status_code == 302, response.content.decode()[:2000]
    found = re.fullmatch(r"/imports/(\d+)/", response["Location"])
    assert found is not None, response["Location"]
    return Import.objects.get(pk=int(found.group(1)))


def import_and_read(
    client: Client, send_import: SendImport, data: dict[str, Any], **extra: Any
) -> tuple[Import, str]:
    """Send ``data`` from the page; the import is run, and its page read (the same headers)."""
    job = redirected_import(send_import(client.post, URL, data, **extra))
    page = client.get(f"/imports/{job.pk}/", **extra)
    assert page.status_code == 200
    job.refresh_from_db()
    return job, page.content.decode()


def files_waiting() -> list[str]:
    """The uploads kept for a worker (an import's file goes once it is done)."""
    folder = import_jobs.imports_folder()
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


@pytest.fixture
def queue(monkeypatch, django_capture_on_commit_callbacks) -> Callable[..., Any]:
    """Like ``send_import``, but the imports are only recorded as sent (``queue.sent``), as
    when no worker has taken them yet."""
    sent: list[int] = []
    monkeypatch.setattr(import_jobs, "_send", sent.append)

    def post(do: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        with django_capture_on_commit_callbacks(execute=True):
            return do(*args, **kwargs)

    post.sent = sent  # type: ignore[attr-defined]
    return post


def failed_import(author: Any, body: bytes, **fields: Any) -> Import:
    """An import a worker stopped on, its file waiting where a resume reads it."""
    job = Import.objects.create(
        created_by=author,
        file_name="herbs.jsonl",
        file_size=len(body),
        options={"source": "garden-tips", "licence": "", "language": "en", "state": "accepted"},
        lines_per_status=importing.REPORT_LINES_PER_STATUS,
        status=ImportStatus.FAILED,
        error="OperationalError: the database went away",
        **fields,
    )
    path = import_jobs.import_path(job.pk)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(body)
    return job


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


def test_a_maintainer_imports_a_file_and_reads_the_report(maintainer, send_import):
    existing = PromptFactory(instruction="Give one tip for keeping basil alive indoors, number 2.")
    ResponseFactory(prompt=existing, text=record(2)["response"])
    file = jsonl_file(record(1), record(2), "", record(4, category="recipe"), "{not json")

    job, page = import_and_read(
        web(maintainer), send_import, form(file, state="review", licence="CC BY 4.0")
    )

    assert (job.status, job.created_by, job.file_name) == (
        ImportStatus.DONE,
        maintainer,
        "dolly.jsonl",
    )
    assert status(page) == "Done"
    assert 'hx-trigger="every 1s"' not in page  # nothing left to follow
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
    assert 'data-testid="report-partial"' not in page
    assert 'data-testid="report-truncated"' not in page
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
    assert files_waiting() == []  # the upload is gone once imported


def test_sending_a_file_queues_it_and_its_page_follows_it(maintainer, queue):
    """Before a worker takes it, the import's page says it waits, and asks again every second."""
    client = web(maintainer)

    response = queue(client.post, URL, form(jsonl_file(record(1), record(2))))

    job = redirected_import(response)
    assert queue.sent == [job.pk]  # once it committed
    assert job.status == ImportStatus.QUEUED
    assert not Prompt.objects.exists()
    assert files_waiting() == [f"{job.pk}.jsonl"]
    assert (
        import_jobs.import_path(job.pk).read_bytes()
        == (json.dumps(record(1)) + "\n" + json.dumps(record(2)) + "\n").encode()
    )
    page = client.get(response["Location"]).content.decode()
    assert status(page) == "Waiting for a worker"
    assert 'data-testid="import-waiting"' in page
    assert f'hx-get="/imports/{job.pk}/" hx-trigger="every 1s"' in page
    assert 'id="report-title"' not in page
    assert 'data-testid="resume"' not in page


def test_a_report_too_long_for_a_link_is_offered_as_text_only(maintainer, monkeypatch, send_import):
    from apps.collection import views

    monkeypatch.setattr(views, "_REPORT_LINK_MAX_CHARS", 100)

    _job, page = import_and_read(
        web(maintainer), send_import, form(jsonl_file(record(1), record(2), record(3)))
    )

    assert "data:application/x-ndjson" not in page
    assert "The report is too long to download from this page; copy it from here." in page
    assert [line["status"] for line in report_jsonl(page)] == ["imported"] * 3


def test_the_import_keeps_its_options_and_the_next_form_has_a_new_key(maintainer, send_import):
    client = web(maintainer)

    job, page = import_and_read(
        client,
        send_import,
        form(jsonl_file(record(1)), key="first", source="basil", licence="CC0", language="de"),
    )

    assert job.options == {
        "source": "basil",
        "licence": "CC0",
        "language": "de",
        "state": "accepted",
    }
    assert "Source basil, licence CC0, language de where a line names none." in text(page)
    assert Prompt.objects.get().language == "de"
    following = client.get(URL).content.decode()
    assert 'name="idempotency_key" value="first"' not in following
    assert re.search(r'name="idempotency_key" value="[0-9a-f]{32}"', following)


def test_resubmitting_the_same_key_shows_the_first_import_and_imports_nothing(
    maintainer, send_import
):
    client = web(maintainer)

    first = send_import(client.post, URL, form(jsonl_file(record(1), record(2)), key="basil-1"))
    first_page = client.get(first["Location"]).content.decode()
    again = send_import(client.post, URL, form(jsonl_file(record(1), record(2)), key="basil-1"))
    again_page = client.get(again["Location"]).content.decode()

    job = redirected_import(first)
    assert redirected_import(again) == job
    assert Import.objects.count() == 1
    assert Prompt.objects.count() == 2
    assert Response.objects.count() == 2
    assert IdempotencyKey.objects.get().key.startswith("form:")
    assert files_waiting() == []  # the second file was not kept either
    assert status(first_page) == status(again_page) == "Done"
    assert messages_of(first_page) == []
    assert messages_of(again_page) == [
        "This file was already sent from this form; here is that import."
    ]
    assert count(again_page, "imported") == "2"
    assert count(again_page, "duplicates") == "0"
    assert report_jsonl(again_page) == report_jsonl(first_page)


def test_resubmitting_sends_nothing_to_the_worker_again(maintainer, queue):
    client = web(maintainer)

    first = queue(client.post, URL, form(jsonl_file(record(1)), key="basil-2"))
    again = queue(client.post, URL, form(jsonl_file(record(1)), key="basil-2"))

    job = redirected_import(first)
    assert redirected_import(again) == job
    assert queue.sent == [job.pk]
    assert files_waiting() == [f"{job.pk}.jsonl"]


def test_a_form_sent_again_from_before_imports_ran_on_a_worker_imports_nothing(
    maintainer, send_import
):
    """Its key kept the report the page showed then, not an import: it says so, and sends
    nothing again."""
    client = web(maintainer)
    data = form(jsonl_file(record(1)), key="old-1")
    redirected_import(send_import(client.post, URL, data))  # sent the new way
    Import.objects.all().delete()
    IdempotencyKey.objects.update(
        status_code=201,
        response={
            "imported": 1,
            "duplicates": 0,
            "rejected": 0,
            "lines": [{"line": 1, "status": "imported", "prompt_id": Prompt.objects.get().pk}],
        },
    )

    again = send_import(client.post, URL, form(jsonl_file(record(1)), key="old-1"))

    assert again.status_code == 302
    assert again["Location"] == URL
    page = client.get(URL).content.decode()
    assert messages_of(page) == ["This file was already imported from this form."]
    assert not Import.objects.exists()
    assert files_waiting() == []
    assert Prompt.objects.count() == 1


def test_a_rejected_line_lists_every_problem(maintainer, send_import):
    bad = record(1, instruction="Hi", category="poetry", response="  ", language="english!")

    _job, page = import_and_read(
        web(maintainer), send_import, form(jsonl_file(bad, record(2, context=7)))
    )

    assert problem_rows(page) == [
        "1 rejected "
        "instruction : The instruction is too short: at least 4 characters, got 2. "
        "response : The answer is required and cannot be only whitespace. "
        "category : Choose one of the categories: open_qa, general_qa, closed_qa, "
        "classification, brainstorming, information_extraction, summarization, "
        "creative_writing. "
        "language : “english!” is not a valid BCP-47 language tag (e.g. en, de, pt-BR).",
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
def test_a_file_that_is_not_dolly_jsonl_is_refused_and_nothing_imported(
    maintainer, queue, body, message
):
    response = queue(web(maintainer).post, URL, form(file_of(body)))

    assert response.status_code == 400  # refused, as the API refuses it, on the form's page
    page = response.content.decode()
    assert file_errors(page) == [message]
    assert 'aria-invalid="true"' in re.search(r'<input type="file"[^>]*>', page).group(0)
    assert 'id="import-form"' in page
    assert not Import.objects.exists()
    assert queue.sent == []
    assert files_waiting() == []
    assert not Prompt.objects.exists()
    assert not IdempotencyKey.objects.exists()


def test_a_refused_file_leaves_the_key_free_for_the_corrected_one(maintainer, send_import):
    client = web(maintainer)

    refused = send_import(client.post, URL, form(file_of(b"not json\n"), key="retry-1"))
    corrected = send_import(client.post, URL, form(jsonl_file(record(1)), key="retry-1"))

    assert refused.status_code == 400
    assert file_errors(refused.content.decode())
    job = redirected_import(corrected)
    assert count(client.get(corrected["Location"]).content.decode(), "imported") == "1"
    assert list(Import.objects.all()) == [job]
    assert Prompt.objects.count() == 1


def test_it_needs_a_file(maintainer, queue):
    response = queue(web(maintainer).post, URL, form(None))

    assert response.status_code == 400
    assert file_errors(response.content.decode()) == ["Choose a JSONL file to import."]
    assert not Import.objects.exists()
    assert not Prompt.objects.exists()


def test_a_file_over_the_import_limit_is_refused_before_it_is_read(maintainer, settings, queue):
    settings.HEARTH_IMPORT_MAX_BYTES = 4096
    lines = [record(n) for n in range(40)]

    response = queue(web(maintainer).post, URL, form(jsonl_file(*lines)))

    assert response.status_code == 413
    html = response.content.decode()
    assert "the limit is 4096 bytes." in html
    assert "The file is still on your computer: import it in smaller parts." in html
    assert not Import.objects.exists()
    assert files_waiting() == []
    assert not Prompt.objects.exists()


def test_bad_options_get_the_apis_messages_by_their_fields_and_import_nothing(maintainer, queue):
    response = queue(
        web(maintainer).post,
        URL,
        form(
            jsonl_file(record(1)),
            source="hearth",
            licence="x" * 65,
            language="not a tag",
            state="published",
        ),
    )

    assert response.status_code == 400
    page = response.content.decode()
    assert field_error(page, "source") == (
        "'hearth' marks work written in Hearth; name the data set you import."
    )
    assert field_error(page, "licence") == (
        "Name the licence in 1 to 64 printable characters, e.g. CC BY-SA 3.0."
    )
    assert field_error(page, "language") == (
        "“not a tag” is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."
    )
    assert field_error(page, "state") == "Choose one of the states: accepted, review."
    assert 'name="source" value="hearth"' in page
    assert not Import.objects.exists()
    assert queue.sent == []
    assert not Prompt.objects.exists()


def test_an_overlong_first_line_is_one_rejected_line_not_a_refused_file(maintainer, send_import):
    from apps.collection.importing import max_line_bytes

    limit = max_line_bytes()
    huge = record(1, context="x" * (limit + 10))
    client = web(maintainer)
    _job, page = import_and_read(client, send_import, form(jsonl_file(huge, record(2))))

    assert (count(page, "imported"), count(page, "rejected")) == ("1", "1")
    assert problem_rows(page) == [f"1 rejected The line is longer than {limit:,} bytes."]
    # A file of nothing but such lines is no Dolly file, and says why.
    refused = send_import(client.post, URL, form(jsonl_file(huge), key="key-2"))
    assert refused.status_code == 400
    assert file_errors(refused.content.decode()) == [
        f"This does not look like a Dolly JSONL file: every line is longer than {limit:,} bytes."
    ]
    assert Import.objects.count() == 1


def run_as_the_worker_does(import_id: int) -> None:
    """``import_run`` outside any request, in the site's default language, as a worker runs it
    (nothing there knows the language of the person who sent the file)."""
    with translation.override(settings.LANGUAGE_CODE):
        import_jobs.import_run(import_id)


def test_the_report_reads_as_spanish_in_spanish(maintainer, send_import, monkeypatch):
    monkeypatch.setattr(import_jobs, "_send", run_as_the_worker_does)

    _job, page = import_and_read(
        web(maintainer),
        send_import,
        form(jsonl_file(record(1), ["a", "list"], "{oops"), key="es-1"),
        HTTP_ACCEPT_LANGUAGE="es",
    )

    stats = re.findall(r'class="number"[^>]*>([^<]*)</span><span>([^<]*)</span>', page)
    assert stats == [("1", "importada"), ("0", "duplicadas"), ("2", "rechazadas")]
    assert problem_rows(page) == [
        "2 rechazada Cada línea debe ser un objeto JSON con instruction, context, response y "
        "category; esta es una lista.",
        "3 rechazada JSON no válido: se esperaba un nombre de campo entre comillas dobles en la "
        "columna 2.",
    ]


# --- the import's page ------------------------------------------------------------------------


def test_htmx_polls_of_an_import_get_its_status_until_it_ends_then_its_report(maintainer, queue):
    client = web(maintainer)
    job = redirected_import(queue(client.post, URL, form(jsonl_file(record(1), record(2)))))
    url = f"/imports/{job.pk}/"

    waiting = client.get(url, HTTP_HX_REQUEST="true")

    assert waiting.status_code == 200  # htmx asks again
    partial = waiting.content.decode()
    assert "<html" not in partial and "<h1" not in partial
    assert status(partial) == "Waiting for a worker"
    assert 'data-testid="import-waiting"' in partial
    assert "hx-swap-oob" not in partial
    assert 'id="report-title"' not in partial

    import_jobs.import_run(job.pk)  # as the worker does
    done = client.get(url, HTTP_HX_REQUEST="true")

    assert done.status_code == 286  # htmx swaps it in and stops asking
    partial = done.content.decode()
    assert "<html" not in partial
    assert status(partial) == "Done"
    report = re.search(r'<div id="import-report" hx-swap-oob="innerHTML">(.*)</div>', partial, re.S)
    assert report is not None, partial
    assert 'id="report-title"' in report.group(1)
    assert (count(partial, "imported"), count(partial, "rejected")) == ("2", "0")
    assert [line["status"] for line in report_jsonl(partial)] == ["imported", "imported"]


def test_a_running_import_shows_how_far_it_has_got(maintainer, queue):
    client = web(maintainer)
    body = (json.dumps(record(1)) + "\n").encode()
    job = redirected_import(queue(client.post, URL, form(file_of(body * 4))))
    Import.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, bytes_done=len(body), lines_read=1, imported=1
    )

    for response in (
        client.get(f"/imports/{job.pk}/"),
        client.get(f"/imports/{job.pk}/", HTTP_HX_REQUEST="true"),
    ):
        assert response.status_code == 200
        page = response.content.decode()
        assert status(page) == "Importing"
        assert re.search(r'<progress max="100" value="25"[^>]*data-testid="import-progress"', page)
        assert "25% of the file read" in text(page)
        assert "1 lines committed" in text(page)
        assert re.search(r'data-testid="live-imported">1<', page)
        assert 'id="report-title"' not in page


def test_an_import_page_is_for_maintainers_only(maintainer, moderator, volunteer, queue):
    job = redirected_import(queue(web(maintainer).post, URL, form(jsonl_file(record(1)))))
    url = f"/imports/{job.pk}/"

    for user in (moderator, volunteer):
        for response in (
            web(user).get(url),
            web(user).get(url, HTTP_HX_REQUEST="true"),
            queue(web(user).post, f"{url}resume/"),
        ):
            assert response.status_code == 403
            assert "Only maintainers may import data." in response.content.decode()
    for response in (web(None).get(url), web(None).post(f"{url}resume/")):
        assert response.status_code == 302
        assert response["Location"].startswith("/accounts/login/?next=")
    assert web(maintainer).get("/imports/999999/").status_code == 404
    assert queue.sent == [job.pk]  # nobody sent it again


def test_the_import_page_lists_recent_imports(maintainer, send_import):
    client = web(maintainer)
    empty = client.get(URL).content.decode()
    assert 'data-testid="no-imports"' in empty
    assert 'data-testid="recent-imports"' not in empty

    job, _page = import_and_read(
        client,
        send_import,
        form(jsonl_file(record(1), record(2), record(1), "{nope", name="basil.jsonl")),
    )

    page = client.get(URL).content.decode()
    assert 'data-testid="no-imports"' not in page
    table = re.search(r'<table[^>]*data-testid="recent-imports">(.*?)</table>', page, re.S)
    assert table is not None
    rows = re.findall(r"<tr>(.*?)</tr>", table.group(1).split("<tbody>")[1], re.S)
    assert len(rows) == 1
    assert f'<a href="/imports/{job.pk}/">basil.jsonl</a>' in rows[0]
    row = text(rows[0])
    assert "Maintainer" in row
    assert "Done" in row
    assert "2 imported, 1 duplicate, 1 rejected" in row  # it said "1 duplicates"


def test_a_failed_import_is_resumed_where_it_stopped(maintainer, send_import):
    lines = [json.dumps(record(n)) + "\n" for n in (1, 2, 3)]
    body = "".join(lines).encode()
    # Line 1 was committed before the worker stopped.
    first = PromptFactory(instruction=record(1)["instruction"], origin="garden-tips")
    job = failed_import(
        maintainer,
        body,
        bytes_done=len(lines[0].encode()),
        lines_read=1,
        imported=1,
        batches_committed=1,
        lines_committed=1,
        listed=[{"line": 1, "status": "imported", "prompt_id": first.pk}],
    )
    client = web(maintainer)
    url = f"/imports/{job.pk}/"

    stopped = client.get(url).content.decode()
    assert status(stopped) == "Failed"
    assert "OperationalError: the database went away" in stopped
    assert 'hx-trigger="every 1s"' not in stopped
    assert 'data-testid="report-partial"' in stopped
    assert count(stopped, "imported") == "1"
    assert f'<form method="post" action="{url}resume/" data-testid="resume">' in stopped

    response = send_import(client.post, f"{url}resume/")

    assert response.status_code == 302
    assert response["Location"] == url
    job.refresh_from_db()
    assert (job.status, job.error, job.imported) == (ImportStatus.DONE, "", 3)
    page = client.get(url).content.decode()
    assert messages_of(page) == ["The import is sent again; it goes on where it stopped."]
    assert status(page) == "Done"
    assert 'data-testid="resume"' not in page
    assert 'data-testid="report-partial"' not in page
    assert count(page, "imported") == "3"
    assert [(line["line"], line["status"]) for line in report_jsonl(page)] == [
        (1, "imported"),
        (2, "imported"),
        (3, "imported"),
    ]
    assert Prompt.objects.count() == 3  # line 1 not imported twice
    assert not import_jobs.import_path(job.pk).exists()

    # Nothing is left to resume.
    again = send_import(client.post, f"{url}resume/")
    assert again["Location"] == url
    assert messages_of(client.get(url).content.decode()) == [
        "This import is done; there is nothing left to import."
    ]
    assert Prompt.objects.count() == 3


def test_a_stalled_import_offers_a_resume_and_a_moving_one_does_not(maintainer, queue):
    body = (json.dumps(record(1)) + "\n").encode()
    job = failed_import(maintainer, body)
    Import.objects.filter(pk=job.pk).update(
        status=ImportStatus.RUNNING, updated_at=timezone.now() - timedelta(minutes=1)
    )
    client = web(maintainer)
    url = f"/imports/{job.pk}/"

    moving = client.get(url).content.decode()
    assert 'data-testid="resume"' not in moving
    assert 'data-testid="import-stalled"' not in moving
    response = queue(client.post, f"{url}resume/")
    assert response["Location"] == url
    assert messages_of(client.get(url).content.decode()) == [
        "The import is still under way; nothing was sent again."
    ]
    assert queue.sent == []

    Import.objects.filter(pk=job.pk).update(
        updated_at=timezone.now() - import_jobs.STALLED_AFTER - timedelta(minutes=1)
    )
    stalled = client.get(url).content.decode()
    assert 'data-testid="import-stalled"' in stalled
    assert 'data-testid="resume"' in stalled
    queue(client.post, f"{url}resume/")
    assert queue.sent == [job.pk]
    job.refresh_from_db()
    assert job.status == ImportStatus.QUEUED


# --- who may import ---------------------------------------------------------------------------


def test_a_volunteer_gets_the_403_page(volunteer, queue):
    for response in (
        web(volunteer).get(URL),
        queue(web(volunteer).post, URL, form(jsonl_file(record(1)))),
    ):
        assert response.status_code == 403
        assert "Only maintainers may import data." in response.content.decode()
    assert not Import.objects.exists()
    assert not Prompt.objects.exists()


def test_a_moderator_gets_the_403_page(moderator, queue):
    response = queue(web(moderator).post, URL, form(jsonl_file(record(1))))

    assert response.status_code == 403
    assert not Import.objects.exists()
    assert not Prompt.objects.exists()


def test_an_anonymous_visitor_is_sent_to_log_in(queue):
    for response in (
        web(None).get(URL),
        queue(web(None).post, URL, form(jsonl_file(record(1)))),
    ):
        assert response.status_code == 302
        assert response["Location"] == "/accounts/login/?next=/imports/"
    assert not Import.objects.exists()
    assert not Prompt.objects.exists()


def test_only_maintainers_see_the_import_link(maintainer, volunteer):
    link = '<a href="/imports/"'

    assert link in web(maintainer).get("/").content.decode()
    assert link not in web(volunteer).get("/").content.decode()
    assert link not in web(None).get("/").content.decode()
    current = web(maintainer).get(URL).content.decode()
    assert '<a href="/imports/" aria-current="page">Import</a>' in current


def test_the_pages_script_gets_the_imports_url_as_json_and_a_refused_form_as_the_page(
    maintainer, send_import
):
    """The page sends its form with XMLHttpRequest to show the upload's progress: it is told
    where to go rather than redirected, and a refused file gets the page with the form."""
    client = web(maintainer)
    xhr = {"HTTP_X_REQUESTED_WITH": "XMLHttpRequest"}
    sent = send_import(client.post, URL, form(jsonl_file(record(1))), **xhr)
    job = Import.objects.get()
    assert sent.status_code == 200
    assert sent.json() == {"url": f"/imports/{job.pk}/"}
    assert job.status == ImportStatus.DONE

    refused = client.post(URL, form(file_of(b"name,answer\nbasil,water\n")), **xhr)
    assert refused.status_code == 400
    assert refused["Content-Type"].startswith("text/html")
    assert 'id="import-form"' in refused.text
    assert "This does not look like a Dolly JSONL file." in refused.text
    assert Import.objects.count() == 1
