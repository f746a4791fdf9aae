"""An import's report lists a bounded number of lines, however many the file has; its counts
stay exact, and the API, the Import row and the import's page say when lines are left out."""

from __future__ import annotations

import io
import json
import re
from typing import Any

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from apps.collection import importing, services
from apps.collection.importing import (
    DUPLICATE,
    IMPORTED,
    REJECTED,
    REPORT_LINES_PER_STATUS,
    ImportProgress,
    ImportReport,
    LineOutcome,
    check_import_options,
    prompts_import_jsonl,
)
from apps.collection.models import Import, Prompt
from apps.core.models import IdempotencyKey
from tests.collection.test_imports_page import (
    count,
    form,
    jsonl_file,
    problem_rows,
    record,
    report_jsonl,
    text,
    web,
)

pytestmark = pytest.mark.django_db

API_URL = "/api/v1/imports/"
PAGE_URL = "/imports/"
EXTRA = 50
BAD_LINE = "{}"
BAD_LINE_ERRORS = {
    "instruction": ["The instruction is required and cannot be only whitespace."],
    "response": ["The answer is required and cannot be only whitespace."],
    "category": [
        "Choose one of the categories: open_qa, general_qa, closed_qa, classification, "
        "brainstorming, information_extraction, summarization, creative_writing."
    ],
}


def mostly_bad_file() -> SimpleUploadedFile:
    """A good line, REPORT_LINES_PER_STATUS + EXTRA bad ones, and a good line at the end."""
    return jsonl_file(record(1), *[BAD_LINE] * (REPORT_LINES_PER_STATUS + EXTRA), record(2))


def finished_import(client: Any, response: Any) -> dict[str, Any]:
    """The import a 202 answered with, run to its end (``send_import``)."""
    assert response.status_code == 202, response.content[:500]
    job = client.get(response.json()["url"]).json()
    assert job["status"] == "done", job["error"]
    return job


def finished_page(client: Any, response: Any) -> str:
    """The page of the import the Import form went on to, once the import is done."""
    assert response.status_code == 302, response.content[:500]
    assert re.fullmatch(r"/imports/\d+/", response["Location"]), response["Location"]
    page = client.get(response["Location"])
    assert page.status_code == 200
    assert 'data-testid="import-status">Done<' in page.content.decode()
    return page.content.decode()


def test_the_api_counts_every_line_and_lists_the_first_of_each_status(api_maintainer, send_import):
    last = REPORT_LINES_PER_STATUS + EXTRA + 2

    response = send_import(
        api_maintainer.post,
        API_URL,
        {"file": mostly_bad_file(), "source": "basil"},
        format="multipart",
    )

    report = finished_import(api_maintainer, response)["report"]
    first, second = Prompt.objects.filter(origin="basil").order_by("pk")
    assert {key: value for key, value in report.items() if key != "lines"} == {
        "imported": 2,
        "answers_added": 0,
        "duplicates": 0,
        "rejected": REPORT_LINES_PER_STATUS + EXTRA,
        "lines_truncated": True,
        "lines_omitted": EXTRA,
        "lines_listed_per_status": REPORT_LINES_PER_STATUS,
    }
    assert len(report["lines"]) == REPORT_LINES_PER_STATUS + 2
    assert report["lines"][0] == {"line": 1, "status": "imported", "prompt_id": first.pk}
    # The good line after the bad ones was read, imported and listed: nothing stops early.
    assert report["lines"][-1] == {"line": last, "status": "imported", "prompt_id": second.pk}
    rejected = report["lines"][1:-1]
    assert [line["line"] for line in rejected] == list(range(2, REPORT_LINES_PER_STATUS + 2))
    assert rejected[0] == {"line": 2, "status": "rejected", "errors": BAD_LINE_ERRORS}


def test_a_retry_replays_the_import_and_its_report_stays_bounded(api_maintainer, send_import):
    def post() -> Any:
        return send_import(
            api_maintainer.post,
            API_URL,
            {"file": mostly_bad_file(), "source": "basil"},
            format="multipart",
            HTTP_IDEMPOTENCY_KEY="basil-bad-1",
        )

    first = post()
    again = post()

    assert first.status_code == again.status_code == 202
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    # The key keeps the import it sent, not the report; the import keeps the bounded report.
    stored = IdempotencyKey.objects.get().response
    assert stored is not None and stored["id"] == first.json()["id"]
    report = finished_import(api_maintainer, again)["report"]
    assert report["lines_omitted"] == EXTRA
    assert len(report["lines"]) == REPORT_LINES_PER_STATUS + 2
    assert len(Import.objects.get().listed) == REPORT_LINES_PER_STATUS + 2
    assert Prompt.objects.count() == 2


