"""A prompt's several answers, and each line's licences and origins, survive an import: a
release's own Dolly files (and Dolly-15k, which has several answers to some instructions)
import back whole (data QA: the second and later answers of a prompt came back as duplicates
and were lost, and every line took the import's licence and source)."""

from __future__ import annotations

import io
import json
from typing import Any

import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.accounts.services import model_author
from apps.assignments.models import TaskType
from apps.collection import flow, services
from apps.collection.importing import (
    ImportOptions,
    ImportReport,
    LineOutcome,
    check_import_options,
    prompts_import_jsonl,
)
from apps.collection.models import Prompt, PromptState, Response, ResponseState, Source
from apps.collection.policy import current_policy
from apps.feedback.models import Ranking
from apps.moderation.services import user_ban
from apps.releases.building import SPLITS
from apps.releases.building.layout import DOLLY_KEYS
from tests.collection.dolly import jsonl
from tests.factories import PromptFactory, ResponseFactory, held_task
from tests.query_counts import FEW, MANY, web

pytestmark = pytest.mark.django_db

INSTRUCTION = "Name a river that flows through Spain."
DOLLY_LICENCE = "CC BY-SA 3.0"
DOLLY = "databricks-dolly-15k"


def line(response: str, **changes: Any) -> dict[str, Any]:
    """A line as a release writes it (DOLLY_KEYS): the prompt's and the answer's licence and
    origin at the end."""
    values = {
        "instruction": INSTRUCTION,
        "context": "",
        "response": response,
        "category": "open_qa",
        "language": "en",
        "licence": DOLLY_LICENCE,
        "origin": DOLLY,
        "prompt_licence": DOLLY_LICENCE,
        "prompt_origin": DOLLY,
        **changes,
    }
    assert set(values) == {key for key, _column in DOLLY_KEYS}
    return values


def options(**changes: Any) -> ImportOptions:
    return check_import_options(**{"source": "hearth-v1", "licence": "CC0 1.0", **changes})


def run(lines: list[Any], author: Any, **changes: Any) -> ImportReport:
    return prompts_import_jsonl(io.BytesIO(jsonl(lines)), author=author, options=options(**changes))


def answers(prompt: Prompt) -> list[tuple[str, str, str, str]]:
    return sorted(prompt.responses.values_list("text", "licence", "origin", "state"))


# --- a release and back ---------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_releases_prompt_with_three_answers_imports_back_with_each_licence_and_origin(
    maintainer, make_volunteer, settings
):
    """A Dolly-15k prompt answered by its import and by two volunteers (under the site's
    licence) is released, the collection emptied, and the release's Dolly files imported:
    the prompt comes back with its three answers, each with the licence and origin its line
    names; the volunteers' ("hearth": written on the site that made the release) take the
    import's source. Importing the files again adds nothing."""
    from tests.releases.helpers import build, folder_of

    settings.HEARTH_LICENCE_NAME = "CC BY 4.0"
    prompt = PromptFactory(
        author=maintainer,
        instruction=INSTRUCTION,
        state=PromptState.RANKING,
        origin=DOLLY,
        licence=DOLLY_LICENCE,
    )
    ResponseFactory(
        prompt=prompt, author=maintainer, text="The Ebro.", origin=DOLLY, licence=DOLLY_LICENCE
    )
    ResponseFactory(prompt=prompt, author=make_volunteer(), text="The Tagus.")
    ResponseFactory(prompt=prompt, author=make_volunteer(), text="The Guadalquivir.")
    release = build()
    files = [(folder_of(release) / "dolly" / f"{split}.jsonl").read_bytes() for split in SPLITS]
    written = [json.loads(raw) for data in files for raw in data.splitlines()]
    assert len(written) == 3
    assert {row["origin"] for row in written} == {DOLLY, "hearth"}

    Prompt.objects.all().delete()
    imports = options(source="hearth-v1", licence="")
    reports = [
        prompts_import_jsonl(io.BytesIO(data), author=maintainer, options=imports) for data in files
    ]

    back = Prompt.objects.get()
    assert (back.instruction, back.origin, back.licence) == (INSTRUCTION, DOLLY, DOLLY_LICENCE)
    assert answers(back) == [
        ("The Ebro.", DOLLY_LICENCE, DOLLY, ResponseState.ACCEPTED),
        ("The Guadalquivir.", "CC BY 4.0", "hearth-v1", ResponseState.ACCEPTED),
        ("The Tagus.", "CC BY 4.0", "hearth-v1", ResponseState.ACCEPTED),
    ]
    assert set(back.responses.values_list("author", flat=True)) == {maintainer.pk}
    assert sum(r.imported for r in reports) == 1
    assert sum(r.answers_added for r in reports) == 2
    assert sum(r.duplicates + r.rejected for r in reports) == 0
    # Three accepted answers are what the policy collects: the prompt ranks, as after the
    # last accepted review.
    assert (back.state, back.open_slots) == (
        PromptState.RANKING,
        current_policy().rankings_required,
    )

    again = [
        prompts_import_jsonl(io.BytesIO(data), author=maintainer, options=imports) for data in files
    ]

    assert sum(r.duplicates for r in again) == 3
    assert sum(r.imported + r.answers_added + r.rejected for r in again) == 0
    assert Response.objects.count() == 3
    assert Prompt.objects.get().open_slots == back.open_slots


