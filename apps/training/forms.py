"""Forms present fields; the rules are the services' (the API uses the same ones).

The run form shows the hyperparameters a maintainer changes most, each empty by default (the
worker's default, shown as the placeholder, then applies), and takes any other knob as JSON.
"""

from __future__ import annotations

import json
import math
import typing
from dataclasses import dataclass
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.formats import sanitize_separators
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext

from apps.collection.services import prompts_for_model_answers_count
from apps.core.forms import IdempotentForm, RangedIntegerField
from apps.releases.models import Release
from apps.training import schedules, services
from apps.training.models import RunKind, RunMethod


@dataclass(frozen=True)
class KeyField:
    name: str
    label: Any
    help: Any = ""
    lora: bool = False


# The hyperparameters the run form shows, in order; which kinds each applies to comes from the
# worker's config (services.hyperparameter_fields), so a knob it drops disappears here too.
KEY_FIELDS = (
    KeyField("learning_rate", _("Learning rate")),
    KeyField("num_epochs", _("Epochs")),
    KeyField("max_steps", _("Most steps"), _("Caps the steps that the epochs give.")),
    KeyField("max_seq_len", _("Longest sequence (tokens)")),
    KeyField("micro_batch_size", _("Micro-batch size (rows)")),
    KeyField("max_prompt_len", _("Longest prompt (tokens)")),
    KeyField("max_response_len", _("Longest answer (tokens)")),
    KeyField("micro_batch_tokens", _("Micro-batch size (tokens)")),
    KeyField("grad_accum_steps", _("Gradient accumulation steps")),
    KeyField("eval_every", _("Evaluate every N steps"), _("0: only at the end.")),
    KeyField("lora_r", _("LoRA rank (r)"), lora=True),
    KeyField("lora_alpha", _("LoRA alpha"), lora=True),
)


def error_summary(form: forms.Form) -> str:
    """Every error of a bound form in one line, for the message at the top of the page, each
    naming its field by the label people see. A message that starts with the field's own name
    (the worker's "learning_rate must be greater than 0") reads with the label instead."""
    problems = []
    for name, messages in form.errors.items():
        field = form.fields.get(name)
        label = str(field.label) if field is not None and field.label else ""
        for message in map(str, messages):
            if label and message.startswith(f"{name} "):
                message = label + message[len(name) :]
            elif label:
                message = f"{label}: {message}"
            problems.append(message if message.endswith((".", "!", "?")) else f"{message}.")
    return " ".join(problems)


def _show_default(value: Any) -> str:
    if value is None:
        return str(_("none"))
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _wants_int(annotation: Any) -> bool:
    """Whether a config field holds whole numbers (``int`` or ``int | None``)."""
    args = typing.get_args(annotation) or (annotation,)
    return int in args and float not in args


def _parse_number(text: str, *, whole: bool) -> int | float:
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        raise ValidationError(_("Give a number.")) from None
    if not math.isfinite(value):
        raise ValidationError(_("Give a finite number."))
    if whole and value.is_integer():
        return int(value)
    return value


def _release_label(release: Release) -> str:
    """A release as the run form lists it: its version, and what it cannot train (a release
    without train and test rows of a kind's config is refused for that kind)."""
    usable = [kind for kind in RunKind.values if services.has_rows_for(kind, release)]
    if len(usable) == len(RunKind.values):
        return release.version
    if not usable:
        return _("%(v)s (no train and test rows: nothing to train on)") % {"v": release.version}
    if usable == [RunKind.SFT]:
        return _("%(v)s (SFT only)") % {"v": release.version}
    return _("%(v)s (reward model only)") % {"v": release.version}


