"""Fixtures for the GPU-node code: a tiny model and a tiny release, built once per session."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests import gguf_cache
from tests.worker import helpers

# Never reach the Hub from tests; keep CPU threads predictable on a small shared machine.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
# One thread: on a small, busy machine OpenMP threads fighting for cores make tiny models
# tens of times slower. Subprocesses inherit this.
os.environ.setdefault("OMP_NUM_THREADS", "1")


def pytest_configure(config: pytest.Config) -> None:
    gguf_cache.configure(config)


def pytest_unconfigure(config: pytest.Config) -> None:
    gguf_cache.unconfigure(config)


@pytest.fixture(scope="session", autouse=True)
def _threads() -> None:
    import torch

    torch.set_num_threads(1)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A random-init Llama-style causal LM folder (weights, config, tokenizer)."""
    return helpers.build_tiny_llama(tmp_path_factory.mktemp("tiny-llama"))


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A release folder with sft, preferences and rankings configs, train and test splits."""
    train_groups = helpers.ranked_groups(96, seed=1)
    test_groups = helpers.ranked_groups(24, seed=2)
    return helpers.write_release(
        tmp_path_factory.mktemp("release"),
        {
            "sft": {
                "train": helpers.sft_rows(160, seed=1),
                "test": helpers.sft_rows(24, seed=2, prefix="t"),
            },
            "preferences": {
                "train": helpers.preference_rows(train_groups),
                "test": helpers.preference_rows(test_groups),
            },
            "rankings": {
                "train": helpers.ranking_rows(train_groups),
                "test": helpers.ranking_rows(test_groups),
            },
        },
    )


@pytest.fixture
def varlen_on_cpu() -> Iterator[None]:
    """FlashAttention's variable-length ops with a CPU reference kernel, for this test only
    (see tests/worker/varlen_cpu.py): ``attention="varlen"`` then runs on a CPU."""
    from tests.worker.varlen_cpu import cpu_kernels

    with cpu_kernels():
        yield
