"""Model card drafts (README.md in the output folder) with Hub ``model-index`` metadata.

The card names the base model, the dataset and its revision, the hyperparameters and the
test-split results, so a published model always points at the exact data it learned from.
"""

from __future__ import annotations

import json
from typing import Any

from worker.data import parse_release

_METRIC_NAMES = {
    "eval_loss": ("loss", "Loss"),
    "eval_perplexity": ("perplexity", "Perplexity"),
    "eval_pairwise_accuracy": ("accuracy", "Pairwise accuracy"),
    "eval_kendall_tau": ("kendall_tau", "Kendall's tau"),
}

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

    Preconditions: ``kind`` is ``sft`` or ``reward``; ``config`` has release, base_model and
    config_name.
    """
    ref = parse_release(config["release"])
    dataset = ref.repo_id or config["release"]
    revision = ref.revision or config.get("release_revision") or "unknown"
    task_type, task_name = _TASKS[kind]
    lines = [
        "---",
        f"license: {license}",
        f"base_model: {_yaml_scalar(config['base_model'])}",
        "datasets:",
        f"- {_yaml_scalar(dataset)}",
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
    body = [
        "",
        f"# {model_name}",
        "",
        f"This is {what} of `{config['base_model']}` on the `{config['config_name']}` config of",
        f"`{dataset}` at revision `{revision}`, trained by Hearth.",
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
        *(
            f"| {k} | `{v}` |"
            for k, v in sorted(config.items())
            if k not in {"output_dir", "release", "base_model"}
        ),
        "",
        "The full configuration is in `training_config.json`; the loss curve in `metrics.json`.",
        "",
    ]
    return "\n".join(lines + body)
