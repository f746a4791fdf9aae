from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.db.models import Count, Q, QuerySet

from apps.collection.models import Prompt, Response
from apps.moderation.models import Flag, ModerationAction


@dataclass(frozen=True)
class QueueItem:
    kind: str  # "prompt" or "response"
    target: Prompt | Response
    open_flags: int
    reasons: list[str]


def moderation_queue(*, limit: int = 100) -> list[QueueItem]:
    """Prompts and answers with open flags, hidden ones first, most flagged first."""
    items: list[QueueItem] = []
    for model, kind in ((Prompt, "prompt"), (Response, "response")):
        flagged = (
            model.objects.annotate(
                open_flags=Count("flags", filter=Q(flags__resolved_at__isnull=True))
            )
            .filter(open_flags__gt=0)
            .order_by("hidden_at", "-open_flags")[:limit]
        )
        for target in flagged:
            reasons = list(
                Flag.objects.filter(resolved_at__isnull=True, **{kind: target}).values_list(
                    "reason", flat=True
                )
            )
            items.append(QueueItem(kind, target, target.open_flags, reasons))
    items.sort(key=lambda i: (i.target.hidden_at is None, -i.open_flags))
    return items[:limit]


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
