"""Writes for training runs: create and dispatch, cancel, retry, apply a GPU worker's report.

The web side never trains. ``run_create`` records a run and, once the transaction commits,
sends its JSON spec to the ``gpu`` queue as the ``worker.train_run`` task (by name: the web
process never imports torch). The GPU worker (worker/runs.py) reports back through the
``training.report`` task on the default queue, which calls ``run_report``. Reports are
merged by step and state only moves forward, so a late, repeated or reordered report never
undoes a newer one, and reports of an earlier attempt are ignored.
"""

from __future__ import annotations

import math
import posixpath
import re
import secrets
import typing
from dataclasses import fields
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import transaction
from django.urls import reverse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from apps.accounts import roles
from apps.accounts.models import User
from apps.collection.services import model_answers_add, prompts_for_model_answers
from apps.core.queueing import send_on_commit, unsent_reason
from apps.core.text import shown_number
from apps.releases.building import release_folder
from apps.releases.models import FINISHED_STATES, Release, ReleaseState
from apps.training.models import (
    ACTIVE_STATES,
    HUB_DATASETS,
    RunKind,
    RunMethod,
    RunOrigin,
    RunState,
    TrainingRun,
)
from worker import answers
from worker.config import describe_type, value_fits

GPU_TASK = "worker.train_run"
REPORT_TASK = "training.report"
# Spec fields the web side sets itself; hyperparameters may not override them.
RESERVED = {
    "release",
    "release_revision",
    "release_tag",
    "release_url",
    "release_content_hash",
    "base_model",
    "method",
    "output_dir",
    "kind",
    "run_id",
}
# Which release config each kind needs rows in, and the config trained on by default.
NEEDS_CONFIG = {RunKind.SFT: "sft", RunKind.REWARD: "preferences"}
MAX_BASE_MODEL = 300
# Points kept in a run's loss and eval histories; older points are thinned out beyond this.
MAX_HISTORY = 2000
MAX_LOGS_TAIL = 20_000
# Terminal colour and cursor codes in a worker's output (transformers prints its load report in
# bold): the log is shown as text, where they read as "[1m…[0m".
ANSI_ESCAPE = re.compile(r"\x1b\[[0-?]*[ -/]*[@-~]")
# Collecting prompts one SFT run may answer once trained, and the longest model-written
# answer in new tokens (about 200 words: Dolly's answers are shorter): the worker's own.
MAX_ANSWER_PROMPTS = answers.MOST_PROMPTS
ANSWER_MAX_NEW_TOKENS = answers.DEFAULT_NEW_TOKENS


def config_class(kind: str) -> type[Any]:
    """The worker's config dataclass for ``kind`` (torch-free module)."""
    from worker.config import RewardConfig, SFTConfig

    return SFTConfig if kind == RunKind.SFT else RewardConfig


# ---------------------------------------------------------------------------------------------
# Validation
# ---------------------------------------------------------------------------------------------


def _unprintable(text: str) -> bool:
    """Whether ``text`` holds a control character or half of a UTF-16 pair: JSON can escape
    both, PostgreSQL refuses a NUL or a lone surrogate (a 500, not a message, if let through)."""
    return any(ord(c) < 32 or 0xD800 <= ord(c) <= 0xDFFF for c in text)


def _accepts(kind_type: Any, value: Any) -> bool:
    """Whether ``value`` (from JSON) fits the annotation ``kind_type``; text at most 500
    printable characters (a hyperparameter, not a document)."""
    if isinstance(value, str) and (len(value) > 500 or _unprintable(value)):
        return False
    return value_fits(kind_type, value)


def hyperparameter_fields(kind: str) -> dict[str, tuple[Any, Any]]:
    """``{name: (annotation, default)}`` of every hyperparameter a run of ``kind`` accepts."""
    cls = config_class(kind)
    hints = typing.get_type_hints(cls)
    return {
        f.name: (hints[f.name], f.default) for f in fields(cls) if f.name not in RESERVED and f.init
    }


