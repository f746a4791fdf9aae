"""GET /api/v1/system/: the System page for scripts (maintainers), so a monitor can alert when
no GPU worker is online, a queue grows or beat goes quiet."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.accounts.permissions import IsMaintainer
from apps.core import workers
from apps.core.api import refuses_unknown_query
from apps.core.schema import errors


class WorkerOut(serializers.Serializer[Any]):
    name = serializers.CharField(source="row.hostname")
    status = serializers.ChoiceField(
        choices=["online", "busy", "stopped", "silent"],
        help_text="online or busy: heard from within three of its heartbeat intervals; "
        "stopped: it said so; silent: not heard from since (killed, or cut off).",
    )
    queues = serializers.ListField(child=serializers.CharField(), source="row.queues")
    device = serializers.CharField(source="row.device")
    node = serializers.CharField(source="row.node")
    pid = serializers.IntegerField(source="row.pid")
    busy_with = serializers.JSONField(
        source="row.busy", allow_null=True, help_text="The task it runs ({task, run_id?, since})."
    )
    last_seen = serializers.DateTimeField(source="row.last_seen")
    started_at = serializers.DateTimeField(source="row.started_at")
    heartbeat_seconds = serializers.IntegerField(source="row.interval_s")


class QueueOut(serializers.Serializer[Any]):
    name = serializers.CharField()
    waiting = serializers.IntegerField(
        allow_null=True, help_text="Messages waiting; null when the broker did not answer."
    )
    workers_online = serializers.IntegerField(source="online")


class SystemOut(serializers.Serializer[Any]):
    checks = serializers.DictField(
        child=serializers.CharField(), help_text="database, redis: ok or error: <exception>."
    )
    broker = serializers.ChoiceField(choices=["redis", "files"])
    broker_answered = serializers.BooleanField()
    beat_last_run = serializers.DateTimeField(source="beat_last", allow_null=True)
    beat_quiet = serializers.BooleanField()
    queues = QueueOut(many=True)
    workers = WorkerOut(many=True)
    training_runs_queued = serializers.IntegerField(source="queued_runs")
    releases_building = serializers.IntegerField(source="building_releases")


class SystemApi(APIView):
    permission_classes = [IsAuthenticated, IsMaintainer]

    @extend_schema(
        responses={200: SystemOut, **errors(401, 403)},
        operation_id="system_retrieve",
        description="Whether the database, Redis, beat and the workers are up, and the work "
        "waiting on each queue: what the System page shows.",
    )
    @refuses_unknown_query
    def get(self, request: Request) -> Response:
        return Response(SystemOut(workers.overview()).data)
