"""The config dataclasses: torch-free for the web process, still importable from their old
homes, and strict about what they are given."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from worker.config import RewardConfig, SFTConfig

REPO = Path(__file__).resolve().parents[2]
BASE = {"release": "file:///x", "base_model": "m", "output_dir": "x"}


def test_the_web_process_can_validate_configs_without_torch() -> None:
    code = (
        "import sys\n"
        "from worker.config import SFTConfig, RewardConfig\n"
        "SFTConfig.from_spec({'release': 'file:///x', 'base_model': 'm', 'output_dir': 'x'})\n"
        "heavy = {'torch', 'transformers', 'huggingface_hub'} & set(sys.modules)\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], cwd=REPO, check=True)


def test_the_classes_are_the_same_from_their_old_homes() -> None:
    from worker import data, reward, runtime, sft
    from worker.config import PromptFormat, TrainConfig

    assert sft.SFTConfig is SFTConfig and reward.RewardConfig is RewardConfig
    assert runtime.TrainConfig is TrainConfig and data.PromptFormat is PromptFormat


def test_bad_hyperparameters_are_refused() -> None:
    with pytest.raises(ValueError, match="unknown SFTConfig keys: \\['nope'\\]"):
        SFTConfig.from_spec({**BASE, "nope": 1})
    with pytest.raises(ValueError, match="max_steps"):
        SFTConfig.from_spec({**BASE, "max_steps": 0})
    with pytest.raises(ValueError, match="activation_memory_budget"):
        SFTConfig.from_spec({**BASE, "activation_memory_budget": 1.5})
    with pytest.raises(ValueError, match="loss_chunk_tokens"):
        SFTConfig.from_spec({**BASE, "loss_chunk_tokens": -1})
    with pytest.raises(ValueError, match="compile_mode"):
        SFTConfig.from_spec({**BASE, "compile_mode": "max-autotune"})
    with pytest.raises(ValueError, match="preferences"):
        RewardConfig.from_spec({**BASE, "config_name": "sft"})


def test_release_labels_do_not_change_the_fingerprint() -> None:
    plain = SFTConfig.from_spec(BASE)
    labelled = SFTConfig.from_spec(
        {**BASE, "output_dir": "y", "release_tag": "v3", "release_url": "https://site/r/v3/"}
    )
    assert plain.fingerprint() == labelled.fingerprint()
    assert plain.fingerprint() != SFTConfig.from_spec({**BASE, "learning_rate": 1.0}).fingerprint()


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"learning_rate": -1}, "learning_rate must be greater than 0 and at most 1 (got -1)"),
        ({"learning_rate": 0}, "learning_rate must be greater than 0"),
        ({"learning_rate": float("inf")}, "learning_rate must be a finite number"),
        ({"learning_rate": 10**400}, "learning_rate must be a finite number"),
        ({"learning_rate": "fast"}, "learning_rate must be a finite number (got 'fast')"),
        ({"learning_rate": True}, "learning_rate must be a finite number (got True)"),
        # A lost minus sign, or a number past float32 that only the GPU would have refused.
        (
            {"learning_rate": 2e5},
            "learning_rate must be greater than 0 and at most 1 (got 200000.0)",
        ),
        (
            {"learning_rate": 1e308},
            "learning_rate must be greater than 0 and at most 1 (got 1e+308)",
        ),
        ({"weight_decay": 11}, "weight_decay must be at least 0 and at most 10"),
        ({"adam_eps": 2}, "adam_eps must be greater than 0 and at most 1"),
        ({"max_grad_norm": 1e39}, "max_grad_norm must be greater than 0 and at most 1,000,000"),
        ({"weight_decay": -0.1}, "weight_decay must be at least 0"),
        ({"adam_beta1": 1.0}, "adam_beta1 must be at least 0 and below 1"),
        ({"adam_beta2": -0.5}, "adam_beta2 must be at least 0 and below 1"),
        ({"adam_eps": 0}, "adam_eps must be greater than 0"),
        ({"max_grad_norm": 0.0}, "max_grad_norm must be greater than 0"),
        ({"lora_r": 0}, "lora_r must be at least 1"),
        ({"lora_alpha": 0}, "lora_alpha must be at least 1"),
        ({"lora_alpha": 16.5}, "lora_alpha must be a whole number, at least 1 and at most"),
        ({"lora_dropout": 1}, "lora_dropout must be at least 0 and below 1"),
        ({"warmup_ratio": 1}, "warmup_ratio must be at least 0 and below 1"),
        ({"min_lr_ratio": 1.5}, "min_lr_ratio must be at least 0 and at most 1"),
        (
            {"max_steps": 99999999999999999999999},
            "max_steps must be at least 1 and at most 10,000,000",
        ),
        ({"max_steps": True}, "max_steps must be a whole number or null (got True)"),
        # A fraction is told the range, not "a whole number or null".
        (
            {"max_steps": 2.5},
            "max_steps must be a whole number, at least 1 and at most 10,000,000 (got 2.5)",
        ),
        ({"num_epochs": 10_001}, "num_epochs must be at least 1 and at most 10,000"),
        ({"eval_every": -1}, "eval_every must be at least 0"),
        ({"checkpoint_every": 10**7 + 1}, "checkpoint_every must be at least 1 and at most"),
        ({"log_every": 0}, "log_every must be at least 1"),
        ({"grad_accum_steps": "2"}, "grad_accum_steps must be a whole number (got '2')"),
        ({"seed": -1}, "seed must be at least 0"),
        ({"max_seq_len": 2**31}, "max_seq_len must be at least 8 and at most 1,000,000"),
        ({"micro_batch_size": 0}, "micro_batch_size must be at least 1"),
        ({"method": "bogus"}, "method must be one of 'full', 'lora' (got 'bogus')"),
        ({"merge_lora": "yes"}, "merge_lora must be true or false"),
        ({"lora_target_modules": [1]}, "lora_target_modules must be a list of text or text"),
    ],
)
def test_each_knob_is_held_to_its_type_and_range(extra, message) -> None:
    with pytest.raises(ValueError) as caught:
        SFTConfig.from_spec({**BASE, **extra})
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ({"max_prompt_len": 0}, "max_prompt_len must be at least 1"),
        ({"max_response_len": 10**6 + 1}, "max_response_len must be at least 1 and at most"),
        ({"micro_batch_tokens": 10**20}, "micro_batch_tokens must be at least 1 and at most"),
        ({"margin_scale": -1}, "margin_scale must be at least 0"),
        ({"margin_scale": 101}, "margin_scale must be at least 0 and at most 100"),
        ({"score_l2": 1e300}, "score_l2 must be at least 0 and at most 100"),
        ({"score_l2": float("nan")}, "score_l2 must be a finite number"),
        ({"min_margin": 1}, "min_margin must be at least -1 and below 1"),
        ({"min_margin": -1.5}, "min_margin must be at least -1 and below 1"),
    ],
)
def test_reward_knobs_are_held_to_their_ranges(extra, message) -> None:
    with pytest.raises(ValueError) as caught:
        RewardConfig.from_spec({**BASE, **extra})
    assert message in str(caught.value)


def test_values_at_the_edges_of_their_ranges_are_accepted() -> None:
    edges = {
        "learning_rate": 1,
        "weight_decay": 0,
        "adam_beta1": 0,
        "adam_beta2": 0.999,
        "lora_dropout": 0,
        "min_lr_ratio": 1,
        "max_steps": 10**7,
        "eval_every": 0,
        "seed": 2**32 - 1,
        "max_seq_len": 8,
        "lora_target_modules": ["q_proj", "v_proj"],
        "compile": None,
    }
    assert SFTConfig.from_spec({**BASE, **edges}).max_steps == 10**7
    assert RewardConfig.from_spec({**BASE, "margin_scale": 0, "score_l2": 0}).score_l2 == 0
    assert RewardConfig.from_spec({**BASE, "min_margin": -1}).min_margin == -1
    # By default a pair needs a majority of its rankers.
    assert RewardConfig.from_spec(BASE).min_margin == 0.5


def test_a_base_model_may_name_a_gguf_file() -> None:
    def files(**spec: str) -> tuple[str, str | None]:
        return SFTConfig.from_spec({**BASE, **spec}).base_model_files()

    assert files(base_model="/models/smol/smol.Q4_1.gguf") == ("/models/smol", "smol.Q4_1.gguf")
    assert files(base_model="smol.gguf") == (".", "smol.gguf")
    assert files(base_model="HuggingFaceTB/SmolLM2-135M") == ("HuggingFaceTB/SmolLM2-135M", None)
    assert files(base_model="/models/smol", base_model_gguf_file="a.gguf") == (
        "/models/smol",
        "a.gguf",
    )