def _plain_name(name: str) -> bool:
    """A file name with no folder in it (not ``..``, no slash)."""
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name


def range_problem(name: str, value: Any) -> str | None:
    """What is wrong with a number for ``name`` against the worker's ranges, in the page's
    language and without the name ("must be greater than 0 (got -5)"); None when it fits or
    has no range. The worker says the same in English, named, for a spec that skips this."""
    from worker.config import NUMBER_RANGES, WHOLE_NUMBER_RANGES, whole_if_it_is

    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    got = {"value": shown_number(value)}
    if name in WHOLE_NUMBER_RANGES:
        least, most = WHOLE_NUMBER_RANGES[name]
        if isinstance(value, float) and not value.is_integer():
            # Said with its range, as every other number is ("2.5 is not a valid value
            # (expected a whole number or null)" was the odd one out).
            return _("must be a whole number from %(low)s to %(high)s (got %(value)s)") % {
                "low": shown_number(least),
                "high": shown_number(most),
                **got,
            }
        if least <= value <= most:
            return None
        return _("must be from %(low)s to %(high)s (got %(value)s)") % {
            "low": shown_number(least),
            "high": shown_number(most),
            **got,
        }
    interval = NUMBER_RANGES.get(name)
    if interval is None or value in interval:
        return None
    low = {"n": shown_number(whole_if_it_is(interval.low))}
    bounds = _("at least %(n)s") % low if interval.low_in else _("greater than %(n)s") % low
    if interval.high != math.inf:
        high = {"n": shown_number(whole_if_it_is(interval.high))}
        upper = _("at most %(n)s") % high if interval.high_in else _("below %(n)s") % high
        bounds = _("%(low)s and %(high)s") % {"low": bounds, "high": upper}
    return _("must be %(range)s (got %(value)s)") % {"range": bounds, **got}


def check_hyperparameters(kind: str, method: str, values: Any) -> dict[str, Any]:
    """Validate hyperparameters against the worker's config for ``kind``; raise
    ValidationError naming each bad key. Returns them with ints given for floats kept as
    given (JSON makes no difference)."""
    if values is None:
        return {}
    if not isinstance(values, dict):
        raise ValidationError({"hyperparameters": [_("Give an object of name: value.")]})
    known = hyperparameter_fields(kind)
    errors: list[str] = []
    for key, value in values.items():
        if key not in known:
            errors.append(
                _("%(key)r is not a hyperparameter for %(kind)s runs; known: %(known)s.")
                % {"key": key, "kind": kind, "known": ", ".join(sorted(known))}
            )
        elif not _accepts(known[key][0], value):
            # A fraction given for a whole number is named with its range, as a number out of
            # range is; any other value by the type expected.
            fraction = isinstance(value, float) and math.isfinite(value)
            if fraction and (problem := range_problem(key, value)) is not None:
                errors.append(_("%(key)s %(problem)s.") % {"key": key, "problem": problem})
            else:
                errors.append(
                    _("%(key)s: %(value)r is not a valid value (expected %(type)s).")
                    % {"key": key, "value": value, "type": describe_type(known[key][0])}
                )
        elif key == "base_model_gguf_file" and isinstance(value, str) and not _plain_name(value):
            errors.append(
                _("base_model_gguf_file names a file in the base model's folder, not a path.")
            )
        elif (problem := range_problem(key, value)) is not None:
            errors.append(_("%(key)s %(problem)s.") % {"key": key, "problem": problem})
    if errors:
        raise ValidationError({"hyperparameters": errors})
    # The worker's own checks (ranges, combinations), without touching any file.
    spec = {**values, "release": "file:///x", "base_model": "x", "output_dir": "x"}
    spec["method"] = method
    try:
        config_class(kind).from_spec(spec)
    except (ValueError, TypeError) as exc:
        raise ValidationError({"hyperparameters": [str(exc)]}) from None
    return dict(values)


