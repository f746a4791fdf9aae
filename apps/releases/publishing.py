"""Publishing a release to a Hub dataset repo: one commit holding exactly the release's files,
tagged with its version.

The Hub side is worker.hub.publish_folder (shared with the GPU nodes, which publish models the
same way), so it is safe to repeat and to retry after a crash at any point:
- the tag already there → nothing is uploaded; the release just records it;
- a commit already made for this content but not tagged (a crash between the two steps) →
  found by the content hash in its description, and tagged;
- otherwise a new commit (one ``create_commit``: all files at once, stale files deleted).

The token is read from the publishing process's environment (``HF_TOKEN``) at call time and
handed to the client; it is never stored or logged. ``huggingface_hub`` is imported inside
worker.hub's functions only, so the web process never loads it.
"""

from __future__ import annotations

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.releases.building import PRIVATE_DIR, release_folder
from apps.releases.models import Release, ReleaseState
from worker.hub import MissingToken, publish_folder

HASH_MARKER = "content-sha256:"


class PublishingOff(Exception):
    """The Hub is not configured for this process."""


def hub_repo_id() -> str:
    namespace = settings.HUB_NAMESPACE
    if not namespace:
        raise PublishingOff(_("Set HUB_NAMESPACE (and HF_TOKEN for the publishing worker)."))
    return f"{namespace}/{settings.HEARTH_HUB_DATASET_REPO}"


def release_publish(release_id: int) -> Release:
    """Publish a ready release (or confirm a published one). Raises PublishingOff when the
    Hub is not configured, and lets client errors propagate (the task retries)."""
    release = Release.objects.get(pk=release_id)
    if release.state not in (ReleaseState.READY, ReleaseState.PUBLISHED):
        raise ValueError(f"{release.version} is {release.state}; only ready releases publish")
    repo_id = hub_repo_id()
    try:
        revision = publish_folder(
            release_folder(release.version),
            repo_id=repo_id,
            repo_type="dataset",
            tag=release.version,
            marker=f"{HASH_MARKER} {release.content_hash}",
            commit_message=f"Hearth release {release.version}",
            files=[
                entry["path"]
                for entry in release.files
                if not entry["path"].startswith(PRIVATE_DIR)
            ],
        )
    except MissingToken:
        raise PublishingOff(
            _("HF_TOKEN is not set in the publishing process's environment.")
        ) from None
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