def test_every_answer_of_a_prompt_comes_back_with_its_own_licence_and_origin(maintainer):
    report = run(
        [
            line("The Ebro."),
            line("The Tagus.", licence="CC BY 4.0", origin="hearth"),
            # None given: the import's licence and source.
            line("The Douro.", licence=None, origin=""),
            {
                key: value
                for key, value in line("The Miño.").items()
                if key not in ("licence", "origin")
            },
        ],
        maintainer,
    )

    prompt = Prompt.objects.get()
    assert [o.status for o in report.lines] == ["imported", *["answer_added"] * 3]
    assert {o.prompt_id for o in report.lines} == {prompt.pk}
    assert (report.imported, report.answers_added, report.duplicates) == (1, 3, 0)
    assert (prompt.origin, prompt.licence) == (DOLLY, DOLLY_LICENCE)
    assert [(text, lic, origin) for text, lic, origin, _state in answers(prompt)] == [
        ("The Douro.", "CC0 1.0", "hearth-v1"),
        ("The Ebro.", DOLLY_LICENCE, DOLLY),
        ("The Miño.", "CC0 1.0", "hearth-v1"),
        ("The Tagus.", "CC BY 4.0", "hearth-v1"),
    ]


def test_a_line_without_licences_takes_the_imports_options(maintainer):
    run([{"instruction": INSTRUCTION, "response": "The Ebro.", "category": "open_qa"}], maintainer)

    prompt = Prompt.objects.get()
    assert (prompt.origin, prompt.licence) == ("hearth-v1", "CC0 1.0")
    assert answers(prompt) == [("The Ebro.", "CC0 1.0", "hearth-v1", ResponseState.ACCEPTED)]


def test_a_prompts_licence_and_origin_may_differ_from_its_first_answers(maintainer):
    run([line("The Ebro.", licence="CC BY 4.0", origin="hearth")], maintainer)

    prompt = Prompt.objects.get()
    assert (prompt.origin, prompt.licence) == (DOLLY, DOLLY_LICENCE)
    assert answers(prompt) == [("The Ebro.", "CC BY 4.0", "hearth-v1", ResponseState.ACCEPTED)]


def test_lines_in_one_batch_and_across_batches_import_the_same(maintainer):
    lines = [line(f"Answer {n}.") for n in range(5)] + [line("answer 2")]

    together = run(lines, maintainer)
    Prompt.objects.all().delete()
    apart = run(lines, maintainer, batch_size=1)

    def shown(report: ImportReport) -> list[str]:
        return [o.status for o in report.lines]

    assert shown(together) == shown(apart) == [
        "imported", "answer_added", "answer_added", "answer_added", "answer_added", "duplicate",
    ]  # fmt: skip
    assert Prompt.objects.get().responses.count() == 5


# --- rejected lines -------------------------------------------------------------------------


def test_a_line_with_a_bad_licence_or_origin_is_rejected_with_its_line_number(maintainer):
    report = run(
        [
            line("The Ebro."),
            line("The Tagus.", licence="x" * 65),
            line("The Douro.", prompt_origin="bad\u0007origin", origin=7),
            line("The Miño.", prompt_licence="   "),
        ],
        maintainer,
    )

    licence = "Name the licence in 1 to 64 printable characters, e.g. CC BY-SA 3.0."
    origin = "Name the data set it came from in 1 to 100 printable characters, e.g. " + DOLLY + "."
    assert report.lines[1:] == [
        LineOutcome(line=2, status="rejected", errors={"licence": [licence]}),
        LineOutcome(
            line=3,
            status="rejected",
            errors={
                "origin": ["Must be a JSON string, not a number."],
                "prompt_origin": [origin],
            },
        ),
        LineOutcome(line=4, status="rejected", errors={"prompt_licence": [licence]}),
    ]
    assert answers(Prompt.objects.get()) == [
        ("The Ebro.", DOLLY_LICENCE, DOLLY, ResponseState.ACCEPTED)
    ]