HUB_MODEL_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[A-Za-z0-9][\w.-]*)?")


def check_base_model(value: Any) -> str:
    """A Hub model id (``org/name``), or a folder or .gguf file on the GPU nodes under one of
    HEARTH_TRAIN_MODEL_DIRS: an absolute path, written plainly (no ``..``), so a run is never
    pointed at files elsewhere on the node."""
    if not isinstance(value, str) or not value.strip():
        raise ValidationError(
            {"base_model": [_("Name a base model (a Hub id, a folder or a .gguf file).")]}
        )
    value = value.strip()
    if len(value) > MAX_BASE_MODEL or _unprintable(value):
        raise ValidationError(
            {"base_model": [_("At most %(n)s printable characters.") % {"n": MAX_BASE_MODEL}]}
        )
    folders = [folder.rstrip("/") or "/" for folder in settings.HEARTH_TRAIN_MODEL_DIRS]
    if value.startswith("/"):
        plain = posixpath.normpath(value) == value and ".." not in value.split("/")
        if plain and any(posixpath.commonpath([folder, value]) == folder for folder in folders):
            return value
        if not folders:
            why = _(
                "Local base models are off on this site: name a Hub model (org/name), or set "
                "HEARTH_TRAIN_MODEL_DIRS to the folders that hold them."
            )
        else:
            why = _("A local base model must be a plain path under %(folders)s.") % {
                "folders": ", ".join(folders)
            }
        raise ValidationError({"base_model": [why]})
    if HUB_MODEL_ID.fullmatch(value) is None or ".." in value:
        raise ValidationError(
            {
                "base_model": [
                    _(
                        "Name a Hub model as org/name (letters, digits, “-”, “_” and “.”), or "
                        "a local one by its full path."
                    )
                ]
            }
        )
    return value


def split_rows(release: Release, config: str) -> tuple[int, int]:
    """How many rows of ``config`` the release has in train and in test."""
    rows = (release.counts or {}).get("rows", {}).get(config, {})
    return int(rows.get("train") or 0), int(rows.get("test") or 0)


def has_rows_for(kind: str, release: Release) -> bool:
    """Whether the release has train and test rows of the config a ``kind`` run reads by
    default (check_release_for refuses a run on it otherwise)."""
    return all(split_rows(release, NEEDS_CONFIG[RunKind(kind)]))


def check_release_for(kind: str, release: Release, hyperparameters: dict[str, Any]) -> None:
    """The release is finished, holds train and test rows of the config ``kind`` reads, and is
    on the Hub when publishing is on (so the model can name the exact data revision)."""
    if release.state not in FINISHED_STATES:
        raise ValidationError(
            {
                "release": [
                    _("Release %(v)s is in state “%(s)s”; train on a finished release.")
                    % {"v": release.version, "s": release.get_state_display()}
                ]
            }
        )
    config = hyperparameters.get("config_name") or NEEDS_CONFIG[RunKind(kind)]
    train, test = split_rows(release, config)
    if not train or not test:
        values = {"v": release.version, "c": config, "k": kind, "n": train or test}
        if train:
            why = ngettext(
                "%(v)s has %(n)s %(c)s row in train and none in test: a run needs both.",
                "%(v)s has %(n)s %(c)s rows in train and none in test: a run needs both.",
                train,
            )
        elif test:
            why = ngettext(
                "%(v)s has %(n)s %(c)s row in test and none in train: a run needs both.",
                "%(v)s has %(n)s %(c)s rows in test and none in train: a run needs both.",
                test,
            )
        else:
            why = _("%(v)s has no %(c)s rows in train and test to train a %(k)s model on.")
        raise ValidationError({"release": [why % values]})
    if settings.HUB_NAMESPACE and release.state != ReleaseState.PUBLISHED:
        raise ValidationError(
            {
                "release": [
                    _(
                        "Publish %(v)s to the Hub first, so the model can name the exact data "
                        "revision it learned from."
                    )
                    % {"v": release.version}
                ]
            }
        )


