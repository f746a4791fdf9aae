from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class TaskType(models.TextChoices):
    WRITE = "write", _("Write a new prompt")
    REVIEW_PROMPT = "review_prompt", _("Review a prompt")
    REVIEW_RESPONSE = "review_response", _("Review an answer")
    RESPOND = "respond", _("Answer a prompt")
    RANK = "rank", _("Rank answers")


class AssignmentState(models.TextChoices):
    ACTIVE = "active", _("Active")
    SUBMITTED = "submitted", _("Submitted")
    SKIPPED = "skipped", _("Skipped")
    EXPIRED = "expired", _("Expired")
    RELEASED = "released", _("Released")


class Assignment(models.Model):
    """One task held by one volunteer until it is submitted, skipped or expires.

    Holding an assignment holds one of its target's open slots (except for writing a new
    prompt, which has no target). ``phase`` is the target's state when the slot was taken:
    a slot is given back only while the target is still in that state.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="assignments"
    )
    task_type = models.CharField(max_length=16, choices=TaskType.choices)
    prompt = models.ForeignKey(
        "collection.Prompt",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assignments",
    )
    response = models.ForeignKey(
        "collection.Response",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="assignments",
    )
    phase = models.CharField(max_length=16, blank=True)
    state = models.CharField(
        max_length=12, choices=AssignmentState.choices, default=AssignmentState.ACTIVE
    )
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    finished_at = models.DateTimeField(null=True, blank=True)
    skip_reason = models.CharField(max_length=500, blank=True)
    # What the submission made (a prompt, response, review or ranking id), for replies.
    result = models.JSONField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["user", "state"]),
            models.Index(fields=["user", "prompt"]),
            models.Index(fields=["user", "response"]),
            models.Index(
                fields=["expires_at"],
                condition=Q(state="active"),
                name="assignment_active_expiry",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_type} #{self.pk} for {self.user_id}"
