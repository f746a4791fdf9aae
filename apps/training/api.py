"""/api/v1/training-runs/ and /api/v1/training-schedules/: maintainers only."""

from __future__ import annotations

from typing import Any

from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import exceptions, serializers, status
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsMaintainer
from apps.accounts.selectors import request_user
from apps.core.api import (
    Pagination,
    SelfUrl,
    absolute_url,
    idempotent,
    refused_in_state,
    refuses_unknown_query,
    takes_no_body,
)
from apps.core.fields import (
    ListedChoiceField,
    RefusesUnknownFields,
    StrictBooleanField,
    StrictCharField,
    StrictIntegerField,
)
from apps.core.schema import (
    IDEMPOTENT_ERRORS,
    LOCATION,
    PAGE_ERRORS,
    PAGE_PARAMETERS,
    WRITE_ERRORS,
    documented_json,
    errors,
    paginated,
)
from apps.releases.models import Release
from apps.training import schedules, selectors, services
from apps.training.models import RunKind, RunMethod, RunState, TrainingRun

# What the GPU worker reports (worker/runs.py), as run_report keeps it: each log entry by its
# step, its other values numbers (or null, or text a worker may add).
_REPORTED = {"type": ["number", "string", "boolean", "null"]}
_NUMBER_OR_NULL = {"type": ["number", "null"]}
_EVAL_POINT = {
    "type": "object",
    "properties": {"step": {"type": "integer"}},
    "required": ["step"],
    "additionalProperties": _REPORTED,
    "description": "An evaluation: its step and its metrics by name (eval_loss, …).",
}
Hyperparameters = documented_json(
    "Hyperparameters",
    {
        "type": "object",
        "additionalProperties": {},
        "description": "The worker config's fields given for this run, by name (see the "
        "Training section of the README for each kind's); the rest are the config's defaults.",
    },
)
Metrics = documented_json(
    "Metrics",
    {
        "type": "object",
        "additionalProperties": _NUMBER_OR_NULL,
        "description": "The final evaluation's metrics by name, and the mean train loss of "
        "the last steps; empty until the run succeeds.",
    },
)
LossHistory = documented_json(
    "LossHistory",
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {
                "step": {"type": "integer"},
                "loss": _NUMBER_OR_NULL,
                "lr": _NUMBER_OR_NULL,
                "tokens_per_s": _NUMBER_OR_NULL,
                "seconds": _NUMBER_OR_NULL,
            },
            "required": ["step"],
            "additionalProperties": _REPORTED,
        },
        "description": "The training loss by step, oldest first (thinned on a long run: "
        "the latest points stay exact); seconds is the step's time.",
    },
)
EvalHistory = documented_json(
    "EvalHistory",
    {
        "type": "array",
        "items": _EVAL_POINT,
        "description": "Every evaluation, by step, oldest first.",
    },
)
Timings = documented_json(
    "Timings",
    {
        "type": "object",
        "additionalProperties": {"type": "number"},
        "description": "Seconds spent in each phase (load, train, eval, save, answer…) and "
        "in total; empty until the run succeeds.",
    },
)
ArtefactFiles = documented_json(
    "ArtefactFiles",
    {
        "type": "array",
        "items": {
            "type": "object",
            "properties": {"path": {"type": "string"}, "bytes": {"type": "integer"}},
            "required": ["path", "bytes"],
        },
        "description": "The model's files, by path under artefact_path, with their sizes; "
        "downloads links them.",
    },
)


