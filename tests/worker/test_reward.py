"""Reward-model training end to end, and the ranking metrics it reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForSequenceClassification, AutoTokenizer

from tests.worker.helpers import BAD, GOOD, read_json
from worker import jobs
from worker.evaluate import kendall_tau, ranking_metrics


def reward_spec(release: Path, model: Path, output: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "reward",
        "release": f"file://{release}",
        "release_revision": "v1",
        "base_model": str(model),
        "output_dir": str(output),
        "config_name": "preferences",
        "micro_batch_tokens": 256,
        "grad_accum_steps": 2,
        "num_epochs": 3,
        "learning_rate": 2e-3,
        "checkpoint_every": 100,
        "pipeline_steps": True,  # the GPU's loop, one step read behind (see test_sft)
    } | overrides


def test_the_reward_model_learns_to_rank_the_test_split(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    output = tmp_path / "rm"
    result = jobs.run_reward(reward_spec(release, tiny_model, output))

    assert result["metrics"]["eval_pairwise_accuracy"] > 0.9
    assert result["metrics"]["eval_kendall_tau"] > 0.8
    metrics = read_json(output / "metrics.json")
    assert metrics["shared_prompt"] is True
    assert metrics["train_log"][-1]["loss"] < metrics["train_log"][0]["loss"]

    # The saved classifier scores with transformers' own pooling as it did in training.
    model = AutoModelForSequenceClassification.from_pretrained(output).eval()
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert model.config.num_labels == 1 and model.config.pad_token_id == tokenizer.pad_token_id
    texts = [f"the apple is red {GOOD} {GOOD} {GOOD}", f"the apple is red {BAD} {BAD}"]
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        good, bad = model(**batch).logits[:, 0].tolist()
    assert good > bad
    card = (output / "README.md").read_text()
    assert "type: accuracy" in card and "config: preferences" in card


def test_on_a_cpu_each_group_is_its_own_pass_and_trains_as_whole_micro_batches(
    release: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Uncompiled on a CPU, each prompt's group goes through the model on its own (less
    memory); the losses step by step and the evaluation are those of whole micro-batches."""
    from types import SimpleNamespace

    from worker import reward

    config: Any = SimpleNamespace(compile=None)
    cpu: Any = SimpleNamespace(device=torch.device("cpu"))
    cuda: Any = SimpleNamespace(device=torch.device("cuda"))
    assert reward.passes_of([3, 1, 2], config, cpu) == [[3], [1], [2]]
    assert reward.passes_of([3, 1, 2], config, cuda) == [[3, 1, 2]]
    config.compile = True
    assert reward.passes_of([3, 1, 2], config, cpu) == [[3, 1, 2]]

    passes: list[int] = []
    real = reward.passes_of

    def counted(micro_batch: list[int], config: Any, runtime: Any) -> list[list[int]]:
        parts = real(micro_batch, config, runtime)
        passes.append(len(parts))
        return parts

    monkeypatch.setattr(reward, "passes_of", counted)
    logs = []
    for name in ("by-group", "whole"):
        if name == "whole":
            monkeypatch.setattr(reward, "passes_of", lambda micro_batch, *args: [micro_batch])
        spec = reward_spec(release, tiny_model, tmp_path / name, max_steps=4, num_epochs=1)
        result = jobs.run_reward(spec)
        logs.append((read_json(tmp_path / name / "metrics.json")["train_log"], result["metrics"]))
    assert max(passes) > 1  # micro-batches of several groups were split
    (by_group, by_group_metrics), (whole, whole_metrics) = logs
    assert [e["step"] for e in by_group] == [e["step"] for e in whole] == [1, 2, 3, 4]
    for a, b in zip(by_group, whole, strict=True):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
    for key in ("eval_loss", "eval_pairwise_accuracy", "eval_kendall_tau"):
        assert by_group_metrics[key] == pytest.approx(whole_metrics[key], rel=1e-4, abs=1e-6)


def test_it_trains_from_individual_rankings(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    spec = reward_spec(
        release,
        tiny_model,
        tmp_path / "rm",
        config_name="rankings",
        num_epochs=1,
        max_steps=3,
        share_prompt=False,
    )
    result = jobs.run_reward(spec)
    assert result["steps"] == 3 and 0 <= result["metrics"]["eval_pairwise_accuracy"] <= 1


def test_kendall_tau_and_pairwise_accuracy() -> None:
    assert kendall_tau([3.0, 2.0, 1.0], [1, 2, 3]) == 1.0
    assert kendall_tau([1.0, 2.0, 3.0], [1, 2, 3]) == -1.0
    assert kendall_tau([1.0, 1.0], [1, 2]) == 0.0
    metrics = ranking_metrics([([3.0, 2.0, 1.0], [1, 2, 3]), ([0.0, 1.0], [1, 2])])
    assert metrics["eval_pairwise_accuracy"] == pytest.approx(3 / 4)
    assert metrics["eval_kendall_tau"] == pytest.approx(0.0)


def test_a_lora_reward_model_trains_its_head_and_merges(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    output = tmp_path / "rm-lora"
    spec = reward_spec(
        release,
        tiny_model,
        output,
        method="lora",
        lora_r=4,
        max_steps=2,
        num_epochs=1,
        learning_rate=1e-2,
    )
    jobs.run_reward(spec)
    model = AutoModelForSequenceClassification.from_pretrained(output)
    assert not (output / "adapter_config.json").exists()
    assert torch.isfinite(model.score.weight).all()
