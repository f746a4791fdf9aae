from django.apps import AppConfig
from django.db.backends.signals import connection_created
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from apps.core import pgtime
        from apps.core.signals import sync_site_domain

        post_migrate.connect(sync_site_domain, sender=self, dispatch_uid="hearth_sync_site")
        connection_created.connect(pgtime.install, dispatch_uid="hearth_pg_timestamps")
