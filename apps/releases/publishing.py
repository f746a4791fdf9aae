"""Publishing a release to a Hub dataset repo: one commit holding exactly the release's files,
tagged with its version, and what became of each attempt.

The Hub side is worker.hub.publish_folder (shared with the GPU nodes, which publish models the
same way), so it is safe to repeat and to retry after a crash at any point:
- the tag already there → nothing is uploaded; the release just records it;
- a commit already made for this content but not tagged (a crash between the two steps) →
  found by the content hash in its description, and tagged;
- otherwise a new commit (one ``create_commit``: all files at once, stale files deleted).

Repeating is safe one attempt at a time: two at once could both find no commit and both make
one. On PostgreSQL an attempt holds a lock of its release's for as long as it talks to the
Hub, and one that finds it held leaves the release to the attempt holding it
(``PublishBusy``).

A publish's state is on the release (``publish_state``): ``publishing`` once asked for
(``services.release_publish_enqueue``), ``published`` with the Hub commit, or ``failed`` with
a reason people can act on (``release_publish_failed``, by the ``releases.publish`` task,
which retries transient errors first).

The token is read from the publishing process's environment (``HF_TOKEN``) at call time and
handed to the client; it is never stored or logged. ``huggingface_hub`` is imported inside
worker.hub's functions only, so the web process never loads it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext_noop

from apps.core.notes import Note, label_note, note, shown_note
from apps.releases.building import PRIVATE_DIR, release_folder
from apps.releases.models import (
    FINISHED_STATES,
    PublishState,
    Release,
    ReleaseState,
)
from worker.hub import MissingToken, TagTaken, publish_folder

HASH_MARKER = "content-sha256:"
ERROR_MAX_CHARS = 2_000
# pg_try_advisory_lock(PUBLISH_LOCK_CLASS, release id) is held while a release is published
# ("hrpb" in ASCII: it must fit in 32 bits).
PUBLISH_LOCK_CLASS = 0x68727062


class NotedError(Exception):
    """An error whose message is a note: str() is it in the active language."""

    def __init__(self, message: Note) -> None:
        self.note = message
        super().__init__(shown_note(message))


class PublishingOff(NotedError):
    """The Hub is not configured for this process."""


class PublishBusy(Exception):
    """Another attempt is publishing this release right now; it records the outcome."""


class NotReady(NotedError, ValueError):
    """The release is not ready to be published."""


class VersionTagTaken(NotedError, ValueError):
    """The dataset repo has the release's version tag on other data (worker.hub.TagTaken)."""


def hub_repo_id() -> str:
    namespace = settings.HUB_NAMESPACE
    if not namespace:
        raise PublishingOff(
            note(gettext_noop("Set HUB_NAMESPACE (and HF_TOKEN for the publishing worker)."))
        )
    return f"{namespace}/{settings.HEARTH_HUB_DATASET_REPO}"


@contextmanager
def _sole_attempt(release: Release) -> Iterator[None]:
    """Hold the release's publishing lock (PostgreSQL, a session lock on Django's connection,
    let go on leaving or when the connection ends) or raise PublishBusy. Elsewhere (SQLite,
    one worker) a no-op."""
    if connection.vendor != "postgresql":
        yield
        return
    keys = [PUBLISH_LOCK_CLASS, release.pk]
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", keys)
        row = cursor.fetchone()
    if not (row and row[0]):
        raise PublishBusy(release.version)
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_unlock(%s, %s)", keys)


