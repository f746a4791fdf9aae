from django.contrib import admin

from apps.releases.models import PromptSplit, Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    """Read-only: releases are cut with ``manage.py release create`` (or the site) and are
    immutable once built. Never deleted here either: a deleted v4 was followed by a new,
    different v4 built into the same folder, under the same version the Hub, the cards and
    the training runs already name."""

    list_display = ["version", "state", "created_by", "created_at", "finished_at", "content_hash"]
    list_select_related = ["created_by"]  # nullable: Django would not follow it by itself
    list_filter = ["state"]
    readonly_fields = [f.name for f in Release._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False


@admin.register(PromptSplit)
class PromptSplitAdmin(admin.ModelAdmin):
    """Read-only: builds give each prompt its split once, and no one changes it afterwards."""

    list_display = ["prompt_id", "split", "release"]
    list_select_related = ["release"]
    list_filter = ["split"]
    readonly_fields = [f.name for f in PromptSplit._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False

    def has_delete_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
