"""The JSONL import service: every line through prompt_create, batches all-or-nothing."""

from __future__ import annotations

import io
import json
import threading
import time
import unicodedata
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import connection, transaction
from django.utils import timezone

from apps.collection import services
from apps.collection.importing import (
    ImportOptions,
    ImportProgress,
    ImportReport,
    LineOutcome,
    check_import_options,
    check_upload,
    max_line_bytes,
    prompts_import_jsonl,
)
from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.collection.policy import policy_update
from tests.factories import PromptFactory, ResponseFactory

pytestmark = pytest.mark.django_db

# Shaped like databricks-dolly-15k: a short open question, and a closed question whose context
# is a long encyclopedia-style passage with citation marks, paragraphs and non-ASCII text.
SHORT_RECORD = {
    "instruction": "What is CSS?",
    "context": "",
    "response": "CSS (Cascading Style Sheets) is the language used to describe how HTML "
    "documents look: colours, fonts, spacing and layout.",
    "category": "open_qa",
}
LONG_CONTEXT = (
    "The Kiel Canal (German: Nord-Ostsee-Kanal) is a 98-kilometre freshwater canal in the "
    "German state of Schleswig-Holstein.[1] It links the North Sea at Brunsbüttel to the "
    "Baltic Sea at Kiel-Holtenau, saving ships an average of 460 kilometres compared with the "
    "route around the Jutland peninsula.[2] Construction began in 1887 and took some 9,000 "
    "workers eight years; the canal was opened in June 1895.[3]\n\n"
    "Between 1907 and 1914 the canal was widened so that the largest warships of the day "
    "could pass.[4] Today it is one of the busiest artificial waterways in the world, used by "
    "more ships each year than the Suez and Panama canals combined.[5] Ships are guided by "
    "pilots and, on the larger vessels, by specialised canal helmsmen who take over from the "
    "regular crew.[6] Several high bridges cross the canal, among them the Rendsburg High "
    "Bridge, which carries a railway and, suspended beneath it, a small transporter bridge "
    "that ferries pedestrians and cars across the water.[7] " * 4
).strip()
LONG_RECORD = {
    "instruction": "How long is the Kiel Canal and when did it open?",
    "context": LONG_CONTEXT,
    "response": "It is 98 kilometres long and opened in June 1895.",
    "category": "closed_qa",
}


def jsonl(*records: Any) -> io.BytesIO:
    """A binary JSONL stream; dicts are encoded, bytes and str are taken as the raw line."""
    lines: list[bytes] = []
    for record in records:
        if isinstance(record, bytes):
            lines.append(record)
        elif isinstance(record, str):
            lines.append(record.encode())
        else:
            lines.append(json.dumps(record, ensure_ascii=False).encode())
    return io.BytesIO(b"\n".join(lines) + b"\n")


def record(n: int, **changes: Any) -> dict[str, Any]:
    base = {
        "instruction": f"Name three uses for a paperclip, variant {n}.",
        "context": "",
        "response": f"Holding paper, resetting a router, and as a bookmark ({n}).",
        "category": "brainstorming",
    }
    return {**base, **changes}


def options(**changes: Any) -> ImportOptions:
    return check_import_options(**{"source": "databricks-dolly-15k", **changes})


def run(stream: io.BytesIO, author: Any, **kwargs: Any) -> ImportReport:
    opts = kwargs.pop("opts", None) or options()
    return prompts_import_jsonl(stream, author=author, options=opts, **kwargs)


def only_line(report: ImportReport) -> LineOutcome:
    assert len(report.lines) == 1
    return report.lines[0]


# --- good lines ---------------------------------------------------------------------------