def _check_maintainer(user: User | None) -> None:
    if user is not None and not roles.is_maintainer(user):
        raise PermissionDenied(_("Only maintainers may train models."))


# ---------------------------------------------------------------------------------------------
# Create, dispatch, cancel, retry
# ---------------------------------------------------------------------------------------------


def default_base_model(kind: str) -> str:
    return str(
        settings.HEARTH_TRAIN_BASE_MODEL_SFT
        if kind == RunKind.SFT
        else settings.HEARTH_TRAIN_BASE_MODEL_REWARD
    )


@transaction.atomic
def run_create(
    *,
    user: User | None,
    release: Release,
    kind: str,
    base_model: Any = None,
    method: str = RunMethod.FULL,
    hyperparameters: Any = None,
    origin: str = RunOrigin.MANUAL,
    answer_prompts: Any = 0,
    dispatch: bool = True,
) -> TrainingRun:
    """Record a run and, when the transaction commits, send it to the GPU queue.

    ``answer_prompts`` (SFT only): once trained, the model answers that many prompts that
    are collecting answers (see ``build_spec``). ``user`` must be a maintainer (None: a
    trusted caller, e.g. a schedule). Raises ValidationError for a bad kind, method, base
    model, hyperparameter, answer count or release.
    """
    _check_maintainer(user)
    base, params = check_run_options(
        kind=kind,
        method=method,
        base_model=base_model,
        hyperparameters=hyperparameters,
        answer_prompts=answer_prompts,
        release=release,
    )
    run = TrainingRun.objects.create(
        kind=kind,
        release=release,
        base_model=base,
        method=method,
        hyperparameters=params,
        origin=origin,
        answer_prompts=answer_prompts or 0,
        created_by=user,
    )
    if dispatch:
        run_dispatch(run)
    return run


def add_errors(errors: dict[str, list[str]], error: ValidationError) -> None:
    """Add ``error``'s messages to ``errors`` under their fields (one without a field under
    ``options``), after any already there."""
    found = error.message_dict if hasattr(error, "error_dict") else {"options": error.messages}
    for field, messages in found.items():
        errors.setdefault(field, []).extend(messages)


def check_run_options(
    *,
    kind: str,
    method: str,
    base_model: Any,
    hyperparameters: Any,
    answer_prompts: Any,
    release: Release | None,
) -> tuple[str, dict[str, Any]]:
    """Check a new run's options and return its base model and hyperparameters; raise one
    ValidationError naming every field that is wrong, so a caller fixes them all at once. The
    hyperparameters are checked only for a known kind and method (they depend on both), and
    the release only for a known kind and good hyperparameters (``config_name`` picks the
    rows it needs). ``release`` None: the caller names the release's problem itself."""
    errors: dict[str, list[str]] = {}
    if kind not in RunKind.values:
        errors["kind"] = [_("Choose one of: %(v)s.") % {"v": ", ".join(RunKind.values)}]
    if method not in RunMethod.values:
        errors["method"] = [_("Choose one of: %(v)s.") % {"v": ", ".join(RunMethod.values)}]
    if (problem := answer_prompts_problem(kind, answer_prompts)) is not None:
        errors["answer_prompts"] = [problem]
    base = ""
    try:
        base = check_base_model(
            base_model
            if base_model not in (None, "")
            else default_base_model(kind if kind in RunKind.values else RunKind.SFT)
        )
    except ValidationError as error:
        add_errors(errors, error)
    params: dict[str, Any] | None = None
    if "kind" not in errors and "method" not in errors:
        try:
            params = check_hyperparameters(kind, method, hyperparameters)
        except ValidationError as error:
            add_errors(errors, error)
    if params is not None and release is not None:
        try:
            check_release_for(kind, release, params)
        except ValidationError as error:
            add_errors(errors, error)
    if errors:
        raise ValidationError(errors)
    assert params is not None  # a known kind and method, and no error
    return base, params


