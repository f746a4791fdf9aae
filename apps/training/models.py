"""Training runs: what the web side records about a model being trained on a GPU node.

The web process only records and dispatches (see apps.training.services); the GPU worker
(worker/runs.py, no Django) trains and reports back through the ``training.report`` task,
which ``services.run_report`` applies here.
"""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class RunKind(models.TextChoices):
    SFT = "sft", _("Supervised fine-tune")
    REWARD = "reward", _("Reward model")


class RunMethod(models.TextChoices):
    FULL = "full", _("Full fine-tuning")
    LORA = "lora", _("LoRA")


class RunState(models.TextChoices):
    QUEUED = "queued", _("Queued")
    RUNNING = "running", _("Running")
    SUCCEEDED = "succeeded", _("Succeeded")
    FAILED = "failed", _("Failed")
    CANCELLED = "cancelled", _("Cancelled")


class RunOrigin(models.TextChoices):
    MANUAL = "manual", _("Started by a maintainer")
    SCHEDULE = "schedule", _("Started by a schedule")


ACTIVE_STATES = (RunState.QUEUED, RunState.RUNNING)
FINAL_STATES = (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED)
# How long a cancelled run's page says its worker is stopping, at most (see is_stopping).
STOPPING_SHOWN_FOR = timedelta(minutes=10)
# How a spec names a release on the Hub: hf://datasets/<repo>@<commit>.
HUB_DATASETS = "hf://datasets/"


