from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from apps.core.notes import shown_note

# How long a queued build may wait for a worker before its page says that none has started it.
WORKER_WAIT = timedelta(minutes=1)
# A publish asked for this long ago and not finished may be asked for again: its worker died,
# or none runs. Repeating is safe (see apps.releases.publishing).
PUBLISH_STALE = timedelta(minutes=30)
# A build with no progress for this long has most likely lost its worker (killed, its node
# gone) before the broker hands the build out again: it may be rebuilt from its page. A
# running build writes its progress at least every 10 seconds (building.passes
# PROGRESS_SECONDS), and between the steps that follow its passes, so this is some thirty
# heartbeats missed. (Data QA: at 30 minutes, a build that takes a second and whose worker
# was killed stayed "building" for half an hour.) A second build of the same release is
# safe (the later claim wins, see building.release_build).
BUILD_STALE = timedelta(minutes=5)

DEFAULT_TEST_SHARE = 0.05
# A test split of fewer prompts than this gives evaluation figures (test loss, a reward
# model's accuracy) that depend on which few prompts landed there: the card and the release
# page say so (``counts["split_prompts"]``). A prompt's answers, pairs and rankings move
# together, so the prompt, not the row, is what counts.
FEW_TEST_PROMPTS = 20


class ReleaseState(models.TextChoices):
    BUILDING = "building", _("Building")
    READY = "ready", _("Ready")
    PUBLISHED = "published", _("Published")
    FAILED = "failed", _("Failed")


# A release whose files are complete and may be downloaded, published or trained on.
FINISHED_STATES = (ReleaseState.READY, ReleaseState.PUBLISHED)


class PublishState(models.TextChoices):
    """Where a finished release stands with the Hub. ``published`` goes with the release's
    own state ``published``; the others with ``ready``."""

    UNPUBLISHED = "unpublished", _("Not published")
    PUBLISHING = "publishing", _("Publishing")
    PUBLISHED = "published", _("Published")
    FAILED = "failed", _("Publishing failed")


class Split(models.TextChoices):
    TRAIN = "train", _("train")
    TEST = "test", _("test")


@dataclass(frozen=True)
class ReleaseFilter:
    """What enters a release, besides the fixed rules (accepted, live, not banned).

    Empty ``languages`` or ``categories`` means all of them. Build one through
    ``apps.releases.services.check_release_filter``, which validates every field.
    """

    languages: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    min_agreement: float | None = None
    include_model_written: bool = False
    test_share: float = DEFAULT_TEST_SHARE

    def as_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["languages"] = list(self.languages)
        data["categories"] = list(self.categories)
        return data

    def enters_the_same_as(self, other: ReleaseFilter) -> bool:
        """Whether a release cut with ``other`` lets in the same rows as one cut with this
        filter: the same languages, categories (in any order), minimum agreement and choice
        of model-written answers. The test share is left out: it gives new prompts their
        split, not their place in the release."""
        return (
            set(self.languages) == set(other.languages)
            and set(self.categories) == set(other.categories)
            and self.min_agreement == other.min_agreement
            and self.include_model_written == other.include_model_written
        )

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ReleaseFilter:
        return cls(
            languages=tuple(data.get("languages") or ()),
            categories=tuple(data.get("categories") or ()),
            min_agreement=data.get("min_agreement"),
            include_model_written=bool(data.get("include_model_written", False)),
            test_share=float(data.get("test_share", DEFAULT_TEST_SHARE)),
        )


