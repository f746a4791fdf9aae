from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

# Labels that make a review count against acceptance (see apps.feedback.services.acceptance).
BLOCKING_LABELS = (
    "spam",
    "fails_task",
    "wrong_language",
    "pii",
    "harmful",
    "machine_generated",
)
LABELS = (*BLOCKING_LABELS, "wrong_category")


class Review(models.Model):
    """A volunteer's verdict on one prompt or one response."""

    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reviews"
    )
    prompt = models.ForeignKey(
        "collection.Prompt", null=True, blank=True, on_delete=models.CASCADE, related_name="reviews"
    )
    response = models.ForeignKey(
        "collection.Response",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="reviews",
    )
    spam = models.BooleanField(_("spam"), default=False)
    fails_task = models.BooleanField(_("does not do the task"), default=False)
    wrong_category = models.BooleanField(_("wrong category"), default=False)
    wrong_language = models.BooleanField(_("wrong language"), default=False)
    pii = models.BooleanField(_("personal information"), default=False)
    harmful = models.BooleanField(_("harmful"), default=False)
    machine_generated = models.BooleanField(_("copied from a chatbot"), default=False)
    quality = models.PositiveSmallIntegerField(
        validators=[MinValueValidator(1), MaxValueValidator(5)]
    )
    # Indexed for the Community leaderboard's week and month, which count only recent rows.
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(prompt__isnull=False) & Q(response__isnull=True))
                | (Q(prompt__isnull=True) & Q(response__isnull=False)),
                name="review_has_one_target",
            ),
            models.CheckConstraint(
                condition=Q(quality__gte=1) & Q(quality__lte=5), name="review_quality_1_to_5"
            ),
            models.UniqueConstraint(
                fields=["reviewer", "prompt"],
                condition=Q(prompt__isnull=False),
                name="one_review_per_prompt_and_reviewer",
            ),
            models.UniqueConstraint(
                fields=["reviewer", "response"],
                condition=Q(response__isnull=False),
                name="one_review_per_response_and_reviewer",
            ),
        ]

    def __str__(self) -> str:
        return f"Review #{self.pk}"

    @property
    def blocking_labels(self) -> list[str]:
        return [name for name in BLOCKING_LABELS if getattr(self, name)]


class Ranking(models.Model):
    """One ranker's order of a prompt's accepted responses, best first; or "all unusable"."""

    ranker = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="rankings"
    )
    prompt = models.ForeignKey(
        "collection.Prompt", on_delete=models.CASCADE, related_name="rankings"
    )
    order = models.JSONField(default=list, blank=True, help_text=_("Response ids, best first."))
    unusable = models.BooleanField(default=False)
    # Indexed for the Community leaderboard's week and month, which count only recent rows.
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # Set when the prompt ranks again after it went back to collecting, its rank set down to
    # fewer than two answers (apps.feedback.services.rank_sets_check): the ranking is kept, and
    # still the ranker's contribution, but it ordered an answer set that is gone, so neither
    # the consensus nor the count of rankings the prompt needs counts it.
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["ranker", "prompt"], name="one_ranking_per_ranker"),
        ]

    def __str__(self) -> str:
        return f"Ranking #{self.pk} of prompt {self.prompt_id}"


class PromptConsensus(models.Model):
    """The merged ranking of a prompt's responses (ranked pairs) and the rankers' agreement."""

    prompt = models.OneToOneField(
        "collection.Prompt", on_delete=models.CASCADE, related_name="consensus"
    )
    order = models.JSONField(help_text=_("Response ids, best first; empty when unusable."))
    agreement = models.FloatField(null=True, blank=True, help_text=_("Kendall's W, 0–1."))
    rankers = models.PositiveSmallIntegerField()
    unusable_rankers = models.PositiveSmallIntegerField(default=0)
    # Pairwise counts "a above b" among the rankers counted: {"a>b": n}.
    pairwise_wins = models.JSONField(default=dict)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "prompt consensus"

    def __str__(self) -> str:
        return f"Consensus of prompt {self.prompt_id}"

    @property
    def is_unusable(self) -> bool:
        return not self.order
