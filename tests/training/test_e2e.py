"""The whole loop on the real stack: a run created through the API is trained by a real GPU
worker (``celery -A worker.celery``, CPU, a tiny random-init model, no database credentials),
which reports through the default queue to a real Django worker on Redis, publishes to the
suite's Hub-compatible server, and the published folder loads with ``from_pretrained``.

Also: SIGKILL the GPU worker mid-run and start another: the run resumes from its checkpoint
and succeeds once, published once. And the schedules, driven by celery beat: enough new data
cuts one release and queues exactly one run per kind.
"""

from __future__ import annotations

import json
import signal
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connection

from apps.accounts.services import model_author
from apps.collection.models import Response, ResponseState, Source
from apps.collection.services import prompts_for_model_answers
from apps.releases.models import ReleaseState
from apps.releases.publishing import release_publish
from apps.training.models import RunState, TrainingRun
from tests.celery_workers import django_env, start_worker, tail, wait_for, workers_on
from tests.factories import PromptFactory
from tests.hubserver.fixtures import hub  # noqa: F401
from tests.missing import missing
from tests.releases.helpers import build
from tests.training.test_schedules import corpus

pytestmark = [
    pytest.mark.slow(seconds=20),
    pytest.mark.django_db(transaction=True),
]

RUNS = "/api/v1/training-runs/"
QUEUES = ("gpu", "default", "exports")
# Small and quick on a CPU; enough steps that a kill lands mid-run.
SFT = {"max_seq_len": 128, "micro_batch_size": 2, "checkpoint_every": 4, "eval_every": 4}


