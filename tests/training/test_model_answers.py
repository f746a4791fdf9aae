"""An SFT run that answers collecting prompts once trained: the option on the form, the API
and the schedule, the prompts its spec carries, and the answers its final report brings."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError
from django.test import Client

from apps.collection.models import PromptState, Response, Source
from apps.training import schedules, services
from apps.training.models import RunState, TrainingRun
from tests.factories import PromptFactory
from tests.training.conftest import make_release
from tests.training.test_services import _report, create
from tests.training.test_web import web

RUNS = "/api/v1/training-runs/"


@pytest.mark.parametrize(
    ("kwargs", "fragment"),
    [
        ({"answer_prompts": -1}, "from 0 to 500"),
        ({"answer_prompts": 501}, "from 0 to 500"),
        ({"answer_prompts": True}, "from 0 to 500"),
        ({"answer_prompts": "12"}, "from 0 to 500"),
        ({"answer_prompts": 2.5}, "from 0 to 500"),
        ({"kind": "reward", "answer_prompts": 5}, "Only a supervised fine-tune writes answers"),
    ],
)
def test_a_bad_answer_count_is_refused_and_nothing_is_recorded(release, kwargs, fragment):
    with pytest.raises(ValidationError) as caught:
        create(release, **kwargs)
    assert fragment in " ".join(caught.value.message_dict["answer_prompts"])
    assert not TrainingRun.objects.exists()


def test_the_spec_carries_the_longest_waiting_prompts_in_the_releases_languages(db):
    release = make_release(filter={"languages": ["en"]})
    first = PromptFactory(language="en", context="Some context.")
    second = PromptFactory(language="en")
    PromptFactory(language="de")  # not a language of the release
    PromptFactory(language="en", state=PromptState.RANKING)
    PromptFactory(language="en")  # a third: the run answers two

    run = services.run_dispatch(create(release, answer_prompts=2))

    assert run.spec["answer"] == {
        "prompts": [
            {"id": first.pk, "instruction": first.instruction, "context": "Some context."},
            {"id": second.pk, "instruction": second.instruction, "context": ""},
        ],
        "max_new_tokens": services.ANSWER_MAX_NEW_TOKENS,
    }
    assert run.answers_to_write == 2
    # Nothing asked, or nothing waiting: no answer section at all.
    assert services.run_dispatch(create(release)).spec["answer"] is None
    assert services.run_dispatch(create(make_release(), answer_prompts=3)).spec["answer"]
    empty = make_release(filter={"languages": ["fr"]})
    assert services.run_dispatch(create(empty, answer_prompts=3)).spec["answer"] is None


def _succeeded(run, seq, answers):
    return _report(
        run,
        seq,
        state="succeeded",
        phase="done",
        result={"metrics": {"eval_loss": 1.0}, "output_dir": "/m/run-1", "steps": 3,
                "answers": answers},
    )  # fmt: skip


def test_the_final_report_files_the_answers_under_the_model_account(release):
    waiting, moved_on = PromptFactory(), PromptFactory()
    run = services.run_dispatch(create(release, answer_prompts=5))
    assert run.answers_to_write == 2
    _report(run, 1, phase="answer", answered=0, to_answer=2)
    run.refresh_from_db()
    assert (run.phase, run.answers_written) == ("answer", 0)
    _report(run, 2, phase="answer", answered=2, to_answer=2)
    run.refresh_from_db()
    assert run.answers_written == 2
    # A person's answers took the other prompt to ranking while the model wrote.
    moved_on.state = PromptState.RANKING
    moved_on.save(update_fields=["state"])

    _succeeded(
        run,
        3,
        [
            {"prompt_id": waiting.pk, "text": "The model's answer."},
            {"prompt_id": moved_on.pk, "text": "Too late for this one."},
        ],
    )

    run.refresh_from_db()
    assert (run.state, run.answers_written, run.answers_added) == (RunState.SUCCEEDED, 2, 1)
    answer = Response.objects.get()
    assert (answer.prompt_id, answer.source, answer.origin, answer.text) == (
        waiting.pk,
        Source.MODEL,
        f"run-{run.pk}",
        "The model's answer.",
    )
    # A repeated final report is ignored (the run is final) and adds nothing.
    _succeeded(run, 4, [{"prompt_id": waiting.pk, "text": "The model's answer."}])
    assert Response.objects.count() == 1


def test_a_run_whose_answers_all_stayed_out_says_how_many_and_why(maintainer, release):
    prompts = [PromptFactory(), PromptFactory()]
    run = services.run_dispatch(create(release, answer_prompts=2))
    _succeeded(run, 1, [{"prompt_id": p.pk, "text": "  "} for p in prompts])
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "No model-written answer joined a ranking." in html
    assert "2 answers it wrote did not join: their prompts had moved on" in html
    assert "The prompts it answered" not in html


def test_a_run_that_found_nothing_to_answer_says_so(maintainer, release):
    run = services.run_dispatch(create(release, answer_prompts=5))
    assert run.spec["answer"] is None
    _succeeded(run, 1, None)
    run.refresh_from_db()
    assert (run.answers_written, run.answers_added) == (0, 0)
    html = web(maintainer).get(f"/training/runs/{run.pk}/").content.decode()
    assert "No model-written answer joined a ranking." in html
    assert "No prompt was waiting for an answer when the run started." in html


def test_the_run_page_shows_the_answers_being_written_and_then_what_joined(maintainer, release):
    prompts = [PromptFactory() for _ in range(3)]
    run = services.run_dispatch(create(release, answer_prompts=3))
    _report(run, 1, phase="answer", answered=1, to_answer=3)
    page = web(maintainer)
    html = page.get(f"/training/runs/{run.pk}/").content.decode()
    assert "Writing answers: 1 of 3 prompts" in html
    assert "up to 3 prompts collecting answers" in html
    _succeeded(run, 2, [{"prompt_id": p.pk, "text": f"Answer {i}."} for i, p in enumerate(prompts)])
    html = page.get(f"/training/runs/{run.pk}/").content.decode()
    assert "The model's answers to 3 prompts joined their rankings." in html
    assert "did not join" not in html
    # Each prompt it answered is a link away.
    for prompt in prompts:
        assert f'<a href="/prompts/{prompt.pk}/">#{prompt.pk}</a>' in html
    prompt_page = page.get(f"/prompts/{prompts[0].pk}/").content.decode()
    link = f'<a href="/training/runs/{run.pk}/">run-{run.pk}</a>'
    assert f"model-written ({link})" in prompt_page and "Hearth model" in prompt_page
    # Anyone else reads where it came from, without a link to the maintainers' pages.
    public = Client().get(f"/prompts/{prompts[0].pk}/").content.decode()
    assert f"model-written (run-{run.pk})" in public and link not in public


def test_the_form_offers_the_option_and_says_how_many_prompts_wait(
    maintainer, release, django_capture_on_commit_callbacks
):
    PromptFactory()
    PromptFactory()
    page = web(maintainer)
    html = page.get("/training/").content.decode()
    assert 'name="answer_prompts"' in html and "2 prompts are waiting for one now." in html
    with django_capture_on_commit_callbacks(execute=False):
        response = page.post(
            "/training/new/",
            {"idempotency_key": "answers-1", "release": "v1", "kind": "sft", "method": "full",
             "answer_prompts": "2"},
        )  # fmt: skip
    assert response.status_code == 302
    run = TrainingRun.objects.get()
    assert run.answer_prompts == 2 and len(run.spec["answer"]["prompts"]) == 2
    refused = page.post(
        "/training/new/",
        {"idempotency_key": "answers-2", "release": "v1", "kind": "reward", "method": "full",
         "answer_prompts": "2"},
    )  # fmt: skip
    assert "Only a supervised fine-tune writes answers" in refused.content.decode()
    assert TrainingRun.objects.count() == 1


def test_the_api_takes_the_option_and_shows_the_counts(api_maintainer, release):
    PromptFactory()
    created = api_maintainer.post(
        RUNS,
        {"release": "v1", "kind": "sft", "base_model": "org/base", "answer_prompts": 4},
        format="json",
        HTTP_IDEMPOTENCY_KEY="answers-api-1",
    )
    assert created.status_code == 201, created.json()
    body = created.json()
    assert (body["answer_prompts"], body["answers_written"], body["answers_added"]) == (4, 0, None)
    for bad in ("4", 4.5, True, -1, 501):
        refused = api_maintainer.post(
            RUNS,
            {"release": "v1", "kind": "sft", "answer_prompts": bad},
            format="json",
            HTTP_IDEMPOTENCY_KEY=f"answers-api-{bad}",
        )
        assert refused.status_code == 400 and "answer_prompts" in refused.json()
    assert TrainingRun.objects.count() == 1


def test_the_schedule_has_its_sft_runs_answer_prompts(db):
    make_release()
    PromptFactory()
    schedules.maybe_train(base_models={"sft": "org/lm", "reward": "org/rm"}, answer_prompts=7)
    runs = dict(TrainingRun.objects.values_list("kind", "answer_prompts"))
    assert runs == {"sft": 7, "reward": 0}
    schedule = next(s for s in schedules.schedule_list() if s.task == "training.auto_train")
    schedules.schedule_update(
        user=None,
        schedule_id=schedule.id,
        enabled=True,
        every_minutes=60,
        options={"kinds": ["sft"], "answer_prompts": 9},
    )
    saved = next(s for s in schedules.schedule_list() if s.id == schedule.id)
    assert saved.options["answer_prompts"] == 9
    for bad in (-1, 501, "9", True):
        with pytest.raises(ValidationError) as caught:
            schedules.check_options("training.auto_train", {"answer_prompts": bad})
        assert "answer_prompts" in caught.value.message_dict
    # A schedule that trains no SFT model has nothing to write answers with.
    with pytest.raises(ValidationError) as caught:
        schedules.check_options("training.auto_train", {"kinds": ["reward"], "answer_prompts": 7})
    assert "Only a supervised fine-tune writes answers" in str(caught.value.message_dict)
    assert schedules.check_options("training.auto_train", {"kinds": ["reward"]})["kinds"] == [
        "reward"
    ]
