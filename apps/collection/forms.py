"""Forms present fields; the rules are the services' (the API uses the same ones)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import (
    MaxValueValidator,
    MinValueValidator,
    ProhibitNullCharactersValidator,
)
from django.template.defaultfilters import filesizeformat
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext_lazy as _

from apps.accounts.services import check_language
from apps.collection import selectors, services
from apps.collection.api_imports import DEFAULT_UPLOAD_SOURCE
from apps.collection.importing import IMPORT_STATES, check_import_options, check_upload
from apps.collection.models import POLICY_LIMITS, Category, CollectionPolicy
from apps.core.forms import IdempotentForm, add_validation_errors
from apps.core.text import refuse_control_characters
from apps.core.validators import InRange


def _duplicate_with_link(error: Any) -> Any:
    """A duplicate instruction's refusal (services._duplicate_error, code ``duplicate``) with
    the address of the prompt it names as a link, where it names one (``params["url"]``,
    reversed from the prompt's id). The rest of the message is escaped: nothing a person
    typed becomes markup."""
    if not isinstance(error, ValidationError) or error.code != "duplicate":
        return error
    url = (error.params or {}).get("url")
    if not url:
        return error
    (message,) = error.messages
    link = format_html('<a href="{}">{}</a>', url, url)
    html: SafeString = mark_safe(conditional_escape(message).replace(conditional_escape(url), link))
    return ValidationError(html, code="duplicate")


class UserTextField(forms.CharField):
    """A CharField for text a person writes, which refuses a control character as the
    services' text checks do (apps.core.text.check_text), naming the text as they do
    (``text_label``: "The answer"). Django's own check would refuse a NUL first, as "Null
    characters are not allowed.", beside check_text's words for the same NUL in the
    instruction on one page."""

    def __init__(self, *, text_label: Any, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        # A right-to-left text is typed right to left, each field on its own.
        self.widget.attrs.setdefault("dir", "auto")
        self.text_label = text_label
        self.validators = [
            v for v in self.validators if not isinstance(v, ProhibitNullCharactersValidator)
        ]

    def validate(self, value: Any) -> None:
        super().validate(value)
        if isinstance(value, str) and value:
            refuse_control_characters(value, label=str(self.text_label))


class PromptFieldsMixin(forms.Form):
    category = forms.ChoiceField(
        label=_("Category"), choices=Category.choices, widget=forms.RadioSelect
    )
    instruction = UserTextField(
        label=_("Instruction"),
        text_label=_("The instruction"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 3, "data-preview": "1"}),
        help_text=_("What should the assistant do? Markdown is allowed."),
    )
    context = UserTextField(
        label=_("Context"),
        text_label=_("The context"),
        required=False,
        strip=False,
        widget=forms.Textarea(attrs={"rows": 5}),
        help_text=_(
            "Reference text the task is about. Required for closed Q&A, information extraction and summarization."
        ),
    )
    language = forms.CharField(
        label=_("Language"),
        max_length=35,
        widget=forms.TextInput(attrs={"list": "language-list", "autocomplete": "off"}),
        help_text=_("A BCP-47 tag such as en, de or pt-BR."),
    )

    def add_error(self, field: str | None, error: Any) -> None:
        """As Form.add_error; a duplicate instruction's refusal links the prompt it names."""
        if field == "instruction" and isinstance(error, list):
            error = [_duplicate_with_link(e) for e in error]
        super().add_error(field, error)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            fields = services.check_prompt_fields(
                instruction=self.data.get(self.add_prefix("instruction"), ""),
                context=self.data.get(self.add_prefix("context"), ""),
                category=self.data.get(self.add_prefix("category"), ""),
                language=self.data.get(self.add_prefix("language"), ""),
            )
        except ValidationError as exc:
            self._replace_field_errors(exc)
            return data
        data.update(
            instruction=fields.instruction,
            context=fields.context,
            category=fields.category,
            language=fields.language,
        )
        return data

    def _replace_field_errors(self, error: ValidationError) -> None:
        """Show the service's message in place of the field's own ("This field is required.",
        "Select a valid choice."), so each field says what is wrong once. The service names
        the category codes, which the API needs; here the choices are on the screen."""
        messages = error.message_dict
        if "category" in messages:
            messages["category"] = [str(_("Choose a category."))]
        for name in messages:
            self.errors.pop(name, None)
        add_validation_errors(self, ValidationError(messages))


class WriteForm(PromptFieldsMixin, IdempotentForm):
    response = UserTextField(
        label=_("Your answer"),
        text_label=_("The answer"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8, "data-preview": "1"}),
        # Not Django's "This field is required.": say which text is missing, and why.
        error_messages={"required": _("Write your own answer too: every prompt comes with one.")},
        help_text=_(
            "Answer it yourself, as a helpful expert would. Your own words: no chatbot output."
        ),
    )
    field_order = ["category", "instruction", "context", "response", "language"]

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        # The answer is checked even when the instruction is refused: every problem in one round.
        instruction = data.get("instruction", self.data.get("instruction", ""))
        if not self.has_error("response"):
            try:
                data["response"] = services.check_response_text(
                    self.data.get("response", ""), instruction=str(instruction)
                )
            except ValidationError as exc:
                add_validation_errors(self, exc)
        return data