def answer_prompts_problem(kind: str, value: Any) -> str | None:
    """What is wrong with ``answer_prompts`` for a run of ``kind``, or None."""
    if value in (None, 0):
        return None
    if not value_fits(int, value) or not 0 <= value <= MAX_ANSWER_PROMPTS:
        return _("A whole number from 0 to %(n)s.") % {"n": MAX_ANSWER_PROMPTS}
    if kind == RunKind.REWARD:  # an unknown kind is refused by its own message alone
        return _("Only a supervised fine-tune writes answers; a reward model scores them.")
    return None


def answer_spec(run: TrainingRun) -> dict[str, Any] | None:
    """The prompts the run's model is to answer once trained, chosen now (at each dispatch:
    a retry picks again): collecting prompts without a model-written answer, longest waiting
    first, in the release's languages. None when the run answers none or none is waiting."""
    if run.kind != RunKind.SFT or not run.answer_prompts:
        return None
    prompts = prompts_for_model_answers(
        limit=run.answer_prompts, languages=run.release.release_filter.languages
    )
    if not prompts:
        return None
    return {
        "prompts": [
            {"id": p.pk, "instruction": p.instruction, "context": p.context} for p in prompts
        ],
        "max_new_tokens": ANSWER_MAX_NEW_TOKENS,
    }


def build_spec(run: TrainingRun) -> dict[str, Any]:
    """The JSON the GPU worker gets (see worker/runs.py for the contract)."""
    release = run.release
    train: dict[str, Any] = {
        "base_model": run.base_model,
        "method": run.method,
        "release_tag": release.version,
        "release_url": settings.SITE_URL + reverse("releases:detail", args=[release.version]),
        # The release's own fingerprint, for the card: without the Hub, the version alone
        # names the data, and a site started afresh may cut another "v1".
        "release_content_hash": release.content_hash or None,
        **run.hyperparameters,
    }
    if release.state == ReleaseState.PUBLISHED and release.hub_repo and release.hub_revision:
        # Pinned to the commit, not the tag: the data a model learned from can never move.
        train["release"] = f"{HUB_DATASETS}{release.hub_repo}@{release.hub_revision}"
        train["release_revision"] = release.hub_revision
    else:
        train["release"] = release_folder(release.version).as_uri()
    publish = None
    if settings.HUB_NAMESPACE:
        repo = (
            settings.HEARTH_HUB_SFT_REPO
            if run.kind == RunKind.SFT
            else settings.HEARTH_HUB_REWARD_REPO
        )
        publish = {
            "repo_id": f"{settings.HUB_NAMESPACE}/{repo}",
            "tag": run.hub_tag,
            "commit_message": f"Hearth run {run.pk} ({run.kind}) on {release.version}",
            # Where it goes if a later run's model is on main by the time it is published
            # (worker.hub decides, at commit time): main keeps the latest model. Not the
            # tag's own name: the Hub refuses a branch and a tag of one name.
            "branch": f"model-{run.hub_tag}",
        }
    return {
        "run_id": run.pk,
        "attempt": run.attempt,
        "kind": run.kind,
        "train": train,
        "output_name": run.output_name,
        "publish": publish,
        "answer": answer_spec(run),
        "report": {
            "task": REPORT_TASK,
            "queue": "default",
            "interval_s": settings.HEARTH_TRAINING_REPORT_SECONDS,
            "heartbeat_s": settings.HEARTH_TRAINING_HEARTBEAT_SECONDS,
        },
    }


def task_id_for(run: TrainingRun) -> str:
    # The random part keeps ids unique across databases that share one result backend (a
    # reset development database, test runs): an abort recorded for an old run with the same
    # number must never cancel a new one.
    return f"training-run-{run.pk}-{run.attempt}-{secrets.token_hex(4)}"