@pytest.fixture
def stack(settings, tmp_path, hub, monkeypatch):  # noqa: F811
    """A real release on the test Hub, a tiny base model, the Hub settings, and the env of
    the two kinds of worker."""
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        missing("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    try:
        import torch  # noqa: F401
    except ImportError:
        missing("needs the worker extra (torch, transformers)")
    from tests.worker.helpers import build_tiny_llama

    monkeypatch.setenv("HF_TOKEN", hub.token)
    monkeypatch.setenv("HF_ENDPOINT", hub.url)
    settings.HUB_NAMESPACE = "hearth"
    settings.HEARTH_TRAINING_REPORT_SECONDS = 1
    settings.HEARTH_TRAIN_MODEL_DIRS = [str(tmp_path)]  # where the tiny base model is built
    settings.SITE_URL = "https://hearth.example.org"
    corpus(24)
    release = build(test_share=0.5)
    assert release.state == ReleaseState.READY, release.error
    release = release_publish(release.pk)
    base = build_tiny_llama(tmp_path / "tiny-llama")
    common = {"OMP_NUM_THREADS": "1", "HF_HUB_DISABLE_XET": "1"}
    web_env = django_env(HUB_NAMESPACE="hearth", **common)
    web_env.pop("HF_TOKEN")  # the Django side never holds the Hub token
    gpu_env = {
        k: v
        for k, v in django_env(**common).items()
        if k not in {"DATABASE_URL", "HEARTH_PSEUDONYM_SECRET"}
    }
    gpu_env.update(
        HEARTH_MODELS_DIR=str(settings.HEARTH_MODELS_DIR),
        DJANGO_SETTINGS_MODULE="",
    )
    return {
        "release": release,
        "base": str(base),
        "web_env": web_env,
        "gpu_env": gpu_env,
        "hub": hub,
    }


def _final(run_id: int) -> TrainingRun | None:
    return TrainingRun.objects.filter(
        pk=run_id, state__in=[RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED]
    ).first()


def _create(
    api: Any, stack: dict[str, Any], kind: str, answer_prompts: int = 0, **hyperparameters: Any
) -> int:
    response = api.post(
        RUNS,
        {
            "release": stack["release"].version,
            "kind": kind,
            "base_model": stack["base"],
            "hyperparameters": hyperparameters,
            "answer_prompts": answer_prompts,
        },
        format="json",
    )
    assert response.status_code == 201, response.json()
    return int(response.json()["id"])


def _processes_with(text: str) -> list[int]:
    """Live processes whose command line mentions ``text``."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except (OSError, ValueError):
            continue
        if text in cmdline and entry.name.isdigit():
            found.append(int(entry.name))
    return found


def _model_commits(server: Any, repo: str, run_id: int) -> list[Any]:
    return [
        c for c in server.commits("model", repo) if f"hearth-run: {run_id} " in (c.message or "")
    ]


def test_a_run_is_trained_reported_published_and_loadable(stack, api_maintainer, tmp_path):
    """...and, asked to, the SFT model answers the prompts collecting answers: its answers
    join them as model-written ones."""
    log = tmp_path / "workers.log"
    for _ in range(3):
        PromptFactory(language="en")
    first_two = [p.pk for p in prompts_for_model_answers(limit=2)]
    with workers_on(*QUEUES) as workers:
        workers.append(start_worker("apps", ["default"], stack["web_env"], "web", log))
        workers.append(start_worker("worker.celery", ["gpu"], stack["gpu_env"], "gpu", log))
        sft_id = _create(api_maintainer, stack, "sft", answer_prompts=2, max_steps=8, **SFT)
        reward_id = _create(
            api_maintainer,
            stack,
            "reward",
            max_steps=6,
            max_prompt_len=64,
            max_response_len=64,
            checkpoint_every=3,
        )
        sft = wait_for(
            lambda: _final(sft_id), timeout=300, what="the SFT run", workers=workers, log=log
        )
        reward = wait_for(
            lambda: _final(reward_id), timeout=300, what="the reward run", workers=workers, log=log
        )
    assert sft.state == RunState.SUCCEEDED, f"{sft.error}\n{sft.logs_tail}\n{tail(log)}"
    assert reward.state == RunState.SUCCEEDED, f"{reward.error}\n{reward.logs_tail}\n{tail(log)}"

    # What the database shows: progress, curves, metrics, where the model is.
    assert sft.step == sft.total_steps == 8 and sft.progress_percent == 100.0
    assert [e["step"] for e in sft.loss_history] == list(range(1, 9))
    assert [e["step"] for e in sft.eval_history] == [4, 8]
    assert sft.metrics["eval_loss"] > 0 and sft.metrics["eval_perplexity"] > 1
    assert 0 <= reward.metrics["eval_pairwise_accuracy"] <= 1
    assert sft.worker_host and sft.started_at and sft.finished_at
    assert sft.hub_repo == "hearth/hearth-sft" and reward.hub_repo == "hearth/hearth-reward"
    assert any(f["path"] == "model.safetensors" for f in sft.artefact_files)

    # The two prompts waiting longest got the model's answers; the third still waits.
    asked = [p["id"] for p in sft.spec["answer"]["prompts"]]
    assert asked == first_two
    answers = Response.objects.filter(source=Source.MODEL).order_by("prompt_id")
    assert sft.answers_added == len(answers) == sft.answers_written == 2, sft.logs_tail
    assert [a.prompt_id for a in answers] == asked
    assert all(a.text.strip() and a.origin == f"run-{sft_id}" for a in answers)
    assert all(a.state == ResponseState.ACCEPTED and a.author == model_author() for a in answers)
    assert "answer" in sft.timings

    server = stack["hub"]
    assert server.refs("model", "hearth/hearth-sft")["tags"][f"run-{sft_id}"] == sft.hub_revision
    assert len(_model_commits(server, "hearth/hearth-sft", sft_id)) == 1

    # The published folder loads through the real client, at the run's tag.
    from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification

    model = AutoModelForCausalLM.from_pretrained("hearth/hearth-sft", revision=f"run-{sft_id}")
    assert model.config.num_hidden_layers == 2
    scorer = AutoModelForSequenceClassification.from_pretrained(
        "hearth/hearth-reward", revision=f"run-{reward_id}"
    )
    assert scorer.config.num_labels == 1

    # Lineage: the card names the base model, the dataset, the release tag and its commit.
    from huggingface_hub import hf_hub_download

    card = Path(
        hf_hub_download("hearth/hearth-sft", "README.md", revision=f"run-{sft_id}")
    ).read_text()
    release = stack["release"]
    assert release.hub_revision and release.hub_revision in card
    assert "hearth/hearth-data" in card and release.version in card
    assert f"https://hearth.example.org/releases/{release.version}/" in card
    assert Path(stack["base"]).name in card
    config = json.loads(
        Path(
            hf_hub_download("hearth/hearth-sft", "training_config.json", revision=f"run-{sft_id}")
        ).read_text()
    )
    assert config["release"] == f"hf://datasets/hearth/hearth-data@{release.hub_revision}"
    assert config["max_steps"] == 8


def test_a_gpu_worker_killed_mid_run_is_replaced_and_the_run_resumes_and_publishes_once(
    stack, api_maintainer, tmp_path
):
    log = tmp_path / "workers.log"
    with workers_on(*QUEUES) as workers:
        workers.append(start_worker("apps", ["default"], stack["web_env"], "web", log))
        # Redis gives the killed worker's task back after this many seconds.
        gpu_env = {**stack["gpu_env"], "CELERY_VISIBILITY_TIMEOUT": "10"}
        first = start_worker("worker.celery", ["gpu"], gpu_env, "gpu1", log)
        workers.append(first)
        run_id = _create(api_maintainer, stack, "sft", max_steps=150, **SFT)
        work = settings.HEARTH_MODELS_DIR / f".run-{run_id}.work" / "checkpoints"

        def past_a_checkpoint() -> TrainingRun | None:
            run = TrainingRun.objects.get(pk=run_id)
            done = work.is_dir() and any(
                p.name.startswith("step-") and "." not in p.name for p in work.iterdir()
            )
            return run if run.step >= 12 and done else None

        seen = wait_for(
            past_a_checkpoint, timeout=300, what="a checkpoint", workers=workers, log=log
        )
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=30)
        killed = TrainingRun.objects.get(pk=run_id)
        assert killed.state == RunState.RUNNING, "the run finished before the kill"
        assert seen.step < 150

        # Nothing trains on: the training process died with its worker.
        wait_for(
            lambda: not _processes_with(f".run-{run_id}.spec.json"),
            timeout=10,
            what="the training process to die with its worker",
            workers=[],
            log=log,
        )
        steps = [p.name for p in work.iterdir()]

        workers.append(start_worker("worker.celery", ["gpu"], gpu_env, "gpu2", log))
        run = wait_for(
            lambda: _final(run_id),
            timeout=400,
            what="the resumed run",
            workers=workers[-1:],
            log=log,
        )
    assert run.state == RunState.SUCCEEDED, f"{run.error}\n{run.logs_tail}\n{tail(log)}"
    assert run.attempt == 1, "redelivered, not sent again"
    assert run.resumed_from_step and f"step-{run.resumed_from_step:06d}" in steps
    assert run.step == 150 and [e["step"] for e in run.loss_history][-1] == 150
    server = stack["hub"]
    assert len(_model_commits(server, "hearth/hearth-sft", run_id)) == 1
    assert server.refs("model", "hearth/hearth-sft")["tags"][f"run-{run_id}"] == run.hub_revision
    assert not (settings.HEARTH_MODELS_DIR / f".run-{run_id}.work").exists()


def test_the_schedules_cut_one_release_and_queue_exactly_one_run_per_kind(settings, tmp_path):
    if connection.vendor != "postgresql" or not settings.REDIS_URL:
        missing("needs PostgreSQL and Redis (DATABASE_URL, REDIS_URL)")
    import redis
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    from apps.releases.models import Release

    world = corpus(12)  # 12 × (3 answers + 3 rankings) = 72 new items
    assert len(world.prompts) == 12
    every_2s, _ = IntervalSchedule.objects.get_or_create(every=2, period=IntervalSchedule.SECONDS)
    PeriodicTask.objects.filter(task="training.auto_release").update(
        enabled=True, interval=every_2s, kwargs=json.dumps({"min_new_items": 72, "test_share": 0.5})
    )
    PeriodicTask.objects.filter(task="training.auto_train").update(
        enabled=True,
        interval=every_2s,
        kwargs=json.dumps(
            {"kinds": ["sft", "reward"], "base_models": {"sft": "org/lm", "reward": "org/rm"}}
        ),
    )
    log = tmp_path / "beat.log"
    env = django_env(HUB_NAMESPACE="")
    with workers_on(*QUEUES) as workers:
        workers.append(start_worker("apps", ["default", "exports"], env, "beat", log, "--beat"))
        wait_for(
            lambda: TrainingRun.objects.count() >= 2,
            timeout=180,
            what="two runs",
            workers=workers,
            log=log,
        )

        # More ticks of both schedules: no new release (nothing new), no new runs.
        def ticks() -> int:
            return tail(log, 10**7).count("training.auto_train[")

        seen = ticks()
        wait_for(
            lambda: ticks() >= seen + 6, timeout=60, what="more ticks", workers=workers, log=log
        )
        queued = redis.Redis.from_url(settings.REDIS_URL).llen("gpu")
    (release,) = Release.objects.all()
    assert release.version == "v1" and release.state == ReleaseState.READY
    runs = TrainingRun.objects.order_by("kind")
    assert [(r.kind, r.release_id, r.origin, r.base_model, r.state) for r in runs] == [
        ("reward", release.pk, "schedule", "org/rm", RunState.QUEUED),
        ("sft", release.pk, "schedule", "org/lm", RunState.QUEUED),
    ]
    assert queued == 2, "each run was sent to the GPU queue once"
