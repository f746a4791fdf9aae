"""Flags for everyone; the queue, actions and audit log for moderators."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied
from django.db.models import Count, Q
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import BasePermission, IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts import roles
from apps.accounts.models import User
from apps.accounts.permissions import AcceptedLicence
from apps.accounts.selectors import request_user
from apps.collection import selectors as collection_selectors
from apps.collection.models import Prompt, Response
from apps.core.api import Pagination, idempotent, refused_in_state, refuses_unknown_query
from apps.core.fields import (
    ListedChoiceField,
    RefusesUnknownFields,
    StrictCharField,
    StrictIntegerField,
)
from apps.core.schema import (
    IDEMPOTENT_ERRORS,
    PAGE_ERRORS,
    PAGE_PARAMETERS,
    RETRY_AFTER,
    WRITE_ERRORS,
    errors,
    paginated,
)
from apps.core.throttling import ScopedThrottle
from apps.moderation import selectors, services
from apps.moderation.models import Flag, FlagReason, ModerationAction


class IsModerator(BasePermission):
    message = _("Only moderators may do this.")

    def has_permission(self, request: Any, view: Any) -> bool:
        return roles.is_moderator(request.user)


def _call(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except PermissionDenied as exc:
        raise exceptions.PermissionDenied(str(exc) or None) from None


def _act(fn: Any, **kwargs: Any) -> Any:
    """``_call`` for a moderator's action on an item or a user: a refusal because of what it
    is or is in now (restoring what is not hidden, banning a banned user) is a 409; one of
    the body's reason a 400."""
    with refused_in_state(*ReasonIn().fields):
        return _call(fn, **kwargs)


class FlagOut(serializers.ModelSerializer[Flag]):
    class Meta:
        model = Flag
        fields = ["id", "prompt", "response", "reason", "note", "created_at"]
        read_only_fields = fields


class FlagsApi(APIView):
    permission_classes = [IsAuthenticated, AcceptedLicence]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "flags"

    class FlagIn(RefusesUnknownFields):
        prompt_id = StrictIntegerField(required=False)
        response_id = StrictIntegerField(required=False)
        reason = ListedChoiceField(choices=FlagReason.choices)
        note = StrictCharField(required=False, max_length=1000)

        def validate(self, data: dict[str, Any]) -> dict[str, Any]:
            if ("prompt_id" in data) == ("response_id" in data):
                raise serializers.ValidationError(
                    _("Give exactly one of prompt_id or response_id.")
                )
            return data

    @extend_schema(
        request=FlagIn,
        parameters=[RETRY_AFTER],
        responses={201: FlagOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 429)},
        operation_id="flags_create",
    )
    @idempotent
    def post(self, request: Request) -> ApiResponse:
        payload = self.FlagIn(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        user = request_user(request)
        target: Prompt | Response
        if "prompt_id" in data:
            target = collection_selectors.prompt_get_for_user(
                user=user, prompt_id=data["prompt_id"]
            )
        else:
            target = collection_selectors.response_get_for_user(
                user=user, response_id=data["response_id"]
            )
        flag = services.flag_create(
            reporter=user, target=target, reason=data["reason"], note=data.get("note", "")
        )
        return ApiResponse(FlagOut(flag).data, status=status.HTTP_201_CREATED)


class ReporterOut(serializers.Serializer[Any]):
    id = serializers.IntegerField(source="pk")
    public_name = serializers.CharField(help_text="The name the reporter goes by in Hearth.")
    banned = serializers.SerializerMethodField(
        help_text="Whether the reporter is banned now. A ban closes the banned account's "
        "open flags, so an open flag from a banned reporter is one from before that rule."
    )

    def get_banned(self, user: User) -> bool:
        return user.banned_at is not None


class QueueFlagOut(serializers.ModelSerializer[Flag]):
    reporter = ReporterOut()

    class Meta:
        model = Flag
        fields = ["id", "reason", "note", "created_at", "reporter"]
        read_only_fields = fields


class QueueItemOut(serializers.Serializer[Any]):
    kind = serializers.CharField()
    id = serializers.IntegerField(source="target.pk")
    text = serializers.SerializerMethodField()
    hidden = serializers.SerializerMethodField()
    open_flags = serializers.IntegerField()
    reasons = serializers.ListField(child=serializers.CharField())
    flags = QueueFlagOut(
        many=True,
        help_text=f"The oldest open flags, {selectors.FLAGS_SHOWN} at most, each with its "
        "reporter; open_flags counts them all and reasons gives every one's reason.",
    )
    banned_reporters = serializers.SerializerMethodField(
        help_text="How many of the open flags, all of them, come from reporters banned now."
    )

    def get_banned_reporters(self, item: selectors.QueueItem) -> int:
        counts: dict[tuple[str, int], int] = self.context.get("banned_reporters", {})
        return counts.get((item.kind, item.target.pk), 0)

    def get_text(self, item: selectors.QueueItem) -> str:
        target = item.target
        return target.instruction if isinstance(target, Prompt) else target.text

    def get_hidden(self, item: selectors.QueueItem) -> bool:
        return item.target.hidden_at is not None


class QueueApi(APIView):
    """Prompts and answers with open flags, paged like every list: hidden ones first (flags
    hid them and they wait for a moderator), then the most flagged, then the longest
    waiting. Each item gives its oldest open flags with their reporters, and whether each is
    banned (a ban closes the banned account's open flags and shows again what they alone
    hid: one still open from a banned reporter predates that)."""

    permission_classes = [IsAuthenticated, IsModerator]

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(QueueItemOut), **errors(401, 403, *PAGE_ERRORS)},
        operation_id="moderation_queue",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> ApiResponse:
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.moderation_queue(), request, view=self)
        context = {"banned_reporters": _banned_reporters(page or [])}
        return paginator.get_paginated_response(QueueItemOut(page, many=True, context=context).data)


