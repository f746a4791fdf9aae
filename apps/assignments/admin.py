from django.contrib import admin

from apps.assignments.models import Assignment


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "task_type", "user", "prompt", "state", "created_at", "expires_at"]
    list_filter = ["task_type", "state"]
    search_fields = ["user__email"]
    raw_id_fields = ["user", "prompt", "response"]
    # The prompt may be null (a task to write one), which Django does not follow by itself.
    list_select_related = ["user", "prompt"]
    # No date hierarchy: its years and months were found with a DISTINCT over every task
    # (hundreds of thousands after a year, about 100 ms each), and its bounds with another.
