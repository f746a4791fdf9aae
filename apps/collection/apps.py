from typing import Any

from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


def _sync_roles(sender: Any, **kwargs: Any) -> None:
    from apps.accounts.roles import sync_role_groups

    sync_role_groups()


class CollectionConfig(AppConfig):
    name = "apps.collection"
    label = "collection"

    def ready(self) -> None:
        from apps.collection import search

        # After this app's permissions exist (auth creates them on the same signal, earlier).
        post_migrate.connect(_sync_roles, sender=self, dispatch_uid="hearth_sync_roles")
        # Browse's search folds case beyond ASCII on SQLite with a function of its own.
        connection_created.connect(search.install, dispatch_uid="hearth_sqlite_upper")