def test_it_imports_dolly_records_as_accepted_prompts_with_the_authors_response(maintainer):
    report = run(jsonl(SHORT_RECORD, LONG_RECORD), maintainer)

    assert (report.imported, report.duplicates, report.rejected) == (2, 0, 0)
    short = Prompt.objects.get(pk=report.lines[0].prompt_id)
    long = Prompt.objects.get(pk=report.lines[1].prompt_id)
    assert report.lines == [
        LineOutcome(line=1, status="imported", prompt_id=short.pk),
        LineOutcome(line=2, status="imported", prompt_id=long.pk),
    ]
    assert short.instruction == "What is CSS?"
    assert short.context == ""
    assert short.category == "open_qa"
    assert short.language == "en"
    assert short.state == PromptState.COLLECTING
    assert short.origin == "databricks-dolly-15k"
    assert short.licence == "CC BY-SA 3.0"
    assert short.author == maintainer
    assert long.context == LONG_CONTEXT
    assert long.category == "closed_qa"
    answer = long.responses.get()
    assert answer.text == "It is 98 kilometres long and opened in June 1895."
    assert answer.author == maintainer
    assert answer.state == ResponseState.ACCEPTED
    assert answer.origin == "databricks-dolly-15k"
    assert answer.licence == "CC BY-SA 3.0"


def test_it_can_leave_imported_prompts_and_responses_in_review(maintainer):
    report = run(jsonl(SHORT_RECORD), maintainer, opts=options(state="review", licence="MIT"))

    prompt = Prompt.objects.get(pk=only_line(report).prompt_id)
    assert prompt.state == PromptState.REVIEW
    assert prompt.licence == "MIT"
    assert prompt.responses.get().state == ResponseState.REVIEW


def test_it_takes_each_lines_language_and_falls_back_to_the_default(maintainer):
    report = run(
        jsonl(record(1, language="pt-br"), record(2), record(3, language=None)),
        maintainer,
        opts=options(language="de"),
    )

    languages = [Prompt.objects.get(pk=o.prompt_id).language for o in report.lines]
    assert languages == ["pt-BR", "de", "de"]


def test_it_normalises_text_as_the_write_form_does(maintainer):
    decomposed = unicodedata.normalize("NFD", "Explain what a café au lait is.")
    report = run(jsonl(record(1, instruction=f"  {decomposed}\r\n", context=None)), maintainer)

    prompt = Prompt.objects.get(pk=only_line(report).prompt_id)
    assert prompt.instruction == "Explain what a café au lait is."
    assert unicodedata.is_normalized("NFC", prompt.instruction)
    assert prompt.context == ""


def test_it_ignores_fields_dolly_does_not_define(maintainer):
    report = run(jsonl(record(1, id=17, source="crowd")), maintainer)

    assert only_line(report).status == "imported"


def test_it_skips_blank_lines_silently_but_counts_them_in_line_numbers(maintainer):
    report = run(jsonl(record(1), "", "   \t", record(2)), maintainer)

    assert [(o.line, o.status) for o in report.lines] == [(1, "imported"), (4, "imported")]


def test_it_accepts_a_utf8_byte_order_mark_on_the_first_line(maintainer):
    stream = io.BytesIO(b"\xef\xbb\xbf" + json.dumps(record(1)).encode() + b"\n")

    assert only_line(run(stream, maintainer)).status == "imported"


@pytest.mark.parametrize("state", ["accepted", "review"])
def test_it_writes_the_rows_prompt_create_writes_under_the_current_policy(maintainer, state):
    policy_update(
        changes={
            "prompt_reviews_required": 3,
            "response_reviews_required": 4,
            "responses_to_collect": 5,
        }
    )
    opts = options(state=state, licence="MIT")
    line = record(1, category="closed_qa", context="A paperclip is bent steel wire.")
    report = run(jsonl(line), maintainer, opts=opts)
    imported = Prompt.objects.get(pk=only_line(report).prompt_id)
    written = services.prompt_create(
        author=maintainer,
        **{**line, "instruction": "Name two more uses for a paperclip."},
        language=opts.language,
        origin=opts.source,
        licence=opts.licence,
        state=opts.prompt_state,
        response_state=opts.response_state,
        withdrawn_blocks=True,
    )

    def rows(prompt: Prompt) -> list[dict[str, Any]]:
        ignored = {"id", "prompt_id", "instruction", "instruction_key", "created_at", "updated_at"}
        return [
            {k: v for k, v in values.items() if k not in ignored}
            for values in (
                Prompt.objects.filter(pk=prompt.pk).values().get(),
                *Response.objects.filter(prompt=prompt).values(),
            )
        ]

    assert rows(imported) == rows(written)
    # Accepted: the policy's five answers, less the one imported; in review: three reviews.
    assert imported.open_slots == {"accepted": 4, "review": 3}[state]
    assert imported.responses.get().open_slots == 0


