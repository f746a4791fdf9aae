"""The ``worker.train_run`` task body end to end: a real training process, reports collected by
a list-keeping sender, publishing to the test Hub, cancelling, locking, dying with the parent."""

from __future__ import annotations

import fcntl
import itertools
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from tests.hubserver import HubServer
from worker import runs
from worker.hub import publish_folder
from worker.runs import Knobs, RunBusy, run_training

pytest_plugins = ["tests.hubserver.fixtures"]  # the `hub` fixture
REPO = Path(__file__).resolve().parents[2]
SITE = "https://hearth.example/releases/v3/"


def train_fields(release: str, model: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "release": release,
        "release_tag": "v3",
        "release_url": SITE,
        "base_model": str(model),
        "max_seq_len": 256,
        "micro_batch_size": 2,
        "max_steps": 12,
        "learning_rate": 3e-3,
        "eval_every": 6,
        "checkpoint_every": 4,
        "pipeline_steps": True,  # the GPU's loop, one step read behind (see test_sft)
    } | overrides


def run_spec(
    train: dict[str, Any],
    *,
    attempt: int = 1,
    publish: dict[str, str] | None = None,
    interval_s: float = 0.2,
    heartbeat_s: float = 30.0,
) -> dict[str, Any]:
    return {
        "run_id": 7,
        "attempt": attempt,
        "kind": "sft",
        "train": train,
        "output_name": "run-7",
        "publish": publish,
        "report": {
            "task": "training.report",
            "queue": "default",
            "interval_s": interval_s,
            "heartbeat_s": heartbeat_s,
        },
    }