def run_dispatch(run: TrainingRun) -> TrainingRun:
    """Start a new attempt: a fresh task id and spec, sent once the transaction commits.
    Reports of earlier attempts are ignored from now on."""
    run.attempt += 1
    run.task_id = task_id_for(run)
    run.spec = build_spec(run)
    run.last_seq = -1
    run.save(update_fields=["attempt", "task_id", "spec", "last_seq"])
    spec, task_id = run.spec, run.task_id

    def send() -> None:
        from apps.celery import app

        app.send_task(GPU_TASK, args=[spec], queue="gpu", task_id=task_id)

    def unsent(exc: Exception) -> None:
        # This attempt, still queued: a retry may have replaced it meanwhile.
        TrainingRun.objects.filter(pk=run.pk, task_id=task_id, state=RunState.QUEUED).update(
            state=RunState.FAILED, error=unsent_reason(exc), finished_at=timezone.now()
        )

    send_on_commit(send, unsent=unsent)
    return run


def _abort(task_id: str) -> None:
    """Tell the GPU worker to stop this attempt (it checks between steps, or on arrival)."""
    from celery.contrib.abortable import AbortableAsyncResult

    from apps.celery import app

    AbortableAsyncResult(task_id, app=app).abort()


@transaction.atomic
def run_cancel(*, user: User | None, run: TrainingRun) -> TrainingRun:
    """Cancel a queued or running run: it is cancelled at once here, and the worker stops at
    its next step boundary and removes its checkpoints."""
    _check_maintainer(user)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if not run.is_active:
        raise ValidationError(
            _("Run %(id)s has already ended: %(state)s.")
            % {"id": run.pk, "state": run.get_state_display()}
        )
    now = timezone.now()
    run.state = RunState.CANCELLED
    run.cancel_requested_at = now
    run.finished_at = now
    run.save(update_fields=["state", "cancel_requested_at", "finished_at"])
    if run.task_id:
        task_id = run.task_id
        transaction.on_commit(lambda: _abort(task_id))
    return run


def is_retryable(run: TrainingRun) -> bool:
    """Whether run_retry may send ``run`` again: it failed, was cancelled, or stalled."""
    return run.state in (RunState.FAILED, RunState.CANCELLED) or is_stalled(run)


def _no_attempt_yet() -> dict[str, Any]:
    """What one attempt reports, at the values a run has before any report. A new attempt
    starts from these, so a queued retry shows nothing of the attempt before it. The curves
    are not here: an attempt that resumes from a checkpoint reports the steps after it again,
    merged by step into those of the attempts before."""
    return {
        "phase": "",
        "worker_host": "",
        "step": 0,
        "total_steps": 0,
        "tokens_per_s": None,
        "started_at": None,
        "finished_at": None,
        "cancel_requested_at": None,
        "last_report_at": None,
        "logs_tail": "",
        "error": "",
        "metrics": {},
        "timings": {},
        "resumed_from_step": None,
        "artefact_path": "",
        "artefact_files": [],
        "hub_repo": "",
        "hub_revision": "",
    }


@transaction.atomic
def run_retry(*, user: User | None, run: TrainingRun) -> TrainingRun:
    """Send a failed or cancelled run, or one whose worker stopped reporting, again: a new
    attempt with the same settings and output folder, which starts with none of the last
    attempt's progress, host or error. It resumes from the last checkpoint if the GPU node
    kept one; a cancelled run's worker removed its checkpoints, so it starts over (and its
    curves are cleared)."""
    _check_maintainer(user)
    run = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if not is_retryable(run):
        if run.state == RunState.QUEUED:  # no worker has taken it yet
            raise ValidationError(
                _("Run %(id)s is still queued; cancel it first.") % {"id": run.pk}
            )
        if run.is_active:
            raise ValidationError(
                _("Run %(id)s is still reporting; cancel it first.") % {"id": run.pk}
            )
        raise ValidationError(
            _(
                "Run %(id)s is in state “%(state)s”; only failed, cancelled or stalled runs "
                "are sent again."
            )
            % {"id": run.pk, "state": run.get_state_display()}
        )
    if run.task_id:
        old = run.task_id
        transaction.on_commit(lambda: _abort(old))
    changed = _no_attempt_yet()
    if run.state == RunState.CANCELLED:
        changed.update(loss_history=[], eval_history=[])
    for name, value in changed.items():
        setattr(run, name, value)
    run.state = RunState.QUEUED
    run.save(update_fields=["state", *changed])
    return run_dispatch(run)