def test_a_small_file_lists_every_line_and_says_nothing_is_left_out(api_maintainer, send_import):
    response = send_import(
        api_maintainer.post,
        API_URL,
        {"file": jsonl_file(record(1), BAD_LINE)},
        format="multipart",
    )

    report = finished_import(api_maintainer, response)["report"]
    prompt = Prompt.objects.get()
    assert report == {
        "imported": 1,
        "answers_added": 0,
        "duplicates": 0,
        "rejected": 1,
        "lines": [
            {"line": 1, "status": "imported", "prompt_id": prompt.pk},
            {"line": 2, "status": "rejected", "errors": BAD_LINE_ERRORS},
        ],
        "lines_truncated": False,
        "lines_omitted": 0,
        "lines_listed_per_status": REPORT_LINES_PER_STATUS,
    }


def test_the_schema_documents_the_fields_that_say_lines_are_left_out():
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)

    fields = schema["components"]["schemas"]["ImportReport"]
    assert fields["properties"]["lines_truncated"]["type"] == "boolean"
    assert fields["properties"]["lines_omitted"]["type"] == "integer"
    assert fields["properties"]["lines_listed_per_status"]["type"] == "integer"
    assert {"lines_truncated", "lines_omitted", "lines_listed_per_status"} <= set(
        fields["required"]
    )
    assert "lines_listed_per_status" in fields["properties"]["lines"]["description"]


# --- the report itself --------------------------------------------------------------------


def outcome(line: int, status: str) -> LineOutcome:
    if status == REJECTED:
        return LineOutcome(line=line, status=status, errors={"line": ["Not valid JSON."]})
    return LineOutcome(line=line, status=status, prompt_id=line)


def test_each_status_keeps_its_own_first_lines_in_the_files_order():
    report = ImportReport(lines_per_status=2)
    statuses = [REJECTED, REJECTED, REJECTED, IMPORTED, DUPLICATE, IMPORTED, IMPORTED, DUPLICATE]

    report.add_batch([outcome(n, s) for n, s in enumerate(statuses[:4], start=1)])
    report.add_batch([outcome(n, s) for n, s in enumerate(statuses[4:], start=5)])

    assert [(o.line, o.status) for o in report.lines] == [
        (1, REJECTED), (2, REJECTED), (4, IMPORTED), (5, DUPLICATE), (6, IMPORTED),
        (8, DUPLICATE),
    ]  # fmt: skip
    assert (report.imported, report.duplicates, report.rejected) == (3, 2, 3)
    assert (report.lines_committed, report.lines_omitted, report.batches_committed) == (8, 2, 2)
    assert report.as_dict()["lines_truncated"] is True


def test_a_report_without_a_limit_lists_every_line():
    report = ImportReport()

    report.add_batch([outcome(n, REJECTED) for n in range(1, 2001)])

    assert len(report.lines) == report.rejected == report.lines_committed == 2000
    assert report.lines_omitted == 0


def test_memory_for_the_lines_stays_bounded_while_the_file_is_read(maintainer):
    """The report drops the lines past its limit batch by batch, never holding them all."""
    report = ImportReport(lines_per_status=3)
    most_held: list[int] = []

    def progress(_step: ImportProgress) -> None:
        most_held.append(len(report.lines))

    prompts_import_jsonl(
        io.BytesIO(b"{}\n" * 200),
        author=maintainer,
        options=check_import_options(source="basil", batch_size=10),
        progress=progress,
        report=report,
    )

    assert (report.rejected, report.lines_committed, report.batches_committed) == (200, 200, 20)
    assert max(most_held) == 3
    assert [o.line for o in report.lines] == [1, 2, 3]


