"""Forms for the Contribute page. They present fields and turn them into the payload the task
API takes (apps.assignments.services.task_submit); the rules stay in the services."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _

from apps.assignments.models import TaskType
from apps.collection.forms import IdempotentForm, UserTextField, WriteForm
from apps.core.forms import RangedIntegerField, add_validation_errors
from apps.core.text import check_text

# The answer's guidance, on the respond task and on a prompt's own Answer page alike.
ANSWER_HELP = _(
    "Answer as a helpful expert would, in your own words: no chatbot output. Markdown is allowed."
)

# One line each, shown under the label's checkbox. Order: the blocking labels first, as in
# apps.feedback.models.BLOCKING_LABELS, then wrong_category, which only records a fact.
LABEL_CHOICES: list[tuple[str, Any, Any]] = [
    ("spam", _("Spam"), _("Advertising, gibberish, or no real attempt at the task.")),
    (
        "fails_task",
        _("Does not do the task"),
        _("It does not do what the instruction asks, or cannot be done as written."),
    ),
    (
        "wrong_language",
        _("Wrong language"),
        _("Not written in the prompt's language."),
    ),
    (
        "pii",
        _("Personal information"),
        _("Names a private person with details such as an address, phone number or email."),
    ),
    (
        "harmful",
        _("Harmful"),
        _("Hateful, harassing, sexual about minors, or helps someone hurt people."),
    ),
    (
        "machine_generated",
        _("Copied from a chatbot"),
        _("Text copied from a chatbot is not allowed."),
    ),
    (
        "wrong_category",
        _("Wrong category"),
        _("It fits another category better. This alone does not reject it."),
    ),
]

# A prompt is the instruction, so "does not do what the instruction asks" cannot fit it: on a
# prompt's review, fails_task is about whether the instruction can be answered at all.
PROMPT_LABELS: dict[str, tuple[Any, Any]] = {
    "fails_task": (
        _("Cannot be answered"),
        _("The instruction is unclear, contradicts itself, or cannot be answered as written."),
    ),
}


def label_choices(task_type: str) -> list[tuple[str, Any, Any]]:
    """The review labels as the review of ``task_type`` words them."""
    if task_type != TaskType.REVIEW_PROMPT:
        return LABEL_CHOICES
    return [(name, *PROMPT_LABELS.get(name, (label, text))) for name, label, text in LABEL_CHOICES]


QUALITY_CHOICES = [
    (1, _("poor")),
    (2, _("weak")),
    (3, _("fair")),
    (4, _("good")),
    (5, _("excellent")),
]

SKIP_REASONS = [
    ("", _("No reason given")),
    ("unfamiliar", _("I don't know enough about this topic")),
    ("language", _("I don't read this language well enough")),
    ("too_long", _("It takes longer than I have now")),
    ("unpleasant", _("I'd rather not work on this content")),
]


class TaskForm(IdempotentForm):
    """A form that submits one task; ``payload()`` is what task_submit receives."""

    # The names task_submit's errors use for this form's fields where they differ (it names
    # them as the task API's payload does).
    service_field_names: dict[str, str] = {}

    def payload(self) -> dict[str, Any]:
        raise NotImplementedError

    def add_service_errors(self, error: ValidationError) -> None:
        """Show task_submit's ValidationError on the fields it is about, so that a refused
        text is marked (and focused) on its own field, not as an error of the whole form."""
        if hasattr(error, "error_dict"):
            error = ValidationError(
                {self.service_field_names.get(k, k): v for k, v in error.error_dict.items()}
            )
        add_validation_errors(self, error)


class WriteTaskForm(WriteForm, TaskForm):
    """The Write page's form, unchanged: the write task takes the same fields."""

    def payload(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            key: data[key] for key in ("instruction", "context", "category", "language", "response")
        }


class ReviewTaskForm(TaskForm):
    labels = forms.MultipleChoiceField(
        label=_("Problems"),
        required=False,
        choices=[(name, label) for name, label, _help in LABEL_CHOICES],
        widget=forms.CheckboxSelectMultiple,
    )
    quality = forms.TypedChoiceField(
        label=_("Quality"),
        choices=QUALITY_CHOICES,
        coerce=int,
        widget=forms.RadioSelect,
        error_messages={"required": _("Rate the quality from 1 (poor) to 5 (excellent).")},
    )

    def payload(self) -> dict[str, Any]:
        return {
            "labels": list(self.cleaned_data["labels"]),
            "quality": self.cleaned_data["quality"],
        }


