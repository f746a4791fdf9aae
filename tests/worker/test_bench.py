"""The training benchmark runs end to end at its small CPU size (needs the bench extra)."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
import torch

from tests.missing import missing
from worker import bench


@pytest.mark.slow(seconds=25)
def test_the_small_bench_compares_all_four_trainers(tmp_path: Path) -> None:
    if importlib.util.find_spec("trl") is None:
        missing("TRL is not installed (pip install -e '.[bench]')")
    out = tmp_path / "bench.json"
    assert bench.main(["--small", "--steps", "3", "--warmup", "1", "--json", str(out)]) == 0
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["results"]] == list(bench.RUNS)
    assert set(data["ratios"]) == {"sft_tokens_per_s", "reward_pairs_per_s", "reward_tokens_per_s"}
    for result in data["results"]:
        assert result["tokens_per_s"] > 0 and result["steps"] == 3
        # Both SFT models are scored on the same held-out examples; reward models are not.
        assert (result["held_out_loss"] is not None) == result["name"].endswith("-sft")
    compared = data["held_out_vs_trl"]["hearth-sft"]
    assert compared["two_standard_errors"] > 0
    assert abs(compared["difference"]) < 1  # three steps from one random init


@pytest.mark.slow(seconds=25)
def test_the_extra_runs_are_reported_under_their_own_names(
    tmp_path: Path, varlen_on_cpu: None
) -> None:
    """Every extra run trains (the varlen ones on the tests' CPU kernels, see varlen_cpu)."""
    if importlib.util.find_spec("trl") is None:
        missing("TRL is not installed (pip install -e '.[bench]')")
    out = tmp_path / "bench.json"
    runs = ",".join(bench.EXTRA_RUNS)
    assert (
        bench.main(["--small", "--steps", "2", "--warmup", "1", "--only", runs, "--json", str(out)])
        == 0
    )
    data = json.loads(out.read_text())
    assert [r["name"] for r in data["results"]] == list(bench.EXTRA_RUNS)
    assert data["failed"] == {}
    for result in data["results"]:
        assert result["tokens_per_s"] > 0 and result["steps"] == 2


@pytest.mark.slow
def test_the_profiled_steps_fall_within_the_warm_up(tmp_path: Path) -> None:
    """The profiled steps, and the one timed across the profile's summary, are steps the
    rates leave out (a GPU run once counted a summary of several seconds as step time)."""
    log = tmp_path / "steps.jsonl"
    assert (
        bench.main(
            [
                *("--small", "--steps", "9", "--warmup", "5", "--only", "hearth-sft"),
                *("--steps-log", str(log), "--profile", str(tmp_path)),
            ]
        )
        == 0
    )
    rows = [json.loads(line) for line in log.read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 10))
    # Profiled: 2 and 3; 4 waited for the summary (on a GPU it records allocations, and 5
    # then waits for their dump).
    assert [r["step"] for r in rows if r["profiled"]] == [2, 3, 4]
    assert (tmp_path / "profile-hearth-sft.txt").read_text().startswith("hearth-sft: profiled")


def test_every_hearth_sft_run_is_compared_with_trl_and_shows_its_training_peak(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import torch

    def result(name: str, tokens_per_s: float, train_peak: float | None) -> bench.RunResult:
        return bench.RunResult(name, tokens_per_s, None, 7.5, 0.1, 8.2, 200, 8192.0, train_peak)

    results = [
        result("trl-sft", 20_000.0, 6.5),
        result("hearth-sft", 90_000.0, 12.25),
        result("hearth-sft-cudagraphs-minmem", 110_000.0, None),
        result("hearth-sft-varlen", 100_000.0, None),
        result("hearth-sft-cudagraphs-varlen", 120_000.0, None),
    ]
    run_log = bench.StepLog(None, None, 0)
    data = bench.report(
        results,
        bench.Bench(
            *(Path("."), Path("."), Path("."), None, bench.SMALL_WORKLOAD),
            *(torch.device("cpu"), 1e12, 1, 1, run_log),
        ),
    )
    assert data["ratios"] == {
        "sft_tokens_per_s": pytest.approx(4.5),
        "sft_cudagraphs_minmem_tokens_per_s": pytest.approx(5.5),
        "sft_varlen_tokens_per_s": pytest.approx(5.0),
        "sft_cudagraphs_varlen_tokens_per_s": pytest.approx(6.0),
    }
    table = capsys.readouterr().out
    assert "hearth/trl sft_cudagraphs_minmem_tokens_per_s: 5.50x" in table
    assert "hearth/trl sft_cudagraphs_varlen_tokens_per_s: 6.00x" in table
    hearth_row = next(line for line in table.splitlines() if line.startswith("hearth-sft "))
    assert hearth_row.split()[4:6] == ["7.50", "12.25"]  # peak GiB, train GiB


def test_the_held_out_difference_is_paired_example_by_example() -> None:
    losses = {
        "trl-sft": [1.0, 2.0, 3.0, 4.0],
        "hearth-sft": [1.5, 2.5, 3.5, 4.1],
        "hearth-reward": [0.0, 0.0, 0.0, 0.0],  # not an SFT run: left out
    }
    (name, (difference, spread)), *others = bench.held_out_differences(losses).items()
    assert name == "hearth-sft" and others == []
    # Differences 0.5, 0.5, 0.5, 0.1: mean 0.4, sample deviation 0.2, standard error 0.1.
    assert difference == pytest.approx(0.4)
    assert spread == pytest.approx(0.2)


def test_held_out_losses_are_each_examples_mean_loss_on_its_response(tiny_model: Path) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from tests.worker import helpers
    from worker.data import tokenize_sft

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = [tokenize_sft(tokenizer, row, max_seq_len=128) for row in helpers.sft_rows(3, 5)]
    scorer = bench.Bench(
        workdir=tiny_model,
        model_dir=tiny_model,
        release=tiny_model,
        tokenizer=tokenizer,
        workload=bench.SMALL_WORKLOAD,
        device=torch.device("cpu"),
        peak_flops=1.0,
        n_params=1,
        reward_micro_tokens=1,
        steps=bench.StepLog(None, None, 0),
        held_out=examples,
    )
    model = AutoModelForCausalLM.from_pretrained(tiny_model)
    mean = scorer.held_out_losses("run", model)

    expected = []
    for example in examples:
        assert example is not None
        ids = torch.tensor([example.input_ids])
        labels = ids.clone()
        labels[0, : example.n_prompt] = -100  # transformers shifts labels itself
        with torch.no_grad():
            expected.append(float(model(input_ids=ids, labels=labels).loss))
    assert scorer.example_losses["run"] == pytest.approx(expected, rel=1e-5)
    assert mean == pytest.approx(sum(expected) / 3, rel=1e-5)
