"""Two processes under torchrun (gloo, CPU) train like one process with twice the
accumulation: same tokens per step, same losses, one output folder."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.worker.helpers import read_json
from tests.worker.test_reward import reward_spec
from tests.worker.test_sft import sft_spec
from worker import jobs

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.slow(seconds=14)
@pytest.mark.parametrize(
    ("kind", "param_dtype", "tolerance"),
    # bf16 weights: DDP sums the two processes' bf16 gradients where one process adds its two
    # micro-batches' in bf16, in another order; the losses agree to bf16's precision.
    [("sft", "fp32", 1e-4), ("reward", "fp32", 1e-4), ("sft", "bf16", 1e-2)],
)
def test_two_processes_match_one_process_with_twice_the_accumulation(
    kind: str, param_dtype: str, tolerance: float, release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    make_spec = sft_spec if kind == "sft" else reward_spec
    common = {
        "max_steps": 6,
        "eval_every": 3,
        "checkpoint_every": 2,
        "param_dtype": param_dtype,
    }
    single = make_spec(release, tiny_model, tmp_path / "single", grad_accum_steps=2, **common)
    double = make_spec(release, tiny_model, tmp_path / "double", grad_accum_steps=1, **common)
    spec_file = tmp_path / "spec.json"
    spec_file.write_text(json.dumps(double))

    launched = subprocess.run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc-per-node=2",
            "-m",
            "worker.jobs",
            kind,
            str(spec_file),
        ],
        cwd=REPO,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert launched.returncode == 0, launched.stderr[-3000:]
    result = json.loads(launched.stdout.strip().splitlines()[-1])["result"]
    reference = jobs.RUNNERS[kind](single)

    distributed = read_json(tmp_path / "double" / "metrics.json")
    assert distributed["world_size"] == 2 and result["steps"] == reference["steps"] == 6
    alone = read_json(tmp_path / "single" / "metrics.json")
    for two, one in zip(distributed["train_log"], alone["train_log"], strict=True):
        assert two["loss"] == pytest.approx(one["loss"], abs=tolerance), two["step"]
    for key, value in reference["metrics"].items():
        assert result["metrics"][key] == pytest.approx(value, rel=tolerance, abs=tolerance), key
