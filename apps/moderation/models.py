from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _


class FlagReason(models.TextChoices):
    SPAM = "spam", _("Spam or advertising")
    HARMFUL = "harmful", _("Harmful or abusive")
    PII = "pii", _("Personal information")
    COPYRIGHT = "copyright", _("Copied without permission")
    MACHINE = "machine_generated", _("Copied from a chatbot")
    OTHER = "other", _("Something else")


class FlagResolution(models.TextChoices):
    """How a closed flag was closed, when it was not by a moderator's decision on its item
    (hide, keep hidden, restore, dismiss: blank, and the audit log says which)."""

    REPORTER_BANNED = "reporter_banned", _("Reporter banned")


class Flag(models.Model):
    """A volunteer's report that a prompt or response needs a moderator's look."""

    reporter = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="flags"
    )
    prompt = models.ForeignKey(
        "collection.Prompt", null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    response = models.ForeignKey(
        "collection.Response", null=True, blank=True, on_delete=models.CASCADE, related_name="flags"
    )
    reason = models.CharField(max_length=20, choices=FlagReason.choices)
    note = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    resolution = models.CharField(
        max_length=20,
        choices=FlagResolution.choices,
        blank=True,
        default="",
        help_text=_(
            "Why it was closed, when not by a moderator's decision on its item: "
            "reporter_banned (a ban voids the banned account's open flags)."
        ),
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(prompt__isnull=False) & Q(response__isnull=True))
                | (Q(prompt__isnull=True) & Q(response__isnull=False)),
                name="flag_has_one_target",
            ),
            models.UniqueConstraint(
                fields=["reporter", "prompt"],
                condition=Q(prompt__isnull=False, resolved_at__isnull=True),
                name="one_open_flag_per_prompt_and_reporter",
            ),
            models.UniqueConstraint(
                fields=["reporter", "response"],
                condition=Q(response__isnull=False, resolved_at__isnull=True),
                name="one_open_flag_per_response_and_reporter",
            ),
        ]

    def __str__(self) -> str:
        return f"Flag #{self.pk} ({self.reason})"


class ModerationAction(models.Model):
    """The audit log: every moderator action, who took it, on what, and why."""

    class Action(models.TextChoices):
        HIDE = "hide", _("Hid")
        RESTORE = "restore", _("Restored")
        HALT = "halt", _("Halted")
        BAN = "ban", _("Banned")
        UNBAN = "unban", _("Unbanned")
        AUTO_HIDE = "auto_hide", _("Hid automatically")
        DISMISS = "dismiss", _("Dismissed flags")

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="moderation_actions",
        help_text=_("Empty for automatic actions."),
    )
    action = models.CharField(max_length=16, choices=Action.choices)
    prompt = models.ForeignKey(
        "collection.Prompt", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    response = models.ForeignKey(
        "collection.Response", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    subject = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The user acted on (ban, unban)."),
    )
    reason = models.CharField(max_length=1000, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.get_action_display()} by {self.actor_id}"
