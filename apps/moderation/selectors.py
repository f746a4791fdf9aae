from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Prefetch, Q, QuerySet

from apps.accounts.models import User
from apps.collection.models import Prompt, Response
from apps.moderation.models import Flag, ModerationAction


@dataclass(frozen=True)
class QueueItem:
    kind: str  # "prompt" or "response"
    target: Prompt | Response
    open_flags: int
    reasons: list[str]
    # The open flags themselves, oldest first, with their reporters: what each one said.
    flags: list[Flag] = field(default_factory=list)


def moderation_queue(*, limit: int = 100) -> list[QueueItem]:
    """Prompts and answers with open flags, hidden ones first, most flagged first."""
    items: list[QueueItem] = []
    open_flag_prefetch = Prefetch(
        "flags",
        queryset=Flag.objects.filter(resolved_at__isnull=True)
        .select_related("reporter")
        .order_by("created_at", "id"),
        to_attr="open_flag_list",
    )
    for model, kind in ((Prompt, "prompt"), (Response, "response")):
        related = ("author", "prompt") if model is Response else ("author",)
        flagged = (
            model.objects.annotate(
                open_flags=Count("flags", filter=Q(flags__resolved_at__isnull=True))
            )
            .filter(open_flags__gt=0)
            .select_related(*related)
            .prefetch_related(open_flag_prefetch)
            .order_by("hidden_at", "-open_flags")[:limit]
        )
        for target in flagged:
            flags = list(target.open_flag_list)
            reasons = [f.reason for f in flags]
            items.append(QueueItem(kind, target, target.open_flags, reasons, flags))
    items.sort(key=lambda i: (i.target.hidden_at is None, -i.open_flags))
    return items[:limit]


def hidden_prompts() -> QuerySet[Prompt]:
    """Prompts a moderator (or enough flags) hid, most recently hidden first."""
    return (
        Prompt.objects.filter(hidden_at__isnull=False)
        .select_related("author")
        .order_by("-hidden_at", "-id")
    )


def hidden_responses() -> QuerySet[Response]:
    """Answers a moderator (or enough flags) hid, most recently hidden first."""
    return (
        Response.objects.filter(hidden_at__isnull=False)
        .select_related("author", "prompt")
        .order_by("-hidden_at", "-id")
    )


def banned_users() -> QuerySet[User]:
    return User.objects.filter(banned_at__isnull=False).order_by("-banned_at", "-id")


def audit_log() -> QuerySet[ModerationAction]:
    return ModerationAction.objects.select_related("actor", "subject", "prompt", "response")


def flag_target(kind: Any, target_id: Any) -> Prompt | Response | None:
    try:
        pk = int(target_id)
    except (TypeError, ValueError):
        return None
    if kind == "prompt":
        return Prompt.objects.filter(pk=pk).first()
    if kind == "response":
        return Response.objects.filter(pk=pk).first()
    return None
