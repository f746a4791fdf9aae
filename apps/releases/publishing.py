"""Publishing a release to a Hub dataset repo: one commit holding exactly the release's files,
tagged with its version.

Safe to repeat and to retry after a crash at any point:
- the tag already there → nothing is uploaded; the release just records it;
- a commit already made for this content but not tagged (a crash between the two steps) →
  found by the content hash in its message, and tagged;
- otherwise a new commit (one ``create_commit``: all files at once, stale files deleted).

The token is read from the publishing process's environment (``HF_TOKEN``) at call time and
handed to the client; it is never stored or logged. ``huggingface_hub`` is imported here
only, so the web process never loads it.
"""

from __future__ import annotations

import os
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.releases.building import PRIVATE_DIR, release_folder
from apps.releases.models import Release, ReleaseState

HASH_MARKER = "content-sha256:"
# Files a Hub repo keeps that a release does not own.
KEEP = {".gitattributes"}


class PublishingOff(Exception):
    """The Hub is not configured for this process."""


def hub_repo_id() -> str:
    namespace = settings.HUB_NAMESPACE
    if not namespace:
        raise PublishingOff(_("Set HUB_NAMESPACE (and HF_TOKEN for the publishing worker)."))
    return f"{namespace}/{settings.HEARTH_HUB_DATASET_REPO}"


def _api() -> Any:
    from huggingface_hub import HfApi

    token = os.environ.get("HF_TOKEN")
    if not token:
        raise PublishingOff(_("HF_TOKEN is not set in the publishing process's environment."))
    endpoint = os.environ.get("HF_ENDPOINT") or None
    return HfApi(endpoint=endpoint, token=token)


def _existing_commit_for(api: Any, repo_id: str, content_hash: str) -> str | None:
    """A commit on main made for this content (a crash came between commit and tag)."""
    for commit in api.list_repo_commits(repo_id, repo_type="dataset"):
        if f"{HASH_MARKER} {content_hash}" in (commit.message or "") + "\n" + (commit.title or ""):
            return str(commit.commit_id)
    return None


def release_publish(release_id: int) -> Release:
    """Publish a ready release (or confirm a published one). Raises PublishingOff when the
    Hub is not configured, and lets client errors propagate (the task retries)."""
    from huggingface_hub import CommitOperationAdd, CommitOperationDelete

    release = Release.objects.get(pk=release_id)
    if release.state not in (ReleaseState.READY, ReleaseState.PUBLISHED):
        raise ValueError(f"{release.version} is {release.state}; only ready releases publish")
    repo_id = hub_repo_id()
    api = _api()
    api.create_repo(repo_id, repo_type="dataset", exist_ok=True)
    tags = {
        ref.name: ref.target_commit for ref in api.list_repo_refs(repo_id, repo_type="dataset").tags
    }
    revision = tags.get(release.version)
    if revision is None:
        revision = _existing_commit_for(api, repo_id, release.content_hash)
    if revision is None:
        folder = release_folder(release.version)
        paths = [
            entry["path"] for entry in release.files if not entry["path"].startswith(PRIVATE_DIR)
        ]
        present = set(api.list_repo_files(repo_id, repo_type="dataset"))
        operations: list[Any] = [
            CommitOperationAdd(path_in_repo=path, path_or_fileobj=str(folder / path))
            for path in paths
        ]
        operations += [
            CommitOperationDelete(path_in_repo=path) for path in sorted(present - set(paths) - KEEP)
        ]
        commit = api.create_commit(
            repo_id,
            repo_type="dataset",
            operations=operations,
            commit_message=f"Hearth release {release.version}",
            commit_description=f"{HASH_MARKER} {release.content_hash}",
        )
        revision = commit.oid
    if release.version not in tags:
        api.create_tag(repo_id, repo_type="dataset", tag=release.version, revision=revision)
    with transaction.atomic():
        Release.objects.filter(
            pk=release.pk, state__in=[ReleaseState.READY, ReleaseState.PUBLISHED]
        ).update(
            state=ReleaseState.PUBLISHED,
            hub_repo=repo_id,
            hub_revision=revision,
            published_at=timezone.now(),
        )
    release.refresh_from_db()
    return release
