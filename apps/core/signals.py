from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from django.conf import settings


def sync_site_domain(sender: Any, **kwargs: Any) -> None:
    """Keep the sites framework's domain equal to SITE_URL, so emails link to this deployment."""
    from django.contrib.sites.models import Site

    domain = urlsplit(settings.SITE_URL).netloc or "127.0.0.1:8000"
    Site.objects.update_or_create(
        pk=settings.SITE_ID, defaults={"domain": domain, "name": "Hearth"}
    )
