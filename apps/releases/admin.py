from django.contrib import admin

from apps.releases.models import Release


@admin.register(Release)
class ReleaseAdmin(admin.ModelAdmin):
    """Read-only: releases are cut with ``manage.py release create`` (or the site) and are
    immutable once built."""

    list_display = ["version", "state", "created_by", "created_at", "finished_at", "content_hash"]
    list_filter = ["state"]
    readonly_fields = [f.name for f in Release._meta.fields]

    def has_add_permission(self, request):  # type: ignore[no-untyped-def]
        return False

    def has_change_permission(self, request, obj=None):  # type: ignore[no-untyped-def]
        return False