@transaction.atomic
def run_retry_seen(
    *, user: User | None, run: TrainingRun, seen_attempt: int
) -> tuple[TrainingRun, bool]:
    """The run page's Retry: send the run again (True), unless it was sent again since the
    page showed attempt ``seen_attempt`` (a double click, another maintainer, the stall
    check), which leaves it as it is (False) rather than refusing it as still queued."""
    _check_maintainer(user)
    locked = TrainingRun.objects.select_for_update().get(pk=run.pk)
    if locked.attempt > seen_attempt:
        return locked, False
    return run_retry(user=user, run=locked), True


def runs_retry_stalled(now: datetime | None = None) -> list[int]:
    """Send every stalled run again (a new attempt, resuming from its checkpoint); the
    silent attempt is aborted, so if its worker is alive after all it stops. Returns the ids.

    Runs every minute from beat: a GPU worker that died is replaced without waiting for the
    broker's visibility timeout."""
    now = now or timezone.now()
    cutoff = now - timedelta(seconds=settings.HEARTH_TRAINING_STALE_SECONDS)
    retried = []
    for run in TrainingRun.objects.filter(state=RunState.RUNNING, last_report_at__lt=cutoff):
        try:
            run_retry(user=None, run=run)
        except ValidationError:  # it reported meanwhile, or was cancelled
            continue
        retried.append(run.pk)
    return retried


def is_stalled(run: TrainingRun, now: datetime | None = None) -> bool:
    """A running run whose worker has not reported for HEARTH_TRAINING_STALE_SECONDS."""
    if run.state != RunState.RUNNING or run.last_report_at is None:
        return False
    age = ((now or timezone.now()) - run.last_report_at).total_seconds()
    return age > settings.HEARTH_TRAINING_STALE_SECONDS


# ---------------------------------------------------------------------------------------------
# Reports from the GPU worker
# ---------------------------------------------------------------------------------------------


def _merge_by_step(old: list[dict[str, Any]], new: Any) -> list[dict[str, Any]]:
    """Union of two step-keyed logs, the newer entry winning, ordered by step."""
    merged = {int(e["step"]): e for e in old if isinstance(e, dict) and "step" in e}
    for entry in new if isinstance(new, list) else []:
        if isinstance(entry, dict) and isinstance(entry.get("step"), int):
            merged[entry["step"]] = {k: v for k, v in entry.items() if _json_number_or_str(v)}
    return [merged[k] for k in sorted(merged)]


def _json_number_or_str(value: Any) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)
    return isinstance(value, int | str | bool) or value is None


def thin(history: list[dict[str, Any]], limit: int = MAX_HISTORY) -> list[dict[str, Any]]:
    """Keep at most ``limit`` points: drop every other one of the older half, repeatedly,
    so the curve keeps its shape and the latest points stay exact."""
    while len(history) > limit:
        half = len(history) // 2
        history = history[:half:2] + history[half:]
    return history


def _number(value: Any) -> float | None:
    if isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
        return float(value)
    return None


def _log_tail(text: str) -> str:
    """A worker's log tail as the run keeps it: without terminal colour codes, bounded."""
    return ANSI_ESCAPE.sub("", text)[-MAX_LOGS_TAIL:]