class Release(models.Model):
    """One immutable version of the data set: the filter that made it, counts, files, hash.

    Built by ``apps.releases.building.release_build`` (the ``releases.build`` task); its files
    live in ``DATA_DIR/releases/<version>/`` once the state is ready or published.
    """

    number = models.PositiveIntegerField(unique=True, editable=False)
    version = models.CharField(max_length=16, unique=True, editable=False)
    state = models.CharField(
        max_length=16, choices=ReleaseState.choices, default=ReleaseState.BUILDING, db_index=True
    )
    error = models.TextField(blank=True, help_text=_("Why the last build failed."))
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="releases",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    filter = models.JSONField(default=dict, help_text=_("ReleaseFilter.as_json()"))
    counts = models.JSONField(default=dict, blank=True)
    content_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text=_(
            "sha256 of the manifest: a line per file, sorted by path, holding its path, its "
            "size in bytes and its sha256, separated by spaces."
        ),
    )
    data_hash = models.CharField(
        max_length=64,
        blank=True,
        help_text=_(
            "sha256 of the manifest of the data files alone (data/ and dolly/, not the card): "
            "the same for two versions that hold the same rows. Empty for a release built "
            "before it was kept."
        ),
    )
    files = models.JSONField(default=list, blank=True, help_text=_("[{path, bytes, sha256}]"))
    progress_done = models.PositiveBigIntegerField(default=0)
    progress_total = models.PositiveBigIntegerField(default=0)
    # When the build last said how far it had got (or started, or was asked for again).
    progress_at = models.DateTimeField(null=True, blank=True)
    previous = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    changes = models.JSONField(
        default=dict, blank=True, help_text=_("Per config rows added and removed vs previous.")
    )
    # The build attempt that owns this row: progress and the final UPDATE are conditional on
    # it, so a superseded build (a redelivered task, a rebuild) can never mark it ready.
    build_token = models.CharField(max_length=32, blank=True, editable=False)
    hub_repo = models.CharField(max_length=200, blank=True)
    hub_revision = models.CharField(max_length=64, blank=True)
    published_at = models.DateTimeField(null=True, blank=True)
    publish_state = models.CharField(
        max_length=16, choices=PublishState.choices, default=PublishState.UNPUBLISHED
    )
    publish_error = models.TextField(
        blank=True,
        help_text=_(
            "Why the last publish attempt failed; while publishing, why the last try is being "
            "tried again."
        ),
    )
    # publish_error as its message ids and values (apps.core.notes), so that each reader reads it
    # in their language, not the exports worker's; empty for a reason kept as text only.
    publish_error_note = models.JSONField(default=dict, blank=True)
    publish_requested_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-number"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(state__in=[ReleaseState.READY, ReleaseState.PUBLISHED])
                | (Q(finished_at__isnull=False) & ~Q(content_hash="")),
                name="release_finished_has_hash",
            ),
        ]

    def __str__(self) -> str:
        return self.version

    @property
    def publish_error_shown(self) -> str:
        """Why the last publish failed (or is being tried again), in the reader's language."""
        if self.publish_error_note:
            return shown_note(self.publish_error_note)
        return self.publish_error

    @property
    def is_finished(self) -> bool:
        return self.state in FINISHED_STATES

    @property
    def waits_for_a_worker(self) -> bool:
        """Building, queued a while ago, and not yet started by any worker: the page says so
        rather than counting rows for ever (no Celery worker on the exports queue)."""
        return (
            self.state == ReleaseState.BUILDING
            and self.started_at is None
            and self.created_at is not None
            and timezone.now() - self.created_at > WORKER_WAIT
        )

    @property
    def build_seen_at(self) -> Any:
        """When the build last showed a sign of life: progress, its start, its request."""
        return self.progress_at or self.started_at or self.created_at

    @property
    def build_stalled(self) -> bool:
        """Building and silent for more than BUILD_STALE: its worker has most likely died,
        or its message never reached one (crash QA: a build no worker had started could
        never be rebuilt); it may be rebuilt. A second build of one release is safe: the
        latest attempt owns it (``build_token``)."""
        seen = self.build_seen_at
        return (
            self.state == ReleaseState.BUILDING
            and seen is not None
            and timezone.now() - seen > BUILD_STALE
        )

    @property
    def publish_stalled(self) -> bool:
        """Publishing, asked for more than PUBLISH_STALE ago: it may be asked for again."""
        return (
            self.publish_state == PublishState.PUBLISHING
            and self.publish_requested_at is not None
            and timezone.now() - self.publish_requested_at > PUBLISH_STALE
        )

    @property
    def in_progress(self) -> bool:
        """Building or publishing: its page asks for news until it is done."""
        return self.state == ReleaseState.BUILDING or self.publish_state == PublishState.PUBLISHING

    @property
    def release_filter(self) -> ReleaseFilter:
        return ReleaseFilter.from_json(self.filter)


class PromptSplit(models.Model):
    """The split a prompt was given by the first release that included it; every later
    release keeps it, whatever its own test share, so a prompt never moves between train and
    test. A prompt released for the first time gets the split its id hashes to at that
    release's test share (``apps.releases.building.splits``).

    Written by builds only, in bulk, before their rows stream; never changed afterwards. The
    two relations have no database foreign key: PostgreSQL checks each with a trigger per
    inserted row, which made the first release's assignment several times slower on the
    release benchmark (250,000 prompts). Prompts are withdrawn, never deleted, and Django
    still applies ``on_delete`` to deletes made through the ORM.
    """

    prompt = models.OneToOneField(
        "collection.Prompt",
        primary_key=True,
        on_delete=models.CASCADE,
        db_constraint=False,
        related_name="release_split",
    )
    split = models.CharField(max_length=5, choices=Split.choices)
    release = models.ForeignKey(
        Release,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        db_constraint=False,
        # Not indexed: only admin asks which prompts a release assigned, and every build
        # would pay for the index on each prompt it assigns.
        db_index=False,
        related_name="+",
        help_text=_("The release that included the prompt first and gave it its split."),
    )

    def __str__(self) -> str:
        return f"prompt {self.pk}: {self.split}"