class TrainingRunSummaryOut(serializers.ModelSerializer[TrainingRun]):
    """A training run as lists show it: without its curves, logs tail, timings, time left,
    file sizes and data pin, which the run's own URL gives."""

    # Those weigh hundreds of kilobytes a run, and selectors.run_list does not load them. Give
    # it context={"request": …} for its url and downloads.

    url = SelfUrl("training-run-detail", "run_id")
    release = serializers.CharField(source="release.version")
    hyperparameters = Hyperparameters(read_only=True)
    metrics = Metrics(read_only=True)
    progress_percent = serializers.FloatField()
    stalled = serializers.SerializerMethodField()
    stopping = serializers.BooleanField(
        source="is_stopping",
        read_only=True,
        help_text="Cancelled while training, and its worker has not yet said it stopped.",
    )
    latest_eval = serializers.SerializerMethodField(
        help_text="The newest evaluation ({step, metrics…}), whose metrics a run still "
        "training is judged by; null before the first. The detail has every one "
        "(eval_history)."
    )
    downloads = serializers.SerializerMethodField()
    hub_tag = serializers.SerializerMethodField()

    class Meta:
        model = TrainingRun
        fields = [
            "id", "url", "kind", "release", "base_model", "method", "hyperparameters", "origin",
            "state", "phase", "created_at", "started_at", "finished_at", "attempt",
            "worker_host", "step", "total_steps", "progress_percent", "tokens_per_s",
            "stalled", "stopping", "metrics", "latest_eval", "downloads", "hub_repo",
            "hub_revision", "hub_tag", "error", "last_report_at",
            "answer_prompts", "answers_written", "answers_added",
        ]  # fmt: skip
        read_only_fields = fields

    def get_stalled(self, run: TrainingRun) -> bool:
        return services.is_stalled(run)

    @extend_schema_field({**_EVAL_POINT, "type": ["object", "null"]})
    def get_latest_eval(self, run: TrainingRun) -> dict[str, Any] | None:
        return run.eval_history[-1] if run.eval_history else None

    def get_downloads(self, run: TrainingRun) -> dict[str, str]:
        if run.state != RunState.SUCCEEDED:
            return {}
        return {
            entry["path"]: absolute_url(
                self.context, reverse("training:file", args=[run.pk, entry["path"]])
            )
            for entry in run.artefact_files
            if isinstance(entry, dict) and "path" in entry
        }

    def get_hub_tag(self, run: TrainingRun) -> str | None:
        return run.hub_tag if run.hub_revision else None


class TrainingRunOut(TrainingRunSummaryOut):
    """A training run, whole: the summary and its curves, logs tail, timings, artefacts and
    the data it learned from."""

    # Give it context={"request": …} for its url and downloads.

    eta_seconds = serializers.FloatField(allow_null=True)
    loss_history = LossHistory(read_only=True)
    eval_history = EvalHistory(read_only=True)
    timings = Timings(read_only=True)
    artefact_files = ArtefactFiles(read_only=True)
    data_repo = serializers.SerializerMethodField(
        help_text="The Hub dataset repo of the release the model learned from; null when it "
        "trained on this site's build of the release (not published when the run was sent)."
    )
    data_revision = serializers.SerializerMethodField(
        help_text="The dataset commit the model learned from (pinned when the run was sent, "
        "so it never moves); null with data_repo."
    )

    class Meta(TrainingRunSummaryOut.Meta):
        fields = [
            "id", "url", "kind", "release", "base_model", "method", "hyperparameters", "origin",
            "state", "phase", "created_at", "started_at", "finished_at", "attempt",
            "worker_host", "step", "total_steps", "progress_percent", "tokens_per_s",
            "eta_seconds", "stalled", "stopping", "loss_history", "eval_history", "latest_eval",
            "metrics", "timings", "resumed_from_step", "artefact_path", "artefact_files",
            "downloads", "hub_repo", "hub_revision", "hub_tag", "data_repo", "data_revision",
            "error", "logs_tail", "last_report_at",
            "answer_prompts", "answers_written", "answers_added",
        ]  # fmt: skip
        read_only_fields = fields

    def get_data_repo(self, run: TrainingRun) -> str | None:
        pin = run.data_pin
        return pin[0] if pin else None

    def get_data_revision(self, run: TrainingRun) -> str | None:
        pin = run.data_pin
        return pin[1] if pin else None


class TrainingRunCreateIn(RefusesUnknownFields):
    release = StrictCharField(
        allow_blank=False, trim_whitespace=True, help_text="A finished release's version, e.g. v3."
    )
    kind = ListedChoiceField(choices=RunKind.choices)
    base_model = StrictCharField(required=False, trim_whitespace=True, max_length=300)
    method = serializers.ChoiceField(choices=RunMethod.choices, default=RunMethod.FULL)
    hyperparameters = serializers.DictField(required=False, default=dict)
    # Its range is the service's to check (not min_value/max_value here), with the other
    # options: a count out of range and a bad hyperparameter are refused in one answer.
    answer_prompts = StrictIntegerField(
        required=False,
        default=0,
        help_text=(
            f"SFT only, from 0 to {services.MAX_ANSWER_PROMPTS}: once trained, the model "
            "answers this many prompts that are collecting answers (longest waiting first, in "
            "the release's languages); each answer joins its prompt's ranking as a "
            "model-written answer."
        ),
    )