@transaction.atomic
def run_report(*, run_id: int, attempt: int, payload: dict[str, Any]) -> TrainingRun | None:
    """Apply one report of the GPU worker (see worker/runs.py for the payload).

    Idempotent and order-tolerant: logs are merged by step, the step only grows, and a final
    state is never left. Reports of another attempt, of an unknown run, or for a run already
    final are ignored (None), except the last of a run cancelled while it trained, which
    records that its worker has stopped (``is_stopping``), or, ``succeeded``, that the cancel
    came too late (the model was being published): the run succeeds.
    """
    run = TrainingRun.objects.select_for_update().filter(pk=run_id).first()
    if run is None or attempt != run.attempt:
        return None
    if run.is_stopping and payload.get("state") == RunState.CANCELLED:
        # The worker of a run cancelled here has stopped and cleaned up (is_stopping).
        run.last_report_at = timezone.now()
        if isinstance(payload.get("logs_tail"), str) and payload["logs_tail"]:
            run.logs_tail = _log_tail(payload["logs_tail"])
        run.save(update_fields=["last_report_at", "logs_tail"])
        return None
    if (
        run.state == RunState.CANCELLED
        and run.started_at is not None
        and payload.get("state") == RunState.SUCCEEDED
    ):
        # The cancel came too late: the worker had trained the model and was publishing it
        # (worker/runs.py stops no run then), so the model is out, on the Hub or on disk.
        # The run is what the worker did, not what was asked too late.
        run.state = RunState.RUNNING
    if run.is_final:
        return None
    now = timezone.now()
    run.last_report_at = now
    run.last_seq = max(run.last_seq, int(payload.get("seq") or 0))
    run.worker_host = str(payload.get("host") or run.worker_host)[:200]
    if run.state == RunState.QUEUED:
        run.state = RunState.RUNNING
        run.started_at = run.started_at or now
    if payload.get("phase"):
        run.phase = str(payload["phase"])[:16]
    step = payload.get("step")
    if isinstance(step, int) and step >= run.step:
        run.step = step
        run.tokens_per_s = _number(payload.get("tokens_per_s")) or run.tokens_per_s
    total = payload.get("total")
    if isinstance(total, int) and total > 0:
        run.total_steps = total
    answered = payload.get("answered")
    if isinstance(answered, int) and not isinstance(answered, bool) and answered >= 0:
        run.answers_written = answered
    run.loss_history = thin(_merge_by_step(run.loss_history, payload.get("train_log")))
    # Evals are as many as a run asks for (one every few steps, on a long run, made them
    # grow without bound, each report writing them all again): thinned as the loss is.
    run.eval_history = thin(_merge_by_step(run.eval_history, payload.get("eval_log")))
    if isinstance(payload.get("logs_tail"), str):
        run.logs_tail = _log_tail(payload["logs_tail"])
    state = payload.get("state")
    if state == RunState.SUCCEEDED:
        result = payload.get("result") or {}
        run.state = RunState.SUCCEEDED
        run.finished_at = now
        run.metrics = result.get("metrics") or {}
        run.timings = result.get("timings") or {}
        run.resumed_from_step = result.get("resumed_from_step")
        run.artefact_path = str(result.get("output_dir") or "")[:500]
        run.artefact_files = result.get("files") or []
        run.hub_repo = str(result.get("hub_repo") or "")[:200]
        run.hub_revision = str(result.get("hub_revision") or "")[:64]
        steps = result.get("steps")
        if isinstance(steps, int) and steps > 0:
            run.step = run.total_steps = steps
        run.phase = "done"
        if run.answer_prompts:
            answers = result.get("answers")
            answers = answers if isinstance(answers, list) else []
            run.answers_written = len(answers)
            run.answers_added = (
                model_answers_add(answers=answers, origin=run.output_name).added if answers else 0
            )
    elif state == RunState.FAILED:
        run.state = RunState.FAILED
        run.finished_at = now
        run.error = str(payload.get("error") or _("The worker reported a failure."))[:5000]
    elif state == RunState.CANCELLED:
        run.state = RunState.CANCELLED
        run.finished_at = now
    run.save()
    return run


def active_run_of_kind(kind: str) -> TrainingRun | None:
    return TrainingRun.objects.filter(kind=kind, state__in=ACTIVE_STATES).first()
