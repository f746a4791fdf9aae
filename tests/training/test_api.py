"""/api/v1/training-runs/ and /api/v1/training-schedules/."""

from __future__ import annotations

import pytest

from apps.training import services
from apps.training.models import RunState, TrainingRun
from tests.marked_gettext import marked_gettext

RUNS = "/api/v1/training-runs/"


@pytest.mark.parametrize("client", ["api_anon", "api", "api_outsider"])
def test_only_maintainers_see_or_start_runs(request, release, client):
    api = request.getfixturevalue(client)
    assert api.get(RUNS).status_code in (401, 403)
    response = api.post(RUNS, {"release": "v1", "kind": "sft"}, format="json")
    assert response.status_code in (401, 403)
    assert "maintainer" in str(response.json()).lower() or response.status_code == 401
    assert not TrainingRun.objects.exists()


def test_a_release_not_finished_is_refused_with_its_state_in_the_readers_language(
    api_maintainer, release
):
    """The state was its code: a Spanish reader read "v3 está en estado “building”"."""
    from apps.releases.models import ReleaseState
    from tests.training.conftest import make_release

    make_release(number=2, version="v2", state=ReleaseState.FAILED)
    with marked_gettext():
        response = api_maintainer.post(RUNS, {"release": "v2", "kind": "sft"}, format="json")
    assert response.status_code == 400
    assert response.json()["release"] == [
        "«Release v2 is in state “«Failed»”; train on a finished release.»"
    ]
    assert not TrainingRun.objects.exists()


def test_a_maintainer_starts_follows_and_cancels_a_run(api_maintainer, release):
    response = api_maintainer.post(
        RUNS,
        {
            "release": "v1",
            "kind": "sft",
            "base_model": "org/base",
            "method": "lora",
            "hyperparameters": {"learning_rate": 2e-4, "max_steps": 20},
        },
        format="json",
        HTTP_IDEMPOTENCY_KEY="run-1",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "queued" and body["release"] == "v1" and body["attempt"] == 1
    assert body["hyperparameters"] == {"learning_rate": 2e-4, "max_steps": 20}
    # A retry of the same request makes no second run.
    again = api_maintainer.post(
        RUNS,
        {"release": "v1", "kind": "sft", "base_model": "org/base", "method": "lora",
         "hyperparameters": {"learning_rate": 2e-4, "max_steps": 20}},
        format="json",
        HTTP_IDEMPOTENCY_KEY="run-1",
    )  # fmt: skip
    assert again.json()["id"] == body["id"] and TrainingRun.objects.count() == 1

    run = TrainingRun.objects.get()
    services.run_report(
        run_id=run.pk,
        attempt=1,
        payload={"seq": 0, "state": "running", "phase": "train", "step": 5, "total": 20,
                 "train_log": [{"step": 5, "loss": 2.0, "lr": 1e-4, "tokens_per_s": 10.0}]},
    )  # fmt: skip
    detail = api_maintainer.get(f"{RUNS}{run.pk}/").json()
    assert detail["state"] == "running" and detail["progress_percent"] == 25.0
    assert detail["loss_history"][0]["loss"] == 2.0 and detail["stalled"] is False
    listed = api_maintainer.get(RUNS, {"state": "running"}).json()
    assert [r["id"] for r in listed["results"]] == [run.pk]
    assert api_maintainer.get(RUNS, {"state": "done"}).status_code == 400

    cancelled = api_maintainer.post(f"{RUNS}{run.pk}/cancel/")
    assert cancelled.status_code == 200 and cancelled.json()["state"] == "cancelled"
    twice = api_maintainer.post(f"{RUNS}{run.pk}/cancel/")
    assert twice.status_code == 409
    assert twice.json() == {"detail": f"Run {run.pk} has already ended: Cancelled."}
    assert api_maintainer.get(f"{RUNS}{run.pk + 1}/").status_code == 404


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"release": "v9", "kind": "sft"}, "release"),
        ({"release": "v1", "kind": "dpo"}, "kind"),
        ({"release": "v1", "kind": "sft", "method": "qlora"}, "method"),
        ({"release": "v1", "kind": "sft", "hyperparameters": {"epochs": 2}}, "hyperparameters"),
        ({"release": "v1", "kind": "sft", "hyperparameters": {"max_steps": -3}}, "hyperparameters"),
        ({"release": "v1", "kind": "sft", "hyperparameters": "fast"}, "hyperparameters"),
        ({"release": "v1", "kind": "sft", "base_model": "x" * 301}, "base_model"),
    ],
)
def test_bad_runs_get_a_400_naming_the_field(api_maintainer, release, payload, field):
    response = api_maintainer.post(RUNS, payload, format="json")
    assert response.status_code == 400
    assert field in response.json()
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    ("payload", "answer_prompts_error"),
    [
        ({"kind": "sft", "answer_prompts": 501}, "A whole number from 0 to 500."),
        ({"kind": "sft", "answer_prompts": -1}, "A whole number from 0 to 500."),
        (
            {"kind": "reward", "answer_prompts": 5},
            "Only a supervised fine-tune writes answers; a reward model scores them.",
        ),
    ],
)
def test_every_bad_field_is_named_in_one_answer(
    api_maintainer, release, payload, answer_prompts_error
):
    """A bad answer count hid the bad hyperparameters and base model: only answer_prompts
    was named, and each fix brought the next refusal."""
    response = api_maintainer.post(
        RUNS,
        {
            "release": "v1",
            "base_model": "../elsewhere",
            "hyperparameters": {"learning_rate": -1},
            **payload,
        },
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "answer_prompts": [answer_prompts_error],
        "base_model": [
            "Name a Hub model as org/name (letters, digits, “-”, “_” and “.”), or a local one "
            "by its full path."
        ],
        "hyperparameters": ["learning_rate must be greater than 0 and at most 1 (got -1)."],
    }
    assert not TrainingRun.objects.exists()