def test_the_command_names_the_line_with_a_bad_licence(maintainer, tmp_path):
    from django.core.management import call_command

    path = tmp_path / "dolly.jsonl"
    path.write_bytes(jsonl([line("The Ebro."), line("The Tagus.", licence="x" * 65)]))
    out = io.StringIO()

    call_command(
        "import_jsonl",
        str(path),
        "--source",
        "s",
        "--as",
        maintainer.email,
        stdout=out,
        stderr=io.StringIO(),
    )

    assert out.getvalue().splitlines() == [
        "line 2: rejected: licence: Name the licence in 1 to 64 printable characters, e.g. "
        "CC BY-SA 3.0.",
        f"{path}: 1 imported, 0 answers added, 0 duplicates, 1 rejected (2 lines, source 's', "
        f"state accepted, as {maintainer.email}).",
    ]


# --- prompts already in Hearth, and their counters --------------------------------------------


def test_an_answer_added_to_a_collecting_prompt_takes_a_slot_and_the_third_starts_ranking(
    maintainer, make_volunteer
):
    """The counters after each answer are those the site's own flow gives: one open slot
    fewer for each live answer (flow.slots_for counts them), review tasks for an answer in
    review, and ranking with its rank tasks once three are accepted; rankings of an earlier
    ranking round are retired, as after an accepted review."""
    policy = current_policy()
    prompt = PromptFactory(author=make_volunteer(), instruction=INSTRUCTION)
    ResponseFactory(prompt=prompt, author=make_volunteer(), text="The Ebro.")
    prompt.open_slots = flow.slots_for(prompt, PromptState.COLLECTING, policy)
    prompt.save(update_fields=["open_slots"])
    earlier = Ranking.objects.create(ranker=make_volunteer(), prompt=prompt, order=[])
    assert prompt.open_slots == 2

    review = run([line("The Tagus.")], maintainer, state="review")

    prompt.refresh_from_db()
    assert [o.status for o in review.lines] == ["answer_added"]
    in_review = prompt.responses.get(text="The Tagus.")
    assert (in_review.state, in_review.open_slots, in_review.author) == (
        ResponseState.REVIEW,
        policy.response_reviews_required,
        maintainer,
    )
    assert (prompt.state, prompt.open_slots) == (PromptState.COLLECTING, 1)
    assert prompt.open_slots == flow.slots_for(prompt, PromptState.COLLECTING, policy)

    accepted = run([line("The Douro.")], maintainer)

    prompt.refresh_from_db()
    assert prompt.responses.get(text="The Douro.").open_slots == 0
    assert (prompt.state, prompt.open_slots) == (PromptState.COLLECTING, 0)
    assert prompt.open_slots == flow.slots_for(prompt, PromptState.COLLECTING, policy)
    assert accepted.answers_added == 1

    run([line("The Miño.")], maintainer)

    prompt.refresh_from_db()
    assert flow.count_responses(prompt, (ResponseState.ACCEPTED,)) == 3
    assert (prompt.state, prompt.open_slots) == (PromptState.RANKING, policy.rankings_required)
    earlier.refresh_from_db()
    assert earlier.retired_at is not None


def test_volunteers_holding_every_slot_keep_them(maintainer, volunteer):
    prompt = PromptFactory(instruction=INSTRUCTION, open_slots=0)
    held_task(volunteer, TaskType.RESPOND, prompt)

    run([line("The Ebro.")], maintainer, state="review")

    prompt.refresh_from_db()
    assert (prompt.state, prompt.open_slots) == (PromptState.COLLECTING, 0)
    assert prompt.responses.get().state == ResponseState.REVIEW


def test_an_answer_to_a_prompt_in_review_waits_in_review_with_it(maintainer, volunteer):
    prompt = PromptFactory(author=volunteer, instruction=INSTRUCTION, state=PromptState.REVIEW)

    report = run([line("The Ebro.")], maintainer)

    prompt.refresh_from_db()
    assert report.lines[0].status == "answer_added"
    added = prompt.responses.get()
    # Its review tasks open when the prompt is accepted (feedback.services).
    assert (added.state, added.open_slots) == (ResponseState.REVIEW, 0)
    assert (prompt.state, prompt.open_slots) == (PromptState.REVIEW, 2)