def _choose_one_of(values: list[str]) -> str:
    return _("Choose one of: %(v)s.") % {"v": ", ".join(values)}


def _get_run(run_id: int) -> TrainingRun:
    try:
        return selectors.run_get(run_id=run_id)
    except TrainingRun.DoesNotExist:
        raise exceptions.NotFound() from None


class TrainingRunsApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "kind",
                str,
                # Blank is no filter, as absent is (a form's empty choice), so it is listed.
                enum=[*RunKind.values, ""],
                description="Only runs of this kind; blank: every kind. Another value: 400.",
            ),
            OpenApiParameter(
                "state",
                str,
                enum=[*RunState.values, ""],
                description="Only runs in this state; blank: every state. Another value: 400.",
            ),
            *PAGE_PARAMETERS,
        ],
        responses={200: paginated(TrainingRunSummaryOut), **errors(401, 403, *PAGE_ERRORS)},
        operation_id="training_runs_list",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        kind = request.query_params.get("kind") or None
        state = request.query_params.get("state") or None
        if kind and kind not in RunKind.values:
            raise exceptions.ValidationError({"kind": [_choose_one_of(RunKind.values)]})
        if state and state not in RunState.values:
            raise exceptions.ValidationError({"state": [_choose_one_of(RunState.values)]})
        paginator = Pagination()
        page = paginator.paginate_queryset(
            selectors.run_list(kind=kind, state=state), request, view=self
        )
        return paginator.get_paginated_response(
            TrainingRunSummaryOut(page, many=True, context={"request": request}).data
        )

    @extend_schema(
        request=TrainingRunCreateIn,
        responses={201: TrainingRunOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS)},
        parameters=[LOCATION],
        operation_id="training_runs_create",
    )
    @idempotent
    def post(self, request: Request) -> Response:
        payload = TrainingRunCreateIn(data=request.data)
        if not payload.is_valid():
            raise exceptions.ValidationError(_every_problem(payload, request.data))
        data = payload.validated_data
        release = Release.objects.filter(version=data["release"]).first()
        if release is None:
            raise exceptions.ValidationError(
                {"release": [_("There is no release %(v)s.") % {"v": data["release"]}]}
            )
        run = services.run_create(
            user=request_user(request),
            release=release,
            kind=data["kind"],
            base_model=data.get("base_model") or None,
            method=data["method"],
            hyperparameters=data.get("hyperparameters") or {},
            answer_prompts=data["answer_prompts"],
        )
        return Response(
            TrainingRunOut(run, context={"request": request}).data, status=status.HTTP_201_CREATED
        )


def _every_problem(payload: TrainingRunCreateIn, raw: Any) -> dict[str, Any]:
    """A refused new run's problems: the request's own (a field of the wrong type or
    missing) and, beside them, what the options that passed would meet (a bad
    hyperparameter, an unfinished release), so that one answer names them all."""
    problems: dict[str, Any] = dict(payload.errors)
    if not isinstance(raw, dict) or set(problems) - set(payload.fields):
        return problems  # not an object, or unknown fields: fix that first

    def passed(name: str, default: Any = None) -> Any:
        return default if name in problems else raw.get(name, default)

    release = None
    version = passed("release")
    if isinstance(version, str):
        release = Release.objects.filter(version=version.strip()).first()
        if release is None:
            problems["release"] = [_("There is no release %(v)s.") % {"v": version.strip()}]
    try:
        services.check_run_options(
            kind=passed("kind"),
            method=passed("method", RunMethod.FULL),
            base_model=passed("base_model"),
            hyperparameters=passed("hyperparameters"),
            answer_prompts=passed("answer_prompts", 0),
            release=release,
        )
    except ValidationError as exc:
        for name, messages in exc.message_dict.items():
            problems.setdefault(name, messages)
    return problems


class TrainingRunDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        responses={200: TrainingRunOut, **errors(401, 403, 404)},
        operation_id="training_runs_retrieve",
    )
    @refuses_unknown_query
    def get(self, request: Request, run_id: int) -> Response:
        return Response(TrainingRunOut(_get_run(run_id), context={"request": request}).data)


class TrainingRunCancelApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        request=None,
        responses={200: TrainingRunOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409)},
        operation_id="training_runs_cancel",
        description="Cancel a queued or running run. A run that has ended is 409.",
    )
    @takes_no_body
    @idempotent
    def post(self, request: Request, run_id: int) -> Response:
        run = _get_run(run_id)
        with refused_in_state():
            run = services.run_cancel(user=request_user(request), run=run)
        return Response(TrainingRunOut(run, context={"request": request}).data)


class TrainingRunRetryApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        request=None,
        responses={202: TrainingRunOut, **errors(*WRITE_ERRORS, *IDEMPOTENT_ERRORS, 404, 409)},
        parameters=[LOCATION],
        operation_id="training_runs_retry",
        description=(
            "Send a failed, cancelled or stalled run again: 202 with the run, queued. A run "
            "still queued or reporting, or one that succeeded, is 409."
        ),
    )
    @takes_no_body
    @idempotent
    def post(self, request: Request, run_id: int) -> Response:
        run = _get_run(run_id)
        with refused_in_state():
            run = services.run_retry(user=request_user(request), run=run)
        return Response(
            TrainingRunOut(run, context={"request": request}).data, status=status.HTTP_202_ACCEPTED
        )


class ScheduleOut(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.CharField()
    task = serializers.CharField()
    enabled = serializers.BooleanField()
    every_minutes = serializers.IntegerField(allow_null=True)
    options = serializers.DictField()
    last_run_at = serializers.DateTimeField(allow_null=True)
    outcome = serializers.ListField(
        child=serializers.CharField(),
        help_text="What the latest tick decided, a sentence per decision, in the request's "
        "language; empty before the first tick.",
    )
    outcome_at = serializers.DateTimeField(allow_null=True, help_text="When that tick ran.")


class ScheduleIn(RefusesUnknownFields):
    enabled = StrictBooleanField()
    every_minutes = StrictIntegerField(min_value=1, max_value=schedules.MAX_EVERY_MINUTES)
    options = serializers.DictField(required=False, default=dict)


def _options_named(problems: dict[str, list[str]]) -> dict[str, list[str]]:
    """A schedule's problems keyed where they are in the request: an option's under
    ``options.<name>``, as the service names it by its name alone."""
    top = set(ScheduleIn().fields)
    return {key if key in top else f"options.{key}": texts for key, texts in problems.items()}


class SchedulesApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        responses={200: ScheduleOut(many=True), **errors(401, 403)},
        operation_id="training_schedules_list",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        return Response(ScheduleOut(schedules.schedule_list(), many=True).data)


class ScheduleDetailApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        request=ScheduleIn,
        responses={200: ScheduleOut, **errors(*WRITE_ERRORS, 404)},
        operation_id="training_schedules_update",
    )
    def put(self, request: Request, schedule_id: int) -> Response:
        from django_celery_beat.models import PeriodicTask

        payload = ScheduleIn(data=request.data)
        if not payload.is_valid():
            # The options' problems too, in the same answer.
            problems = dict(payload.errors)
            options = request.data.get("options") if isinstance(request.data, dict) else None
            task = PeriodicTask.objects.filter(
                pk=schedule_id, task__in=["training.auto_release", "training.auto_train"]
            ).values_list("task", flat=True)
            if "options" not in problems and options is not None and task:
                try:
                    schedules.check_options(task[0], options)
                except ValidationError as exc:
                    problems.update(_options_named(exc.message_dict))
            raise exceptions.ValidationError(problems)
        try:
            schedules.schedule_update(
                user=request_user(request), schedule_id=schedule_id, **payload.validated_data
            )
        except PeriodicTask.DoesNotExist:
            raise exceptions.NotFound() from None
        except ValidationError as exc:
            raise exceptions.ValidationError(_options_named(exc.message_dict)) from None
        found = [s for s in schedules.schedule_list() if s.id == schedule_id]
        return Response(ScheduleOut(found[0]).data)
