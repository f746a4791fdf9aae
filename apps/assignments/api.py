"""The task API: next, submit, skip."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import (
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
    inline_serializer,
)
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response as ApiResponse
from rest_framework.views import APIView

from apps.accounts.permissions import AcceptedLicence, HasAcceptedLicence
from apps.accounts.selectors import request_user
from apps.assignments import selectors, services
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection.api import existing_prompt_named
from apps.core.api import Pagination, idempotent, refuses_unknown_query
from apps.core.fields import RefusesUnknownFields, StrictCharField
from apps.core.schema import (
    IDEMPOTENT_ERRORS,
    PAGE_ERRORS,
    PAGE_PARAMETERS,
    PROMPT_WRITE_INVALID,
    RETRY_AFTER,
    WRITE_ERRORS,
    documented_json,
    errors,
    paginated,
)
from apps.core.throttling import ScopedThrottle


class TaskRefused(exceptions.APIException):
    default_code = "task_refused"

    def __init__(self, error: services.TaskError) -> None:
        super().__init__(error.message)
        self.status_code = error.status


def _call(fn: Any, **kwargs: Any) -> Any:
    try:
        return fn(**kwargs)
    except services.TaskError as exc:
        raise TaskRefused(exc) from None


class TaskPromptOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    instruction = serializers.CharField()
    context = serializers.CharField()  # type: ignore[assignment]
    category = serializers.CharField()
    language = serializers.CharField()


class TaskResponseOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    text = serializers.CharField()


TaskResult = documented_json(
    "TaskResult",
    {
        "type": "object",
        "properties": {
            name: {"type": "integer"}
            for name in ("prompt_id", "review_id", "response_id", "ranking_id")
        },
    },
)


@extend_schema_field({"type": "string", "enum": TaskType.values}, component_name="TaskTypeEnum")
class TaskTypeField(serializers.ChoiceField):
    """A task's type, as its own enum in the schema (drf-spectacular would call it TypeEnum)."""


@extend_schema_field(
    {"type": "string", "enum": AssignmentState.values}, component_name="TaskStateEnum"
)
class TaskStateField(serializers.ChoiceField):
    """A task's state, as its own enum in the schema."""


class TaskOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    type = TaskTypeField(choices=TaskType.choices, source="task_type")
    state = TaskStateField(
        choices=AssignmentState.choices,
        help_text=_(
            "active while you hold it; submitted or skipped once you did; expired when its "
            "time ran out; released when it was taken back because its work went away (halted, "
            "withdrawn, hidden) or your account was banned."
        ),
    )
    expires_at = serializers.DateTimeField()
    prompt = TaskPromptOut(allow_null=True)
    response = TaskResponseOut(allow_null=True, help_text=_("The answer to review."))
    responses = TaskResponseOut(
        many=True, help_text=_("For ranking: every answer to order, best first.")
    )
    result = TaskResult(
        allow_null=True,
        help_text=_(
            "What a submitted task made: prompt_id (write), review_id (review_prompt, "
            "review_response), response_id (respond) or ranking_id (rank); null before."
        ),
    )

    def to_representation(self, assignment: Assignment) -> dict[str, Any]:
        return selectors.task_payload(assignment)


class TaskNextApi(APIView):
    # GET takes a task; HEAD, which the framework would answer with GET (and which link
    # checkers and proxies send as a safe method), is refused rather than take one.
    http_method_names = ["get", "options"]
    permission_classes = [IsAuthenticated, AcceptedLicence]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "tasks_next"

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "type",
                str,
                enum=list(services.REQUESTABLE),
                description="The kind of task; any picks by weight among those waiting.",
            ),
            RETRY_AFTER,
        ],
        # 404: no task of the kind is waiting; 409: too many tasks already taken.
        responses={200: TaskOut, **errors(400, 401, 403, 404, 409, 429)},
        operation_id="tasks_next",
        description=(
            "Hold the next task of the kind. A task of that kind you already hold, whose hold "
            "has not run out, comes back instead (for any, any task you hold), as on the site."
        ),
    )
    @refuses_unknown_query
    def get(self, request: Request) -> ApiResponse:
        assignment = _call(
            services.task_held_or_next,
            user=request_user(request),
            kind=request.query_params.get("type", "any"),
        )
        return ApiResponse(TaskOut(assignment).data)


