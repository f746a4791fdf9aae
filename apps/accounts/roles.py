"""Roles are groups with permissions. Every signed-up user is a volunteer."""

from __future__ import annotations

from typing import Any

VOLUNTEER = "volunteer"
MODERATOR = "moderator"
MAINTAINER = "maintainer"

# codename lists per group, "app_label.codename"
ROLE_PERMISSIONS: dict[str, list[str]] = {
    VOLUNTEER: [],
    MODERATOR: ["collection.moderate_content"],
    MAINTAINER: ["collection.moderate_content", "collection.import_prompts"],
}


def is_maintainer(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm("collection.import_prompts"))


def is_moderator(user: Any) -> bool:
    return bool(user.is_authenticated and user.has_perm("collection.moderate_content"))


def sync_role_groups(apps: Any = None) -> None:
    """Create the role groups and give them their permissions (idempotent)."""
    from django.apps import apps as global_apps

    registry = apps or global_apps
    group_model = registry.get_model("auth", "Group")
    permission_model = registry.get_model("auth", "Permission")
    for role, perms in ROLE_PERMISSIONS.items():
        group, _ = group_model.objects.get_or_create(name=role)
        wanted: list[Any] = []
        for dotted in perms:
            app_label, codename = dotted.split(".")
            wanted.extend(
                permission_model.objects.filter(
                    content_type__app_label=app_label, codename=codename
                )
            )
        group.permissions.set(wanted)
