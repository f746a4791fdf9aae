from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _ensure_schedules(sender: Any, **kwargs: Any) -> None:
    from apps.training.schedules import ensure_schedules

    ensure_schedules()


class TrainingConfig(AppConfig):
    name = "apps.training"
    label = "training"

    def ready(self) -> None:
        # After every migrate (and the test runner's flushes): the two schedule rows exist.
        post_migrate.connect(_ensure_schedules, sender=self, dispatch_uid="hearth_schedules")