class TaskSubmitApi(APIView):
    permission_classes = [IsAuthenticated, HasAcceptedLicence]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "tasks_submit"

    @extend_schema(
        request=inline_serializer(
            "TaskSubmitIn",
            {
                "instruction": serializers.CharField(required=False),
                "context": serializers.CharField(required=False),
                "category": serializers.CharField(required=False),
                "language": serializers.CharField(required=False),
                "response": serializers.CharField(required=False),
                "text": serializers.CharField(required=False),
                "labels": serializers.ListField(child=serializers.CharField(), required=False),
                "quality": serializers.IntegerField(required=False, min_value=1, max_value=5),
                "order": serializers.ListField(child=serializers.IntegerField(), required=False),
                "unusable": serializers.BooleanField(required=False),
            },
        ),
        parameters=[RETRY_AFTER],
        # 404: not your task; 409: already submitted, skipped or expired.
        responses={
            200: TaskOut,
            **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409, 429),
            400: PROMPT_WRITE_INVALID,
        },
        operation_id="tasks_submit",
        description=(
            "write: instruction, context, category, language, response · review_prompt / "
            "review_response: labels, quality · respond: text · rank: order (answer ids, "
            "best first) or unusable: true. A field the task's type does not take is a 400 "
            "naming those it does. A write task's instruction already in Hearth is a 400 "
            "under instruction, with existing_prompt naming that prompt when you may see it."
        ),
    )
    @idempotent
    def post(self, request: Request, task_id: int) -> ApiResponse:
        if not isinstance(request.data, dict):
            raise exceptions.ParseError(_("Send a JSON object."))
        with existing_prompt_named(request):
            assignment = _call(
                services.task_submit,
                user=request_user(request),
                assignment_id=task_id,
                payload=request.data,
            )
        return ApiResponse(TaskOut(assignment).data, status=status.HTTP_200_OK)


class TaskSkipApi(APIView):
    permission_classes = [IsAuthenticated]
    throttle_classes = [ScopedThrottle]
    throttle_scope = "tasks_submit"

    class TaskSkipIn(RefusesUnknownFields):
        # Text only (1.5 is refused, not stored as "1.5"); the service checks its content.
        reason = StrictCharField(required=False)

    @extend_schema(
        request=TaskSkipIn,
        parameters=[RETRY_AFTER],
        responses={200: TaskOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409, 429)},
        operation_id="tasks_skip",
    )
    @idempotent
    def post(self, request: Request, task_id: int) -> ApiResponse:
        payload = self.TaskSkipIn(data=request.data)
        payload.is_valid(raise_exception=True)
        assignment = _call(
            services.task_skip,
            user=request_user(request),
            assignment_id=task_id,
            reason=payload.validated_data.get("reason", ""),
        )
        return ApiResponse(TaskOut(assignment).data)


class MyTasksApi(APIView):
    """The tasks you hold, oldest first. Paged like every list, though the policy's cap on
    open tasks keeps it to one page."""

    permission_classes = [IsAuthenticated]

    @extend_schema(
        parameters=PAGE_PARAMETERS,
        responses={200: paginated(TaskOut), **errors(401, *PAGE_ERRORS)},
        operation_id="tasks_list_active",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> ApiResponse:
        tasks = selectors.task_list_for_user(user=request_user(request))
        paginator = Pagination()
        page = paginator.paginate_queryset(tasks, request, view=self)
        return paginator.get_paginated_response(TaskOut(page, many=True).data)