class TrainingRun(models.Model):
    """One training job: a release, a base model, a method and hyperparameters in; progress,
    curves, metrics, an artefact and its Hub revision out.

    ``attempt`` counts dispatches: a run sent again (after its worker died) gets a new Celery
    task id, ``training-run-<id>-<attempt>-<random>``, and reports of older attempts are ignored.
    """

    kind = models.CharField(max_length=8, choices=RunKind.choices)
    release = models.ForeignKey(
        "releases.Release", on_delete=models.PROTECT, related_name="training_runs"
    )
    base_model = models.CharField(max_length=300)
    method = models.CharField(max_length=8, choices=RunMethod.choices, default=RunMethod.FULL)
    hyperparameters = models.JSONField(default=dict, blank=True)
    origin = models.CharField(max_length=8, choices=RunOrigin.choices, default=RunOrigin.MANUAL)
    state = models.CharField(
        max_length=10, choices=RunState.choices, default=RunState.QUEUED, db_index=True
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="training_runs",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    cancel_requested_at = models.DateTimeField(null=True, blank=True)

    # Model-written answers (SFT only): how many collecting prompts the finished model is to
    # answer (0: none), how many it has written so far, and how many joined their prompts.
    answer_prompts = models.PositiveSmallIntegerField(default=0)
    answers_written = models.PositiveIntegerField(default=0)
    answers_added = models.PositiveIntegerField(null=True, blank=True)

    # Dispatch and reports.
    spec = models.JSONField(default=dict, blank=True, help_text=_("What the GPU worker got."))
    attempt = models.PositiveIntegerField(default=0)
    task_id = models.CharField(max_length=64, blank=True)
    last_seq = models.IntegerField(default=-1)
    last_report_at = models.DateTimeField(null=True, blank=True)
    worker_host = models.CharField(max_length=200, blank=True)

    # Progress.
    phase = models.CharField(max_length=16, blank=True)
    step = models.PositiveIntegerField(default=0)
    total_steps = models.PositiveIntegerField(default=0)
    tokens_per_s = models.FloatField(null=True, blank=True)
    loss_history = models.JSONField(
        default=list, blank=True, help_text=_("[{step, loss, lr, tokens_per_s}] by step")
    )
    eval_history = models.JSONField(default=list, blank=True, help_text=_("[{step, metrics…}]"))
    logs_tail = models.TextField(blank=True)

    # Result.
    metrics = models.JSONField(default=dict, blank=True)
    timings = models.JSONField(default=dict, blank=True)
    resumed_from_step = models.PositiveIntegerField(null=True, blank=True)
    artefact_path = models.CharField(max_length=500, blank=True)
    artefact_files = models.JSONField(default=list, blank=True, help_text=_("[{path, bytes}]"))
    hub_repo = models.CharField(max_length=200, blank=True)
    hub_revision = models.CharField(max_length=64, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            # A schedule trains each release once per kind, however often it fires.
            models.UniqueConstraint(
                fields=["release", "kind"],
                condition=Q(origin="schedule"),
                name="training_run_one_scheduled_per_release_kind",
            ),
        ]
        indexes = [models.Index(fields=["kind", "state"], name="training_run_kind_state")]

    def __str__(self) -> str:
        return f"run {self.pk} ({self.kind} on {self.release_id})"

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def is_final(self) -> bool:
        return self.state in FINAL_STATES

    @property
    def is_stopping(self) -> bool:
        """Cancelled while a worker trained it, and that worker has not yet said it stopped
        (its last report, ``cancelled``, comes once it has finished its step and removed
        its checkpoints). Not after STOPPING_SHOWN_FOR: a worker that died says nothing."""
        if self.state != RunState.CANCELLED or self.started_at is None:
            return False
        asked = self.cancel_requested_at
        if asked is None or timezone.now() - asked > STOPPING_SHOWN_FOR:
            return False
        return self.last_report_at is None or self.last_report_at < asked

    @property
    def output_name(self) -> str:
        return f"run-{self.pk}"

    @property
    def hub_tag(self) -> str:
        return f"run-{self.pk}"

    @property
    def data_pin(self) -> tuple[str, str] | None:
        """The dataset repo and commit the run's model learned from: the release's Hub
        commit, pinned when the run was sent (services.build_spec). None when it trained on
        this site's build of the release (not published then)."""
        train = self.spec.get("train") if isinstance(self.spec, dict) else None
        location = train.get("release") if isinstance(train, dict) else None
        if not isinstance(location, str) or not location.startswith(HUB_DATASETS):
            return None
        repo, _, revision = location.removeprefix(HUB_DATASETS).partition("@")
        return (repo, revision) if repo and revision else None

    @property
    def eta_seconds(self) -> float | None:
        """Remaining seconds at the recent pace (mean step time over the last 20 steps), in
        whole seconds, counting down between reports: the time since the last report comes
        off, down to what the steps after the one under way take. (QA: "about 3 minutes
        left" stood still for minutes between a slow CPU run's reports.)"""
        if self.state != RunState.RUNNING or not self.total_steps or not self.loss_history:
            return None
        recent = [e for e in self.loss_history[-20:] if e.get("seconds")]
        if not recent:
            return None
        per_step = sum(float(e["seconds"]) for e in recent) / len(recent)
        steps_left = max(0, self.total_steps - self.step)
        left = steps_left * per_step
        if self.last_report_at is not None and steps_left:
            since = (timezone.now() - self.last_report_at).total_seconds()
            left = max(left - max(0.0, since), (steps_left - 1) * per_step)
        return float(round(left))

    @property
    def answers_to_write(self) -> int:
        """Prompts the current attempt's model is to answer (chosen at dispatch)."""
        answer = self.spec.get("answer") if isinstance(self.spec, dict) else None
        prompts = answer.get("prompts") if isinstance(answer, dict) else None
        return len(prompts) if isinstance(prompts, list) else 0

    @property
    def answers_not_added(self) -> int:
        """Answers the model wrote that did not join a ranking."""
        return max(0, (self.answers_written or 0) - (self.answers_added or 0))

    @property
    def progress_percent(self) -> float:
        if self.state == RunState.SUCCEEDED:
            return 100.0
        if not self.total_steps:
            return 0.0
        return round(100.0 * self.step / self.total_steps, 1)


class ScheduleOutcome(models.Model):
    """What a schedule's latest tick decided, for the dashboard: ``notes`` are
    ``{"text": English message id, "params": {...}}`` (see apps.training.schedules.Note),
    translated when shown. One row per schedule task, replaced at every tick."""

    task = models.CharField(max_length=200, unique=True)
    at = models.DateTimeField()
    notes = models.JSONField(default=list)
    # Whether the tick did something (cut a release, queued a run, sent one to the Hub).
    acted = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"{self.task} at {self.at:%Y-%m-%d %H:%M}"