# --- bad lines ----------------------------------------------------------------------------


def test_it_rejects_malformed_json_and_says_where(maintainer):
    report = run(jsonl('{"instruction": "Hi there", "response"}'), maintainer)

    assert only_line(report) == LineOutcome(
        line=1,
        status="rejected",
        errors={"line": ["Not valid JSON: a colon was expected at column 39."]},
    )
    assert not Prompt.objects.exists()


@pytest.mark.parametrize("ending", [b"\n", b"\r\n"])
def test_a_line_cut_short_is_placed_at_its_end_not_on_the_next_line(maintainer, ending):
    """The decoder skips the line's own newline looking for the missing value, and would say
    column 1 (of a line after it)."""
    cut = b'{"instruction": "Hi there", "response":'
    report = run(io.BytesIO(cut + ending + json.dumps(record(1)).encode() + ending), maintainer)

    assert report.lines[0] == LineOutcome(
        line=1,
        status="rejected",
        errors={"line": ["Not valid JSON: a value was expected at column 40."]},
    )
    assert report.imported == 1


@pytest.mark.parametrize(
    ("raw", "kind"),
    [('["What is CSS?", "A language."]', "an array"), ('"What is CSS?"', "a string"),
     ("42", "a number"), ("null", "null")],
)  # fmt: skip
def test_it_rejects_a_line_that_is_not_an_object(maintainer, raw, kind):
    report = run(jsonl(raw), maintainer)

    assert only_line(report).errors == {
        "line": [
            "Each line must be a JSON object with instruction, context, response and "
            f"category; this one is {kind}."
        ]
    }


def test_it_rejects_fields_of_the_wrong_type(maintainer):
    report = run(
        jsonl(record(1, instruction=["What", "is", "CSS?"], context=3, category=True)), maintainer
    )

    assert only_line(report).errors == {
        "instruction": ["Must be a JSON string, not an array."],
        "context": ["Must be a JSON string, not a number."],
        "category": ["Must be a JSON string, not true/false."],
    }


@pytest.mark.parametrize("response", [None, "", "  \n "])
def test_it_rejects_a_line_without_a_response(maintainer, response):
    line = record(1, response=response)
    if response is None:
        del line["response"]

    report = run(jsonl(line), maintainer)

    assert only_line(report).errors == {
        "response": ["The answer is required and cannot be only whitespace."]
    }
    assert not Prompt.objects.exists()


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"instruction": "Hi"},
            {"instruction": ["The instruction is too short: at least 4 characters, got 2."]},
        ),
        (
            {"instruction": "Say hello\x07 to me."},
            {"instruction": ["The instruction contains a control character (U+0007); remove it."]},
        ),
        (
            {"category": "poetry"},
            {
                "category": [
                    "Choose one of the categories: open_qa, general_qa, closed_qa, "
                    "classification, brainstorming, information_extraction, summarization, "
                    "creative_writing."
                ]
            },
        ),
        (
            {"category": "summarization", "context": "  "},
            {
                "context": [
                    "The Summarization category needs a context: paste the text the task is about."
                ]
            },
        ),
        (
            {"language": "english!"},
            {"language": ["“english!” is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."]},
        ),
        (
            {"instruction": "Say something nice.", "response": "say   SOMETHING nice."},
            {"response": ["The answer only repeats the instruction."]},
        ),
    ],
)
def test_it_rejects_what_the_write_form_rejects_with_the_same_messages(maintainer, changes, errors):
    report = run(jsonl(record(1, **changes)), maintainer)

    assert only_line(report) == LineOutcome(line=1, status="rejected", errors=errors)
    assert not Prompt.objects.exists()