def test_a_wrong_json_type_is_named_beside_the_other_options_problems(api_maintainer, release):
    """A field of the wrong JSON type (the request's own problem) hid every other: the
    hyperparameters, the base model and the release were checked only once it was fixed."""
    response = api_maintainer.post(
        RUNS,
        {
            "release": "v1",
            "kind": "sft",
            "answer_prompts": "5",
            "base_model": "../elsewhere",
            "hyperparameters": {"learning_rate": -1},
        },
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert set(body) == {"answer_prompts", "base_model", "hyperparameters"}
    assert body["hyperparameters"] == [
        "learning_rate must be greater than 0 and at most 1 (got -1)."
    ]
    # An unknown release beside a bad type: both named.
    response = api_maintainer.post(
        RUNS,
        {"release": "v9", "kind": "sft", "method": 3, "answer_prompts": -1},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["release"] == ["There is no release v9."]
    assert body["answer_prompts"] == ["A whole number from 0 to 500."]
    assert set(body) == {"release", "method", "answer_prompts"}
    # A wrong type in kind: the hyperparameters depend on it and are not judged.
    response = api_maintainer.post(
        RUNS, {"release": "v1", "kind": 7, "hyperparameters": {"learning_rate": -1}}, format="json"
    )
    assert set(response.json()) == {"kind"}
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    ("hyperparameters", "message"),
    [
        ({"learning_rate": -1}, "learning_rate must be greater than 0 and at most 1 (got -1)."),
        (
            {"max_steps": 99999999999999999999999},
            "max_steps must be from 1 to 10,000,000 (got 99,999,999,999,999,999,999,999).",
        ),
        ({"adam_beta2": 1}, "adam_beta2 must be at least 0 and below 1 (got 1)."),
        ({"lora_dropout": -0.1}, "lora_dropout must be at least 0 and below 1 (got -0.1)."),
    ],
)
def test_hyperparameters_out_of_range_get_a_400_saying_why(
    api_maintainer, release, hyperparameters, message
):
    response = api_maintainer.post(
        RUNS,
        {"release": "v1", "kind": "sft", "hyperparameters": hyperparameters},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {"hyperparameters": [message]}
    assert not TrainingRun.objects.exists()


def test_an_out_of_range_hyperparameter_is_said_in_the_askers_language(api_maintainer, release):
    response = api_maintainer.post(
        RUNS,
        {"release": "v1", "kind": "sft", "hyperparameters": {"adam_beta2": 1, "num_epochs": 0}},
        format="json",
        HTTP_ACCEPT_LANGUAGE="es",
    )
    assert response.json() == {
        "hyperparameters": [
            "adam_beta2: debe ser al menos 0 y menor que 1 (se recibió 1).",
            "num_epochs: debe ir de 1 a 10\xa0000 (se recibió 0).",  # as Spanish groups digits
        ]
    }


def test_a_number_too_large_for_a_float_gets_a_400_not_an_error(api_maintainer, release):
    response = api_maintainer.post(
        RUNS,
        {"release": "v1", "kind": "sft", "hyperparameters": {"learning_rate": 10**400}},
        format="json",
    )
    assert response.status_code == 400
    assert "learning_rate" in response.json()["hyperparameters"][0]
    assert not TrainingRun.objects.exists()


def test_a_failed_run_is_sent_again(api_maintainer, release):
    run = services.run_dispatch(
        services.run_create(user=None, release=release, kind="sft", dispatch=False)
    )
    services.run_report(run_id=run.pk, attempt=1, payload={"state": "failed", "error": "node lost"})
    response = api_maintainer.post(f"{RUNS}{run.pk}/retry/", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert response.status_code == 202
    assert response.json()["attempt"] == 2 and response.json()["state"] == RunState.QUEUED
    # The same request again (a lost answer, a second click) sends nothing more.
    again = api_maintainer.post(f"{RUNS}{run.pk}/retry/", HTTP_IDEMPOTENCY_KEY="retry-1")
    assert again.status_code == 202 and again["Idempotent-Replayed"] == "true"
    assert again.json() == response.json()
    run.refresh_from_db()
    assert run.attempt == 2
    # So does a cancel: replayed, not refused as already cancelled.
    first = api_maintainer.post(f"{RUNS}{run.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="cancel-1")
    second = api_maintainer.post(f"{RUNS}{run.pk}/cancel/", HTTP_IDEMPOTENCY_KEY="cancel-1")
    assert first.status_code == second.status_code == 200
    assert second["Idempotent-Replayed"] == "true" and second.json() == first.json()
    assert api_maintainer.post(f"{RUNS}{run.pk}/cancel/").status_code == 409  # a new request


def test_a_cancelled_run_is_sent_again_from_the_start(api_maintainer, release):
    run = services.run_dispatch(
        services.run_create(user=None, release=release, kind="sft", dispatch=False)
    )
    services.run_report(
        run_id=run.pk,
        attempt=1,
        payload={"seq": 0, "state": "running", "phase": "train", "host": "vm", "step": 5,
                 "total": 20, "train_log": [{"step": 5, "loss": 2.0}]},
    )  # fmt: skip
    assert api_maintainer.post(f"{RUNS}{run.pk}/cancel/").status_code == 200
    response = api_maintainer.post(f"{RUNS}{run.pk}/retry/")
    assert response.status_code == 202
    body = response.json()
    assert (body["state"], body["attempt"], body["phase"], body["worker_host"]) == (
        "queued",
        2,
        "",
        "",
    )
    assert (body["step"], body["total_steps"], body["loss_history"], body["finished_at"]) == (
        0,
        0,
        [],
        None,
    )
    # A run that succeeded is not sent again; the reason names its state as the page does.
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED)
    refused = api_maintainer.post(f"{RUNS}{run.pk}/retry/")
    assert refused.status_code == 409
    assert "is in state “Succeeded”" in refused.json()["detail"]


def test_schedules_are_listed_and_edited(api_maintainer, api):
    from apps.training import schedules

    schedules.maybe_train()
    listed = api_maintainer.get("/api/v1/training-schedules/").json()
    outcomes = {s["task"]: (s["outcome"], s["outcome_at"]) for s in listed}
    assert outcomes["training.auto_release"] == ([], None)
    assert outcomes["training.auto_train"][0] == ["Waiting: no release is finished yet."]
    assert outcomes["training.auto_train"][1] is not None
    assert {s["task"] for s in listed} == {"training.auto_release", "training.auto_train"}
    release_schedule = next(s for s in listed if s["task"] == "training.auto_release")
    url = f"/api/v1/training-schedules/{release_schedule['id']}/"
    assert api.put(url, {"enabled": True, "every_minutes": 5}, format="json").status_code == 403
    bad = api_maintainer.put(
        url, {"enabled": True, "every_minutes": 5, "options": {"min_new_items": -1}}, format="json"
    )
    assert bad.status_code == 400 and "options.min_new_items" in bad.json()
    good = api_maintainer.put(
        url, {"enabled": True, "every_minutes": 5, "options": {"min_new_items": 50}}, format="json"
    )
    assert good.status_code == 200
    assert good.json()["enabled"] is True and good.json()["every_minutes"] == 5
    assert good.json()["options"] == {"min_new_items": 50}
    assert (
        api_maintainer.put(
            "/api/v1/training-schedules/999999/",
            {"enabled": True, "every_minutes": 5},
            format="json",
        ).status_code
        == 404
    )


@pytest.mark.parametrize("enabled", [1, "on"])
def test_a_schedule_is_switched_on_with_true_only(api_maintainer, enabled):
    schedule = api_maintainer.get("/api/v1/training-schedules/").json()[0]
    r = api_maintainer.put(
        f"/api/v1/training-schedules/{schedule['id']}/",
        {"enabled": enabled, "every_minutes": 5},
        format="json",
    )
    assert r.status_code == 400
    assert r.json() == {"enabled": ["Must be true or false."]}
    assert api_maintainer.get("/api/v1/training-schedules/").json()[0] == schedule


@pytest.mark.parametrize(
    ("options", "errors"),
    [
        ({"method": "bogus"}, {"options.method": ["Choose one of: full, lora."]}),
        (
            {"hyperparameters": {"sft": {"learning_rate": -1}}},
            {
                "options.hyperparameters": [
                    "learning_rate must be greater than 0 and at most 1 (got -1)."
                ]
            },
        ),
        ({"kinds": [{"sft": 1}]}, {"options.kinds": ["Choose from: sft, reward."]}),
    ],
)
def test_schedule_options_are_held_to_the_rules_of_a_run(api_maintainer, options, errors):
    from django_celery_beat.models import PeriodicTask

    listed = api_maintainer.get("/api/v1/training-schedules/").json()
    schedule = next(s for s in listed if s["task"] == "training.auto_train")
    before = PeriodicTask.objects.get(pk=schedule["id"])
    response = api_maintainer.put(
        f"/api/v1/training-schedules/{schedule['id']}/",
        {"enabled": False, "every_minutes": 60, "options": options},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == errors
    after = PeriodicTask.objects.get(pk=schedule["id"])
    assert (after.kwargs, after.interval_id) == (before.kwargs, before.interval_id)


def test_every_bad_schedule_option_is_named_in_one_answer(api_maintainer):
    """Only the first problem was named: fixing it only to be told of the next."""
    from django_celery_beat.models import PeriodicTask

    listed = api_maintainer.get("/api/v1/training-schedules/").json()
    by_task = {s["task"]: s for s in listed}
    before = list(PeriodicTask.objects.order_by("pk").values_list("kwargs", "interval_id"))
    train = api_maintainer.put(
        f"/api/v1/training-schedules/{by_task['training.auto_train']['id']}/",
        {
            "enabled": True,
            "every_minutes": 0,
            "options": {
                "kinds": "sft",
                "method": "bogus",
                "hyperparameters": {
                    "sft": {"learning_rate": -1},
                    "reward": {"max_steps": 0},
                },
                "answer_prompts": -1,
                "colour": "red",
            },
        },
        format="json",
    )
    assert train.status_code == 400
    body = train.json()
    assert set(body) == {
        "every_minutes",
        "options.kinds",
        "options.method",
        "options.hyperparameters",
        "options.answer_prompts",
        "options",
    }
    assert body["options.method"] == ["Choose one of: full, lora."]
    assert body["options"] == ["Unknown options: ['colour']."]
    assert len(body["options.hyperparameters"]) == 2
    assert (
        "learning_rate must be greater than 0 and at most 1 (got -1)."
        in body["options.hyperparameters"]
    )
    cut = api_maintainer.put(
        f"/api/v1/training-schedules/{by_task['training.auto_release']['id']}/",
        {
            "enabled": True,
            "every_minutes": 5,
            "options": {"min_new_items": 0, "languages": ["xx-nope"], "test_share": 2},
        },
        format="json",
    )
    assert cut.status_code == 400
    assert {"options.min_new_items", "options.languages", "options.test_share"} <= set(cut.json())
    after = list(PeriodicTask.objects.order_by("pk").values_list("kwargs", "interval_id"))
    assert after == before


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ("state", "Elige una de estas opciones: queued, running, succeeded, failed, cancelled."),
        ("kind", "Elige una de estas opciones: sft, reward."),
    ],
)
def test_an_unknown_filter_lists_the_choices_in_the_language_asked_for(
    api_maintainer, param, message
):
    """It was ``Choose one of ['queued', 'running', …].``: a Python list, in English."""
    r = api_maintainer.get(RUNS, {param: "x"}, headers={"Accept-Language": "es"})
    assert r.status_code == 400
    assert r.json() == {param: [message]}
    r = api_maintainer.get(RUNS, {param: "x"})
    assert r.json()[param][0].startswith("Choose one of: ")


def test_an_unknown_release_is_named_in_the_language_asked_for(api_maintainer, release):
    r = api_maintainer.post(
        RUNS, {"release": "v9", "kind": "sft"}, format="json", headers={"Accept-Language": "es"}
    )
    assert r.status_code == 400
    assert r.json() == {"release": ["No existe la publicación v9."]}
    assert api_maintainer.post(RUNS, {"release": "v9", "kind": "sft"}, format="json").json() == {
        "release": ["There is no release v9."]
    }
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    ("payload", "errors"),
    [
        # 5 was read as "5", and then as no release "5".
        ({"release": 5, "kind": "sft"}, {"release": ["Must be text (a JSON string)."]}),
        ({"release": ["v1"], "kind": "sft"}, {"release": ["Must be text (a JSON string)."]}),
        (
            {"release": "v1", "kind": "sft", "base_model": 7},
            {"base_model": ["Must be text (a JSON string)."]},
        ),
    ],
)
def test_text_fields_take_json_text_only(api_maintainer, release, payload, errors):
    response = api_maintainer.post(RUNS, payload, format="json")
    assert response.status_code == 400
    assert response.json() == errors
    assert not TrainingRun.objects.exists()


def test_retrying_a_queued_run_says_it_is_queued(api_maintainer, release):
    """It said the run "is still reporting", of a run no worker has taken yet."""
    run = services.run_dispatch(
        services.run_create(user=None, release=release, kind="sft", dispatch=False)
    )
    response = api_maintainer.post(f"{RUNS}{run.pk}/retry/")
    assert response.status_code == 409
    assert response.json() == {"detail": f"Run {run.pk} is still queued; cancel it first."}
    run.refresh_from_db()
    assert (run.state, run.attempt) == (RunState.QUEUED, 1)


def _auto_release_url(api_maintainer) -> str:
    listed = api_maintainer.get("/api/v1/training-schedules/").json()
    schedule = next(s for s in listed if s["task"] == "training.auto_release")
    return f"/api/v1/training-schedules/{schedule['id']}/"


@pytest.mark.parametrize(
    ("every", "message"),
    [
        ("60", "Must be a whole number (a JSON number)."),
        (60.0, "Must be a whole number (a JSON number)."),
        (True, "Must be a whole number (a JSON number)."),
        (0, "From 1 to 10080."),
        (10081, "From 1 to 10080."),
        (10**30, "From 1 to 10080."),
    ],
)
def test_every_minutes_is_a_json_integer_in_range(api_maintainer, every, message):
    url = _auto_release_url(api_maintainer)
    before = api_maintainer.get("/api/v1/training-schedules/").json()
    r = api_maintainer.put(url, {"enabled": True, "every_minutes": every}, format="json")
    assert r.status_code == 400
    assert r.json() == {"every_minutes": [message]}
    assert api_maintainer.get("/api/v1/training-schedules/").json() == before


@pytest.mark.parametrize("minimum", [0, 1_000_001, 10**30, "10", 10.0, True])
def test_min_new_items_is_a_whole_number_up_to_a_million(api_maintainer, minimum):
    """10**30 was stored: a schedule that waits for ever, switched on."""
    url = _auto_release_url(api_maintainer)
    r = api_maintainer.put(
        url,
        {"enabled": True, "every_minutes": 60, "options": {"min_new_items": minimum}},
        format="json",
    )
    assert r.status_code == 400
    assert r.json() == {"options.min_new_items": ["Give a whole number from 1 to 1000000."]}
    good = api_maintainer.put(
        url,
        {"enabled": True, "every_minutes": 60, "options": {"min_new_items": 1_000_000}},
        format="json",
    )
    assert good.status_code == 200
    assert good.json()["options"] == {"min_new_items": 1_000_000}


def test_the_new_messages_are_translatable(api_maintainer, release):
    run = services.run_dispatch(
        services.run_create(user=None, release=release, kind="sft", dispatch=False)
    )
    url = _auto_release_url(api_maintainer)
    with marked_gettext():
        retry = api_maintainer.post(f"{RUNS}{run.pk}/retry/")
        schedule = api_maintainer.put(
            url,
            {"enabled": True, "every_minutes": 0, "options": {"min_new_items": 0}},
            format="json",
        )
        options = api_maintainer.put(
            url,
            {"enabled": True, "every_minutes": 60, "options": {"min_new_items": 0}},
            format="json",
        )
    assert retry.json() == {"detail": f"«Run {run.pk} is still queued; cancel it first.»"}
    assert schedule.json() == {
        "every_minutes": ["«From 1 to 10080.»"],
        "options.min_new_items": ["«Give a whole number from 1 to 1000000.»"],
    }
    assert options.json() == {"options.min_new_items": ["«Give a whole number from 1 to 1000000.»"]}


def test_an_unknown_kind_is_named_alone_not_as_a_reward_model(api_maintainer, release):
    """API QA: kind "dpo" with answers asked for also said "…a reward model scores them",
    though no reward model was asked for."""
    response = api_maintainer.post(
        RUNS, {"release": "v1", "kind": "dpo", "answer_prompts": 3}, format="json"
    )
    assert response.status_code == 400
    assert set(response.json()) == {"kind"}
    assert response.json()["kind"] == ["“dpo” is not a valid choice. Choose one of: sft, reward."]


def _trained_run(release) -> TrainingRun:
    """A finished run with curves, a logs tail and files, as its last report leaves it."""
    from django.utils import timezone

    return TrainingRun.objects.create(
        release=release,
        kind="sft",
        base_model="org/base",
        state=RunState.SUCCEEDED,
        step=4,
        total_steps=4,
        finished_at=timezone.now(),
        loss_history=[{"step": s, "loss": 2.0 - s / 10, "lr": 1e-4} for s in range(1, 5)],
        eval_history=[{"step": 2, "eval_loss": 1.9}, {"step": 4, "eval_loss": 1.7}],
        logs_tail="step 4/4\n",
        metrics={"eval_loss": 1.7},
        timings={"train": 12.5},
        artefact_path="/models/run-1",
        artefact_files=[{"path": "model.safetensors", "bytes": 5}],
        spec={"train": {"release": "hf://datasets/hearth/data@c0ffee"}},
        hub_repo="hearth/hearth-sft",
        hub_revision="beef",
    )


# What the list leaves to the detail: hundreds of kilobytes a run (QA: 4.6 MB for 20 runs).
DETAIL_ONLY = {
    "loss_history", "eval_history", "logs_tail", "timings", "eta_seconds",
    "resumed_from_step", "artefact_path", "artefact_files", "data_repo", "data_revision",
}  # fmt: skip


def test_the_list_leaves_out_the_curves_and_logs_that_the_detail_has(api_maintainer, release):
    run = _trained_run(release)

    listed = api_maintainer.get(RUNS).json()["results"]
    detail = api_maintainer.get(f"{RUNS}{run.pk}/").json()

    assert [item["id"] for item in listed] == [run.pk]
    assert set(listed[0]) == set(detail) - DETAIL_ONLY
    assert {name: listed[0][name] for name in listed[0]} == {
        name: detail[name] for name in listed[0]
    }
    assert listed[0]["latest_eval"] == {"step": 4, "eval_loss": 1.7}
    assert listed[0]["metrics"] == {"eval_loss": 1.7} and listed[0]["hub_tag"] == f"run-{run.pk}"
    assert listed[0]["downloads"] == {
        "model.safetensors": f"http://testserver/training/runs/{run.pk}/files/model.safetensors"
    }
    assert detail["loss_history"] == run.loss_history
    assert detail["eval_history"] == run.eval_history
    assert (detail["logs_tail"], detail["timings"]) == ("step 4/4\n", {"train": 12.5})
    assert (detail["data_repo"], detail["data_revision"]) == ("hearth/data", "c0ffee")
    assert detail["artefact_files"] == [{"path": "model.safetensors", "bytes": 5}]


def test_a_run_before_its_first_evaluation_lists_no_latest_eval(api_maintainer, release):
    TrainingRun.objects.create(release=release, kind="reward", base_model="org/base")
    assert api_maintainer.get(RUNS).json()["results"][0]["latest_eval"] is None


def test_the_schema_documents_list_items_and_the_detail_as_they_are_sent(api_maintainer, release):
    """The list's items are a component of their own (TrainingRunSummaryOut), not the
    detail's, which a client generated from the schema would expect in full."""
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    components = schema["components"]["schemas"]

    def documented(path: str) -> dict:
        node = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]
        ref = node["schema"]["$ref"].rsplit("/", 1)[-1]
        return components[ref]

    run = _trained_run(release)
    envelope = documented(RUNS)
    item = envelope["properties"]["results"]["items"]["$ref"].rsplit("/", 1)[-1]
    assert item == "TrainingRunSummaryOut"
    listed = api_maintainer.get(RUNS).json()["results"][0]
    assert set(components[item]["properties"]) == set(listed)
    detail = api_maintainer.get(f"{RUNS}{run.pk}/").json()
    assert set(documented(f"{RUNS}{{run_id}}/")["properties"]) == set(detail)
    latest_eval = components["TrainingRunSummaryOut"]["properties"]["latest_eval"]
    assert latest_eval["type"] == ["object", "null"]  # OpenAPI 3.1's nullable
