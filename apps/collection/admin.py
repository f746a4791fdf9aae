from django.contrib import admin

from apps.collection.models import Prompt, Response


class ResponseInline(admin.TabularInline):
    model = Response
    extra = 0
    fields = ["author", "text", "state", "source", "withdrawn_at", "hidden_at"]
    raw_id_fields = ["author"]


@admin.register(Prompt)
class PromptAdmin(admin.ModelAdmin):
    list_display = [
        "id",
        "__str__",
        "category",
        "language",
        "state",
        "origin",
        "author",
        "created_at",
    ]
    list_filter = ["state", "category", "language", "origin"]
    search_fields = ["instruction", "author__email"]
    raw_id_fields = ["author"]
    readonly_fields = ["instruction_key", "created_at", "updated_at"]
    inlines = [ResponseInline]


@admin.register(Response)
class ResponseAdmin(admin.ModelAdmin):
    list_display = ["id", "__str__", "prompt", "state", "source", "author", "created_at"]
    list_filter = ["state", "source", "origin"]
    search_fields = ["text", "author__email"]
    raw_id_fields = ["author", "prompt"]