def test_it_rejects_a_lone_surrogate_and_goes_on_with_the_next_line(maintainer):
    # JSON may escape half of a UTF-16 pair; Python reads it, PostgreSQL cannot store it.
    surrogate = json.dumps(record(1, instruction="Say hello \ud800 to me.", context="\udfff"))

    report = run(jsonl(surrogate, record(2)), maintainer)

    assert report.lines[0] == LineOutcome(
        line=1,
        status="rejected",
        errors={
            "instruction": [
                "The instruction contains U+D800, half of a UTF-16 pair and not a character; "
                "remove it."
            ],
            "context": [
                "The context contains U+DFFF, half of a UTF-16 pair and not a character; remove it."
            ],
        },
    )
    assert [p.instruction for p in Prompt.objects.all()] == [record(2)["instruction"]]


def test_a_rejected_line_lists_all_its_problems_in_the_records_field_order(maintainer):
    line = record(
        1,
        instruction="Hi",
        context=["not", "text"],
        response="",
        category="poetry",
        language="english!",
    )

    report = run(jsonl(line), maintainer)

    errors = only_line(report).errors
    assert errors == {
        "instruction": ["The instruction is too short: at least 4 characters, got 2."],
        "context": ["Must be a JSON string, not an array."],
        "response": ["The answer is required and cannot be only whitespace."],
        "category": [
            "Choose one of the categories: open_qa, general_qa, closed_qa, classification, "
            "brainstorming, information_extraction, summarization, creative_writing."
        ],
        "language": ["“english!” is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."],
    }
    assert list(errors or {}) == ["instruction", "context", "response", "category", "language"]
    assert not Prompt.objects.exists()


def test_a_response_is_checked_even_when_the_prompts_fields_are_refused(maintainer):
    line = record(1, category="summarization", context="", response="Tiny\x07 answer.")

    report = run(jsonl(line), maintainer)

    assert only_line(report).errors == {
        "context": [
            "The Summarization category needs a context: paste the text the task is about."
        ],
        "response": ["The answer contains a control character (U+0007); remove it."],
    }


def test_a_response_repeating_an_instruction_that_is_refused_says_so_too(maintainer):
    line = record(1, instruction="Say something nice.", response="say SOMETHING nice", category="")

    report = run(jsonl(line), maintainer)

    assert set(only_line(report).errors or {}) == {"category", "response"}
    assert (only_line(report).errors or {})["response"] == [
        "The answer only repeats the instruction."
    ]


def test_it_rejects_bytes_that_are_not_utf8_and_names_the_line(maintainer):
    latin1 = json.dumps(record(2, instruction="Qu'est-ce qu'un café ?"), ensure_ascii=False)
    report = run(jsonl(record(1), latin1.encode("latin-1"), record(3)), maintainer)

    assert [o.status for o in report.lines] == ["imported", "rejected", "imported"]
    assert report.lines[1].errors == {
        "line": ["Line 2 is not valid UTF-8: byte 0xe9 at position 37."]
    }


def test_it_rejects_an_overlong_line_and_goes_on_with_the_next(maintainer, settings):
    settings.HEARTH_INSTRUCTION_MAX_CHARS = 100
    settings.HEARTH_CONTEXT_MAX_CHARS = 100
    settings.HEARTH_RESPONSE_MAX_CHARS = 100
    limit = max_line_bytes()
    huge = json.dumps(record(1, context="x" * (limit + 10)))

    report = run(jsonl(huge, record(2)), maintainer)

    assert report.lines[0] == LineOutcome(
        line=1, status="rejected", errors={"line": [f"The line is longer than {limit:,} bytes."]}
    )
    assert report.lines[1].status == "imported"


