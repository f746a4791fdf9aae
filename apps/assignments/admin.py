from django.contrib import admin

from apps.assignments.models import Assignment


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ["id", "task_type", "user", "prompt", "state", "created_at", "expires_at"]
    list_filter = ["task_type", "state"]
    search_fields = ["user__email"]
    raw_id_fields = ["user", "prompt", "response"]
    date_hierarchy = "created_at"
