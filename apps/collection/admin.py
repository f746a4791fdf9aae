from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.collection.models import CollectionPolicy, Import, Prompt, Response
from apps.collection.policy import policy_update

# Where a prompt or answer stands in the flow: read here, changed only on the site (reviews,
# rankings, withdrawing, moderation), whose services move its open slots, its answers' and its
# consensus along with it. Set by hand here, a rejected prompt put back to collecting kept 0
# open slots and was never handed out again (spam QA).
PROMPT_FLOW_FIELDS = ["state", "open_slots", "withdrawn_at", "hidden_at"]
RESPONSE_FLOW_FIELDS = [*PROMPT_FLOW_FIELDS, "source"]


class ResponseInline(admin.TabularInline):
    """A prompt's answers on its page. The author is shown, not edited: a raw-id widget looked
    up each answer's author on its own (61 answers, 61 queries), and an answer keeps the
    author who wrote it."""

    model = Response
    extra = 0
    fields = ["author", "text", "state", "source", "withdrawn_at", "hidden_at"]
    readonly_fields = ["author", *RESPONSE_FLOW_FIELDS]

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # an answer is written on the site, under its checks and the prompt's slots

    def get_queryset(self, request: HttpRequest) -> QuerySet[Response]:
        return super().get_queryset(request).select_related("author")


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "__str__",
        "category",
        "language",
        "state",
        "origin",
        "author",
        "created_at",
    ]
    list_filter = ["state", "category", "language", "origin"]
    search_fields = ["instruction", "author__email"]
    raw_id_fields = ["author"]
    list_select_related = ["author"]
    readonly_fields = ["instruction_key", *PROMPT_FLOW_FIELDS, "created_at", "updated_at"]
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "prompt", "state", "source", "author", "created_at"]
    list_filter = ["state", "source", "origin"]
    search_fields = ["text", "author__email"]
    raw_id_fields = ["author", "prompt"]
    list_select_related = ["author", "prompt"]
    readonly_fields = [*RESPONSE_FLOW_FIELDS, "created_at", "updated_at"]


@admin.register(CollectionPolicy)
class CollectionPolicyAdmin(admin.ModelAdmin):
    """The single policy row: editable, never added twice or deleted. Saved through
    ``policy_update``, as ``PATCH /api/v1/policy/`` and the Policy page are: a raised count
    gives work already at that step its extra tasks, and only the fields this form changed are
    written, over the row as it is now."""

    fieldsets = (
        (
            "Reviews",
            {
                "fields": (
                    "prompt_reviews_required",
                    "response_reviews_required",
                    "acceptance_threshold",
                )
            },
        ),
        ("Answers and rankings", {"fields": ("responses_to_collect", "rankings_required")}),
        (
            "Task lifetimes (minutes)",
            {"fields": ("write_minutes", "respond_minutes", "review_minutes", "rank_minutes")},
        ),
        (
            "Dispatcher",
            {
                "fields": (
                    "max_pending_assignments",
                    "weight_rank",
                    "weight_review",
                    "weight_respond",
                    "weight_write",
                )
            },
        ),
        ("Moderation", {"fields": ("auto_hide_flags",)}),
    )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return not CollectionPolicy.objects.exists()

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def save_model(
        self, request: HttpRequest, obj: CollectionPolicy, form: Any, change: bool
    ) -> None:
        names = form.changed_data if change else list(form.cleaned_data)
        policy = policy_update(changes={name: form.cleaned_data[name] for name in names})
        # What the admin logs and redirects to: the row as saved.
        for field in CollectionPolicy._meta.concrete_fields:
            setattr(obj, field.attname, getattr(policy, field.attname))


@admin.register(Import)
class ImportAdmin(admin.ModelAdmin):
    """Imports are sent from the Import page or the API and moved on by the worker only: staff
    read them here."""

    list_display = [
        "id",
        "file_name",
        "status",
        "created_by",
        "created_at",
        "imported",
        "answers_added",
        "duplicates",
        "rejected",
    ]
    list_filter = ["status"]
    search_fields = ["file_name", "created_by__email"]
    list_select_related = ["created_by"]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False