def test_a_rejected_line_does_not_roll_back_the_rest_of_its_batch(maintainer):
    report = run(jsonl(record(1), record(2, category="poetry"), record(3)), maintainer)

    assert [o.status for o in report.lines] == ["imported", "rejected", "imported"]
    assert report.batches_committed == 1
    assert Prompt.objects.count() == 2
    assert Response.objects.count() == 2


# --- duplicates ---------------------------------------------------------------------------


def test_it_reports_a_duplicate_within_the_file_with_the_first_lines_prompt(maintainer):
    report = run(
        jsonl(record(1), record(1, instruction="  NAME three uses for a paperclip,  variant 1. ")),
        maintainer,
    )

    first = report.lines[0].prompt_id
    assert report.lines[1] == LineOutcome(line=2, status="duplicate", prompt_id=first)
    assert (report.imported, report.duplicates) == (1, 1)
    assert Prompt.objects.count() == 1


def test_the_same_instruction_over_another_context_is_another_prompt(maintainer):
    """Data QA: three Dolly summaries shared "Summarize the following passage." over
    different passages, and the second and third were refused as duplicates of the first."""
    summary = {"instruction": "Summarize the following passage.", "category": "summarization"}
    lines = [
        record(1, **summary, context="The Kiel Canal links the North Sea to the Baltic."),
        record(2, **summary, context="Rivers carry silt and stones to the sea."),
        # The first again, in other case and spacing: the same prompt, another answer.
        record(3, **summary, context="  the KIEL canal links the North Sea to the Baltic "),
        # Without a context: another prompt again.
        record(4, **{**summary, "category": "open_qa"}, context=""),
    ]

    report = run(jsonl(*lines), maintainer)

    first = report.lines[0].prompt_id
    assert [line.status for line in report.lines] == [
        "imported",
        "imported",
        "answer_added",
        "imported",
    ]
    assert report.lines[2].prompt_id == first
    assert Prompt.objects.filter(instruction=summary["instruction"]).count() == 3
    # Running it again adds nothing.
    again = run(jsonl(*lines), maintainer)
    assert (again.imported, again.answers_added, again.duplicates) == (0, 0, 4)
    # The Write form refuses the same instruction and context, and names the context.
    with pytest.raises(ValidationError) as refused:
        services.prompt_create(
            author=maintainer,
            instruction="summarize the following passage",
            context="The Kiel Canal links the North Sea to the Baltic.",
            category="summarization",
            language="en",
        )
    assert refused.value.message_dict["instruction"] == [
        f"This instruction, with this context, is already in Hearth as prompt #{first}: "
        f"/prompts/{first}/"
    ]


def test_it_reports_a_duplicate_of_a_prompt_already_in_hearth_with_that_answer(
    maintainer, volunteer
):
    existing = PromptFactory(author=volunteer, instruction="What is CSS?")
    # The same answer, in other case: the answers compare as prompts do.
    ResponseFactory(prompt=existing, author=volunteer, text=SHORT_RECORD["response"].upper())

    report = run(jsonl(SHORT_RECORD), maintainer)

    assert only_line(report) == LineOutcome(line=1, status="duplicate", prompt_id=existing.pk)
    assert Prompt.objects.count() == 1
    assert existing.responses.count() == 1


def test_a_duplicate_names_the_newest_prompt_with_that_instruction(maintainer, volunteer):
    withdrawn = {"author": volunteer, "withdrawn_at": timezone.now()}
    PromptFactory(instruction="What is CSS?", **withdrawn)
    newer = PromptFactory(instruction="what is CSS", **withdrawn)

    report = run(jsonl(SHORT_RECORD, SHORT_RECORD), maintainer)

    assert report.lines == [
        LineOutcome(line=1, status="duplicate", prompt_id=newer.pk),
        LineOutcome(line=2, status="duplicate", prompt_id=newer.pk),
    ]


