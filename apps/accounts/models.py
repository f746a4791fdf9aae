from __future__ import annotations

import hashlib
from typing import Any, ClassVar

from django.conf import settings
from django.contrib.auth.models import AbstractUser, BaseUserManager
from django.db import models
from django.utils.translation import gettext_lazy as _

from apps.core.confusables import skeleton

# The account that model-written answers are filed under (Response.source "model"). RFC 2606:
# ".invalid" is never a real mailbox, and sign-up refuses it (AccountAdapter.clean_email), so
# nobody can claim the address; the account cannot sign in.
MODEL_AUTHOR_EMAIL = "models@hearth.invalid"


def display_name_key(name: str) -> str:
    """What two display names that look the same have in common: their confusable skeleton
    (apps.core.confusables), hashed to a fixed length for the index; "" for no name."""
    if not name:
        return ""
    return hashlib.sha256(skeleton(name).encode()).hexdigest()


class UserManager(BaseUserManager["User"]):
    use_in_migrations = True

    def _create(self, email: str, password: str | None, **extra: Any) -> User:
        if not email:
            raise ValueError("An email address is required")
        user = self.model(email=self.normalize_email(email).lower(), **extra)
        user.set_password(password)
        user.save(using=self._db)
        return user

    def create_user(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", False)
        extra.setdefault("is_superuser", False)
        return self._create(email, password, **extra)

    def create_superuser(self, email: str, password: str | None = None, **extra: Any) -> User:
        extra.setdefault("is_staff", True)
        extra.setdefault("is_superuser", True)
        return self._create(email, password, **extra)


class User(AbstractUser):
    """A person who signs in with an email address. Roles are groups (see roles.py)."""

    username = None  # type: ignore[assignment]
    email = models.EmailField(_("email address"), unique=True)
    display_name = models.CharField(_("display name"), max_length=60, blank=True)
    # display_name_key(display_name), kept by save(): a new name that looks like another
    # account's is refused by it (services.check_display_name). Not unique: names given
    # before the check stay as they were, clashes included.
    display_name_key = models.CharField(max_length=64, blank=True, editable=False)
    languages = models.JSONField(
        _("languages"), default=list, blank=True, help_text=_("BCP-47 tags, e.g. en, de, pt-BR")
    )
    attribution = models.BooleanField(
        _("credit me by name in dataset cards"),
        default=False,
        help_text=_("Off: releases identify you only by a pseudonymous id."),
    )
    # Off: left out of the public leaderboard (page and API); the person still sees their own
    # counts, streak and where they would rank. db_default too, so rows written outside the
    # ORM (the benchmarks' bulk loads) get it.
    on_leaderboard = models.BooleanField(
        _("show me on the leaderboard"),
        default=True,
        db_default=True,
        help_text=_("Off: the Community page leaves you out; you still see your own stats."),
    )

    # Set when the person deleted their account: the row stays (their reviews and rankings
    # still count for other volunteers' work) with every personal field erased.
    deleted_at = models.DateTimeField(null=True, blank=True)

    # Set by a moderator: a banned user gets no tasks and cannot submit.
    banned_at = models.DateTimeField(null=True, blank=True)
    ban_reason = models.CharField(max_length=500, blank=True)

    USERNAME_FIELD = "email"
    REQUIRED_FIELDS: ClassVar[list[str]] = []
    objects: ClassVar[UserManager] = UserManager()  # type: ignore[assignment]

    class Meta(AbstractUser.Meta):
        indexes = [models.Index(fields=["display_name_key"], name="user_display_name_key")]

    def __str__(self) -> str:
        return self.display_name or self.email.split("@")[0]

    def save(self, *args: Any, **kwargs: Any) -> None:
        update_fields = kwargs.get("update_fields")
        if update_fields is None or "display_name" in update_fields:
            self.display_name_key = display_name_key(self.display_name)
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "display_name_key"}
        super().save(*args, **kwargs)

    @property
    def public_name(self) -> str:
        return self.display_name or _("Volunteer #%(id)s") % {"id": self.pk}

    @property
    def is_model_author(self) -> bool:
        """Whether this is the account model-written answers are filed under (see
        apps.accounts.services.model_author), which is nobody."""
        return self.email == MODEL_AUTHOR_EMAIL


class LicenceAcceptance(models.Model):
    """A user's agreement to contribute under one version of the data licence."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="licence_acceptances"
    )
    version = models.CharField(max_length=64)
    accepted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "version"], name="one_acceptance_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.user} accepted {self.version}"


class ApiToken(models.Model):
    """A personal API token. Only a hash of the secret is stored; it is shown once."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(_("name"), max_length=60)
    prefix = models.CharField(max_length=16, db_index=True)
    key_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        verbose_name = _("API token")
        verbose_name_plural = _("API tokens")

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"

    @property
    def is_active(self) -> bool:
        return self.revoked_at is None
