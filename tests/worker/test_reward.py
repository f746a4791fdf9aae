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