@pytest.mark.django_db(transaction=True)
def test_an_instruction_another_writer_commits_meanwhile_comes_back_as_their_prompt(
    maintainer, volunteer
):
    """Another writer inserts line 2's instruction before the import looks for duplicates and
    commits once the import's insert waits on it: the unique index refuses the insert, and
    the batch is written again with line 2 as their prompt, which takes its answer."""
    inserted = threading.Event()
    theirs: dict[str, int] = {}

    def import_waits_on_a_lock() -> bool:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity "
                "WHERE datname = current_database() AND wait_event_type = 'Lock')"
            )
            return bool(cursor.fetchone()[0])

    def other_writer() -> None:
        try:
            with transaction.atomic():
                theirs["id"] = PromptFactory(
                    author=volunteer, instruction=record(2)["instruction"]
                ).pk
                inserted.set()
                deadline = time.monotonic() + 30
                while not import_waits_on_a_lock() and time.monotonic() < deadline:
                    time.sleep(0.01)
        finally:
            connection.close()

    thread = threading.Thread(target=other_writer)
    thread.start()
    assert inserted.wait(30)
    try:
        report = run(jsonl(record(1), record(2), record(3)), maintainer)
    finally:
        thread.join(30)

    assert [(o.status, o.prompt_id == theirs["id"]) for o in report.lines] == [
        ("imported", False), ("answer_added", True), ("imported", False),
    ]  # fmt: skip
    assert Prompt.objects.count() == 3
    assert Response.objects.get(prompt_id=theirs["id"]).text == record(2)["response"]
    assert Response.objects.count() == 3


def test_it_finds_the_new_prompts_where_the_database_returns_no_ids_from_a_bulk_insert(
    maintainer, monkeypatch
):
    # As SQLite before 3.35 does.
    monkeypatch.setattr(connection.features, "can_return_rows_from_bulk_insert", False)

    report = run(jsonl(record(1), record(2), record(1)), maintainer)

    first, second, again = (o.prompt_id for o in report.lines)
    assert [o.status for o in report.lines] == ["imported", "imported", "duplicate"]
    assert again == first
    for prompt_id, n in ((first, 1), (second, 2)):
        prompt = Prompt.objects.get(pk=prompt_id)
        assert prompt.instruction == record(n)["instruction"]
        assert prompt.responses.get().text == record(n)["response"]


def test_a_banned_maintainer_imports_nothing(maintainer):
    maintainer.banned_at = timezone.now()
    maintainer.ban_reason = "spam"
    maintainer.save(update_fields=["banned_at", "ban_reason"])

    with pytest.raises(PermissionDenied, match="suspended from contributing: spam"):
        run(jsonl(record(1)), maintainer)

    assert not Prompt.objects.exists()


# --- batches, interruptions, re-runs ------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_crash_mid_batch_rolls_back_that_batch_only_and_a_rerun_finishes_the_job(maintainer):
    data = jsonl(*(record(n) for n in range(1, 6))).getvalue()
    opts = options(batch_size=2)

    def crash_on_line_4(step: ImportProgress) -> None:
        if step.lines_done == 4:
            raise RuntimeError("disk on fire")

    partial = ImportReport()
    with pytest.raises(RuntimeError, match="disk on fire"):
        run(io.BytesIO(data), maintainer, opts=opts, progress=crash_on_line_4, report=partial)

    # Batch 1 (lines 1-2) committed; batch 2 (lines 3-4) rolled back, line 3 included.
    assert partial.batches_committed == 1
    assert [(o.line, o.status) for o in partial.lines] == [(1, "imported"), (2, "imported")]
    assert sorted(Prompt.objects.values_list("instruction", flat=True)) == [
        "Name three uses for a paperclip, variant 1.",
        "Name three uses for a paperclip, variant 2.",
    ]
    assert Response.objects.count() == 2

    rerun = run(io.BytesIO(data), maintainer, opts=opts)

    assert [o.status for o in rerun.lines] == [
        "duplicate", "duplicate", "imported", "imported", "imported",
    ]  # fmt: skip
    assert rerun.lines[0].prompt_id == partial.lines[0].prompt_id
    assert Prompt.objects.count() == 5
    assert Response.objects.count() == 5


