from typing import Any

from django.apps import AppConfig
from django.db.models.signals import post_migrate


def _sync_roles(sender: Any, **kwargs: Any) -> None:
    from apps.accounts.roles import sync_role_groups

    sync_role_groups()


class CollectionConfig(AppConfig):
    name = "apps.collection"
    label = "collection"

    def ready(self) -> None:
        # After this app's permissions exist (auth creates them on the same signal, earlier).
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="hearth_sync_roles")
