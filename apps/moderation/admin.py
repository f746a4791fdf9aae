from django.contrib import admin

from apps.moderation.models import Flag, ModerationAction


@admin.register(Flag)
class FlagAdmin(admin.ModelAdmin):
    list_display = ["id", "reason", "reporter", "prompt", "response", "created_at", "resolved_at"]
    list_filter = ["reason"]
    raw_id_fields = ["reporter", "prompt", "response", "resolved_by"]
    # Every foreign key the list shows, the nullable ones too: Django follows only those that
    # cannot be null by itself, and each row then ran a query per nullable one.
    list_select_related = ["reporter", "prompt", "response"]


@admin.register(ModerationAction)
class ModerationActionAdmin(admin.ModelAdmin):
    """The audit log is append-only, in admin too."""

    list_display = ["created_at", "action", "actor", "prompt", "response", "subject", "reason"]
    list_filter = ["action"]
    readonly_fields = ["actor", "action", "prompt", "response", "subject", "reason", "created_at"]
    list_select_related = ["actor", "prompt", "response", "subject"]

    def has_add_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