@pytest.mark.django_db(transaction=True)
def test_a_keyboard_interrupt_mid_batch_rolls_back_that_batch(maintainer, monkeypatch):
    real_create = services.prompts_create_imported
    calls = {"n": 0}

    def interrupt_once_batch_2_is_written(**kwargs: Any) -> list[services.ImportedPrompt]:
        written = real_create(**kwargs)
        calls["n"] += 1
        if calls["n"] == 2:
            assert Prompt.objects.count() == 4  # written, not yet committed
            raise KeyboardInterrupt
        return written

    monkeypatch.setattr(services, "prompts_create_imported", interrupt_once_batch_2_is_written)
    partial = ImportReport()

    with pytest.raises(KeyboardInterrupt):
        run(
            jsonl(*(record(n) for n in range(1, 5))),
            maintainer,
            opts=options(batch_size=2),
            report=partial,
        )

    assert (partial.batches_committed, partial.imported) == (1, 2)
    assert Prompt.objects.count() == 2


def test_a_batch_larger_than_one_statement_takes_is_written_in_pieces(maintainer):
    """A maintainer may ask for any batch size; lookups and inserts go in pieces, and a
    duplicate is found across them."""
    lines = [record(n) for n in range(1, 1201)] + [record(3), record(1150)]

    # A report of its own lists every line (the default one lists 1,000 of each status).
    report = run(jsonl(*lines), maintainer, opts=options(batch_size=5000), report=ImportReport())

    assert (report.imported, report.duplicates, report.batches_committed) == (1200, 2, 1)
    assert report.lines[-2].prompt_id == report.lines[2].prompt_id
    assert report.lines[-1].prompt_id == report.lines[1149].prompt_id
    found = Prompt.objects.get(pk=report.lines[1149].prompt_id)
    assert found.instruction == record(1150)["instruction"]
    assert Response.objects.count() == 1200


def test_the_progress_callback_sees_every_line_and_the_bytes_read(maintainer):
    stream = jsonl(record(1), "", record(2), record(3))
    size = len(stream.getvalue())
    steps: list[ImportProgress] = []

    run(stream, maintainer, opts=options(batch_size=2), progress=steps.append)

    assert [(s.lines_done, s.batches_committed, s.bytes_total) for s in steps] == [
        (1, 0, size), (2, 0, size), (3, 1, size),
    ]  # fmt: skip
    assert steps[-1].bytes_done == size
    assert steps[0].bytes_done < steps[1].bytes_done < steps[2].bytes_done


def test_it_reads_line_by_line_never_the_whole_stream(maintainer):
    class LinesOnly(io.BytesIO):
        def read(self, size: int | None = -1) -> bytes:
            raise AssertionError("read() would load the whole file")

        def readline(self, size: int | None = -1) -> bytes:
            assert size is not None and size > 0, "readline without a limit"
            return super().readline(size)

    stream = LinesOnly(jsonl(record(1), record(2)).getvalue())

    assert run(stream, maintainer).imported == 2


def test_the_report_serialises_to_the_api_shape(maintainer):
    report = run(jsonl(record(1), record(1), "oops"), maintainer)

    prompt_id = report.lines[0].prompt_id
    assert report.as_dict() == {
        "imported": 1,
        "answers_added": 0,
        "duplicates": 1,
        "rejected": 1,
        "lines": [
            {"line": 1, "status": "imported", "prompt_id": prompt_id},
            {"line": 2, "status": "duplicate", "prompt_id": prompt_id},
            {
                "line": 3,
                "status": "rejected",
                "errors": {"line": ["Not valid JSON: a value was expected at column 1."]},
            },
        ],
        "lines_truncated": False,
        "lines_omitted": 0,
        "lines_listed_per_status": 1000,
    }