def test_a_rejected_line_past_the_list_still_gets_every_check_it_needs(maintainer, monkeypatch):
    """Past the list of rejected lines, a line of the wrong shape skips the Write form's
    checks (their messages would not be shown); one of the right shape still gets them all,
    so a line is imported exactly when it would have been."""
    calls: list[Any] = []
    check = services.check_prompt_fields

    def counting(**fields: Any) -> Any:
        calls.append(fields["instruction"])
        return check(**fields)

    monkeypatch.setattr(services, "check_prompt_fields", counting)
    report = ImportReport(lines_per_status=1)
    lines = [
        {},  # listed, with every problem
        {"instruction": "No answer here, and it is never checked further."},
        {**record(3), "category": "poetry"},  # right shape, wrong category: rejected
        record(4),
        {},
    ]
    body = "".join(json.dumps(line) + "\n" for line in lines).encode()

    prompts_import_jsonl(
        io.BytesIO(body),
        author=maintainer,
        options=check_import_options(source="basil", batch_size=2),
        report=report,
    )

    assert (report.imported, report.duplicates, report.rejected) == (1, 0, 4)
    assert [(o.line, o.status) for o in report.lines] == [(1, REJECTED), (4, IMPORTED)]
    assert report.lines[0].errors == BAD_LINE_ERRORS
    assert calls == [None, record(3)["instruction"], record(4)["instruction"]]
    assert Prompt.objects.get().instruction == record(4)["instruction"]


# --- the Import page ------------------------------------------------------------------------


def test_the_page_says_the_list_is_cut_and_shows_the_first_rejected_lines(maintainer, send_import):
    client = web(maintainer)

    page = finished_page(client, send_import(client.post, PAGE_URL, form(mostly_bad_file())))

    assert (count(page, "imported"), count(page, "rejected")) == ("2", "1,050")
    notice = page.split('data-testid="report-truncated">', 1)[1].split("</p>", 1)[0]
    assert text(notice) == (
        "This report lists only the first 1,000 lines of each kind (imported, answer added, "
        "duplicate, rejected): 50 more lines are in the counts above but not listed."
    )
    rows = problem_rows(page)
    assert len(rows) == REPORT_LINES_PER_STATUS
    # A line's problems in the order of the Write form's fields, instruction first, as the
    # import reported them (not in the order its stored report's keys come back in).
    assert rows[0].startswith("2 rejected instruction : The instruction is required and")
    assert rows[-1].startswith(f"{REPORT_LINES_PER_STATUS + 1} rejected ")
    assert len(report_jsonl(page)) == REPORT_LINES_PER_STATUS + 2
    assert "The lines listed, as JSONL" in page
    assert "The full report as JSONL" not in page


def test_the_page_says_how_many_imported_lines_it_lists(maintainer, monkeypatch, send_import):
    monkeypatch.setattr(importing, "REPORT_LINES_PER_STATUS", 2)
    client = web(maintainer)

    response = send_import(client.post, PAGE_URL, form(jsonl_file(record(1), record(2), record(3))))

    page = finished_page(client, response)
    assert count(page, "imported") == "3"
    assert "The first 2 of the 3 imported lines" in page
    assert page.count('<li><a href="/prompts/') == 2
    assert "1 more line is in the counts above but not listed." in text(page)


def test_a_small_report_on_the_page_is_not_cut(maintainer, send_import):
    client = web(maintainer)

    response = send_import(client.post, PAGE_URL, form(jsonl_file(record(1), record(2), BAD_LINE)))

    page = finished_page(client, response)
    assert 'data-testid="report-truncated"' not in page
    assert "The 2 imported lines" in page
    assert "The full report as JSONL" in page
    assert [line["line"] for line in report_jsonl(page)] == [1, 2, 3]


def test_a_report_stored_before_the_limit_still_shows():
    """Reports stored before the report had its limit (the Import page's idempotency rows)
    lack the new fields; the import page's report still shows one."""
    from django.template.loader import render_to_string

    from apps.collection.views import _import_report_context

    old = {"imported": 0, "duplicates": 0, "rejected": 1, "lines": [outcome(1, REJECTED).as_dict()]}

    page = render_to_string(
        "collection/_import_report.html", {"report": _import_report_context(old), "finished": True}
    )

    assert problem_rows(page) == ["1 rejected Not valid JSON."]
    assert 'data-testid="report-truncated"' not in page
    assert "The full report as JSONL" in page
