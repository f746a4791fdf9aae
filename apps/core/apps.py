from django.apps import AppConfig
from django.db.models.signals import post_migrate


class CoreConfig(AppConfig):
    name = "apps.core"
    label = "core"

    def ready(self) -> None:
        from apps.core.signals import sync_site_domain

        post_migrate.connect(sync_site_domain, sender=self, dispatch_uid="hearth_sync_site")
