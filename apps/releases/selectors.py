"""Reads for releases. Finished releases (ready or published) are public; maintainers also
see the ones building or failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from django.db.models import QuerySet

from apps.accounts import roles
from apps.releases.building import PRIVATE_DIR, release_folder
from apps.releases.models import FINISHED_STATES, Release


def release_list(*, user: Any = None) -> QuerySet[Release]:
    """Releases newest first: all of them for maintainers, finished ones for anyone else."""
    qs = Release.objects.select_related("previous")
    if user is None or not roles.is_maintainer(user):
        qs = qs.filter(state__in=FINISHED_STATES)
    return qs.order_by("-number")


def release_get_for_user(*, user: Any, version: str) -> Release:
    """One release by version, as ``release_list`` lets ``user`` see it; raises
    Release.DoesNotExist otherwise (a 404 to callers)."""
    return release_list(user=user).get(version=version)


def release_latest(*, published: bool = False) -> Release | None:
    """The newest finished release (only published ones with ``published=True``)."""
    qs = Release.objects.filter(state__in=FINISHED_STATES)
    if published:
        qs = qs.filter(state="published")
    return qs.order_by("-number").first()


def release_file_path(*, release: Release, path: str) -> Path:
    """The file ``path`` (as listed in ``release.files``) of a finished release, for
    downloads; raises FileNotFoundError for anything else."""
    listed = {entry["path"] for entry in release.files}
    if not release.is_finished or path not in listed or path.startswith(PRIVATE_DIR):
        raise FileNotFoundError(path)
    full = release_folder(release.version) / path
    if not full.is_file():
        raise FileNotFoundError(path)
    return full
