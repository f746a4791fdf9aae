"""Model card drafts (README.md in the output folder) with Hub ``model-index`` metadata, and
the training config as the output folder publishes it.

The card names the base model (and, when its weights came from a GGUF file, that they were
dequantised from it), the dataset repo, the Hearth release (tag, exact revision and a link to
its page), the licences, how to prompt the model (an SFT model) or what it scores (a reward
model), the hyperparameters and the test-split results, so a published model always points
at the exact data it learned from. Neither the card nor :func:`published_config` holds a
path of the machine that trained the model.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from worker.config import base_model_files
from worker.data import DOLLY_END, parse_release

_METRIC_NAMES = {
    "eval_loss": ("loss", "Loss"),
    "eval_perplexity": ("perplexity", "Perplexity"),
    "eval_pairwise_accuracy": ("accuracy", "Pairwise accuracy"),
    "eval_kendall_tau": ("kendall_tau", "Kendall's tau"),
}

# Evaluation's counts of what it evaluated on (worker.evaluate), not results: the card says
# them in a sentence, never in the results table or the model-index.
COUNT_KEYS = frozenset({"eval_tokens", "eval_pairs", "eval_prompts"})

# The quantisation a GGUF file's name ends with: ``….Q4_1.gguf``, ``…-q4_k_m.gguf``, ``….F16.gguf``.
_GGUF_TYPE = re.compile(r"(?i)[._-]((?:I?Q\d+(?:_[A-Z0-9]+)*)|F16|F32|BF16)\.gguf$")

# Lineage and places, shown in their own section (or not at all), not as hyperparameters.
_NOT_HYPERPARAMETERS = {
    "output_dir",
    "release",
    "release_revision",
    "release_tag",
    "release_url",
    "release_content_hash",
    "base_model",
}

# LoRA's knobs: a full fine-tune has them at their defaults, unused, so its card lists none.
_LORA_ONLY = {"lora_r", "lora_alpha", "lora_dropout", "lora_target_modules", "merge_lora"}

# A Hub model id (``org/name`` or ``name``), as opposed to a folder on the GPU node.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

_TASKS = {
    "sft": ("text-generation", "Text Generation"),
    "reward": ("text-classification", "Reward modelling"),
}


def _yaml_scalar(value: Any) -> str:
    # JSON strings are valid YAML scalars and quote everything that needs it.
    return json.dumps(value) if isinstance(value, str) else str(value)


def _metric(value: float) -> str:
    """A metric as the run page shows it (apps.training's ``metric`` filter, in English):
    whole numbers whole, others rounded half away from zero to at most four decimals (one
    from 100 on). The card said 2.569 where the page said 2.5687."""
    if not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return f"{int(value):,}"
    places = 4 if abs(value) < 100 else 1
    text = f"{Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP):,}"
    return text.rstrip("0").rstrip(".")


def is_local_location(location: str) -> bool:
    """Whether a release location is a path of this machine (``file://…`` or a plain path),
    rather than a Hub or other remote address."""
    return location.startswith("file://") or "://" not in location


def local_name(location: str) -> str:
    """A local path or ``file://`` location by its last part: a folder's or a file's name."""
    path = location.removeprefix("file://").rstrip("/")
    return posixpath.basename(path) or path


def _base_is_hub_id(base: str) -> bool:
    return bool(_HUB_ID.fullmatch(base))


def published_config(config: dict[str, Any], model_name: str) -> dict[str, Any]:
    """The training config as the output folder holds it (training_config.json): the
    config with no path of the training machine. A local base model and a local release are
    named by their file's or folder's name, as the card names them; ``output_dir`` is the
    output folder's name (``model_name``), relative; Hub ids and other addresses stay. The
    full config is in the run's checkpoints (worker.runtime.save_checkpoint), which are never
    published; resuming reads a checkpoint's fingerprint, not either file."""
    shown = dict(config)
    if not _base_is_hub_id(str(shown["base_model"])):
        shown["base_model"] = local_name(str(shown["base_model"]))
    if shown.get("base_model_gguf_file"):
        shown["base_model_gguf_file"] = local_name(str(shown["base_model_gguf_file"]))
    if is_local_location(str(shown["release"])):
        shown["release"] = local_name(str(shown["release"]))
    shown["output_dir"] = model_name
    return shown


def _hyperparameters(config: dict[str, Any]) -> dict[str, Any]:
    """The knobs the card lists: not lineage, LoRA's only for a LoRA run, and the GGUF file
    the base model's weights were read from, when they were (a base that is a .gguf file
    leaves ``base_model_gguf_file`` empty: the file is its own name)."""
    shown = {k: v for k, v in config.items() if k not in _NOT_HYPERPARAMETERS}
    if config.get("method") != "lora":
        shown = {k: v for k, v in shown.items() if k not in _LORA_ONLY}
    _source, gguf_file = base_model_files(config["base_model"], config.get("base_model_gguf_file"))
    if gguf_file:
        shown["base_model_gguf_file"] = gguf_file
    else:
        shown.pop("base_model_gguf_file", None)
    return shown


def gguf_type(file_name: str) -> str | None:
    """The quantisation a GGUF file's name gives (``Q4_1``, ``Q4_K_M``, ``F16``), or None."""
    match = _GGUF_TYPE.search(file_name)
    return match.group(1).upper() if match else None


def _base_weights(config: dict[str, Any]) -> list[str]:
    """Where the base model's weights came from, when that was a GGUF file: a paragraph."""
    _source, gguf_file = base_model_files(config["base_model"], config.get("base_model_gguf_file"))
    if not gguf_file:
        return []
    name = local_name(gguf_file)
    kind = gguf_type(name)
    stored = f"stored as `{kind}`" if kind else "its storage type is not in the file's name"
    return [
        f"The base model's weights were read from the GGUF file `{name}`",
        f"({stored}), which transformers dequantises to full precision as it loads it:",
        "training started from those dequantised weights, not from the original",
        "full-precision model, and this model's weights are saved unquantised.",
        "",
    ]


def _licence(license: str, base: str, base_on_hub: bool) -> list[str]:
    """The licences paragraph: the card's ``license`` is the data's; the base model's own
    licence applies too."""
    if base_on_hub:
        base_licence = f"see [its card](https://huggingface.co/{base}) for it, as this card does not restate it"
    else:
        base_licence = (
            f"it is not known here (`{local_name(base)}` is a local model): see where it came from"
        )
    return [
        "## Licence",
        "",
        f"`license: {license}` is the training data's licence: Dolly's, and Hearth's for the",
        "work contributed on it unless the site says otherwise (the release's card lists the",
        "licence of every row it holds). The base model's own licence also applies to this",
        f"model, which derives from it; {base_licence}.",
        "",
    ]


def _is_dolly(config: dict[str, Any]) -> bool:
    """Whether the run trained on Dolly's prompt format (the default)."""
    return config.get("prompt_format", "dolly") == "dolly"


def _messages(config: dict[str, Any]) -> str:
    """A Python line building the chat messages of one prompt, in the run's prompt format."""
    if _is_dolly(config):
        return (
            'messages = [{"role": "user", "content": "Name three primary colours.", "context": ""}]'
        )
    return 'messages = [{"role": "user", "content": "Name three primary colours."}]'


def _prompt_words(config: dict[str, Any]) -> list[str]:
    """How the tokenizer's chat template renders the prompt the model was trained on."""
    if _is_dolly(config):
        return [
            "It was trained on Dolly's prompt format (`prompt_format: dolly`), which the",
            "tokenizer's chat template renders exactly as training did: one user turn, the",
            "instruction as its `content` and the context, when there is one, as its `context`",
            "(`Input:` in the prompt). `add_generation_prompt=True` ends the prompt with",
            "`### Response:`. Training tokenised the rendered text with the tokenizer's special",
            "tokens, as `tokenizer(prompt)` does.",
        ]
    return [
        "It was trained with the base model's chat template (`prompt_format: chat_template`),",
        "kept in the tokenizer: one user turn holding the instruction, then, when there is a",
        "context, a blank line and the context. Training tokenised the rendered text with the",
        "tokenizer's special tokens, as `tokenizer(prompt)` does.",
    ]


def _usage(kind: str, config: dict[str, Any]) -> list[str]:
    """The card's usage section: a transformers snippet with the prompt the model trained
    on (an SFT model), or the input a reward model scores."""
    adapter = config.get("method") == "lora" and not config.get("merge_lora", True)
    dolly = _is_dolly(config)
    if kind == "sft":
        load = (
            "from peft import AutoPeftModelForCausalLM as Model"
            if adapter
            else "from transformers import AutoModelForCausalLM as Model"
        )
        ending = (
            [
                "The model ends an answer with `### End` and the end-of-sequence token; the",
                "snippet cuts the answer there.",
            ]
            if dolly
            else ["The model ends an answer as the chat template ends an assistant turn."]
        )
        return [
            "## How to use it",
            "",
            *_prompt_words(config),
            "",
            "```python",
            load,
            "from transformers import AutoTokenizer",
            "",
            'model_id = "path/to/this/model"  # this folder, or the Hub repo (and revision)',
            "tokenizer = AutoTokenizer.from_pretrained(model_id)",
            "model = Model.from_pretrained(model_id)",
            _messages(config),
            "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)",
            'inputs = tokenizer(prompt, return_tensors="pt")',
            "output = model.generate(**inputs, max_new_tokens=256)",
            'answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)',
            f"print(answer{'.split(' + json.dumps(DOLLY_END) + ')[0]' if dolly else ''}.strip())",
            "```",
            "",
            *ending,
            "",
        ]
    load = (
        "from peft import AutoPeftModelForSequenceClassification as Model"
        if adapter
        else "from transformers import AutoModelForSequenceClassification as Model"
    )
    header = "`### Response:`" if dolly else "the chat template's generation prompt"
    return [
        "## What it scores",
        "",
        "It scores one response to one prompt (higher is better; scores compare responses to",
        f"the same prompt): the prompt formatted as in training, up to and including {header},",
        "then the response's raw text, with no end marker (no `### End`), end-of-turn or",
        "end-of-sequence token after it; the score is read at the response's last token.",
        "Training tokenised the prompt with the tokenizer's special tokens and the response",
        f"without, cut the prompt to {config.get('max_prompt_len')} tokens (in the middle) and the",
        f"response to {config.get('max_response_len')} (at its end).",
        "",
        *_prompt_words(config),
        "",
        "```python",
        "import torch",
        load,
        "from transformers import AutoTokenizer",
        "",
        'model_id = "path/to/this/model"  # this folder, or the Hub repo (and revision)',
        "tokenizer = AutoTokenizer.from_pretrained(model_id)",
        "model = Model.from_pretrained(model_id).eval()",
        _messages(config),
        'response = "Red, yellow and blue."',
        "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)",
        'ids = tokenizer(prompt)["input_ids"] + tokenizer(response, add_special_tokens=False)["input_ids"]',
        "with torch.no_grad():",
        "    score = model(input_ids=torch.tensor([ids])).logits[0, 0].item()",
        "```",
        "",
    ]


def _evaluated_on(kind: str, config: dict[str, Any], metrics: dict[str, float]) -> list[str]:
    """What the results were computed on, from evaluation's counts, in a sentence."""

    def count(key: str) -> str:
        return _metric(float(metrics[key]))

    if kind == "sft" and "eval_tokens" in metrics:
        return [f"Evaluated on the {count('eval_tokens')} response tokens of the test split.", ""]
    if kind == "reward" and {"eval_prompts", "eval_pairs"} <= set(metrics):
        minimum = config.get("min_margin")
        kept = (
            f" (the pairs a share of their rankers above {minimum:g} agreed on; see `min_margin`)"
            if isinstance(minimum, int | float) and minimum >= 0
            else ""
        )
        return [
            f"Evaluated on {count('eval_prompts')} prompts of the test split, with "
            f"{count('eval_pairs')} ranked pairs{kept}: pairwise accuracy is over those "
            "pairs, Kendall's tau against each prompt's consensus order.",
            "",
        ]
    return []


def model_card(
    *,
    kind: str,
    config: dict[str, Any],
    metrics: dict[str, float],
    model_name: str,
    license: str = "cc-by-sa-3.0",
) -> str:
    """Render the card. ``config`` is the training config as a dict, ``metrics`` the final eval.

    Lineage: a release on the Hub (``hf://datasets/<repo>@<commit>``) is named by its repo and
    commit, which is also the model-index dataset revision; ``release_tag`` and ``release_url``
    (when given) name the Hearth release and link to its page, and ``release_content_hash``
    (the SHA-256 of the release's file manifest) pins its exact bytes, Hub or not, in the
    front matter (``hearth.release_content_hash``) and the text. A local release is named by its
    tag (its folder's name when it has none), and a local base model by its folder's name, so
    no server path ends up in a published card (nor in its ``base_model`` metadata, which
    names Hub models only).

    ``license`` is the training data's: Dolly's and this site's contributions are CC BY-SA
    3.0, whose ShareAlike terms are taken to carry over to a model trained on them. The card
    says so, and that the base model's own licence (not known here for a local model) also
    applies. Results are the final metrics without evaluation's counts (COUNT_KEYS), which
    a sentence gives.

    Preconditions: ``kind`` is ``sft`` or ``reward``; ``config`` has release, base_model,
    config_name, method and merge_lora.
    """
    ref = parse_release(config["release"])
    base = config["base_model"]
    base_on_hub = _base_is_hub_id(base)
    # A local base model is named by its folder's (or file's) name: no server path in a
    # published card.
    base_name = f"`{base}`" if base_on_hub else f"`{local_name(base)}` (a local model)"
    tag = config.get("release_tag")
    url = config.get("release_url")
    release = config["release"]
    named = local_name(release) if is_local_location(release) else release
    dataset = ref.repo_id or (f"Hearth release {tag}" if tag else named)
    results = {k: v for k, v in metrics.items() if k not in COUNT_KEYS}
    revision = ref.revision or config.get("release_revision") or tag or "unknown"
    content_hash = config.get("release_content_hash")
    task_type, task_name = _TASKS[kind]
    lines = ["---", f"license: {license}"]
    if base_on_hub:
        lines.append(f"base_model: {_yaml_scalar(base)}")
    if ref.repo_id:
        lines += ["datasets:", f"- {_yaml_scalar(ref.repo_id)}"]
    lines += [
        f"library_name: {'peft' if config['method'] == 'lora' and not config['merge_lora'] else 'transformers'}",
        "tags:",
        "- hearth",
        f"- {kind}",
        "model-index:",
        f"- name: {_yaml_scalar(model_name)}",
        "  results:",
        "  - task:",
        f"      type: {task_type}",
        f"      name: {task_name}",
        "    dataset:",
        f"      name: {_yaml_scalar(dataset)}",
        f"      type: {_yaml_scalar(dataset)}",
        f"      config: {config['config_name']}",
        "      split: test",
        f"      revision: {_yaml_scalar(revision)}",
        "    metrics:",
    ]
    for key, (metric_type, metric_name) in _METRIC_NAMES.items():
        if key in metrics:
            lines += [
                f"    - type: {metric_type}",
                f"      name: {metric_name}",
                f"      value: {round(float(metrics[key]), 4)}",
            ]
    # Not a Hub field: Hearth's own lineage, which outlives the site's database.
    lineage = [
        *([f"  release: {_yaml_scalar(tag)}"] if tag else []),
        *([f"  release_content_hash: {_yaml_scalar(content_hash)}"] if content_hash else []),
    ]
    if lineage:
        lines += ["hearth:", *lineage]
    lines.append("---")
    minimum = config.get("min_margin")
    which_pairs = (
        f"each prompt's ranked pairs that a share of its rankers above {minimum:g} agreed on"
        if isinstance(minimum, int | float) and minimum >= 0
        else "every ranked pair of each prompt"
    )
    what = (
        "a supervised fine-tune (loss on responses only, packed sequences)"
        if kind == "sft"
        else f"a reward model (Bradley–Terry loss over {which_pairs})"
    )
    release_name = f"[{tag}]({url})" if tag and url else f"`{tag}`" if tag else "unnamed"
    body = [
        "",
        f"# {model_name}",
        "",
        f"This is {what} of {base_name} on the `{config['config_name']}` config of",
        f"`{dataset}` at revision `{revision}`, trained by Hearth.",
        "",
        *_base_weights(config),
        *_usage(kind, config),
        "## Training data",
        "",
        "| | |",
        "| --- | --- |",
        f"| Hearth release | {release_name} |",
        *([f"| dataset repo | `{ref.repo_id}` |"] if ref.repo_id else []),
        f"| revision | `{revision}` |",
        *([f"| content hash | `{content_hash}` |"] if content_hash else []),
        f"| config | `{config['config_name']}` (train split; results on test) |",
        "",
        *(
            [
                "The content hash is the SHA-256 of the release's manifest (a line per file,",
                "sorted by path: its path, size in bytes and SHA-256), so a copy of the data can",
                "be checked against it without the site.",
                "",
            ]
            if content_hash
            else []
        ),
        "## Results on the test split",
        "",
        "| metric | value |",
        "| --- | --- |",
        *(f"| {k} | {_metric(v)} |" for k, v in sorted(results.items())),
        "",
        *_evaluated_on(kind, config, metrics),
        "## Training hyperparameters",
        "",
        "| name | value |",
        "| --- | --- |",
        *(f"| {k} | `{v}` |" for k, v in sorted(_hyperparameters(config).items())),
        "",
        "The configuration is in `training_config.json` (local paths named by their last part);",
        "the loss curve in `metrics.json`.",
        "",
        *_licence(license, base, base_on_hub),
    ]
    return "\n".join(lines + body)
