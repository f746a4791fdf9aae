"""A run killed with SIGKILL and started again with the same spec resumes from its last
checkpoint and reproduces the uninterrupted run, loss for loss."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.worker.helpers import read_json
from tests.worker.test_reward import reward_spec
from tests.worker.test_sft import sft_spec
from worker import jobs
from worker.runtime import RunPaths, list_checkpoints

REPO = Path(__file__).resolve().parents[2]
# Same machine, same thread count, same data order: the resumed run is bit-identical here;
# the tolerance leaves room for kernels that are not deterministic on other hardware.
TOLERANCE = 1e-6


def kill_after_first_checkpoint(kind: str, spec: dict[str, Any], tmp_path: Path) -> None:
    spec_file = tmp_path / f"{kind}.json"
    spec_file.write_text(json.dumps(spec))
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.worker.train_slowly", kind, str(spec_file), "0.3"],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    paths = RunPaths(spec["output_dir"])
    deadline = time.monotonic() + 300
    while not list_checkpoints(paths):
        assert process.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline, "no checkpoint within 5 minutes"
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    assert process.wait() == -signal.SIGKILL
    assert not paths.output.exists()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("kind", "param_dtype"),
    # bf16 weights: the checkpoint must carry the fp32 masters, or the resumed run starts
    # from weights rounded to bf16 and drifts from the uninterrupted one.
    [("sft", "fp32"), ("reward", "fp32"), ("sft", "bf16")],
)
def test_a_killed_run_resumes_and_matches_the_uninterrupted_one(
    kind: str, param_dtype: str, release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    make_spec = sft_spec if kind == "sft" else reward_spec
    extra = {"max_steps": 24, "eval_every": 0, "checkpoint_every": 8, "param_dtype": param_dtype}
    straight = make_spec(release, tiny_model, tmp_path / "straight", **extra)
    interrupted = make_spec(release, tiny_model, tmp_path / "interrupted", **extra)

    kill_after_first_checkpoint(kind, interrupted, tmp_path)
    resumed = jobs.RUNNERS[kind](interrupted)
    reference = jobs.RUNNERS[kind](straight)

    assert resumed["resumed_from_step"] in (8, 16)
    assert reference["resumed_from_step"] == 0
    resumed_log = read_json(tmp_path / "interrupted" / "metrics.json")["train_log"]
    reference_log = read_json(tmp_path / "straight" / "metrics.json")["train_log"]
    assert [e["step"] for e in resumed_log] == list(range(1, 25))
    for mine, theirs in zip(resumed_log, reference_log, strict=True):
        assert mine["loss"] == pytest.approx(theirs["loss"], abs=TOLERANCE), mine["step"]
    for key, value in reference["metrics"].items():
        assert resumed["metrics"][key] == pytest.approx(value, abs=TOLERANCE), key


def test_a_checkpoint_from_another_config_is_refused(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    output = tmp_path / "run"
    spec = sft_spec(
        release,
        tiny_model,
        output,
        max_steps=4,
        checkpoint_every=2,
        eval_every=0,
        keep_work_dir=True,
    )
    paths = RunPaths(output)
    # Leave a checkpoint behind as a dead worker would: train, then drop the finished output.
    jobs.run_sft(spec)
    import shutil

    shutil.rmtree(output)
    assert list_checkpoints(paths)
    with pytest.raises(RuntimeError, match="another config"):
        jobs.run_sft(spec | {"learning_rate": 1e-4})
