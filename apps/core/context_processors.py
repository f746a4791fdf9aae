from typing import Any

from django.conf import settings
from django.http import HttpRequest

from apps.accounts import roles


def hearth(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    return {
        "licence_name": settings.HEARTH_LICENCE_NAME,
        "licence_url": settings.HEARTH_LICENCE_URL,
        "is_maintainer": bool(user and roles.is_maintainer(user)),
        "is_moderator": bool(user and roles.is_moderator(user)),
    }
