"""The two schedules that close the loop with nobody at the keyboard.

* ``training.auto_release``: cut a release when at least ``min_new_items`` new accepted items
  exist: answers and rankings that would enter a release cut now and are not in the newest
  finished release (see :func:`new_items`).
* ``training.auto_train``: queue one run per kind on the newest finished release, unless that
  release already has a scheduled run of that kind, or a run of that kind is queued or running.
  With Hub publishing on, an unpublished release is sent to the Hub first (the run must name
  the data revision), and training waits for a later tick; a release whose publishing failed
  is not trained on, and the tick says why, until a maintainer publishes it again.

Both are django-celery-beat ``PeriodicTask`` rows (made after every migrate by
``ensure_schedules``, disabled until a maintainer turns them on), so they show and can be
edited in admin and on the dashboard. Each takes a database lock so that two deliveries of one
tick cannot both act. What a tick decided (waiting, and for what; what it cut or queued) is
kept as the schedule's :class:`~apps.training.models.ScheduleOutcome`, which the dashboard
shows in the reader's language.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, gettext_noop, ngettext, ngettext_lazy

from apps.accounts import roles
from apps.accounts.models import User
from apps.collection.models import Response
from apps.core.notes import label_note, shown_note
from apps.feedback.models import Ranking
from apps.releases import selectors as release_selectors
from apps.releases import services as release_services
from apps.releases.building.queries import entering_response, rankings_filter
from apps.releases.models import (
    BUILD_STALE,
    FINISHED_STATES,
    PublishState,
    Release,
    ReleaseState,
)
from apps.training import services
from apps.training.models import RunKind, RunMethod, RunOrigin, ScheduleOutcome, TrainingRun

T = TypeVar("T")

AUTO_RELEASE = "Cut a release when enough new data is in"
AUTO_TRAIN = "Train SFT and reward models on each new release"
DEFAULT_MIN_NEW_ITEMS = 500
# A million new items is past any data set Hearth collects between two releases; a larger
# number (10**30 was stored) only means "never", which switching the schedule off says.
MAX_MIN_NEW_ITEMS = 1_000_000
# pg_advisory_xact_lock key serializing the schedules ("hearth-s" in ASCII).
SCHEDULE_LOCK_KEY = 0x6865617274682D73


def _lock() -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [SCHEDULE_LOCK_KEY])


@dataclass(frozen=True)
class Note:
    """One thing a tick decided: an English message id (marked with gettext_noop, so that it
    is translated where it is shown, not where it was decided) and its parameters."""

    text: str
    params: dict[str, Any] = field(default_factory=dict)
    # A counted message's English plural: ``text`` is then the singular, and ``count`` in
    # ``params`` chooses.
    plural: str = ""

    def __str__(self) -> str:
        text = self.plural if self.plural and self.params.get("count") != 1 else self.text
        return text % self._shown_params()

    def translated(self) -> str:
        if self.plural:
            return ngettext(self.text, self.plural, self.params["count"]) % self._shown_params()
        return _(self.text) % self._shown_params()

    def _shown_params(self) -> dict[str, Any]:
        """The values, a message kept untranslated (a release's publish_error_note) read in
        the active language."""
        return {
            name: shown_note(value) if isinstance(value, dict) else value
            for name, value in self.params.items()
        }


def _record(task: str, notes: list[Note], *, acted: bool) -> str:
    """Keep a tick's notes as the schedule's latest outcome (in the tick's transaction);
    return them as one English line, for the task's log."""
    ScheduleOutcome.objects.update_or_create(
        task=task,
        defaults={
            "at": timezone.now(),
            "notes": [
                {"text": n.text, "params": n.params, **({"plural": n.plural} if n.plural else {})}
                for n in notes
            ],
            "acted": acted,
        },
    )
    return " ".join(str(n) for n in notes)


def _released(release: Release) -> dict[str, set[int]] | None:
    """A finished release's answer ids (``sft``) and ranking ids (``rankings``), from the
    row keys its build keeps (apps.releases.building); None when they are not here."""
    import pyarrow.parquet as pq

    from apps.releases.building.layout import PRIVATE_DIR, release_folder

    folder = release_folder(release.version) / PRIVATE_DIR / "keys"
    held = {}
    for config in ("sft", "rankings"):
        path = folder / f"{config}.parquet"
        if not path.exists():
            return None
        # ParquetFile, not read_table, which imports pandas through pyarrow.dataset.
        held[config] = set(pq.ParquetFile(path).read(columns=["key"]).column("key").to_pylist())
    return held


def new_items(*, filters: dict[str, Any] | None = None) -> tuple[int, Release | None]:
    """Accepted answers and usable rankings that would enter a release cut now with
    ``filters`` and are not in the newest finished release: ``(new, that release)``.

    What the release holds is read from its row keys (answer and ranking ids). So work
    withdrawn since does not cancel out new work; and what a last release cut by hand with
    a narrower filter left out counts as new, since a release cut with ``filters`` would add
    it. Where the release's keys are not on this machine, the count falls back to the growth
    in rows since it (its ``counts``)."""
    flt = release_services.check_release_filter(**(filters or {}))
    answers = Response.objects.filter(entering_response(flt)).values_list("id", flat=True)
    rankings = Ranking.objects.filter(rankings_filter(flt)).values_list("id", flat=True)
    last = Release.objects.filter(state__in=FINISHED_STATES).order_by("-number").first()
    if last is None:
        return answers.count() + rankings.count(), None
    held = _released(last)
    if held is None:
        rows = (last.counts or {}).get("rows", {})
        had = sum(sum(rows.get(config, {}).values()) for config in ("sft", "rankings"))
        return max(0, answers.count() + rankings.count() - had), last
    new = sum(1 for pk in answers.iterator(chunk_size=10_000) if pk not in held["sft"])
    new += sum(1 for pk in rankings.iterator(chunk_size=10_000) if pk not in held["rankings"])
    return new, last


def maybe_cut_release(*, min_new_items: int = DEFAULT_MIN_NEW_ITEMS, **filters: Any) -> str:
    """Cut (and enqueue the build of) a release when enough new data exists; record and
    return what happened."""
    with transaction.atomic():
        _lock()
        notes, acted = _cut_release(min_new_items, filters)
        return _record("training.auto_release", notes, acted=acted)


# Counted notes, (singular, plural) English ids read with ngettext where shown. makemessages
# reads only literal calls: the ngettext_lazy calls below mark the same pairs.
WAITING_FOR_ITEMS = (
    "Waiting: %(count)d new item of the %(needed)d needed.",
    "Waiting: %(count)d new items of the %(needed)d needed.",
)
CUT_FIRST = (
    "Cut %(version)s, the first release (%(count)d new item).",
    "Cut %(version)s, the first release (%(count)d new items).",
)
CUT_NEXT = (
    "Cut %(version)s (%(count)d new item since %(last)s).",
    "Cut %(version)s (%(count)d new items since %(last)s).",
)
COUNTED_NOTES = [
    ngettext_lazy(
        "Waiting: %(count)d new item of the %(needed)d needed.",
        "Waiting: %(count)d new items of the %(needed)d needed.",
        "count",
    ),
    ngettext_lazy(
        "Cut %(version)s, the first release (%(count)d new item).",
        "Cut %(version)s, the first release (%(count)d new items).",
        "count",
    ),
    ngettext_lazy(
        "Cut %(version)s (%(count)d new item since %(last)s).",
        "Cut %(version)s (%(count)d new items since %(last)s).",
        "count",
    ),
]


def _cut_release(min_new_items: int, filters: dict[str, Any]) -> tuple[list[Note], bool]:
    building = Release.objects.filter(state=ReleaseState.BUILDING).first()
    if building is not None and building.build_stalled:
        # Waiting would be for ever: its worker has most likely died. A maintainer rebuilds
        # it (the schedule does not: a build that kills its worker would be retried each
        # tick).
        text = gettext_noop(
            "Waiting: %(version)s's build has made no progress for %(minutes)d minutes (its "
            "worker may have died). Rebuild it from its page, and the schedule goes on."
        )
        minutes = int(BUILD_STALE.total_seconds() // 60)
        return [Note(text, {"version": building.version, "minutes": minutes})], False
    if building is not None:
        text = gettext_noop("Waiting: %(version)s is still building.")
        return [Note(text, {"version": building.version})], False
    count, last = new_items(filters=filters)
    if count < min_new_items:
        text, plural = WAITING_FOR_ITEMS
        return [Note(text, {"count": count, "needed": min_new_items}, plural)], False
    if "test_share" not in filters:
        # As the Releases form and the API start it (ML QA: the schedule put a small
        # collection's new prompts all in train at 0.05).
        filters = {**filters, "test_share": release_selectors.suggested_test_share()}
    try:
        release = release_services.release_create(user=None, **filters)
    except ValidationError as exc:  # new rankings, but no answer the filter keeps
        text = gettext_noop("Waiting: %(reason)s")
        return [Note(text, {"reason": " ".join(exc.messages)})], False
    if last is None:
        text, plural = CUT_FIRST
        return [Note(text, {"version": release.version, "count": count}, plural)], True
    text, plural = CUT_NEXT
    params = {"version": release.version, "count": count, "last": last.version}
    return [Note(text, params, plural)], True


def maybe_train(
    *,
    kinds: list[str] | tuple[str, ...] = (RunKind.SFT, RunKind.REWARD),
    base_models: dict[str, str] | None = None,
    method: str = "full",
    hyperparameters: dict[str, dict[str, Any]] | None = None,
    answer_prompts: int = 0,
) -> str:
    """Queue at most one scheduled run per kind on the newest finished release; the SFT run
    then answers ``answer_prompts`` collecting prompts. Record and return what happened."""
    with transaction.atomic():
        _lock()
        notes, acted = _train(
            kinds=kinds,
            base_models=base_models or {},
            method=method,
            hyperparameters=hyperparameters or {},
            answer_prompts=answer_prompts,
        )
        return _record("training.auto_train", notes, acted=acted)


def _train(
    *,
    kinds: list[str] | tuple[str, ...],
    base_models: dict[str, str],
    method: str,
    hyperparameters: dict[str, dict[str, Any]],
    answer_prompts: int,
) -> tuple[list[Note], bool]:
    from django.conf import settings

    release = Release.objects.filter(state__in=FINISHED_STATES).order_by("-number").first()
    if release is None:
        return [Note(gettext_noop("Waiting: no release is finished yet."))], False
    if settings.HUB_NAMESPACE and release.state != ReleaseState.PUBLISHED:
        if release.publish_state == PublishState.FAILED:
            # Not sent again by itself: a refused token or a missing namespace fails the same
            # way each hour. A maintainer publishes it again from its page.
            text = gettext_noop(
                "Not training on %(version)s: publishing it to the Hub failed (%(reason)s). "
                "Publish it again from its page; training starts at a later run of this "
                "schedule."
            )
            return [
                Note(
                    text,
                    {
                        "version": release.version,
                        "reason": release.publish_error_note or release.publish_error,
                    },
                )
            ], False
        if not release_services.release_publish_enqueue(release=release):
            text = gettext_noop("Waiting: %(version)s is being published to the Hub.")
            return [Note(text, {"version": release.version})], False
        text = gettext_noop(
            "Sending %(version)s to the Hub first: a run names the data revision it learns "
            "from. Training starts at a later run of this schedule."
        )
        return [Note(text, {"version": release.version})], True
    notes: list[Note] = []
    acted = False
    for kind in kinds:
        # The kind by its name, in the reader's language ("sft" read as a code on Spanish
        # pages).
        shown_kind = label_note(RunKind(kind).label)
        names = {"kind": shown_kind, "version": release.version}
        if TrainingRun.objects.filter(
            release=release, kind=kind, origin=RunOrigin.SCHEDULE
        ).exists():
            notes.append(Note(gettext_noop("%(kind)s: %(version)s has its run already."), names))
            continue
        active = services.active_run_of_kind(kind)
        if active is not None:
            text = gettext_noop("%(kind)s: waiting for run %(run)d to finish.")
            notes.append(Note(text, {"kind": shown_kind, "run": active.pk}))
            continue
        try:
            with transaction.atomic():
                run = services.run_create(
                    user=None,
                    release=release,
                    kind=kind,
                    base_model=base_models.get(kind),
                    method=method,
                    hyperparameters=hyperparameters.get(kind),
                    origin=RunOrigin.SCHEDULE,
                    answer_prompts=answer_prompts if kind == RunKind.SFT else 0,
                )
        except ValidationError as exc:
            text = gettext_noop("%(kind)s: skipped: %(reason)s")
            notes.append(Note(text, {"kind": shown_kind, "reason": " ".join(exc.messages)}))
        except IntegrityError:  # pragma: no cover - the lock makes this a last guard
            notes.append(Note(gettext_noop("%(kind)s: %(version)s has its run already."), names))
        else:
            text = gettext_noop("%(kind)s: queued run %(run)d on %(version)s.")
            notes.append(Note(text, {**names, "run": run.pk}))
            acted = True
    return notes, acted


# ---------------------------------------------------------------------------------------------
# The rows, and editing them (dashboard)
# ---------------------------------------------------------------------------------------------

DEFAULTS: dict[str, dict[str, Any]] = {
    "training.auto_release": {
        "name": AUTO_RELEASE,
        "kwargs": {"min_new_items": DEFAULT_MIN_NEW_ITEMS},
        "description": "Cuts the next release when at least min_new_items new accepted answers "
        "and rankings exist since the last finished release.",
    },
    "training.auto_train": {
        "name": AUTO_TRAIN,
        "kwargs": {"kinds": list(RunKind.values), "method": "full"},
        "description": "Queues one run per kind on the newest finished release, once per "
        "release, never while a run of that kind is queued or running.",
    },
}


def ensure_schedules() -> None:
    """Create the two schedule rows, switched off and hourly, where they are missing; never
    touch existing ones (a maintainer may have changed them)."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    for task, row in DEFAULTS.items():
        if PeriodicTask.objects.filter(task=task).exists():
            continue
        hourly, _created = IntervalSchedule.objects.get_or_create(
            every=60, period=IntervalSchedule.MINUTES
        )
        PeriodicTask.objects.get_or_create(
            name=row["name"],
            defaults={
                "task": task,
                "interval": hourly,
                "kwargs": json.dumps(row["kwargs"]),
                "enabled": False,
                "description": row["description"],
            },
        )


# What the dashboard calls each schedule (its heading, and the message once saved); the row's
# own name, in English, is for admin.
TITLES = {
    "training.auto_release": gettext_lazy("Cut releases automatically"),
    "training.auto_train": gettext_lazy("Train on each new release"),
}


@dataclass(frozen=True)
class Schedule:
    """A schedule as the dashboard shows it."""

    id: int
    name: str
    task: str
    enabled: bool
    every_minutes: int | None
    options: dict[str, Any]
    last_run_at: Any
    # What its latest tick decided (translated), and when; empty and None before any tick.
    outcome: list[str] = field(default_factory=list)
    outcome_at: Any = None

    @property
    def title(self) -> str:
        return str(TITLES.get(self.task, self.name))


def schedule_list() -> list[Schedule]:
    from django_celery_beat.models import PeriodicTask

    tasks = PeriodicTask.objects.filter(
        task__in=["training.auto_release", "training.auto_train"]
    ).select_related("interval")
    outcomes = {o.task: o for o in ScheduleOutcome.objects.filter(task__in=list(DEFAULTS))}
    out = []
    for task in tasks.order_by("task"):
        minutes = None
        if task.interval is not None:
            factor = {"days": 1440, "hours": 60, "minutes": 1, "seconds": 1 / 60}
            minutes = int(task.interval.every * factor.get(task.interval.period, 1))
        out.append(
            Schedule(
                id=task.pk,
                name=task.name,
                task=task.task,
                enabled=task.enabled,
                every_minutes=minutes,
                options=json.loads(task.kwargs or "{}"),
                last_run_at=task.last_run_at,
                **_outcome_fields(outcomes.get(task.task)),
            )
        )
    return out


def _outcome_fields(outcome: ScheduleOutcome | None) -> dict[str, Any]:
    if outcome is None:
        return {}
    notes = []
    for note in outcome.notes:
        try:
            params = dict(note.get("params") or {})
            plural = str(note.get("plural") or "")
            notes.append(Note(str(note["text"]), params, plural).translated())
        except (KeyError, TypeError, ValueError):  # a message id a later version renamed
            notes.append(str(note))
    return {"outcome": notes, "outcome_at": outcome.at}


MAX_EVERY_MINUTES = 7 * 24 * 60


def schedule_update(
    *, user: User | None, schedule_id: int, enabled: bool, every_minutes: Any, options: Any
) -> None:
    """Turn a schedule on or off, set how often it runs and its options (validated: every
    problem named at once, each under its field).

    Beat writes each run it sends to the same row (``last_run_at``, ``total_run_count``): the
    row is locked while it is edited, and only the fields the edit changes are saved, so an
    edit never writes back a run count or time that beat recorded meanwhile."""
    from django_celery_beat.models import IntervalSchedule, PeriodicTask

    if user is not None and not roles.is_maintainer(user):
        raise PermissionDenied(_("Only maintainers may change schedules."))
    with transaction.atomic():
        task = PeriodicTask.objects.select_for_update(no_key=True).get(
            pk=schedule_id, task__in=["training.auto_release", "training.auto_train"]
        )
        errors: dict[str, list[str]] = {}
        minutes = _every_minutes(every_minutes, errors)
        checked = _checked(check_options, errors, task.task, options)
        if errors:
            raise ValidationError(errors)
        assert minutes is not None and checked is not None
        interval, _created = IntervalSchedule.objects.get_or_create(
            every=minutes, period=IntervalSchedule.MINUTES
        )
        task.interval = interval
        task.enabled = bool(enabled)
        task.kwargs = json.dumps(checked, sort_keys=True)
        # date_changed (auto_now, the row's "last modified") is only set if named here; beat
        # counts a schedule with no last run from it. What makes beat reload the schedules is
        # its change marker (PeriodicTasks.last_update), which PeriodicTask.save() moves
        # whatever the fields saved. For a task switched off, save() clears last_run_at (so
        # that, switched on again, it waits a whole interval instead of running at once to
        # catch up): that is saved too, and under the lock it is no stale value.
        fields = ["interval", "enabled", "kwargs", "date_changed"]
        if not task.enabled:
            fields.append("last_run_at")
        task.save(update_fields=fields)


def _every_minutes(value: Any, errors: dict[str, list[str]]) -> int | None:
    try:
        minutes = int(value)
    except (TypeError, ValueError):
        errors["every_minutes"] = [_("Give a whole number of minutes.")]
        return None
    if not 1 <= minutes <= MAX_EVERY_MINUTES:
        errors["every_minutes"] = [_("From 1 to %(n)s minutes.") % {"n": MAX_EVERY_MINUTES}]
        return None
    return minutes


def _checked(check: Callable[..., T], errors: dict[str, list[str]], *args: Any) -> T | None:
    """``check(*args)``, or None with its ValidationError's messages added to ``errors``."""
    try:
        return check(*args)
    except ValidationError as exc:
        services.add_errors(errors, exc)
        return None


def _whole_number(value: Any, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def check_options(task: str, options: Any) -> dict[str, Any]:
    """Validate a schedule's options (its task's keyword arguments); raise ValidationError
    naming every bad option under its name (a kind's base model under
    ``base_models.<kind>``)."""
    if not isinstance(options, dict):
        raise ValidationError({"options": [_("Give an object.")]})
    errors: dict[str, list[str]] = {}
    if task == "training.auto_release":
        filter_keys = {
            "languages",
            "categories",
            "min_agreement",
            "include_model_written",
            "test_share",
        }
        extra = set(options) - filter_keys - {"min_new_items"}
        if extra:
            errors["options"] = [_("Unknown options: %(o)s.") % {"o": sorted(extra)}]
        minimum = options.get("min_new_items", DEFAULT_MIN_NEW_ITEMS)
        if not _whole_number(minimum, 1, MAX_MIN_NEW_ITEMS):
            errors["min_new_items"] = [
                _("Give a whole number from %(low)d to %(high)d.")
                % {"low": 1, "high": MAX_MIN_NEW_ITEMS}
            ]
        filters = {k: v for k, v in options.items() if k in filter_keys}
        _checked(lambda: release_services.check_release_filter(**filters), errors)
        if errors:
            raise ValidationError(errors)
        return {"min_new_items": minimum, **filters}
    extra = set(options) - {"kinds", "base_models", "method", "hyperparameters", "answer_prompts"}
    if extra:
        errors["options"] = [_("Unknown options: %(o)s.") % {"o": sorted(extra)}]
    kinds = options.get("kinds", list(RunKind.values))
    if not isinstance(kinds, list) or not kinds or any(k not in RunKind.values for k in kinds):
        errors["kinds"] = [_("Choose from: %(k)s.") % {"k": ", ".join(RunKind.values)}]
        kinds = list(RunKind.values)
    base_models = options.get("base_models") or {}
    if not isinstance(base_models, dict) or set(base_models) - set(RunKind.values):
        errors["base_models"] = [_("Give a base model per kind (sft, reward).")]
    else:
        # Named by kind (base_models.sft), so that each problem lands on its kind's field:
        # two bad base models gave two messages that said neither which.
        for kind, value in base_models.items():
            try:
                services.check_base_model(value)
            except ValidationError as exc:
                errors.setdefault(f"base_models.{kind}", []).extend(exc.messages)
    # The same rules as a run started by hand, so that a schedule never stores options that
    # every tick would then fail on.
    method = options.get("method", RunMethod.FULL)
    if method not in RunMethod.values:
        errors["method"] = [_("Choose one of: %(v)s.") % {"v": ", ".join(RunMethod.values)}]
        method = RunMethod.FULL
    params = options.get("hyperparameters") or {}
    if not isinstance(params, dict) or set(params) - set(RunKind.values):
        errors["hyperparameters"] = [_("Give hyperparameters per kind.")]
    else:
        params = {
            kind: _checked(services.check_hyperparameters, errors, kind, method, values)
            for kind, values in params.items()
        }
    answers = options.get("answer_prompts", 0)
    # The answers come from the SFT run: without one, there is nothing to write them.
    kind = RunKind.SFT if RunKind.SFT in kinds else kinds[0]
    if (problem := services.answer_prompts_problem(kind, answers)) is not None:
        errors["answer_prompts"] = [problem]
    if errors:
        raise ValidationError(errors)
    out: dict[str, Any] = {"kinds": kinds, "method": method}
    if answers:
        out["answer_prompts"] = answers
    if base_models:
        out["base_models"] = base_models
    if params:
        out["hyperparameters"] = params
    return out
