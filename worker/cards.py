"""Model card drafts (README.md in the output folder) with Hub ``model-index`` metadata.

The card names the base model, the dataset repo, the Hearth release (tag, exact revision and a
link to its page), the hyperparameters and the test-split results, so a published model always
points at the exact data it learned from.
"""

from __future__ import annotations

import json
import math
import posixpath
import re
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from worker.config import base_model_files
from worker.data import parse_release

_METRIC_NAMES = {
    "eval_loss": ("loss", "Loss"),
    "eval_perplexity": ("perplexity", "Perplexity"),
    "eval_pairwise_accuracy": ("accuracy", "Pairwise accuracy"),
    "eval_kendall_tau": ("kendall_tau", "Kendall's tau"),
}

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
    tag only, and a local base model by its folder's name, so no server path ends up in a
    published card (nor in its ``base_model`` metadata, which names Hub models only).

    Preconditions: ``kind`` is ``sft`` or ``reward``; ``config`` has release, base_model,
    config_name, method and merge_lora.
    """
    ref = parse_release(config["release"])
    base = config["base_model"]
    base_on_hub = bool(_HUB_ID.fullmatch(base))
    # A local base model is named by its folder's (or file's) name: no server path in a
    # published card.
    base_name = (
        f"`{base}`" if base_on_hub else f"`{posixpath.basename(base.rstrip('/'))}` (a local model)"
    )
    tag = config.get("release_tag")
    url = config.get("release_url")
    dataset = ref.repo_id or (f"Hearth release {tag}" if tag else config["release"])
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
    what = (
        "a supervised fine-tune (loss on responses only, packed sequences)"
        if kind == "sft"
        else "a reward model (Bradley–Terry loss over every ranked pair of each prompt)"
    )
    release_name = f"[{tag}]({url})" if tag and url else f"`{tag}`" if tag else "unnamed"
    body = [
        "",
        f"# {model_name}",
        "",
        f"This is {what} of {base_name} on the `{config['config_name']}` config of",
        f"`{dataset}` at revision `{revision}`, trained by Hearth.",
        "",
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
        *(f"| {k} | {_metric(v)} |" for k, v in sorted(metrics.items())),
        "",
        "## Training hyperparameters",
        "",
        "| name | value |",
        "| --- | --- |",
        *(f"| {k} | `{v}` |" for k, v in sorted(_hyperparameters(config).items())),
        "",
        "The full configuration is in `training_config.json`; the loss curve in `metrics.json`.",
        "",
    ]
    return "\n".join(lines + body)
