from django.contrib import admin

from apps.training.models import ScheduleOutcome, TrainingRun


@admin.register(TrainingRun)
class TrainingRunAdmin(admin.ModelAdmin):
    """Read-only: runs are created from the dashboard, the API or a schedule, and change only
    through their worker's reports. The schedules are under "Periodic tasks". Never deleted:
    a run's id names its model folder, its Hub tag (run-<id>) and its model-written answers;
    a failed or unwanted run is cancelled, and stays on the record."""

    list_display = ["id", "kind", "release", "base_model", "method", "state", "created_at"]
    list_filter = ["kind", "state", "origin", "method"]
    list_select_related = ["release"]
    readonly_fields = [f.name for f in TrainingRun._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(ScheduleOutcome)
class ScheduleOutcomeAdmin(admin.ModelAdmin):
    """Read-only: each schedule's latest tick writes its own row (apps.training.schedules)."""

    list_display = ["task", "at", "acted"]
    readonly_fields = [f.name for f in ScheduleOutcome._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
