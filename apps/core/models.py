from __future__ import annotations

from django.conf import settings
from django.db import models


class TimeStampedModel(models.Model):
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        abstract = True


class IdempotencyKey(models.Model):
    """The stored result of a POST made with an Idempotency-Key header."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE)
    key = models.CharField(max_length=200)
    fingerprint = models.CharField(max_length=64)
    status_code = models.PositiveSmallIntegerField(default=0)
    response = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "key"], name="idempotency_key_unique_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user_id}:{self.key}"


class WorkerHeartbeat(models.Model):
    """The last heartbeat of each Celery worker, web side and GPU nodes (worker.heartbeat);
    the System page and a queued run's page read it. One row per worker name."""

    class State(models.TextChoices):
        ONLINE = "online", "online"
        STOPPED = "stopped", "stopped"

    hostname = models.CharField(max_length=255, unique=True)
    node = models.CharField(max_length=255, blank=True)
    state = models.CharField(max_length=16, choices=State.choices)
    queues = models.JSONField(default=list)
    device = models.CharField(max_length=300, blank=True)
    pid = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField()
    last_seen = models.DateTimeField(db_index=True)
    interval_s = models.PositiveIntegerField()
    busy = models.JSONField(null=True, blank=True)

    def __str__(self) -> str:
        return self.hostname