def test_a_ranking_prompt_takes_answers_only_until_its_ranking_begins(
    maintainer, volunteer, volunteer2
):
    waiting = PromptFactory(instruction=INSTRUCTION, state=PromptState.RANKING)
    begun = PromptFactory(instruction="Name a river in France.", state=PromptState.RANKING)
    Ranking.objects.create(ranker=volunteer, prompt=begun, order=[])
    held = PromptFactory(instruction="Name a river in Italy.", state=PromptState.RANKING)
    held_task(volunteer2, TaskType.RANK, held)

    report = run(
        [
            line("The Ebro."),
            line("The Loire.", instruction=begun.instruction),
            line("The Po.", instruction=held.instruction),
        ],
        maintainer,
    )

    assert [o.status for o in report.lines] == ["answer_added", "rejected", "rejected"]
    assert report.lines[1].prompt_id == begun.pk
    assert report.lines[1].errors == {
        "response": [
            f"Prompt #{begun.pk}, which has this instruction and context, is being ranked: an "
            "answer added now would be missing from its rankings."
        ]
    }
    assert waiting.responses.get().state == ResponseState.ACCEPTED
    assert not begun.responses.exists() and not held.responses.exists()
    waiting.refresh_from_db()
    assert (waiting.state, waiting.open_slots) == (PromptState.RANKING, 3)


@pytest.mark.parametrize(
    ("state", "says"),
    [
        (PromptState.COMPLETE, "is complete: it takes no more answers."),
        (PromptState.HALTED, "was halted by a moderator: it takes no more answers."),
        (PromptState.REJECTED, "was rejected in review: it takes no answers."),
    ],
)
def test_a_prompt_that_takes_no_more_answers_rejects_the_line(maintainer, state, says):
    prompt = PromptFactory(instruction=INSTRUCTION, state=state)

    report = run([line("The Ebro.")], maintainer)

    assert report.lines == [
        LineOutcome(
            line=1,
            status="rejected",
            prompt_id=prompt.pk,
            errors={
                "response": [f"Prompt #{prompt.pk}, which has this instruction and context, {says}"]
            },
        )
    ]
    assert not prompt.responses.exists()


@pytest.mark.parametrize("gone", ["withdrawn", "hidden", "author banned"])
def test_a_prompt_out_of_the_collection_gets_no_answer(maintainer, volunteer, gone):
    prompt = PromptFactory(author=volunteer, instruction=INSTRUCTION)
    if gone == "author banned":
        volunteer.banned_at = timezone.now()
        volunteer.save(update_fields=["banned_at"])
    else:
        setattr(prompt, f"{gone}_at", timezone.now())
        prompt.save()

    report = run([line("The Ebro.")], maintainer)

    assert report.lines == [LineOutcome(line=1, status="duplicate", prompt_id=prompt.pk)]
    assert not prompt.responses.exists()


@pytest.mark.parametrize("kind", ["withdrawn", "hidden", "rejected", "model-written"])
def test_an_answer_the_prompt_had_is_not_added_again(maintainer, volunteer, kind):
    """Whatever became of it: a retry never brings withdrawn or moderated work back."""
    prompt = PromptFactory(instruction=INSTRUCTION)
    fields: dict[str, Any] = {
        "withdrawn": {"withdrawn_at": timezone.now()},
        "hidden": {"hidden_at": timezone.now()},
        "rejected": {"state": ResponseState.REJECTED},
        "model-written": {"source": Source.MODEL, "author": model_author(), "origin": "run-1"},
    }[kind]
    ResponseFactory(**{"prompt": prompt, "author": volunteer, "text": "the EBRO", **fields})

    report = run([line("The Ebro.")], maintainer)

    assert report.lines[0].status == "duplicate"
    assert prompt.responses.count() == 1


# --- one answer per person and prompt ---------------------------------------------------------


def test_a_volunteer_still_cannot_answer_a_prompt_twice(volunteer, maintainer):
    prompt = PromptFactory(instruction=INSTRUCTION)
    services.response_create(prompt=prompt, author=volunteer, text="The Ebro.")

    with pytest.raises(ValidationError) as refused:
        services.response_create(prompt=prompt, author=volunteer, text="The Tagus.")

    assert refused.value.message_dict == {"response": ["You have already answered this prompt."]}
    # The database says so too, for answers written here and for a model's.
    with pytest.raises(IntegrityError), transaction.atomic():
        ResponseFactory(prompt=prompt, author=volunteer, text="The Douro.")
    bot = model_author()
    ResponseFactory(prompt=prompt, author=bot, source=Source.MODEL, origin="run-1")
    with pytest.raises(IntegrityError), transaction.atomic():
        ResponseFactory(prompt=prompt, author=bot, source=Source.MODEL, origin="run-2")
    # Imported answers, all the importing maintainer's, are let in side by side.
    run([line("The Guadiana."), line("The Júcar.")], maintainer)
    assert prompt.responses.filter(author=maintainer).count() == 2
    # And having imported answers to it, the maintainer does not answer it here as well.
    with pytest.raises(ValidationError):
        services.response_create(prompt=prompt, author=maintainer, text="The Segura.")


