"""Reads for accounts."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import Http404
from django.utils.translation import gettext_lazy as _

from apps.accounts.models import ApiToken, LicenceAcceptance, User


def licence_accepted(*, user: Any) -> bool:
    """Whether ``user`` accepted the current licence version. Token authentication answers
    this in its own query and leaves the answer on the user (``licence_accepted_cache``);
    ``services.licence_accept`` updates it."""
    if not user.is_authenticated:
        return False
    cached = getattr(user, "licence_accepted_cache", None)
    if cached is not None:
        return bool(cached)
    return LicenceAcceptance.objects.filter(
        user=user, version=settings.HEARTH_LICENCE_VERSION
    ).exists()


def licence_text() -> str:
    path = settings.HEARTH_LICENCE_TEXT_FILE
    if path:
        with open(path, encoding="utf-8") as fh:
            return fh.read()
    return ""


def api_tokens_for_user(*, user: Any) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)


# The revoked tokens the Profile page lists, most recently revoked first. Live ones are at most
# 20 (services.api_token_create), but revoked ones are kept and add up: a script that makes a
# token for each run and revokes it after filled the page with a row for every run.
REVOKED_TOKENS_SHOWN = 5


def api_tokens_for_profile(*, user: Any) -> tuple[list[ApiToken], int]:
    """The Profile page's tokens: every live one, newest first, then the
    ``REVOKED_TOKENS_SHOWN`` most recently revoked; and how many older revoked ones it leaves
    out."""
    tokens = ApiToken.objects.filter(user=user)
    live = list(tokens.filter(revoked_at__isnull=True).order_by("-created_at", "-id"))
    revoked = tokens.filter(revoked_at__isnull=False).order_by("-revoked_at", "-id")
    shown = list(revoked[:REVOKED_TOKENS_SHOWN])
    older = revoked.count() - len(shown) if len(shown) == REVOKED_TOKENS_SHOWN else 0
    return live + shown, older


def api_token_get_for_user(*, user: Any, token_id: int) -> ApiToken:
    token = ApiToken.objects.filter(user=user, pk=token_id).first()
    if token is None:
        raise Http404
    return token


def request_user(request: Any) -> User:
    """The signed-in user of a request that a login check already guarded."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied(_("Sign in first."))
    return user


EXPORT_FORMAT = "hearth-account-export/1"
# Rows read from the database at a time while an export is written: a power user's 13,700
# answers made 12.9 MB of JSON, all held in memory at once before.
EXPORT_CHUNK_ROWS = 500
# What a person sets about themselves (GET /api/v1/me/ shows them too).
PROFILE_FIELDS = ("id", "email", "display_name", "languages", "attribution", "on_leaderboard")


def account_export(*, user: User) -> dict[str, Any]:
    """Everything Hearth holds that a person wrote or chose, as JSON-ready data: the account,
    licence consents, token names (never secrets), prompts, answers, reviews, rankings, the
    flags they raised and the notes they gave when skipping a task. Withdrawn and hidden work
    is included, marked as such.

    Each list is an iterator that reads its rows when consumed, ``EXPORT_CHUNK_ROWS`` at a
    time (one query each, however many rows): consume it once, in order, while the database
    connection is open (``apps.core.streaming.json_pieces`` writes it as it goes)."""
    from django.utils import timezone

    from apps.assignments.models import Assignment
    from apps.collection.models import Prompt, Response
    from apps.feedback.models import LABELS, Ranking, Review
    from apps.moderation.models import Flag

    def plain(row: dict[str, Any]) -> dict[str, Any]:
        return {k: v.isoformat() if hasattr(v, "isoformat") else v for k, v in row.items()}

    def rows(queryset: QuerySet[Any], *fields: str) -> Iterator[dict[str, Any]]:
        found = queryset.order_by("pk").values(*fields).iterator(chunk_size=EXPORT_CHUNK_ROWS)
        return map(plain, found)

    account = plain(
        User.objects.filter(pk=user.pk)
        .values(*PROFILE_FIELDS, "date_joined", "last_login", "banned_at", "ban_reason")
        .get()
    )
    account["roles"] = sorted(user.groups.values_list("name", flat=True))
    return {
        "format": EXPORT_FORMAT,
        "exported_at": timezone.now().isoformat(),
        "account": account,
        "licence_acceptances": rows(user.licence_acceptances.all(), "version", "accepted_at"),
        "api_tokens": rows(
            user.api_tokens.all(), "name", "prefix", "created_at", "last_used_at", "revoked_at"
        ),
        "prompts": rows(
            Prompt.objects.filter(author=user),
            "id",
            "instruction",
            "context",
            "category",
            "language",
            "state",
            "origin",
            "licence",
            "created_at",
            "updated_at",
            "withdrawn_at",
            "hidden_at",
        ),
        "answers": rows(
            Response.objects.filter(author=user),
            "id",
            "prompt_id",
            "text",
            "state",
            "source",
            "licence",
            "consensus_rank",
            "created_at",
            "updated_at",
            "withdrawn_at",
            "hidden_at",
        ),
        "reviews": rows(
            Review.objects.filter(reviewer=user),
            "id",
            "prompt_id",
            "response_id",
            *LABELS,
            "quality",
            "created_at",
        ),
        "rankings": rows(
            Ranking.objects.filter(ranker=user),
            "id",
            "prompt_id",
            "order",
            "unusable",
            "created_at",
        ),
        "flags": rows(
            Flag.objects.filter(reporter=user),
            "id",
            "prompt_id",
            "response_id",
            "reason",
            "note",
            "created_at",
            "resolved_at",
        ),
        "skipped_tasks": rows(
            Assignment.objects.filter(user=user).exclude(skip_reason=""),
            "id",
            "task_type",
            "prompt_id",
            "response_id",
            "skip_reason",
            "finished_at",
        ),
    }