class PromptEditForm(PromptFieldsMixin):
    field_order = ["category", "instruction", "context", "language"]


class ResponseEditForm(forms.Form):
    text = UserTextField(
        label=_("Answer"),
        text_label=_("The answer"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        error_messages={"required": _("An answer cannot be empty: to take it back, withdraw it.")},
    )


class AnswerForm(IdempotentForm):
    text = UserTextField(
        label=_("Your answer"),
        text_label=_("The answer"),
        strip=False,
        widget=forms.Textarea(attrs={"rows": 8}),
        error_messages={"required": _("Write your answer before sending it.")},
    )


class BrowseFilterForm(forms.Form):
    """Browse's search and filters, from the query string; every field may be left empty.

    The page shows what was asked for (in the fields, in an error's quote, in "No prompts
    match …"), so characters that have no place in a search or a filter and do harm when
    shown are replaced with U+FFFD first: C0 and C1 controls (a NUL breaks the page's HTML),
    and the bidirectional embeddings, overrides and isolates, which turn the rest of a line
    around."""

    UNSHOWABLE = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")

    q = forms.CharField(
        label=_("Search"),
        required=False,
        widget=forms.TextInput(
            attrs={
                "type": "search",
                "dir": "auto",
                "maxlength": selectors.SEARCH_MAX_CHARS,
                "enterkeyhint": "search",
                "placeholder": _("Words to find"),
            }
        ),
    )
    category = forms.ChoiceField(
        label=_("Category"),
        required=False,
        choices=[("", _("All categories")), *Category.choices],
        error_messages={
            "invalid_choice": _("“%(value)s” is not a category: pick one from the list.")
        },
    )
    language = forms.CharField(
        label=_("Language"),
        required=False,
        widget=forms.TextInput(
            attrs={"list": "language-list", "placeholder": "en", "autocapitalize": "none"}
        ),
    )

    def __init__(self, data: Mapping[str, str] | None = None, **kwargs: Any) -> None:
        if data is not None:
            data = {name: self.UNSHOWABLE.sub("\ufffd", value) for name, value in data.items()}
        super().__init__(data, **kwargs)

    def clean_q(self) -> str:
        q: str = self.cleaned_data["q"]
        selectors.search_terms(q)  # refuses a search too long to run
        return q

    def clean_language(self) -> str:
        language: str = self.cleaned_data["language"]
        if not language:
            return ""
        try:
            # Canonical, as prompts store it: pt-br finds pt-BR.
            return check_language(language)
        except ValidationError as exc:
            raise ValidationError(exc.message_dict["language"]) from None


class ImportForm(IdempotentForm):
    """A Dolly JSONL upload with the options of POST /api/v1/imports/. The rules are
    apps.collection.importing's: a field shows their message in place of its own, as the
    Write form does with the services' messages."""

    file = forms.FileField(
        label=_("JSONL file"),
        # An empty file gets importing's message, like every other unusable file.
        allow_empty_file=True,
        error_messages={"required": _("Choose a JSONL file to import.")},
    )
    # Required, as importing says; marked so, and the browser asks before the chosen file is
    # sent (and would have to be chosen again).
    source = forms.CharField(
        label=_("Source"),
        initial=DEFAULT_UPLOAD_SOURCE,
        help_text=_("The data set's name, recorded on every prompt, e.g. databricks-dolly-15k."),
    )
    licence = forms.CharField(
        label=_("Licence"),
        required=False,
        help_text=_("The licence the data set is published under, e.g. CC BY-SA 3.0."),
    )
    language = forms.CharField(
        label=_("Language"),
        required=False,
        initial="en",
        widget=forms.TextInput(attrs={"list": "language-list", "autocomplete": "off"}),
        help_text=_("For lines that do not name one: a BCP-47 tag such as en, de or pt-BR."),
    )
    state = forms.ChoiceField(
        label=_("State"),
        initial="accepted",
        choices=[
            (state, label)
            for state, label in (
                ("accepted", _("Accepted: open for more answers at once (a curated source)")),
                ("review", _("In review: volunteers check each prompt and answer first")),
            )
            if state in IMPORT_STATES
        ],
        widget=forms.RadioSelect,
    )
    field_order = ["file", "source", "licence", "language", "state"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["licence"].initial = settings.HEARTH_LICENCE_NAME
        self.fields["file"].help_text = _(
            "One JSON object a line with instruction, context, response and category "
            "(optionally language), in UTF-8; at most %(limit)s."
        ) % {"limit": filesizeformat(settings.HEARTH_IMPORT_MAX_BYTES)}

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        try:
            data["options"] = check_import_options(
                source=self.data.get("source", ""),
                licence=self.data.get("licence", ""),
                language=self.data.get("language", ""),
                state=self.data.get("state"),
            )
        except ValidationError as exc:
            for name in exc.message_dict:
                self.errors.pop(name, None)
            add_validation_errors(self, exc)
        upload = data.get("file")
        if upload is not None:
            try:
                check_upload(upload, size=upload.size)
            except ValidationError as exc:
                add_validation_errors(self, exc)
        return data


# The policy page's groups of fields, in the order it shows them.
POLICY_GROUPS = (
    (_("Reviews"), ("prompt_reviews_required", "response_reviews_required",
                    "acceptance_threshold")),
    (_("Answers and rankings"), ("responses_to_collect", "rankings_required")),
    (_("Tasks"), ("max_pending_assignments", "write_minutes", "respond_minutes",
                  "review_minutes", "rank_minutes")),
    (_("Which task comes next"), ("weight_rank", "weight_review", "weight_respond",
                                  "weight_write")),
    (_("Moderation"), ("auto_hide_flags",)),
)  # fmt: skip


class PolicyForm(forms.ModelForm):  # type: ignore[type-arg]  # generic only in the stubs
    """The collection policy, for maintainers (the API's PATCH /api/v1/policy/ changes the
    same row under the same rules)."""

    class Meta:
        model = CollectionPolicy
        fields = [name for _title, names in POLICY_GROUPS for name in names]
        labels = {
            "prompt_reviews_required": _("Reviews a prompt needs"),
            "response_reviews_required": _("Reviews an answer needs"),
            "acceptance_threshold": _("Acceptance threshold"),
            "responses_to_collect": _("Answers a prompt collects"),
            "rankings_required": _("Rankings a prompt needs"),
            "max_pending_assignments": _("Open tasks one person may hold"),
            "write_minutes": _("Minutes to write a prompt"),
            "respond_minutes": _("Minutes to write an answer"),
            "review_minutes": _("Minutes to review"),
            "rank_minutes": _("Minutes to rank"),
            "weight_rank": _("Weight of ranking"),
            "weight_review": _("Weight of reviewing"),
            "weight_respond": _("Weight of answering"),
            "weight_write": _("Weight of writing a new prompt"),
            "auto_hide_flags": _("Reports that hide an item"),
        }
        help_texts = {
            "acceptance_threshold": _(
                "Between 0 and 1: work is accepted when more than this share of its reviews "
                "tick no blocking problem."
            ),
            "responses_to_collect": _(
                "At least 2: then the prompt moves on to ranking (model-written answers come "
                "on top)."
            ),
            "max_pending_assignments": _("A task not sent in time goes back to the pool."),
            "weight_rank": _(
                "Contribute picks a kind of task with a chance in proportion to its weight, "
                "among the kinds that have work waiting; 0 never picks it."
            ),
            "auto_hide_flags": _(
                "Open reports on one prompt or answer that hide it until a moderator decides. "
                "Only reports from volunteers with accepted work count."
            ),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Each count's range (POLICY_LIMITS), checked here with the model's message so that
        # it shows once by its field; the browser's number box gets the same ends.
        for name, (low, high) in POLICY_LIMITS.items():
            field = self.fields[name]
            field.validators = [
                v
                for v in field.validators
                if not isinstance(v, MinValueValidator | MaxValueValidator)
            ] + [InRange(low, high)]
            field.widget.attrs.update(min=low, max=high)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        threshold = data.get("acceptance_threshold")
        if threshold is not None and not 0 <= threshold <= 1:
            self.add_error("acceptance_threshold", _("Give a number from 0 to 1."))
        return data

    def groups(self) -> list[tuple[str, list[forms.BoundField]]]:
        return [(str(title), [self[name] for name in names]) for title, names in POLICY_GROUPS]
