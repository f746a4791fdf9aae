from typing import Any

from django.contrib import admin

from apps.core.models import IdempotencyKey, WorkerHeartbeat


@admin.register(IdempotencyKey)
class IdempotencyKeyAdmin(admin.ModelAdmin):
    list_display = ["user", "key", "status_code", "created_at"]
    search_fields = ["key", "user__email"]
    raw_id_fields = ["user"]
    list_select_related = ["user"]


@admin.register(WorkerHeartbeat)
class WorkerHeartbeatAdmin(admin.ModelAdmin):
    """Read-only: the workers write these rows (worker.heartbeat); the System page shows them.
    Deleting one only forgets a worker until its next heartbeat."""

    list_display = ["hostname", "state", "device", "last_seen", "started_at"]
    search_fields = ["hostname", "node"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
