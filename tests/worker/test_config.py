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
        SFTConfig.from_spec({**BASE, "compile_mode": "reduce-overhead"})
    with pytest.raises(ValueError, match="preferences"):
        RewardConfig.from_spec({**BASE, "config_name": "sft"})


def test_release_labels_do_not_change_the_fingerprint() -> None:
    plain = SFTConfig.from_spec(BASE)
    labelled = SFTConfig.from_spec(
        {**BASE, "output_dir": "y", "release_tag": "v3", "release_url": "https://site/r/v3/"}
    )
    assert plain.fingerprint() == labelled.fingerprint()
    assert plain.fingerprint() != SFTConfig.from_spec({**BASE, "learning_rate": 1.0}).fingerprint()
