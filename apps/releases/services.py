"""Writes for releases: create one (and enqueue its build), build a failed one again, ask
for one to be published.

The build itself is ``apps.releases.building.release_build``, run by the ``releases.build``
task on the ``exports`` queue.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.db import connection, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.accounts import roles
from apps.accounts.models import User
from apps.accounts.services import check_language
from apps.collection.models import Category
from apps.core.queueing import send_on_commit, unsent_reason
from apps.core.text import ago, shown_number
from apps.releases.models import (
    BUILD_STALE,
    DEFAULT_TEST_SHARE,
    FINISHED_STATES,
    PUBLISH_STALE,
    PublishState,
    Release,
    ReleaseFilter,
    ReleaseState,
)

# pg_advisory_xact_lock key that serializes version numbering ("hearth-r" in ASCII).
VERSION_LOCK_KEY = 0x6865617274682D72
MAX_TEST_SHARE = 0.5


def _as_list(value: Any, field: str) -> list[Any]:
    if value is None:
        return []
    if isinstance(value, str):
        return [item for item in value.replace(" ", ",").split(",") if item]
    if isinstance(value, list | tuple):
        return list(value)
    raise ValidationError({field: [_("Give a list.")]})


def _as_float(value: Any, field: str) -> float:
    if isinstance(value, bool):
        raise ValidationError({field: [_("Give a number.")]})
    try:
        number = float(value)
    except (TypeError, ValueError):
        raise ValidationError({field: [_("Give a number.")]}) from None
    if not math.isfinite(number):
        raise ValidationError({field: [_("Give a finite number.")]})
    return number


def check_release_filter(
    *,
    languages: Iterable[str] | str | None = None,
    categories: Iterable[str] | str | None = None,
    min_agreement: Any = None,
    include_model_written: Any = False,
    test_share: Any = DEFAULT_TEST_SHARE,
) -> ReleaseFilter:
    """Validate a release filter; raise ValidationError naming each bad field.

    Languages are BCP-47 tags (canonicalised, duplicates dropped, order kept), categories
    Dolly's eight; empty means all. ``min_agreement`` is None or in [0, 1]; ``test_share``
    in (0, 0.5].
    """
    errors: dict[str, list[str]] = {}
    tags: list[str] = []
    try:
        for tag in _as_list(languages, "languages"):
            canonical = check_language(tag, field="languages")
            if canonical not in tags:
                tags.append(canonical)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    chosen: list[str] = []
    try:
        known = set(Category.values)
        for category in _as_list(categories, "categories"):
            if category not in known:
                raise ValidationError(
                    {
                        "categories": [
                            _("%(value)r is not a category; use one of: %(known)s.")
                            % {"value": category, "known": ", ".join(Category.values)}
                        ]
                    }
                )
            if category not in chosen:
                chosen.append(category)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    minimum: float | None = None
    if min_agreement is not None and min_agreement != "":
        try:
            minimum = _as_float(min_agreement, "min_agreement")
            if not 0 <= minimum <= 1:
                raise ValidationError({"min_agreement": [_("Give a number from 0 to 1.")]})
        except ValidationError as exc:
            errors.update(exc.message_dict)
    if not isinstance(include_model_written, bool):
        errors["include_model_written"] = [_("Must be true or false.")]
    share = DEFAULT_TEST_SHARE
    try:
        share = _as_float(test_share, "test_share")
        if not 0 < share <= MAX_TEST_SHARE:
            raise ValidationError(
                {
                    "test_share": [
                        _("Give a share above 0 and at most %(max)s.")
                        % {"max": shown_number(MAX_TEST_SHARE)}
                    ]
                }
            )
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return ReleaseFilter(
        languages=tuple(tags),
        categories=tuple(chosen),
        min_agreement=minimum,
        include_model_written=bool(include_model_written),
        test_share=share,
    )


def check_release_has_answers(release_filter: ReleaseFilter) -> None:
    """Raise ValidationError unless at least one accepted answer (an ``sft`` row) enters a
    release with this filter: a release of nothing builds, takes a version number and is
    "ready", yet nothing can be trained on it. One indexed EXISTS query."""
    from apps.releases.building.queries import sft_query

    if sft_query(release_filter).exists():
        return
    parts = []
    if release_filter.languages:
        parts.append(_("languages: %(tags)s") % {"tags": ", ".join(release_filter.languages)})
    if release_filter.categories:
        # The names people read on the form (translated), not the stored codes.
        labels = dict(Category.choices)
        names = ", ".join(str(labels[category]) for category in release_filter.categories)
        parts.append(_("categories: %(names)s") % {"names": names})
    if not release_filter.include_model_written:
        with_models = replace(release_filter, include_model_written=True)
        if sft_query(with_models).exists():
            parts.append(_("model-written answers left out"))
    if parts:
        message = _("No accepted answer matches this filter (%(filter)s).") % {
            "filter": "; ".join(parts)
        }
    else:
        message = _("There is no accepted answer to release yet.")
    raise ValidationError({NON_FIELD_ERRORS: [message]})


def _check_maintainer(user: User | None) -> None:
    if user is not None and not roles.is_maintainer(user):
        raise PermissionDenied(_("Only maintainers may cut releases."))


def _enqueue_build(release: Release) -> None:
    from apps.releases.building import release_mark_failed
    from apps.releases.tasks import build_release

    release_id = release.pk

    def unsent(exc: Exception) -> None:
        # Only while no worker has taken it: a build running already owns the row.
        if Release.objects.filter(pk=release_id, started_at__isnull=True).exists():
            release_mark_failed(release_id=release_id, reason=unsent_reason(exc))

    send_on_commit(
        lambda: build_release.apply_async(args=(release_id,), queue="exports"), unsent=unsent
    )


@transaction.atomic
def release_create(
    *,
    user: User | None,
    languages: Iterable[str] | str | None = None,
    categories: Iterable[str] | str | None = None,
    min_agreement: Any = None,
    include_model_written: Any = False,
    test_share: Any = DEFAULT_TEST_SHARE,
    enqueue: bool = True,
) -> Release:
    """Create the next version (``v1``, ``v2``, …) with a validated filter and, once the
    transaction commits, enqueue its build on the ``exports`` queue.

    ``user`` must be a maintainer; None is for trusted callers (``manage.py release``).
    A filter that no accepted answer matches is refused (``check_release_has_answers``).
    ``enqueue=False`` leaves the build to the caller (``release_build`` in-process).
    """
    _check_maintainer(user)
    release_filter = check_release_filter(
        languages=languages,
        categories=categories,
        min_agreement=min_agreement,
        include_model_written=include_model_written,
        test_share=test_share,
    )
    # Before the version lock, so a refused filter never holds it or uses a number.
    check_release_has_answers(release_filter)
    if connection.vendor == "postgresql":
        # Two maintainers at once must not both take the next number. (SQLite runs write
        # transactions one at a time; the unique constraint is the last guard everywhere.)
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [VERSION_LOCK_KEY])
    number = (Release.objects.aggregate(top=Max("number"))["top"] or 0) + 1
    release = Release.objects.create(
        number=number,
        version=f"v{number}",
        created_by=user,
        filter=release_filter.as_json(),
    )
    if enqueue:
        _enqueue_build(release)
    return release


@transaction.atomic
def release_rebuild(*, user: User | None, release: Release, enqueue: bool = True) -> Release:
    """Build a failed release again, or one stuck in building (its worker died): the new
    attempt supersedes any earlier one. A finished release cannot be rebuilt."""
    _check_maintainer(user)
    release = Release.objects.select_for_update().get(pk=release.pk)
    if release.state in FINISHED_STATES:
        raise ValidationError(
            _("%(version)s is finished; cut a new release instead.") % {"version": release.version}
        )
    release.state = ReleaseState.BUILDING
    release.error = ""
    release.save(update_fields=["state", "error"])
    if enqueue:
        _enqueue_build(release)
    return release


@transaction.atomic
def release_rebuild_failed(*, user: User | None, release: Release) -> tuple[Release, bool]:
    """The Rebuild action of a failed release's page and API: build it again, once.

    Under the row lock, a failed release, or one whose build has stalled (``build_stalled``:
    its worker died), goes back to building and its build is queued on commit (True); one
    building (a repeated request, a double click) is left as it is and nothing is queued
    again (False). A finished release raises ValidationError saying
    so. ``user`` must be a maintainer (PermissionDenied); None is for trusted callers."""
    _check_maintainer(user)
    locked = Release.objects.select_for_update().get(pk=release.pk)
    if locked.state == ReleaseState.BUILDING and not locked.build_stalled:
        return locked, False
    if locked.state not in (ReleaseState.FAILED, ReleaseState.BUILDING):
        raise ValidationError(
            {
                "version": [
                    _(
                        "Release %(version)s is in state “%(state)s”; only a failed release "
                        "is rebuilt. Cut a new release to release the data as it is now."
                    )
                    % {"version": locked.version, "state": locked.get_state_display()}
                ]
            }
        )
    locked.state = ReleaseState.BUILDING
    locked.error = ""
    # Asked for now: a second click, until a worker claims it, finds it building, not stalled.
    locked.progress_at = timezone.now()
    locked.save(update_fields=["state", "error", "progress_at"])
    _enqueue_build(locked)
    return locked, True


def release_rebuild_refusal(*, release: Release) -> str:
    """Why Rebuild queued nothing for ``release``, which is building and not stalled, in words
    a maintainer can act on: the page's notice and the API's 409 (data QA: the API answered
    202 Accepted and queued nothing)."""
    minutes = int(BUILD_STALE.total_seconds() // 60)
    return ngettext(
        "%(version)s is being built already (its last sign of progress: %(when)s), so nothing "
        "was queued. A build with no progress for %(minutes)d minute has likely lost its "
        "worker; Rebuild then builds it again.",
        "%(version)s is being built already (its last sign of progress: %(when)s), so nothing "
        "was queued. A build with no progress for %(minutes)d minutes has likely lost its "
        "worker; Rebuild then builds it again.",
        minutes,
    ) % {"version": release.version, "when": ago(release.build_seen_at), "minutes": minutes}


def release_publish_refusal(*, release: Release) -> str:
    """Why Publish queued nothing for ``release``, a ready one being published already, in
    words a maintainer can act on (the page's notice and the API's 409)."""
    minutes = int(PUBLISH_STALE.total_seconds() // 60)
    return ngettext(
        "%(version)s is being published already (asked %(when)s), so nothing was queued. If "
        "it is still not published %(minutes)d minute after it was asked for, Publish asks "
        "again.",
        "%(version)s is being published already (asked %(when)s), so nothing was queued. If "
        "it is still not published %(minutes)d minutes after it was asked for, Publish asks "
        "again.",
        minutes,
    ) % {
        "version": release.version,
        "when": ago(release.publish_requested_at),
        "minutes": minutes,
    }


class PublishingUnavailable(Exception):
    """The Hub is not configured (HUB_NAMESPACE unset)."""


@transaction.atomic
def release_publish_enqueue(*, release: Release) -> bool:
    """Ask the exports worker to publish a ready release (the worker holds HF_TOKEN, web
    does not), once: returns whether a publish was queued.

    A conditional UPDATE claims it (``publish_state`` to publishing, the reason of an earlier
    failure cleared): a release already publishing is not queued again, nor one published,
    so repeated clicks and schedule ticks queue one publish. One publishing for longer than
    PUBLISH_STALE (its worker died, or none runs) may be asked for again. Raises
    PublishingUnavailable without HUB_NAMESPACE. ``release`` is refreshed from the row."""
    from django.conf import settings

    from apps.releases.tasks import publish_release

    if not settings.HUB_NAMESPACE:
        raise PublishingUnavailable(
            _("Hub publishing is off: set HUB_NAMESPACE, and HF_TOKEN for the exports worker.")
        )
    now = timezone.now()
    claimed = (
        Release.objects.filter(pk=release.pk, state=ReleaseState.READY)
        .filter(
            ~Q(publish_state=PublishState.PUBLISHING)
            | Q(publish_requested_at__lt=now - PUBLISH_STALE)
        )
        .update(
            publish_state=PublishState.PUBLISHING,
            publish_error="",
            publish_error_note={},
            publish_requested_at=now,
        )
    )
    release.refresh_from_db()
    if claimed:
        from apps.releases.publishing import release_publish_failed

        release_id = release.pk
        send_on_commit(
            lambda: publish_release.apply_async(args=(release_id,), queue="exports"),
            unsent=lambda exc: release_publish_failed(release_id=release_id, exc=exc),
        )
    return bool(claimed)
