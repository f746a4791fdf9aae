"""Model card drafts (README.md in the output folder) with Hub ``model-index`` metadata.

The card names the base model, the dataset repo, the Hearth release (tag, exact revision and a
link to its page), the hyperparameters and the test-split results, so a published model always
points at the exact data it learned from.
"""

from __future__ import annotations

import json
import posixpath
import re
from typing import Any

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
    "base_model",
}

# A Hub model id (``org/name`` or ``name``), as opposed to a folder on the GPU node.
_HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")

_TASKS = {
    "sft": ("text-generation", "Text Generation"),
    "reward": ("text-classification", "Reward modelling"),
}


def _yaml_scalar(value: Any) -> str:
    # JSON strings are valid YAML scalars and quote everything that needs it.
    return json.dumps(value) if isinstance(value, str) else str(value)


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
    (when given) name the Hearth release and link to its page. A local release is named by its
    tag only, and a local base model by its folder's name, so no server path ends up in a
    published card (nor in its ``base_model`` metadata, which names Hub models only).

    Preconditions: ``kind`` is ``sft`` or ``reward``; ``config`` has release, base_model,
    config_name, method and merge_lora.
    """
    ref = parse_release(config["release"])
    base = config["base_model"]
    base_on_hub = bool(_HUB_ID.fullmatch(base))
    # A local base model is named by its folder's name: no server path in a published card.
    base_name = base if base_on_hub else f"{posixpath.basename(base.rstrip('/'))} (a local model)"
    tag = config.get("release_tag")
    url = config.get("release_url")
    dataset = ref.repo_id or (f"Hearth release {tag}" if tag else config["release"])
    revision = ref.revision or config.get("release_revision") or tag or "unknown"
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
        f"This is {what} of `{base_name}` on the `{config['config_name']}` config of",
        f"`{dataset}` at revision `{revision}`, trained by Hearth.",
        "",
        "## Training data",
        "",
        "| | |",
        "| --- | --- |",
        f"| Hearth release | {release_name} |",
        *([f"| dataset repo | `{ref.repo_id}` |"] if ref.repo_id else []),
        f"| revision | `{revision}` |",
        f"| config | `{config['config_name']}` (train split; results on test) |",
        "",
        "## Results on the test split",
        "",
        "| metric | value |",
        "| --- | --- |",
        *(f"| {k} | {v:.4g} |" for k, v in sorted(metrics.items())),
        "",
        "## Training hyperparameters",
        "",
        "| name | value |",
        "| --- | --- |",
        *(f"| {k} | `{v}` |" for k, v in sorted(config.items()) if k not in _NOT_HYPERPARAMETERS),
        "",
        "The full configuration is in `training_config.json`; the loss curve in `metrics.json`.",
        "",
    ]
    return "\n".join(lines + body)
