"""Showing training runs wherever they appear: the key metric of a model, its Hub page."""

from __future__ import annotations

import math
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django import template
from django.utils.formats import get_format, number_format
from django.utils.translation import gettext_lazy as _

from apps.core.hub import hub_page
from apps.training.models import RunKind, TrainingRun

register = template.Library()

# The metric that says how good a model of each kind is, best known first.
KEY_METRICS: dict[str, tuple[tuple[str, Any], ...]] = {
    RunKind.SFT: (("eval_loss", _("Eval loss")), ("eval_perplexity", _("Perplexity"))),
    RunKind.REWARD: (("eval_pairwise_accuracy", _("Pairwise accuracy")),),
}


@register.simple_tag
def key_metrics(run: TrainingRun) -> list[tuple[Any, float]]:
    """``[(label, value)]``: the final metrics, or the latest evaluation while it trains."""
    source = run.metrics or (run.eval_history[-1] if run.eval_history else {})
    out = []
    for name, label in KEY_METRICS.get(run.kind, ()):
        value = source.get(name)
        if isinstance(value, int | float) and not isinstance(value, bool):
            out.append((label, float(value)))
    return out


# What a running run is doing, as the worker reports it (worker/runs.py), in words.
PHASES: dict[str, Any] = {
    "load": _("Loading the model"),
    "train": _("Training"),
    "eval": _("Evaluating"),
    "save": _("Saving the model"),
    "answer": _("Writing answers"),
    "publish": _("Publishing to the Hub"),
    "done": _("Done"),
}


@register.filter
def phase_label(phase: str) -> str:
    """A run's phase in the page's language; one this site does not know, as reported."""
    return str(PHASES.get(phase, phase))


@register.filter
def hub_url(run: TrainingRun) -> str:
    """The model's files on the Hub at this run's tag ('' when it was not published)."""
    if not run.hub_repo:
        return ""
    return hub_page(f"{run.hub_repo}/tree/{run.hub_tag}")


@register.filter
def data_url(run: TrainingRun) -> str:
    """The dataset commit the run's model learned from, on the Hub ('' when it trained on
    this site's build of the release)."""
    pin = run.data_pin
    return hub_page(f"datasets/{pin[0]}/tree/{pin[1]}") if pin else ""


@register.filter
def model_name(base_model: str) -> str:
    """A base model as lists show it: a Hub id as it is, a local folder or file by its last
    part (the bundled default is a long path into the virtualenv; the run page has it whole)."""
    if not base_model.startswith("/"):
        return base_model
    return base_model.rstrip("/").rsplit("/", 1)[-1] or base_model


@register.filter
def rate(value: Any) -> str:
    """A learning rate as the run page's script writes it: two significant digits and an
    exponent (``2.0e-5``; ``2,0e-5`` in Spanish), which four decimals would show as 0."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    mantissa, exponent = f"{value:.1e}".split("e")
    return f"{number_format(float(mantissa), 1)}e{int(exponent)}"


@register.filter
def metric(value: Any) -> str:
    """A metric as people read it: whole numbers whole, others rounded to at most four decimals
    (one from 100 on).

    Rounded, not cut: number_format only cuts a float's digits, so 2.603376 read 2.6033 here
    and 2.6034 in the run page's script (toFixed). Rounding the float's exact value half away
    from zero, as toFixed does, makes both say the same."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        return str(value)
    if float(value).is_integer():
        return number_format(int(value), force_grouping=True)
    places = 4 if abs(value) < 100 else 1
    rounded = Decimal(value).quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    text = number_format(rounded, decimal_pos=places)
    separator = str(get_format("DECIMAL_SEPARATOR"))
    return text.rstrip("0").rstrip(separator) if separator in text else text


@register.filter
def run_of_origin(origin: str) -> int | None:
    """The training run a model-written answer came from (its origin is the run's
    ``output_name``, ``run-<id>``), or None."""
    prefix, _, number = str(origin).partition("-")
    return int(number) if prefix == "run" and number.isdigit() else None