def release_publish(release_id: int) -> Release:
    """Publish a ready release (or confirm a published one) and mark it published with the
    Hub commit. Raises PublishingOff when the Hub is not configured, PublishBusy when another
    attempt holds the release, and lets client errors propagate: the task decides between a
    retry and ``release_publish_failed``."""
    release = Release.objects.get(pk=release_id)
    if release.state not in FINISHED_STATES:
        raise NotReady(
            note(
                gettext_noop("%(version)s is %(state)s; only a ready release is published."),
                version=release.version,
                state=label_note(ReleaseState(release.state).label),
            )
        )
    repo_id = hub_repo_id()
    try:
        with _sole_attempt(release):
            revision = publish_folder(
                release_folder(release.version),
                repo_id=repo_id,
                repo_type="dataset",
                tag=release.version,
                marker=f"{HASH_MARKER} {release.content_hash}",
                commit_message=f"Hearth release {release.version}",
                # Main keeps the newest release; an older one published after it goes on
                # a branch of its own (worker.hub decides, at commit time).
                order=release.number,
                branch=f"release-{release.version}",
                files=[
                    entry["path"]
                    for entry in release.files
                    if not entry["path"].startswith(PRIVATE_DIR)
                ],
            )
    except MissingToken:
        raise PublishingOff(
            note(gettext_noop("HF_TOKEN is not set in the publishing process's environment."))
        ) from None
    except TagTaken as exc:
        raise VersionTagTaken(
            note(
                gettext_noop(
                    "The Hub repository %(repo)s already has a tag %(tag)s on commit "
                    "%(commit)s, which is not this release. Remove that tag on the Hub (or "
                    "publish to another repository) and publish again."
                ),
                repo=exc.repo_id,
                tag=exc.tag,
                commit=exc.commit,
            )
        ) from None
    with transaction.atomic():
        Release.objects.filter(pk=release.pk, state__in=FINISHED_STATES).update(
            state=ReleaseState.PUBLISHED,
            publish_state=PublishState.PUBLISHED,
            publish_error="",
            publish_error_note={},
            hub_repo=repo_id,
            hub_revision=revision,
            published_at=timezone.now(),
        )
    release.refresh_from_db()
    return release


def publish_failure_note(exc: BaseException) -> Note:
    """What went wrong, in words a maintainer can act on, as a note: the Hub's answer for
    HTTP errors (a refused token, a missing namespace), our own messages as they are, the
    error's type and text otherwise."""
    if isinstance(exc, NotedError):
        return exc.note
    if isinstance(exc, ValueError):
        return {"plain": str(exc)}
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if status in (401, 403):
        return note(
            gettext_noop(
                "The Hub refused the token (HTTP %(status)s): check HF_TOKEN in the exports "
                "worker's environment and that it may write to %(namespace)s."
            ),
            status=status,
            namespace=settings.HUB_NAMESPACE,
        )
    if status == 404:
        return note(
            gettext_noop(
                "The Hub has no namespace or repository %(repo)s (HTTP 404): check HUB_NAMESPACE."
            ),
            repo=f"{settings.HUB_NAMESPACE}/{settings.HEARTH_HUB_DATASET_REPO}",
        )
    text = str(exc).strip()
    return {"plain": f"{type(exc).__name__}: {text}" if text else type(exc).__name__}


def publish_failure_reason(exc: BaseException) -> str:
    """publish_failure_note in the active language."""
    return shown_note(publish_failure_note(exc))


def _error_fields(message: Note) -> dict[str, Any]:
    """The release's publish_error (as the worker reads it, for logs and old readers) and
    publish_error_note (for each reader's language)."""
    return {
        "publish_error": shown_note(message)[:ERROR_MAX_CHARS],
        "publish_error_note": message,
    }


def release_publish_retrying(*, release_id: int, exc: BaseException, attempt: int) -> None:
    """Note, on a release still publishing, why try ``attempt`` failed and that it will be
    tried again (a transient error)."""
    message = note(
        gettext_noop("Try %(attempt)d failed and will be repeated: %(reason)s"),
        attempt=attempt,
        reason=publish_failure_note(exc),
    )
    Release.objects.filter(pk=release_id, publish_state=PublishState.PUBLISHING).update(
        **_error_fields(message)
    )


def release_publish_failed(*, release_id: int, exc: BaseException, tries: int = 1) -> bool:
    """Mark a release's publish failed, with the reason (``publish_failure_note``; after
    ``tries`` tries, said so); not one published meanwhile. Returns whether it did."""
    message = publish_failure_note(exc)
    if tries > 1:
        message = note(
            gettext_noop("Gave up after %(tries)d tries: %(reason)s"), tries=tries, reason=message
        )
    return bool(
        Release.objects.filter(pk=release_id, state=ReleaseState.READY)
        .exclude(publish_state=PublishState.PUBLISHED)
        .update(publish_state=PublishState.FAILED, **_error_fields(message))
    )