class Outbox:
    """A sender with app.send_task's signature that keeps what it is given."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], str]] = []

    def __call__(self, task: str, *, args: tuple[Any, ...], queue: str) -> None:
        json.dumps(args)  # what Celery's JSON serializer will have to do
        self.calls.append((task, args, queue))

    @property
    def payloads(self) -> list[dict[str, Any]]:
        return [args[2] for _, args, _ in self.calls]


def knobs(tmp_path: Path, **overrides: Any) -> Knobs:
    values: dict[str, Any] = {
        "models": tmp_path / "models",
        "gpus": 1,
        "cancel_grace_s": 10.0,
        "poll_s": 0.1,
        "publish_backoff_s": 0.01,
    }
    return Knobs(**(values | overrides))


def never() -> bool:
    return False


def steps(payloads: list[dict[str, Any]], log: str = "train_log") -> list[int]:
    return [entry["step"] for p in payloads for entry in p[log]]


# ---------------------------------------------------------------------------------------------
# Training and reporting
# ---------------------------------------------------------------------------------------------


def test_a_run_trains_in_a_child_process_and_reports_every_step_once(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    outbox = Outbox()
    state = run_training(
        run_spec(train_fields(f"file://{release}", tiny_model)),
        send=outbox,
        is_aborted=never,
        knobs=knobs(tmp_path),
    )

    assert state == "succeeded"
    assert {(task, args[:2], queue) for task, args, queue in outbox.calls} == {
        ("training.report", (7, 1), "default")
    }
    first, *_, last = outbox.payloads
    assert first["state"] == "running" and first["phase"] == "load" and first["step"] is None
    assert [p["seq"] for p in outbox.payloads] == list(range(1, len(outbox.payloads) + 1))
    assert steps(outbox.payloads) == list(range(1, 13))
    assert steps(outbox.payloads, "eval_log") == [6, 12]
    entries = [e for p in outbox.payloads for e in p["train_log"]]
    assert all(set(e) == {"step", "loss", "lr", "tokens_per_s", "seconds"} for e in entries)
    assert all("eval_loss" in e for p in outbox.payloads for e in p["eval_log"])
    phases = [phase for phase, _ in itertools.groupby(p["phase"] for p in outbox.payloads)]
    assert phases == ["load", "train", "eval", "train", "eval", "save", "done"]
    assert all(p["state"] == "running" for p in outbox.payloads[:-1])
    assert all(p["host"] and p["sent_at"].endswith("+00:00") for p in outbox.payloads)

    assert last["state"] == "succeeded" and "error" not in last
    assert last["step"] == last["total"] == 12
    result = last["result"]
    output = tmp_path / "models" / "run-7"
    assert result["output_dir"] == str(output) and result["steps"] == 12
    assert result["resumed_from_step"] == 0 and result["hub_repo"] is None
    assert result["answers"] == [] and "answered" not in last  # no prompts were sent
    assert result["metrics"]["eval_loss"] > 0 and result["timings"]["train"] > 0
    files = {f["path"]: f["bytes"] for f in result["files"]}
    assert files["model.safetensors"] == (output / "model.safetensors").stat().st_size > 0
    assert {"README.md", "metrics.json", "training_config.json"} <= set(files)
    assert "train step 12/12" in last["logs_tail"]
    assert sorted(p.name for p in (tmp_path / "models").iterdir()) == [".run-7.lock", "run-7"]


def test_a_finished_run_sent_again_reports_the_same_result_without_training(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    spec = run_spec(train_fields(f"file://{release}", tiny_model, max_steps=4, eval_every=0))
    run_training(spec, send=Outbox(), is_aborted=never, knobs=knobs(tmp_path))
    again = Outbox()
    assert run_training(spec, send=again, is_aborted=never, knobs=knobs(tmp_path)) == "succeeded"
    assert steps(again.payloads) == []
    assert again.payloads[-1]["result"]["steps"] == 4
    # The same attempt again (a redelivery) continues its report sequence.
    assert again.payloads[0]["seq"] > 1


def test_a_run_sent_with_prompts_reports_the_models_answers_to_them(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    prompts = [
        {"id": 12, "instruction": "what colour is the car ?", "context": ""},
        {"id": 15, "instruction": "what colour is the lamp ?", "context": "the lamp is red ."},
    ]
    train = train_fields(f"file://{release}", tiny_model, max_steps=4, eval_every=0)
    spec = run_spec(train) | {"answer": {"prompts": prompts, "max_new_tokens": 8}}
    outbox = Outbox()
    state = run_training(spec, send=outbox, is_aborted=never, knobs=knobs(tmp_path))
    assert state == "succeeded"

    phases = [phase for phase, _ in itertools.groupby(p["phase"] for p in outbox.payloads)]
    assert phases[-3:] == ["save", "answer", "done"]
    first = next(i for i, p in enumerate(outbox.payloads) if p["phase"] == "answer")
    assert not any("answered" in p for p in outbox.payloads[:first])
    assert all(p["to_answer"] == 2 for p in outbox.payloads[first:])
    assert outbox.payloads[first]["answered"] == 0 and outbox.payloads[-1]["answered"] == 2
    result = outbox.payloads[-1]["result"]
    assert result["answers"] and {a["prompt_id"] for a in result["answers"]} <= {12, 15}
    assert all(isinstance(a["text"], str) and a["text"] for a in result["answers"])
    assert result["timings"]["answer"] > 0
    assert "answer 2/2 prompts" in outbox.payloads[-1]["logs_tail"]
    # Kept beside the model, not in the folder that is published.
    journal = (tmp_path / "models" / ".run-7.answers.jsonl").read_text().splitlines()
    assert len(journal) == 2
    assert not any("answers" in f["path"] for f in result["files"])
    # The child's spec carried the prompts; the model and its config know nothing of them.
    config = json.loads((tmp_path / "models" / "run-7" / "training_config.json").read_text())
    assert "answer" not in config


def test_a_bad_spec_is_reported_failed_without_starting_anything(tmp_path: Path) -> None:
    outbox = Outbox()
    spec = run_spec({"release": "file:///x", "base_model": "m", "warmup_ratio": 2})
    assert run_training(spec, send=outbox, is_aborted=never, knobs=knobs(tmp_path)) == "failed"
    (payload,) = outbox.payloads
    assert payload["state"] == "failed" and "warmup_ratio" in payload["error"]
    assert not (tmp_path / "models").exists()

    outbox = Outbox()
    spec = run_spec({"release": "file:///x", "base_model": "m"}) | {"answer": {"prompts": []}}
    assert run_training(spec, send=outbox, is_aborted=never, knobs=knobs(tmp_path)) == "failed"
    assert "bad answer section" in outbox.payloads[-1]["error"]

    for name in ("..", ".hidden", "a/b", ""):
        outbox = Outbox()
        spec = run_spec({"release": "file:///x", "base_model": "m"}) | {"output_name": name}
        run_training(spec, send=outbox, is_aborted=never, knobs=knobs(tmp_path))
        assert "output_name" in outbox.payloads[-1]["error"]


def test_a_training_error_is_reported_failed_with_the_reason_and_the_log(
    release: Path, tmp_path: Path
) -> None:
    outbox = Outbox()
    spec = run_spec(train_fields(f"file://{release}", tmp_path / "no-such-model"))
    assert run_training(spec, send=outbox, is_aborted=never, knobs=knobs(tmp_path)) == "failed"
    last = outbox.payloads[-1]
    assert last["state"] == "failed" and last["phase"] == "load"
    assert "no-such-model" in last["error"] and "Traceback" in last["logs_tail"]
    assert "result" not in last


# ---------------------------------------------------------------------------------------------
# Cancel, lock
# ---------------------------------------------------------------------------------------------


def test_a_cancelled_run_stops_removes_its_work_and_publishes_nothing(
    release: Path, tiny_model: Path, tmp_path: Path, hub: HubServer
) -> None:
    outbox = Outbox()

    def cancelled_once_training() -> bool:
        return bool(steps(outbox.payloads))

    spec = run_spec(
        train_fields(f"file://{release}", tiny_model, max_steps=5000, checkpoint_every=2),
        publish={"repo_id": "hearth/hearth-sft", "tag": "run-7", "commit_message": "Run 7"},
    )
    started = time.monotonic()
    state = run_training(
        spec, send=outbox, is_aborted=cancelled_once_training, knobs=knobs(tmp_path)
    )

    assert state == "cancelled"
    assert time.monotonic() - started < 60
    last = outbox.payloads[-1]
    assert last["state"] == "cancelled" and "result" not in last and "error" not in last
    assert last["step"] < 5000 and "stopped after step" in last["logs_tail"]
    assert [p.name for p in (tmp_path / "models").iterdir()] == [".run-7.lock"]
    assert hub.repos("model") == []


def test_a_run_cancelled_before_it_started_trains_nothing_and_removes_nothing(
    tmp_path: Path,
) -> None:
    # Checkpoints another attempt of the run may resume from (the web re-sends a run as a new
    # attempt after aborting the old one, which may still be delivered late).
    checkpoints = tmp_path / "models" / ".run-7.work" / "checkpoints"
    checkpoints.mkdir(parents=True)
    outbox = Outbox()
    spec = run_spec({"release": "file:///x", "base_model": "m"})
    assert run_training(spec, send=outbox, is_aborted=lambda: True, knobs=knobs(tmp_path)) == (
        "cancelled"
    )
    (payload,) = outbox.payloads
    assert payload["state"] == "cancelled" and payload["logs_tail"] == ""
    assert checkpoints.exists()


def test_a_run_cancelled_while_loading_stops_at_once(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    outbox = Outbox()
    spec = run_spec(train_fields(f"file://{release}", tiny_model, max_steps=5000))
    state = run_training(
        spec, send=outbox, is_aborted=lambda: bool(outbox.calls), knobs=knobs(tmp_path)
    )
    assert state == "cancelled" and steps(outbox.payloads) == []
    assert [p.name for p in (tmp_path / "models").iterdir()] == [".run-7.lock"]


def test_a_run_held_by_another_process_is_retried_later_and_not_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from celery.exceptions import Retry

    lock = tmp_path / "models" / ".run-7.lock"
    lock.parent.mkdir(parents=True)
    spec = run_spec({"release": "file:///x", "base_model": "m"})
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        outbox = Outbox()
        with pytest.raises(RunBusy):
            run_training(spec, send=outbox, is_aborted=never, knobs=knobs(tmp_path))
        assert outbox.calls == []

        # The task turns it into a retry in 30 s, forever. (An eager request: the retry is
        # raised to the caller instead of being sent to a broker.)
        monkeypatch.setenv("HEARTH_MODELS_DIR", str(tmp_path / "models"))
        runs.train_run.push_request(
            # A fresh id: the result backend (Redis in CI) may hold an abort for an old one.
            id=f"training-run-7-1-{uuid.uuid4().hex[:8]}",
            args=[spec],
            called_directly=False,
            is_eager=True,
        )
        try:
            with pytest.raises(Retry) as retry:
                runs.train_run.run(spec)
        finally:
            runs.train_run.pop_request()
        assert retry.value.when == 30 and isinstance(retry.value.exc, RunBusy)


def test_a_superseded_attempt_ends_at_once_even_while_the_newer_one_holds_the_run(
    tmp_path: Path,
) -> None:
    lock = tmp_path / "models" / ".run-7.lock"
    lock.parent.mkdir(parents=True)
    spec = run_spec({"release": "file:///x", "base_model": "m"})
    with open(lock, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX | fcntl.LOCK_NB)
        outbox = Outbox()
        state = run_training(spec, send=outbox, is_aborted=lambda: True, knobs=knobs(tmp_path))
    assert state == "cancelled"
    assert [p["state"] for p in outbox.payloads] == ["cancelled"]


def test_the_task_is_registered_as_the_contract_says() -> None:
    from celery.contrib.abortable import AbortableTask

    task = runs.app.tasks["worker.train_run"]
    assert isinstance(task, AbortableTask)
    assert task.acks_late and task.reject_on_worker_lost and task.ignore_result


# ---------------------------------------------------------------------------------------------
# Reports: throttle and heartbeat
# ---------------------------------------------------------------------------------------------


def test_reports_are_throttled_sent_at_once_on_a_new_phase_and_kept_alive() -> None:
    from worker.reports import Reporter, ReportRoute

    now = [0.0]
    outbox = Outbox()
    route = ReportRoute(7, 1, "training.report", "default", interval_s=2.0, heartbeat_s=30.0)
    reporter = Reporter(route, outbox, clock=lambda: now[0])

    def at(t: float) -> int:
        now[0] = t
        reporter.tick()
        return len(outbox.calls)

    reporter.flush()  # the first report, as soon as the task holds the run
    assert len(outbox.calls) == 1
    reporter.progress({"phase": "train", "step": 1, "total": 9, "loss": 2.0, "lr": 1e-3})
    assert len(outbox.calls) == 2  # a new phase goes at once
    reporter.progress({"phase": "train", "step": 2, "total": 9, "loss": 1.9, "lr": 1e-3})
    reporter.progress({"phase": "train", "step": 3, "total": 9, "loss": 1.8, "lr": 1e-3})
    assert at(1.0) == 2  # buffered
    assert at(2.5) == 3  # flushed after interval_s
    assert steps(outbox.payloads) == [1, 2, 3]
    assert at(4.0) == 3  # nothing new: nothing sent
    assert at(32.0) == 3
    assert at(32.6) == 4  # a heartbeat, heartbeat_s after the last report
    assert outbox.payloads[-1]["train_log"] == [] and outbox.payloads[-1]["step"] == 3
    reporter.progress({"phase": "eval", "step": 3, "total": 9, "metrics": {"eval_loss": 1.5}})
    assert len(outbox.calls) == 5 and outbox.payloads[-1]["eval_log"] == [
        {"step": 3, "eval_loss": 1.5}
    ]
    reporter.finish("failed", error="boom")
    assert outbox.payloads[-1] | {"sent_at": "", "host": ""} == {
        "seq": 6,
        "sent_at": "",
        "host": "",
        "state": "failed",
        "phase": "eval",
        "step": 3,
        "total": 9,
        "tokens_per_s": None,
        "train_log": [],
        "eval_log": [],
        "logs_tail": "",
        "error": "boom",
    }


def test_log_entries_of_an_undelivered_report_go_with_the_next_one() -> None:
    from worker.reports import Reporter, ReportRoute

    delivered = Outbox()
    down = [True]

    def send(task: str, *, args: tuple[Any, ...], queue: str) -> None:
        if down[0]:
            raise ConnectionError("broker unreachable")
        delivered(task, args=args, queue=queue)

    route = ReportRoute(7, 1, "training.report", "default", interval_s=0.0, heartbeat_s=30.0)
    reporter = Reporter(route, send)
    reporter.progress({"phase": "train", "step": 1, "total": 2, "loss": 2.0, "lr": 1e-3})
    down[0] = False
    reporter.progress({"phase": "train", "step": 2, "total": 2, "loss": 1.0, "lr": 1e-3})
    reporter.tick()
    assert steps(delivered.payloads) == [1, 2]


# ---------------------------------------------------------------------------------------------
# Publishing and lineage
# ---------------------------------------------------------------------------------------------


def test_a_published_run_is_one_commit_and_one_tag_however_often_it_is_sent(
    release: Path, tiny_model: Path, tmp_path: Path, hub: HubServer
) -> None:
    from transformers import AutoModelForCausalLM

    repo = "hearth/hearth-sft"
    publish = {"repo_id": repo, "tag": "run-7", "commit_message": "Hearth run 7 (sft) on v3"}
    train = train_fields(f"file://{release}", tiny_model, max_steps=4, eval_every=0)
    outbox = Outbox()
    state = run_training(
        run_spec(train, publish=publish), send=outbox, is_aborted=never, knobs=knobs(tmp_path)
    )

    assert state == "succeeded"
    phases = [phase for phase, _ in itertools.groupby(p["phase"] for p in outbox.payloads)]
    assert phases[-2:] == ["publish", "done"]
    result = outbox.payloads[-1]["result"]
    tag = hub.refs("model", repo)["tags"]["run-7"]
    assert result["hub_repo"] == repo and result["hub_revision"] == tag
    commits = hub.commits("model", repo)
    assert len(commits) == 2 and commits[0].id == tag  # the repo's initial commit, then ours
    assert commits[0].title == "Hearth run 7 (sft) on v3"
    assert commits[0].message.startswith("hearth-run: 7 ")

    again = Outbox()
    spec = run_spec(train, attempt=2, publish=publish)
    assert run_training(spec, send=again, is_aborted=never, knobs=knobs(tmp_path)) == "succeeded"
    assert again.payloads[-1]["result"]["hub_revision"] == tag
    assert len(hub.commits("model", repo)) == 2 and list(hub.refs("model", repo)["tags"]) == [
        "run-7"
    ]

    model = AutoModelForCausalLM.from_pretrained(repo, revision="run-7")
    assert model.config.num_hidden_layers == 2
    card = hub.read("model", repo, "README.md", "run-7").decode()
    assert "Hearth release | [v3](https://hearth.example/releases/v3/)" in card
    assert "datasets:" not in card and str(release) not in card  # no server path leaks


@pytest.mark.parametrize("on_main", [8, 6])
def test_a_run_published_after_a_later_runs_model_leaves_main_to_it(
    release: Path, tiny_model: Path, tmp_path: Path, hub: HubServer, on_main: int
) -> None:
    """Run 7 published after run 8's model (sent again after its publishing failed, or
    slower on another node) went on main over it. Now it goes on spec.publish.branch, tagged
    run-7, and main keeps run 8's; after run 6's it goes on main as usual."""
    from huggingface_hub import HfApi

    repo = "hearth/hearth-sft"
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo(repo)
    api.upload_file(
        path_or_fileobj=f"run {on_main}\n".encode(),
        path_in_repo="README.md",
        repo_id=repo,
        commit_description=f"hearth-run: {on_main} abc\nhearth-order: {on_main}",
    )
    main = hub.refs("model", repo)["branches"]["main"]
    publish = {
        "repo_id": repo,
        "tag": "run-7",
        "commit_message": "Hearth run 7 (sft) on v3",
        "branch": "model-run-7",
    }
    train = train_fields(f"file://{release}", tiny_model, max_steps=2, eval_every=0)
    outbox = Outbox()
    state = run_training(
        run_spec(train, publish=publish), send=outbox, is_aborted=never, knobs=knobs(tmp_path)
    )

    assert state == "succeeded", outbox.payloads[-1].get("error")
    refs = hub.refs("model", repo)
    assert outbox.payloads[-1]["result"]["hub_revision"] == refs["tags"]["run-7"]
    assert "model.safetensors" in hub.files("model", repo, "run-7")
    if on_main == 8:
        assert refs["branches"]["main"] == main
        assert refs["tags"]["run-7"] == refs["branches"]["model-run-7"] != main
        assert hub.read("model", repo, "README.md", "main") == b"run 8\n"
    else:
        assert refs["branches"]["main"] == refs["tags"]["run-7"] != main
        assert "model-run-7" not in refs["branches"]
        assert hub.commits("model", repo)[0].message.endswith("hearth-order: 7")


def test_a_run_tag_the_hub_holds_for_another_model_fails_the_run_and_is_left_alone(
    release: Path, tiny_model: Path, tmp_path: Path, hub: HubServer
) -> None:
    """A model repo with a run-7 tag on another commit (another deployment's run 7, or a
    database started afresh): the run reported succeeded with that commit as its model."""
    from huggingface_hub import HfApi

    repo = "hearth/hearth-sft"
    api = HfApi(endpoint=hub.url, token=hub.token)
    api.create_repo(repo)
    api.upload_file(path_or_fileobj=b"another model\n", path_in_repo="README.md", repo_id=repo)
    api.create_tag(repo, tag="run-7")
    foreign = hub.refs("model", repo)["tags"]["run-7"]
    publish = {"repo_id": repo, "tag": "run-7", "commit_message": "Hearth run 7 (sft) on v3"}
    train = train_fields(f"file://{release}", tiny_model, max_steps=2, eval_every=0)
    outbox = Outbox()
    state = run_training(
        run_spec(train, publish=publish), send=outbox, is_aborted=never, knobs=knobs(tmp_path)
    )

    assert state == "failed"
    assert f"already has the tag run-7 on commit {foreign}" in outbox.payloads[-1]["error"]
    assert hub.refs("model", repo)["tags"]["run-7"] == foreign
    assert len(hub.commits("model", repo)) == 2


def test_publishing_retries_network_errors_then_fails_with_the_reason(
    release: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import socket

    with socket.socket() as closed:  # a port nothing listens on
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    monkeypatch.setenv("HF_ENDPOINT", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("HF_TOKEN", "hf_test")
    publish = {"repo_id": "hearth/hearth-sft", "tag": "run-7", "commit_message": "Run 7"}
    train = train_fields(f"file://{release}", tiny_model, max_steps=2, eval_every=0)
    outbox = Outbox()
    state = run_training(
        run_spec(train, publish=publish), send=outbox, is_aborted=never, knobs=knobs(tmp_path)
    )

    assert state == "failed"
    last = outbox.payloads[-1]
    assert last["phase"] == "publish" and "publishing to hearth/hearth-sft failed" in last["error"]
    assert last["logs_tail"].count("trying again") == runs.PUBLISH_TRIES - 1
    assert "hf_test" not in json.dumps(outbox.payloads)
    assert (tmp_path / "models" / "run-7" / "model.safetensors").exists()  # for the re-send


def test_without_a_token_publishing_fails_clearly(
    release: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("HF_TOKEN", raising=False)
    publish = {"repo_id": "hearth/hearth-sft", "tag": "run-7", "commit_message": "Run 7"}
    train = train_fields(f"file://{release}", tiny_model, max_steps=2, eval_every=0)
    outbox = Outbox()
    run_training(
        run_spec(train, publish=publish), send=outbox, is_aborted=never, knobs=knobs(tmp_path)
    )
    assert "HF_TOKEN is not set" in outbox.payloads[-1]["error"]


def test_a_model_trained_on_a_published_release_names_its_exact_revision(
    release: Path, tiny_model: Path, tmp_path: Path, hub: HubServer
) -> None:
    from worker.data import read_rows

    sha = publish_folder(
        release,
        repo_id="hearth/hearth-data",
        repo_type="dataset",
        tag="v3",
        marker="content-sha256: test",
        commit_message="Hearth release v3",
    )
    location = f"hf://datasets/hearth/hearth-data@{sha}"
    assert len(read_rows(location, "sft", "train")) == 160
    train = train_fields(location, tiny_model, release_revision=sha, max_steps=2, eval_every=0)
    outbox = Outbox()
    assert run_training(run_spec(train), send=outbox, is_aborted=never, knobs=knobs(tmp_path)) == (
        "succeeded"
    )

    card = (tmp_path / "models" / "run-7" / "README.md").read_text()
    assert 'datasets:\n- "hearth/hearth-data"' in card
    assert f'revision: "{sha}"' in card and card.count(sha) >= 3
    assert f"`{tiny_model.name}` (a local model)" in card
    assert "| Hearth release | [v3](https://hearth.example/releases/v3/) |" in card
    assert "| dataset repo | `hearth/hearth-data` |" in card
    assert "| learning_rate | `0.003` |" in card and "type: perplexity" in card


# ---------------------------------------------------------------------------------------------
# The training process dies with its parent
# ---------------------------------------------------------------------------------------------


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        children.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    found: set[int] = set()
    todo = [pid]
    while todo:
        for child in children.get(todo.pop(), []):
            found.add(child)
            todo.append(child)
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return False
    return state != "Z"


def _kill_parent_mid_run(
    release: Path, model: Path, tmp_path: Path, gpus: int, expected_processes: int
) -> None:
    spec_file = tmp_path / "spec.json"
    train = train_fields(f"file://{release}", model, max_steps=100_000, checkpoint_every=1000)
    spec_file.write_text(json.dumps(run_spec(train)))
    harness = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.worker.run_harness",
            str(spec_file),
            str(tmp_path / "models"),
            str(gpus),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    family: set[int] = set()
    try:
        assert harness.stdout is not None
        for line in harness.stdout:
            if json.loads(line)["args"][2]["train_log"]:
                break
        family = _descendants(harness.pid)
        assert len(family) >= expected_processes, family
        harness.send_signal(signal.SIGKILL)
        assert harness.wait() == -signal.SIGKILL
        deadline = time.monotonic() + 20
        while any(_alive(pid) for pid in family) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not [pid for pid in family if _alive(pid)]
    finally:
        harness.kill()
        for pid in family:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)


def test_the_training_process_dies_with_a_killed_worker(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    _kill_parent_mid_run(release, tiny_model, tmp_path, gpus=1, expected_processes=1)


@pytest.mark.slow(seconds=15)
def test_torchrun_and_its_ranks_die_with_a_killed_worker(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    _kill_parent_mid_run(release, tiny_model, tmp_path, gpus=2, expected_processes=3)


@pytest.mark.slow
def test_a_run_on_two_processes_reports_like_one(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    outbox = Outbox()
    state = run_training(
        run_spec(train_fields(f"file://{release}", tiny_model, max_steps=6, eval_every=3)),
        send=outbox,
        is_aborted=never,
        knobs=knobs(tmp_path, gpus=2),
    )
    assert state == "succeeded", outbox.payloads[-1].get("error")
    assert steps(outbox.payloads) == list(range(1, 7))
    assert steps(outbox.payloads, "eval_log") == [3, 6]
    assert outbox.payloads[-1]["result"]["steps"] == 6