def test_withdrawing_a_maintainers_work_gives_back_a_slot_per_imported_answer(maintainer):
    prompt = PromptFactory(instruction=INSTRUCTION)
    run([line("The Ebro."), line("The Tagus.")], maintainer, state="review")
    prompt.refresh_from_db()
    assert prompt.open_slots == 1

    services.author_work_withdraw(author=maintainer)

    prompt.refresh_from_db()
    assert (
        prompt.open_slots == 3 == flow.slots_for(prompt, PromptState.COLLECTING, current_policy())
    )


def test_banning_a_maintainer_gives_back_a_place_per_imported_answer(maintainer, moderator):
    prompt = PromptFactory(instruction=INSTRUCTION)
    run([line("The Ebro."), line("The Tagus.")], maintainer, state="review")

    moderator.is_superuser = True  # only an administrator bans a maintainer
    moderator.save(update_fields=["is_superuser"])
    user_ban(moderator=moderator, user=maintainer, reason="spam")

    prompt.refresh_from_db()
    assert (
        prompt.open_slots == 3 == flow.slots_for(prompt, PromptState.COLLECTING, current_policy())
    )


# --- the report, page and queries -------------------------------------------------------------


def test_the_import_page_counts_and_lists_the_answers_added(maintainer, send_import):
    prompt = PromptFactory(instruction=INSTRUCTION)
    file = io.BytesIO(jsonl([line("The Ebro."), line("The Tagus.")]))
    file.name = "dolly.jsonl"
    client = web(maintainer)

    sent = send_import(
        client.post,
        "/imports/",
        {"file": file, "source": "s", "licence": "", "language": "en", "state": "accepted",
         "idempotency_key": "k"},
    )  # fmt: skip

    assert sent.status_code == 302
    page = client.get(sent["Location"]).content.decode()
    assert 'data-testid="count-answers-added">2<' in page
    assert f"Line 2: an answer to prompt #{prompt.pk}" in page
    assert "Lines not imported" not in page
    form = client.get("/imports/").content.decode()
    assert "<code>prompt_licence</code>" in form
    assert "2 answers added" in form


def test_the_api_counts_the_answers_added(api_maintainer, send_import):
    from django.core.files.uploadedfile import SimpleUploadedFile

    prompt = PromptFactory(instruction=INSTRUCTION)
    file = SimpleUploadedFile("dolly.jsonl", jsonl([line("The Ebro.")]))

    sent = send_import(api_maintainer.post, "/api/v1/imports/", {"file": file}, format="multipart")

    job = api_maintainer.get(sent.json()["url"]).json()
    assert job["report"]["answers_added"] == 1
    assert job["report"]["lines"] == [{"line": 1, "status": "answer_added", "prompt_id": prompt.pk}]
    assert api_maintainer.get("/api/v1/imports/").json()["results"][0]["answers_added"] == 1


def test_adding_answers_runs_the_same_queries_for_more_lines(maintainer):
    """Lines that add answers to prompts already in Hearth are looked up and written
    together, as new prompts are."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def prompts(n: int, start: int) -> list[Prompt]:
        return [PromptFactory(instruction=f"Name river number {start + i}.") for i in range(n)]

    def counted(targets: list[Prompt]) -> int:
        lines = [
            line(f"{text} ({p.pk})", instruction=p.instruction)
            for p in targets
            for text in ("An answer", "Another answer", "A third answer", "A fourth")
        ]
        with CaptureQueriesContext(connection) as captured:
            report = run(lines, maintainer)
        assert report.answers_added == len(lines)
        return len(captured.captured_queries)

    counted(prompts(1, 0))  # warm: the policy
    few, many = counted(prompts(FEW, 100)), counted(prompts(MANY, 200))

    assert few == many, f"{few} queries for {FEW} prompts, {many} for {MANY}"
    assert Prompt.objects.filter(state=PromptState.RANKING).count() == 1 + FEW + MANY