class RunCreateForm(IdempotentForm):
    """Start a run; its one-time key makes a double click start one run."""

    # A select of the finished releases; any version is accepted here, and one that is not
    # (or no longer) finished is refused by the service, with its reason.
    release = forms.CharField(label=_("Release"), widget=forms.Select)
    kind = forms.ChoiceField(label=_("Kind"), choices=RunKind.choices)
    base_model = forms.CharField(
        label=_("Base model"),
        max_length=services.MAX_BASE_MODEL,
        required=False,
        widget=forms.TextInput(attrs={"autocomplete": "off", "spellcheck": "false"}),
    )
    method = forms.ChoiceField(
        label=_("Method"),
        choices=RunMethod.choices,
        initial=RunMethod.FULL,
        widget=forms.RadioSelect,
    )
    answer_prompts = RangedIntegerField(
        0,
        services.MAX_ANSWER_PROMPTS,
        label=_("Then answer prompts"),
        required=False,
        widget=forms.NumberInput(attrs={"placeholder": "0", "inputmode": "numeric"}),
        help_text=_(
            "How many prompts that are collecting answers the trained model answers (0: none). "
            "Each answer joins its prompt's ranking, on top of the answers people write."
        ),
    )
    hyperparameters = forms.CharField(
        label=_("More hyperparameters (JSON)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3, "spellcheck": "false"}),
        help_text=_('An object of name: value, e.g. {"warmup_ratio": 0.1, "seed": 7}.'),
    )

    def __init__(self, *args: Any, releases: list[Release], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        select = self.fields["release"].widget
        assert isinstance(select, forms.Select)
        select.choices = [(r.version, _release_label(r)) for r in releases]
        if settings.HEARTH_TRAIN_MODEL_DIRS:
            self.fields["base_model"].help_text = _(
                "A Hub model id (org/name), or a folder or .gguf file under %(folders)s on the "
                "GPU nodes."
            ) % {"folders": ", ".join(settings.HEARTH_TRAIN_MODEL_DIRS)}
        else:
            self.fields["base_model"].help_text = _("A Hub model id (org/name).")
        kind = str(self.data.get(self.add_prefix("kind")) or self.initial.get("kind") or "sft")
        if kind not in RunKind.values:
            kind = RunKind.SFT
        defaults = {k: services.default_base_model(k) for k in RunKind.values}
        if not self.is_bound:
            self.initial.setdefault("base_model", defaults[kind])
            if releases:
                # The newest release this kind can train on: a newer one without its rows
                # (an empty release) would only be refused.
                usable = [r for r in releases if services.has_rows_for(kind, r)]
                self.initial.setdefault("release", (usable or releases)[0].version)
        waiting = prompts_for_model_answers_count()
        waiting_text = ngettext(
            "%(n)s prompt is waiting for one now.",
            "%(n)s prompts are waiting for one now.",
            waiting,
        ) % {"n": waiting}
        answers = self.fields["answer_prompts"]
        answers.help_text = f"{answers.help_text} {waiting_text}"
        self.fields["base_model"].widget.attrs["data-defaults"] = json.dumps(defaults)
        self.fields["kind"].widget.attrs["data-run-kind"] = ""
        per_kind = {k: services.hyperparameter_fields(k) for k in RunKind.values}
        self.key_fields: list[tuple[forms.BoundField, str, bool]] = []
        for spec in KEY_FIELDS:
            kinds = [k for k in RunKind.values if spec.name in per_kind[k]]
            if not kinds:
                continue
            shown_kind = kind if kind in kinds else kinds[0]
            attrs = {
                "inputmode": "decimal",
                "autocomplete": "off",
                "placeholder": _show_default(per_kind[shown_kind][spec.name][1]),
            }
            for k in kinds:
                attrs[f"data-placeholder-{k}"] = _show_default(per_kind[k][spec.name][1])
            self.fields[spec.name] = forms.CharField(
                label=spec.label,
                required=False,
                max_length=40,
                help_text=spec.help,
                widget=forms.TextInput(attrs=attrs),
            )
            self.key_fields.append((self[spec.name], " ".join(kinds), spec.lora))

    def clean_release(self) -> Release:
        version = self.cleaned_data["release"]
        release = Release.objects.filter(version=version).first()
        if release is None:
            raise ValidationError(_("There is no release %(v)s.") % {"v": version})
        return release

    def clean_hyperparameters(self) -> dict[str, Any]:
        text = self.cleaned_data["hyperparameters"].strip()
        if not text:
            return {}
        try:
            value = json.loads(text)
        except ValueError as exc:
            raise ValidationError(_("Not valid JSON: %(e)s.") % {"e": exc}) from None
        except RecursionError:
            raise ValidationError(_("Not valid JSON: nested too deeply.")) from None
        if not isinstance(value, dict):
            raise ValidationError(_('Give an object, e.g. {"seed": 7}.'))
        shown = [name for name in value if name in self.fields and name != "hyperparameters"]
        if shown:
            raise ValidationError(
                _("Set %(names)s in the field above instead.") % {"names": ", ".join(shown)}
            )
        return value

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        kind, method = data.get("kind"), data.get("method")
        if kind is None or method is None:
            return data
        known = services.hyperparameter_fields(kind)
        values: dict[str, Any] = dict(data.get("hyperparameters") or {})
        for bound, _kinds, _lora in self.key_fields:
            text = (data.get(bound.name) or "").strip()
            if not text:
                continue
            # As the page's language writes numbers: a Spanish page's 0,0001 is 0.0001.
            text = str(sanitize_separators(text))
            annotation = known[bound.name][0] if bound.name in known else float
            try:
                value = _parse_number(text, whole=_wants_int(annotation))
                problem = services.range_problem(bound.name, value)
                if problem is not None:  # said by its field, so without its name
                    raise ValidationError(problem[:1].upper() + problem[1:] + ".")
                # Each field on its own first, so that an error lands next to its field.
                services.check_hyperparameters(kind, method, {bound.name: value})
            except ValidationError as exc:
                self.add_error(bound.name, exc.messages)
                continue
            values[bound.name] = value
        data["hyperparameters"] = values
        return data


class ScheduleForm(forms.Form):
    """One schedule: on or off, how often, and its main options. Options the form does not show
    (a release filter, per-kind hyperparameters) are kept as they are."""

    enabled = forms.BooleanField(label=_("Schedule on"), required=False)
    every_minutes = RangedIntegerField(1, schedules.MAX_EVERY_MINUTES, label=_("Every (minutes)"))

    def __init__(self, *args: Any, schedule: schedules.Schedule, **kwargs: Any) -> None:
        kwargs.setdefault("prefix", f"schedule-{schedule.id}")
        options = schedule.options
        kwargs["initial"] = {
            "enabled": schedule.enabled,
            "every_minutes": schedule.every_minutes or 60,
            **kwargs.get("initial", {}),
        }
        super().__init__(*args, **kwargs)
        self.schedule = schedule
        if schedule.task == "training.auto_release":
            self.fields["min_new_items"] = RangedIntegerField(
                1,
                schedules.MAX_MIN_NEW_ITEMS,
                label=_("New items needed"),
                help_text=_("Accepted answers and rankings since the last finished release."),
            )
            self.initial["min_new_items"] = options.get(
                "min_new_items", schedules.DEFAULT_MIN_NEW_ITEMS
            )
        else:
            self.fields["kinds"] = forms.MultipleChoiceField(
                label=_("Train"), choices=RunKind.choices, widget=forms.CheckboxSelectMultiple
            )
            self.fields["method"] = forms.ChoiceField(
                label=_("Method"), choices=RunMethod.choices, widget=forms.RadioSelect
            )
            self.initial["kinds"] = options.get("kinds", list(RunKind.values))
            self.initial["method"] = options.get("method", RunMethod.FULL)
            for kind, label in RunKind.choices:
                name = f"base_model_{kind}"
                self.fields[name] = forms.CharField(
                    label=_("Base model (%(kind)s)") % {"kind": label},
                    required=False,
                    max_length=services.MAX_BASE_MODEL,
                    widget=forms.TextInput(
                        attrs={
                            "placeholder": services.default_base_model(kind),
                            "autocomplete": "off",
                            "spellcheck": "false",
                        }
                    ),
                )
                self.initial[name] = (options.get("base_models") or {}).get(kind, "")
            self.fields["answer_prompts"] = RangedIntegerField(
                0,
                services.MAX_ANSWER_PROMPTS,
                label=_("Then answer prompts"),
                required=False,
                help_text=_(
                    "How many prompts that are collecting answers each new SFT model answers "
                    "(0: none)."
                ),
            )
            self.initial["answer_prompts"] = options.get("answer_prompts", 0)
        # Each value is sent back beside the one the page showed (initial-<name>), so that
        # changed_data says what this maintainer changed: a page opened before another
        # maintainer's change must not write that change back.
        for form_field in self.fields.values():
            form_field.show_hidden_initial = True

    def _changed(self, name: str) -> bool:
        return name in self.changed_data

    def add_schedule_errors(self, error: ValidationError) -> None:
        """Show schedules.schedule_update's ValidationError on the fields that set what it
        names: an option by its name (``kinds``, ``every_minutes``), a kind's base model as
        ``base_models.<kind>``. What no field here sets (options the form does not show) goes
        above the form."""
        if not hasattr(error, "error_dict"):
            self.add_error(None, error)
            return
        for key, errors in error.error_dict.items():
            option, _dot, kind = key.partition(".")
            name = f"base_model_{kind}" if option == "base_models" and kind else key
            self.add_error(name if name in self.fields else None, errors)

    def enabled_now(self) -> bool:
        """On or off: as sent if this form changed it, else as the schedule is now."""
        return bool(
            self.cleaned_data["enabled"] if self._changed("enabled") else self.schedule.enabled
        )

    def every_minutes_now(self) -> int:
        """How often: as sent if this form changed it, else as the schedule is now."""
        if self._changed("every_minutes") or self.schedule.every_minutes is None:
            return int(self.cleaned_data["every_minutes"])
        return self.schedule.every_minutes

    def options(self) -> dict[str, Any]:
        """The schedule's options as they are now, with this form's changes (call after
        is_valid)."""
        data = self.cleaned_data
        options = dict(self.schedule.options)
        if self.schedule.task == "training.auto_release":
            if self._changed("min_new_items"):
                options["min_new_items"] = data["min_new_items"]
            return options
        if self._changed("kinds"):
            options["kinds"] = list(data["kinds"])
        if self._changed("method"):
            options["method"] = data["method"]
        base_models = dict(options.get("base_models") or {})
        for kind in RunKind.values:
            if self._changed(f"base_model_{kind}"):
                base_models[kind] = data[f"base_model_{kind}"].strip()
        base_models = {kind: name for kind, name in base_models.items() if name}
        if base_models:
            options["base_models"] = base_models
        else:
            options.pop("base_models", None)
        if self._changed("answer_prompts"):
            options["answer_prompts"] = data.get("answer_prompts") or 0
        if not options.get("answer_prompts"):
            options.pop("answer_prompts", None)
        return options
