"""Runs on the web side: validation, dispatch to the real broker, reports, cancel, retry."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from apps.releases.models import ReleaseState
from apps.training import services
from apps.training.models import RunState, TrainingRun
from tests.celery_workers import queued, workers_on
from tests.missing import missing
from tests.training.conftest import counts, make_release


def create(release, **kwargs):
    kwargs.setdefault("user", None)
    kwargs.setdefault("kind", "sft")
    kwargs.setdefault("base_model", "org/base")
    return services.run_create(release=release, dispatch=False, **kwargs)


# --- validation --------------------------------------------------------------------------------


def test_only_maintainers_create_runs(release, volunteer, maintainer):
    with pytest.raises(PermissionDenied):
        create(release, user=volunteer)
    run = create(release, user=maintainer)
    assert run.created_by == maintainer and run.state == RunState.QUEUED


@pytest.mark.parametrize(
    ("kwargs", "field", "fragment"),
    [
        ({"kind": "dpo"}, "kind", "sft, reward"),
        ({"method": "qlora"}, "method", "full, lora"),
        ({"base_model": "   "}, "base_model", "Name a base model"),
        ({"base_model": "a\x00b"}, "base_model", "printable"),
        ({"base_model": "org/\udc00"}, "base_model", "printable"),
        (
            {"hyperparameters": {"learning_rat": 1e-4}},
            "hyperparameters",
            "not a hyperparameter for sft runs",
        ),
        ({"hyperparameters": {"learning_rate": "fast"}}, "hyperparameters", "not a valid value"),
        # A fraction for a whole number is told the range, as the other numbers are.
        (
            {"hyperparameters": {"num_epochs": 1.5}},
            "hyperparameters",
            "num_epochs must be a whole number from 1 to 10,000 (got 1.5).",
        ),
        (
            {"hyperparameters": {"max_steps": 2.5}},
            "hyperparameters",
            "max_steps must be a whole number from 1 to 10,000,000 (got 2.5).",
        ),
        ({"hyperparameters": {"max_steps": True}}, "hyperparameters", "not a valid value"),
        # What JSON can escape but PostgreSQL's jsonb cannot store.
        (
            {"hyperparameters": {"base_model_gguf_file": "a\x00.gguf"}},
            "hyperparameters",
            "not a valid value",
        ),
        (
            {"hyperparameters": {"base_model_gguf_file": "\ud800.gguf"}},
            "hyperparameters",
            "not a valid value",
        ),
        ({"hyperparameters": {"learning_rate": float("nan")}}, "hyperparameters", "not a valid"),
        ({"hyperparameters": {"grad_accum_steps": 0}}, "hyperparameters", "from 1 to"),
        (
            {"hyperparameters": {"output_dir": "/etc"}},
            "hyperparameters",
            "not a hyperparameter for sft",
        ),
        (
            {"hyperparameters": {"release": "file:///etc"}},
            "hyperparameters",
            "not a hyperparameter for sft",
        ),
        ({"hyperparameters": ["lr", 1]}, "hyperparameters", "object"),
        ({"kind": "reward", "hyperparameters": {"max_seq_len": 4}}, "hyperparameters", ""),
    ],
)
def test_bad_input_is_refused_with_a_message_and_nothing_is_recorded(
    release, kwargs, field, fragment
):
    with pytest.raises(ValidationError) as caught:
        create(release, **kwargs)
    assert field in caught.value.message_dict
    assert fragment in " ".join(caught.value.message_dict[field])
    assert not TrainingRun.objects.exists()


@pytest.mark.parametrize(
    ("base_model", "fragment"),
    [
        ("../../etc/passwd", "Name a Hub model as org/name"),
        ("org/../../secret", "Name a Hub model as org/name"),
        ("a/b/c", "Name a Hub model as org/name"),
        ("/etc/passwd", "a plain path under /models"),
        ("/models/../etc/passwd", "a plain path under /models"),
        ("/models-evil/model", "a plain path under /models"),
        ("/models//llama", "a plain path under /models"),
    ],
)
def test_a_base_model_is_a_hub_id_or_a_path_in_the_model_folders(
    release, settings, base_model, fragment
):
    """A run read whatever path a maintainer typed on the GPU node (the audit: ../../etc/passwd
    was queued)."""
    settings.HEARTH_TRAIN_MODEL_DIRS = ["/models"]
    with pytest.raises(ValidationError) as caught:
        create(release, base_model=base_model)
    assert fragment in " ".join(caught.value.message_dict["base_model"])
    assert not TrainingRun.objects.exists()


def test_local_base_models_are_taken_from_the_model_folders_only(release, settings):
    settings.HEARTH_TRAIN_MODEL_DIRS = ["/models", "/srv/gguf/"]
    for name in ("HuggingFaceTB/SmolLM2-135M", "gpt2", "/models/llama", "/srv/gguf/a.gguf"):
        assert create(release, base_model=name).base_model == name
    settings.HEARTH_TRAIN_MODEL_DIRS = []
    with pytest.raises(ValidationError) as caught:
        create(release, base_model="/models/llama")
    assert "Local base models are off on this site" in caught.value.message_dict["base_model"][0]


@pytest.mark.parametrize("name", ["../x.gguf", "sub/x.gguf", "..", "/etc/x.gguf"])
def test_the_gguf_file_is_a_name_in_the_base_models_folder(release, name):
    with pytest.raises(ValidationError) as caught:
        create(release, hyperparameters={"base_model_gguf_file": name})
    assert caught.value.message_dict["hyperparameters"] == [
        "base_model_gguf_file names a file in the base model's folder, not a path."
    ]


def test_hyperparameters_are_checked_against_the_workers_own_config(release):
    run = create(
        release,
        method="lora",
        hyperparameters={"learning_rate": 2e-4, "lora_r": 8, "max_steps": 30, "num_epochs": 2},
    )
    assert run.hyperparameters == {
        "learning_rate": 2e-4,
        "lora_r": 8,
        "max_steps": 30,
        "num_epochs": 2,
    }
    reward = create(release, kind="reward", hyperparameters={"config_name": "rankings"})
    assert reward.hyperparameters == {"config_name": "rankings"}


@pytest.mark.parametrize(
    ("fields", "kind", "fragment"),
    [
        (
            {"state": ReleaseState.BUILDING, "content_hash": "", "finished_at": None},
            "sft",
            "is in state “Building”",
        ),
        (
            {"state": ReleaseState.FAILED, "content_hash": "", "finished_at": None},
            "sft",
            "is in state “Failed”",
        ),
        # Which split is empty, in so many words.
        (
            {"counts": counts(sft=(17, 0))},
            "sft",
            "v1 has 17 sft rows in train and none in test: a run needs both.",
        ),
        (
            {"counts": counts(sft=(1, 0))},
            "sft",
            "v1 has 1 sft row in train and none in test: a run needs both.",
        ),
        (
            {"counts": counts(preferences=(0, 3))},
            "reward",
            "v1 has 3 preferences rows in test and none in train: a run needs both.",
        ),
        (
            {"counts": counts(preferences=(0, 0))},
            "reward",
            "v1 has no preferences rows in train and test to train a reward model on.",
        ),
        ({"counts": {}}, "sft", "v1 has no sft rows in train and test"),
    ],
)
def test_a_run_needs_a_finished_release_with_rows_for_its_kind(db, fields, kind, fragment):
    release = make_release(**fields)
    with pytest.raises(ValidationError) as caught:
        create(release, kind=kind)
    assert fragment in " ".join(caught.value.message_dict["release"])


def test_with_the_hub_on_the_release_must_be_published_first(release, settings):
    settings.HUB_NAMESPACE = "hearth"
    with pytest.raises(ValidationError, match="Publish v1 to the Hub first"):
        create(release)
    published = make_release(
        state=ReleaseState.PUBLISHED, hub_repo="hearth/hearth-data", hub_revision="c" * 40
    )
    assert create(published).release == published


def test_the_default_base_model_comes_from_the_settings(release, settings):
    settings.HEARTH_TRAIN_BASE_MODEL_REWARD = "org/encoder"
    run = services.run_create(user=None, release=release, kind="reward", dispatch=False)
    assert run.base_model == "org/encoder"


# --- the spec ---------------------------------------------------------------------------------


def test_a_local_release_is_sent_as_its_folder_and_nothing_is_published(release, settings):
    run = create(release, hyperparameters={"max_steps": 3})
    spec = services.run_dispatch(run).spec
    assert spec["run_id"] == run.pk and spec["attempt"] == 1 and spec["kind"] == "sft"
    assert spec["train"]["release"] == (settings.DATA_DIR / "releases" / "v1").as_uri()
    assert "release_revision" not in spec["train"]
    assert spec["train"]["release_tag"] == "v1"
    assert spec["train"]["release_url"].endswith("/releases/v1/")
    assert spec["train"]["max_steps"] == 3 and spec["train"]["base_model"] == "org/base"
    assert spec["output_name"] == f"run-{run.pk}"
    assert spec["publish"] is None
    assert spec["report"]["task"] == "training.report" and spec["report"]["queue"] == "default"
    # The worker accepts it as it is.
    from worker.config import SFTConfig

    SFTConfig.from_spec({**spec["train"], "output_dir": "/tmp/x"})


def test_a_published_release_is_pinned_to_its_commit_and_the_model_goes_to_the_kinds_repo(
    db, settings
):
    settings.HUB_NAMESPACE = "hearth"
    settings.HEARTH_HUB_REWARD_REPO = "rm"
    release = make_release(
        state=ReleaseState.PUBLISHED, hub_repo="hearth/hearth-data", hub_revision="f" * 40
    )
    run = services.run_dispatch(create(release, kind="reward"))
    train = run.spec["train"]
    assert train["release"] == f"hf://datasets/hearth/hearth-data@{'f' * 40}"
    assert train["release_revision"] == "f" * 40
    assert run.spec["publish"] == {
        "repo_id": "hearth/rm",
        "tag": f"run-{run.pk}",
        "commit_message": f"Hearth run {run.pk} (reward) on v1",
        "branch": f"model-run-{run.pk}",
    }


def test_dispatch_sends_the_spec_to_the_gpu_queue_by_task_name_after_commit(
    release, settings, django_capture_on_commit_callbacks
):
    if not settings.REDIS_URL:
        missing("needs Redis (REDIS_URL)")
    with workers_on("gpu"):
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            run = services.run_create(user=None, release=release, kind="sft", base_model="org/base")
        assert queued("gpu") == [], "nothing is sent before the commit"
        assert re.fullmatch(rf"training-run-{run.pk}-1-[0-9a-f]{{8}}", run.task_id)
        for callback in callbacks:
            callback()
        assert queued("gpu") == [
            {
                "name": "worker.train_run",
                "task_id": run.task_id,
                "args": [run.spec],
                "kwargs": {},
            }
        ]


# --- reports ----------------------------------------------------------------------------------


def _report(run, seq, **payload):
    payload.setdefault("host", "gpu-1")
    payload.setdefault("state", "running")
    return services.run_report(run_id=run.pk, attempt=run.attempt, payload={"seq": seq, **payload})


def _entries(steps):
    return [
        {"step": s, "loss": 5.0 / s, "lr": 1e-4, "tokens_per_s": 900.0, "seconds": 0.5}
        for s in steps
    ]


def test_reports_move_a_run_forward_and_merge_its_curves(release):
    run = services.run_dispatch(create(release))
    _report(run, 0, phase="load")
    run.refresh_from_db()
    assert run.state == RunState.RUNNING and run.started_at and run.worker_host == "gpu-1"
    _report(
        run, 1, phase="train", step=3, total=10, tokens_per_s=900.0, train_log=_entries([1, 2, 3])
    )
    # Reordered and repeated: an older report arrives late, and one is delivered twice.
    _report(
        run,
        3,
        phase="eval",
        step=6,
        total=10,
        train_log=_entries([5, 6]),
        eval_log=[{"step": 6, "eval_loss": 1.5}],
    )
    _report(run, 2, phase="train", step=4, total=10, train_log=_entries([4]))
    _report(
        run,
        3,
        phase="eval",
        step=6,
        total=10,
        train_log=_entries([5, 6]),
        eval_log=[{"step": 6, "eval_loss": 1.5}],
    )
    run.refresh_from_db()
    assert [e["step"] for e in run.loss_history] == [1, 2, 3, 4, 5, 6]
    assert run.eval_history == [{"step": 6, "eval_loss": 1.5}]
    assert run.step == 6 and run.total_steps == 10 and run.progress_percent == 60.0
    assert run.eta_seconds == pytest.approx(4 * 0.5)
    _report(
        run,
        4,
        state="succeeded",
        phase="done",
        step=10,
        total=10,
        train_log=_entries(range(7, 11)),
        result={
            "metrics": {"eval_loss": 1.2, "eval_perplexity": 3.3},
            "output_dir": "/models/run-1",
            "files": [{"path": "model.safetensors", "bytes": 10}],
            "steps": 10,
            "resumed_from_step": 0,
            "timings": {"train": 1.0},
            "hub_repo": "hearth/hearth-sft",
            "hub_revision": "b" * 40,
        },
    )
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.finished_at
    assert run.metrics == {"eval_loss": 1.2, "eval_perplexity": 3.3}
    assert run.hub_revision == "b" * 40 and run.artefact_files[0]["path"] == "model.safetensors"
    assert len(run.loss_history) == 10 and run.progress_percent == 100.0
    # A late progress report never takes it back.
    assert _report(run, 2, phase="train", step=4) is None
    run.refresh_from_db()
    assert run.state == RunState.SUCCEEDED and run.step == 10


def test_a_log_keeps_its_text_without_terminal_colour_codes(release):
    """transformers prints its load report in bold: the run page showed "[1m…[0m"."""
    run = services.run_dispatch(create(release))
    _report(run, 0, phase="load", logs_tail="\x1b[1mLOAD REPORT\x1b[0m from: /m\nKey | Status")
    run.refresh_from_db()
    assert run.logs_tail == "LOAD REPORT from: /m\nKey | Status"


def test_reports_of_an_earlier_attempt_or_unknown_runs_are_ignored(release):
    run = services.run_dispatch(create(release))
    services.run_report(run_id=run.pk, attempt=1, payload={"seq": 0, "state": "running", "step": 1})
    run.refresh_from_db()
    run.state = RunState.FAILED
    run.save()
    run = services.run_retry(user=None, run=run)
    assert run.attempt == 2 and run.state == RunState.QUEUED
    stale = services.run_report(
        run_id=run.pk, attempt=1, payload={"seq": 9, "state": "failed", "error": "old"}
    )
    assert stale is None
    run.refresh_from_db()
    assert run.state == RunState.QUEUED and run.error == ""
    assert services.run_report(run_id=10**9, attempt=1, payload={"state": "running"}) is None


def test_a_failure_report_keeps_the_reason(release):
    run = services.run_dispatch(create(release))
    _report(run, 0, state="failed", error="CUDA out of memory", logs_tail="x" * 50_000)
    run.refresh_from_db()
    assert run.state == RunState.FAILED and run.error == "CUDA out of memory"
    assert len(run.logs_tail) == services.MAX_LOGS_TAIL


def test_long_curves_are_thinned_keeping_the_latest_points_exact(release):
    run = services.run_dispatch(create(release))
    for chunk in range(6):
        steps = range(chunk * 1000 + 1, chunk * 1000 + 1001)
        _report(run, chunk, phase="train", step=steps[-1], total=6000, train_log=_entries(steps))
    run.refresh_from_db()
    steps = [e["step"] for e in run.loss_history]
    assert len(steps) <= services.MAX_HISTORY
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 6000
    assert steps[-500:] == list(range(5501, 6001))


def test_long_eval_curves_are_thinned_as_the_loss_is(release):
    """An eval every few steps of a long run kept every one, and each report wrote them all."""
    run = services.run_dispatch(create(release))
    for chunk in range(6):
        evals = [
            {"step": s, "eval_loss": 2.0 / s} for s in range(chunk * 1000 + 1, chunk * 1000 + 1001)
        ]
        _report(run, chunk, phase="train", step=evals[-1]["step"], total=6000, eval_log=evals)
    run.refresh_from_db()
    steps = [e["step"] for e in run.eval_history]
    assert len(steps) <= services.MAX_HISTORY
    assert steps == sorted(steps) and steps[0] == 1 and steps[-1] == 6000
    assert steps[-500:] == list(range(5501, 6001))
    assert run.eval_history[-1] == {"step": 6000, "eval_loss": 2.0 / 6000}


# --- cancel and retry -------------------------------------------------------------------------


def test_cancel_stops_a_queued_or_running_run_once(release, volunteer):
    run = services.run_dispatch(create(release))
    with pytest.raises(PermissionDenied):
        services.run_cancel(user=volunteer, run=run)
    cancelled = services.run_cancel(user=None, run=run)
    assert cancelled.state == RunState.CANCELLED and cancelled.cancel_requested_at
    with pytest.raises(ValidationError, match="has already ended: Cancelled"):
        services.run_cancel(user=None, run=run)
    # The worker's own "cancelled" (or a late progress) report changes nothing.
    assert _report(cancelled, 5, state="cancelled") is None


def test_a_run_cancelled_while_training_is_stopping_until_its_worker_says_it_stopped(release):
    """Cancelled, a run is final at once, but its worker finishes its step and removes the
    checkpoints first: until its last report (``cancelled``) the run says it is stopping, and
    a late progress report still changes nothing."""
    from datetime import timedelta

    from django.utils import timezone

    run = services.run_dispatch(create(release))
    _report(run, 1, step=3, total=10)
    run = services.run_cancel(user=None, run=TrainingRun.objects.get(pk=run.pk))
    assert run.state == RunState.CANCELLED and run.is_stopping

    assert _report(run, 2, step=4, total=10) is None
    run.refresh_from_db()
    assert run.step == 3 and run.is_stopping

    assert (
        _report(run, 3, state="cancelled", logs_tail="[hearth] cancelled: work folder removed")
        is None
    )
    run.refresh_from_db()
    assert not run.is_stopping and run.state == RunState.CANCELLED
    assert run.logs_tail == "[hearth] cancelled: work folder removed"
    # A worker that died never says so: after STOPPING_SHOWN_FOR the page stops saying it.
    TrainingRun.objects.filter(pk=run.pk).update(
        last_report_at=None, cancel_requested_at=timezone.now() - timedelta(minutes=11)
    )
    assert not TrainingRun.objects.get(pk=run.pk).is_stopping


def test_a_cancel_that_comes_while_the_model_is_published_is_too_late_and_the_run_succeeds(
    release,
):
    """The worker does not stop a run whose training has ended: once it publishes, a cancel
    is too late and its last report is ``succeeded``, with the model on the Hub. That report
    was dropped (the run was final), so the page said Cancelled, with no Hub link, no files
    and none of its answers filed, while the model was on the Hub as run-N."""
    run = services.run_dispatch(create(release))
    _report(run, 1, step=10, total=10, phase="publish")
    run = services.run_cancel(user=None, run=TrainingRun.objects.get(pk=run.pk))
    assert run.state == RunState.CANCELLED
    result = {
        "metrics": {"eval_loss": 1.5},
        "output_dir": "/models/run-1",
        "files": [{"path": "model.safetensors", "bytes": 10}],
        "steps": 10,
        "hub_repo": "hearth/hearth-sft",
        "hub_revision": "a" * 40,
    }
    updated = _report(run, 2, state="succeeded", phase="done", result=result)
    assert updated is not None
    run.refresh_from_db()
    assert (run.state, run.hub_repo, run.hub_revision) == (
        RunState.SUCCEEDED,
        "hearth/hearth-sft",
        "a" * 40,
    )
    assert run.metrics == {"eval_loss": 1.5} and run.finished_at is not None
    assert not run.is_stopping
    # Only the attempt that was cancelled: a report of an older one is still ignored.
    assert services.run_report(run_id=run.pk, attempt=run.attempt - 1, payload={}) is None


def test_cancel_marks_the_task_aborted_in_the_result_backend(
    release, django_capture_on_commit_callbacks
):
    from celery.contrib.abortable import ABORTED, AbortableAsyncResult

    from apps.celery import app

    run = services.run_dispatch(create(release))
    with django_capture_on_commit_callbacks(execute=True):
        services.run_cancel(user=None, run=run)
    assert AbortableAsyncResult(run.task_id, app=app).state == ABORTED


def test_retry_is_for_failed_cancelled_or_stalled_runs(release, settings):
    run = services.run_dispatch(create(release))
    _report(run, 0, phase="train", step=2, total=10)
    with pytest.raises(ValidationError, match="still reporting"):
        services.run_retry(user=None, run=run)
    TrainingRun.objects.filter(pk=run.pk).update(
        last_report_at=timezone.now()
        - timedelta(seconds=settings.HEARTH_TRAINING_STALE_SECONDS + 1)
    )
    run.refresh_from_db()
    assert services.is_stalled(run)
    again = services.run_retry(user=None, run=run)
    assert again.attempt == 2 and again.state == RunState.QUEUED
    assert again.task_id.startswith(f"training-run-{run.pk}-2-") and again.task_id != run.task_id
    # Same output folder: the new attempt resumes from the checkpoint the first one left.
    assert again.spec["output_name"] == run.spec["output_name"]
    TrainingRun.objects.filter(pk=run.pk).update(state=RunState.SUCCEEDED)
    with pytest.raises(ValidationError, match="is in state “Succeeded”; only failed, cancel"):
        services.run_retry(user=None, run=again)


def test_a_retried_run_starts_without_the_details_of_the_failed_attempt(release):
    run = services.run_dispatch(create(release))
    _report(run, 0, phase="train", step=4, total=10, tokens_per_s=900.0, logs_tail="step 4\n",
            host="vm", train_log=_entries(range(1, 5)), eval_log=[{"step": 4, "eval_loss": 1.5}])  # fmt: skip
    _report(run, 1, state="failed", phase="load", host="vm", error="CUDA out of memory")
    run.refresh_from_db()
    assert (run.phase, run.worker_host, run.step) == ("load", "vm", 4)
    services.run_retry(user=None, run=run)
    run.refresh_from_db()
    assert (run.state, run.attempt, run.task_id.split("-")[3]) == (RunState.QUEUED, 2, "2")
    assert (run.phase, run.worker_host, run.error, run.logs_tail) == ("", "", "", "")
    assert (run.step, run.total_steps, run.tokens_per_s, run.progress_percent) == (0, 0, None, 0)
    assert (run.started_at, run.finished_at, run.last_report_at) == (None, None, None)
    # It resumes from its checkpoint: the curves so far stay, and the new attempt's reports of
    # the same steps replace their points.
    assert [e["step"] for e in run.loss_history] == [1, 2, 3, 4] and run.eval_history
    _report(run, 0, phase="train", step=3, total=10, train_log=_entries(range(3, 5)))
    run.refresh_from_db()
    assert (run.state, run.phase, run.step, run.worker_host) == (
        RunState.RUNNING,
        "train",
        3,
        "gpu-1",
    )
    assert [e["step"] for e in run.loss_history] == [1, 2, 3, 4]


def test_a_cancelled_run_is_sent_again_and_starts_over(release):
    run = services.run_dispatch(create(release, hyperparameters={"max_steps": 10}))
    _report(run, 0, phase="train", step=4, total=10, train_log=_entries(range(1, 5)))
    cancelled = services.run_cancel(user=None, run=run)
    again = services.run_retry(user=None, run=cancelled)
    assert (again.state, again.attempt, again.cancel_requested_at) == (RunState.QUEUED, 2, None)
    # The same settings and output folder; its worker removed the checkpoints, so the curves
    # start again too.
    assert again.spec["train"] == run.spec["train"]
    assert again.spec["output_name"] == run.spec["output_name"]
    assert (again.loss_history, again.eval_history, again.step) == ([], [], 0)
    assert _report(again, 0, phase="train", step=1, total=10) is not None


def test_stalled_runs_are_sent_again_by_the_sweeper_and_live_ones_are_left_alone(release, settings):
    stale = services.run_dispatch(create(release))
    live = services.run_dispatch(create(release))
    queued = services.run_dispatch(create(release))
    for run in (stale, live):
        _report(run, 0, phase="train", step=3, total=10)
    silent_since = timezone.now() - timedelta(seconds=settings.HEARTH_TRAINING_STALE_SECONDS + 5)
    TrainingRun.objects.filter(pk=stale.pk).update(last_report_at=silent_since)
    assert services.runs_retry_stalled() == [stale.pk]
    stale.refresh_from_db()
    assert stale.attempt == 2 and stale.state == RunState.QUEUED
    assert TrainingRun.objects.get(pk=live.pk).attempt == 1
    assert TrainingRun.objects.get(pk=queued.pk).attempt == 1
    assert services.runs_retry_stalled() == []