def _banned_reporters(items: list[selectors.QueueItem]) -> dict[tuple[str, int], int]:
    """For each of these queue items, ("prompt" or "response", id), how many of its open
    flags come from a banned reporter: one query for the page."""
    prompt_ids = [i.target.pk for i in items if i.kind == "prompt"]
    response_ids = [i.target.pk for i in items if i.kind == "response"]
    if not items:
        return {}
    rows = (
        Flag.objects.filter(resolved_at__isnull=True, reporter__banned_at__isnull=False)
        .filter(Q(prompt_id__in=prompt_ids) | Q(response_id__in=response_ids))
        .order_by()
        .values_list("prompt_id", "response_id")
        .annotate(n=Count("pk"))
    )
    return {("prompt", p) if p is not None else ("response", r): n for p, r, n in rows}


class ReasonIn(RefusesUnknownFields):
    reason = StrictCharField(required=False)


ACTIONS: dict[tuple[str, str], Any] = {
    ("prompt", "hide"): services.content_hide,
    ("prompt", "restore"): services.content_restore,
    ("prompt", "dismiss"): services.flags_dismiss,
    ("response", "hide"): services.content_hide,
    ("response", "restore"): services.content_restore,
    ("response", "dismiss"): services.flags_dismiss,
}
# For the schema: what the content and user actions accept in their paths.
CONTENT_KINDS = ("prompt", "response")
CONTENT_ACTIONS = ("hide", "restore", "dismiss", "halt")
USER_ACTIONS = ("ban", "unban")


class ContentActionOut(serializers.Serializer[Any]):
    kind = serializers.CharField(help_text="prompt or response, as in the path.")
    id = serializers.IntegerField(help_text="The prompt's or response's id.")
    action = serializers.CharField(help_text="The action taken, as in the path.")


class UserActionOut(serializers.Serializer[Any]):
    user = serializers.IntegerField(help_text="The user's id.")
    action = serializers.CharField(help_text="ban or unban, as in the path.")