# --- options ------------------------------------------------------------------------------


def test_options_default_to_the_sites_licence_english_and_accepted(settings):
    settings.HEARTH_LICENCE_NAME = "CC BY 4.0"

    assert check_import_options(source=" dolly ") == ImportOptions(
        source="dolly", licence="CC BY 4.0", language="en", state="accepted", batch_size=500
    )


def test_options_refuse_bad_values_all_at_once():
    with pytest.raises(ValidationError) as caught:
        check_import_options(
            source="hearth", licence="x" * 65, language="no such", state="published", batch_size=0
        )

    assert caught.value.message_dict == {
        "source": ["'hearth' marks work written in Hearth; name the data set you import."],
        "licence": ["Name the licence in 1 to 64 printable characters, e.g. CC BY-SA 3.0."],
        "language": ["“no such” is not a valid BCP-47 language tag (e.g. en, de, pt-BR)."],
        "state": ["Choose one of the states: accepted, review."],
        "batch_size": ["The batch size must be a whole number of at least 1."],
    }


@pytest.mark.parametrize("source", ["", "   ", None, "a" * 101, "tab\tbed"])
def test_options_refuse_a_missing_or_unprintable_source(source):
    with pytest.raises(ValidationError) as caught:
        check_import_options(source=source)

    assert list(caught.value.message_dict) == ["source"]


def test_re_importing_never_brings_back_a_withdrawn_prompt(maintainer):
    from django.utils import timezone

    from apps.collection.importing import check_import_options, prompts_import_jsonl

    line = (
        b'{"instruction": "Name a bird that cannot fly.", "context": "", '
        b'"response": "The kiwi.", "category": "open_qa"}\n'
    )
    options = check_import_options(source="birds")
    first = prompts_import_jsonl(io.BytesIO(line), author=maintainer, options=options)
    prompt = Prompt.objects.get(pk=first.lines[0].prompt_id)
    prompt.withdrawn_at = timezone.now()
    prompt.save(update_fields=["withdrawn_at"])

    again = prompts_import_jsonl(io.BytesIO(line), author=maintainer, options=options)

    assert again.lines[0].status == "duplicate"
    assert again.lines[0].prompt_id == prompt.pk
    assert Prompt.objects.count() == 1


# --- checking an upload before importing it --------------------------------------------------


def test_check_upload_reads_the_whole_file_for_utf8_and_leaves_it_at_its_start():
    stream = jsonl("", SHORT_RECORD, b"\xff a stray byte on line 3")

    with pytest.raises(ValidationError) as caught:
        check_upload(stream, size=len(stream.getvalue()))

    assert caught.value.message_dict == {
        "file": [
            "The file is not UTF-8 text: line 3 has the byte 0xff. Save it as UTF-8 (and unpack "
            "it, if it is compressed), then upload it again."
        ]
    }
    assert stream.tell() == 0
    good = jsonl("", SHORT_RECORD, record(2, category="poetry"), "broken later {")
    good.seek(5)
    check_upload(good, size=len(good.getvalue()))
    assert good.tell() == 0


def test_check_upload_refuses_a_file_over_the_import_limit_without_reading_it(settings):
    settings.HEARTH_IMPORT_MAX_BYTES = 2 * 1024 * 1024

    class Unreadable(io.BytesIO):
        def readline(self, size: int | None = -1) -> bytes:
            raise AssertionError("read")

    with pytest.raises(ValidationError) as caught:
        check_upload(Unreadable(), size=3 * 1024 * 1024)

    assert caught.value.message_dict == {
        "file": ["The file is 3.0\xa0MB; the largest file this site takes is 2.0\xa0MB."]
    }