class RespondTaskForm(TaskForm):
    # Named "response", the key the collection services' text checks report errors under;
    # task_submit reports them as "text", the task API's name for it.
    response = UserTextField(
        label=_("Your answer"),
        text_label=_("The answer"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 10}),
        help_text=ANSWER_HELP,
    )
    service_field_names = {"text": "response"}

    def payload(self) -> dict[str, Any]:
        return {"text": self.cleaned_data["response"]}


class RankTaskForm(TaskForm):
    """The order arrives either as ``order`` (answer ids, best first, comma-separated: set by
    the page's script) or, without JavaScript, as one ``rank_<id>`` number per answer."""

    order = forms.CharField(required=False, widget=forms.HiddenInput, max_length=2000)
    unusable = forms.BooleanField(label=_("These answers are all unusable"), required=False)

    def __init__(self, *args: Any, response_ids: list[int] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.response_ids = list(response_ids or [])
        count = len(self.response_ids)
        for position, response_id in enumerate(self.response_ids, start=1):
            self.fields[f"rank_{response_id}"] = RangedIntegerField(
                1,
                max(count, 1),
                label=_("Rank"),
                required=False,
                initial=position,
                widget=forms.NumberInput(attrs={"inputmode": "numeric"}),
            )

    def clean_order(self) -> list[int]:
        raw = self.cleaned_data.get("order") or ""
        try:
            return [int(part) for part in raw.split(",") if part.strip()]
        except ValueError:
            raise forms.ValidationError(_("The order could not be read; rank again.")) from None

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        numbers = [f"rank_{i}" for i in self.response_ids]
        if data.get("unusable") or data.get("order"):
            for name in numbers:  # not read: a stray number must not block the ranking
                self.errors.pop(name, None)
            return data
        # A number out of range or not a number was marked on its box and said nowhere:
        # the one message below says what the numbers must be.
        unreadable = any(name in self.errors for name in numbers)
        if self.errors and not unreadable:
            return data
        # No script: the order comes from the rank numbers, which must be 1..K, each once.
        ranks = {i: data.get(f"rank_{i}") for i in self.response_ids}
        if unreadable or sorted(r for r in ranks.values() if r is not None) != list(
            range(1, len(self.response_ids) + 1)
        ):
            raise forms.ValidationError(
                _("Give each answer a different rank from 1 (best) to %(k)d (worst).")
                % {"k": len(self.response_ids)}
            )
        data["order"] = sorted(ranks, key=lambda i: ranks[i] or 0)
        return data

    def payload(self) -> dict[str, Any]:
        if self.cleaned_data.get("unusable"):
            return {"unusable": True}
        return {"order": list(self.cleaned_data.get("order") or [])}


# With the reason's code in front, the stored reason stays under the skip API's 500.
SKIP_NOTE_MAX_CHARS = 400


class SkipForm(IdempotentForm):
    """Shown on the task page beside the task's own form: its ids start with ``skip_`` so the
    two forms' idempotency keys do not share one."""

    reason = forms.ChoiceField(
        label=_("Why are you skipping?"),
        required=False,
        choices=SKIP_REASONS,
        widget=forms.RadioSelect,
    )
    note = UserTextField(
        label=_("Anything else? (optional)"),
        text_label=_("The note"),
        required=False,
        max_length=SKIP_NOTE_MAX_CHARS,
        help_text=_("Tell us if something is wrong with the task itself."),
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("auto_id", "skip_%s")
        super().__init__(*args, **kwargs)

    def clean_note(self) -> str:
        # The skip API's checks (no control characters), applied to the note the page adds.
        return check_text(
            self.cleaned_data.get("note") or "",
            label=str(_("The note")),
            min_chars=0,
            max_chars=SKIP_NOTE_MAX_CHARS,
            required=False,
        )

    def reason_text(self) -> str:
        """The reason as stored: the choice's code, then the note (``language: too formal``)."""
        code = self.cleaned_data.get("reason") or ""
        note = (self.cleaned_data.get("note") or "").strip()
        return ": ".join(part for part in (code, note) if part)


FORMS: dict[str, type[TaskForm]] = {
    TaskType.WRITE: WriteTaskForm,
    TaskType.REVIEW_PROMPT: ReviewTaskForm,
    TaskType.REVIEW_RESPONSE: ReviewTaskForm,
    TaskType.RESPOND: RespondTaskForm,
    TaskType.RANK: RankTaskForm,
}
