from django.contrib import admin

from apps.feedback.models import PromptConsensus, Ranking, Review


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ["id", "reviewer", "prompt", "response", "quality", "spam", "created_at"]
    list_filter = ["spam", "fails_task", "wrong_language", "pii", "harmful", "machine_generated"]
    raw_id_fields = ["reviewer", "prompt", "response"]
    # Every foreign key the list shows, the nullable ones too: Django follows only those that
    # cannot be null by itself, and each row then ran a query per nullable one.
    list_select_related = ["reviewer", "prompt", "response"]


@admin.register(Ranking)
class RankingAdmin(admin.ModelAdmin):
    list_display = ["id", "ranker", "prompt", "unusable", "created_at"]
    raw_id_fields = ["ranker", "prompt"]
    list_select_related = ["ranker", "prompt"]


@admin.register(PromptConsensus)
class PromptConsensusAdmin(admin.ModelAdmin):
    list_display = ["prompt", "agreement", "rankers", "unusable_rankers", "computed_at"]
    raw_id_fields = ["prompt"]
    list_select_related = ["prompt"]