class ContentActionApi(APIView):
    """Hide, restore or dismiss the flags of a prompt or a response, or halt a prompt (its
    open tasks are released). ``kind`` is ``prompt`` or ``response``, and the path adds the
    ``s``: ``POST /api/v1/moderation/prompts/12/hide/``. Hiding and halting need a
    ``reason``, which goes into the audit log. Hiding what flags hid keeps it hidden and
    closes its flags (the queue's Keep hidden). A repeat adds no log row: hiding what is
    hidden with no open flag, or dismissing with none open, answers 200 and changes nothing;
    restoring what is not hidden or halting a halted prompt (or a complete or rejected one, or
    one too busy to halt at that moment) is a 409 that says so."""

    permission_classes = [IsAuthenticated, IsModerator]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind",
                str,
                OpenApiParameter.PATH,
                enum=list(CONTENT_KINDS),
                description="What is acted on, singular: the path reads prompts/ or responses/.",
            ),
            OpenApiParameter(
                "action",
                str,
                OpenApiParameter.PATH,
                enum=list(CONTENT_ACTIONS),
                description="halt applies to prompts only.",
            ),
        ],
        request=ReasonIn,
        responses={200: ContentActionOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409)},
        operation_id="moderation_content_action",
    )
    @idempotent
    def post(self, request: Request, kind: str, target_id: int, action: str) -> ApiResponse:
        payload = ReasonIn(data=request.data)
        payload.is_valid(raise_exception=True)
        reason = payload.validated_data.get("reason", "")
        moderator = request_user(request)
        target = selectors.flag_target(kind, target_id)
        if target is None:
            raise exceptions.NotFound()
        if action == "halt":
            if not isinstance(target, Prompt):
                raise exceptions.NotFound()
            _act(services.prompt_halt, moderator=moderator, prompt=target, reason=reason)
        elif (kind, action) in ACTIONS:
            _act(ACTIONS[kind, action], moderator=moderator, target=target, reason=reason)
        else:
            raise exceptions.NotFound()
        return ApiResponse(ContentActionOut({"kind": kind, "id": target.pk, "action": action}).data)


class UserActionApi(APIView):
    """Ban a user (their open tasks are released and they can do no more work) or lift the
    ban. Banning needs a ``reason`` (400 without one); a moderator cannot ban another
    moderator (403). Banning a banned user, unbanning one who is not banned, banning
    yourself or the account Hearth files its models' answers under is a 409 that says so,
    and is not logged."""

    permission_classes = [IsAuthenticated, IsModerator]

    @extend_schema(
        parameters=[
            OpenApiParameter("action", str, OpenApiParameter.PATH, enum=list(USER_ACTIONS))
        ],
        request=ReasonIn,
        responses={200: UserActionOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409)},
        operation_id="moderation_user_action",
    )
    @idempotent
    def post(self, request: Request, user_id: int, action: str) -> ApiResponse:
        payload = ReasonIn(data=request.data)
        payload.is_valid(raise_exception=True)
        subject = User.objects.filter(pk=user_id).first()
        if subject is None or action not in USER_ACTIONS:
            raise exceptions.NotFound()
        fn = services.user_ban if action == "ban" else services.user_unban
        _act(
            fn,
            moderator=request_user(request),
            user=subject,
            reason=payload.validated_data.get("reason", ""),
        )
        return ApiResponse(UserActionOut({"user": subject.pk, "action": action}).data)


class ActionOut(serializers.ModelSerializer[ModerationAction]):
    actor = serializers.CharField(source="actor.public_name", default=None)
    subject = serializers.IntegerField(source="subject_id", allow_null=True)

    class Meta:
        model = ModerationAction
        fields = ["id", "created_at", "action", "actor", "prompt", "response", "subject", "reason"]
        read_only_fields = fields


class AuditLogApi(APIView):
    permission_classes = [IsAuthenticated, IsModerator]

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(ActionOut), **errors(401, 403, *PAGE_ERRORS)},
        operation_id="moderation_log",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> ApiResponse:
        paginator = Pagination()
        page = paginator.paginate_queryset(selectors.audit_log(), request, view=self)
        return paginator.get_paginated_response(ActionOut(page, many=True).data)
