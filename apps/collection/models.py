from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from apps.core.models import TimeStampedModel
from apps.core.validators import InRange


class Category(models.TextChoices):
    """Dolly's eight categories."""

    OPEN_QA = "open_qa", _("Open Q&A")
    GENERAL_QA = "general_qa", _("General Q&A")
    CLOSED_QA = "closed_qa", _("Closed Q&A")
    CLASSIFICATION = "classification", _("Classification")
    BRAINSTORMING = "brainstorming", _("Brainstorming")
    INFORMATION_EXTRACTION = "information_extraction", _("Information extraction")
    SUMMARIZATION = "summarization", _("Summarization")
    CREATIVE_WRITING = "creative_writing", _("Creative writing")


CONTEXT_REQUIRED = frozenset(
    {Category.CLOSED_QA, Category.INFORMATION_EXTRACTION, Category.SUMMARIZATION}
)


class PromptState(models.TextChoices):
    REVIEW = "review", _("In review")
    COLLECTING = "collecting", _("Collecting answers")
    RANKING = "ranking", _("Ranking")
    COMPLETE = "complete", _("Complete")
    REJECTED = "rejected", _("Rejected")
    HALTED = "halted", _("Halted")


ACCEPTED_PROMPT_STATES = (PromptState.COLLECTING, PromptState.RANKING, PromptState.COMPLETE)


class ResponseState(models.TextChoices):
    REVIEW = "review", _("In review")
    ACCEPTED = "accepted", _("Accepted")
    REJECTED = "rejected", _("Rejected")


class Source(models.TextChoices):
    HUMAN = "human", _("Written by a person")
    MODEL = "model", _("Written by a model")


class Prompt(TimeStampedModel):
    """An instruction, with optional context, that volunteers answer."""

    # Indexed by prompt_author_recent, which leads with it.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="prompts",
        db_index=False,
    )
    instruction = models.TextField()
    context = models.TextField(blank=True, default="")
    category = models.CharField(max_length=32, choices=Category.choices)
    language = models.CharField(max_length=35)
    state = models.CharField(
        max_length=16, choices=PromptState.choices, default=PromptState.REVIEW, db_index=True
    )
    # Where it came from: "hearth" for work written here, else the imported data set's name.
    origin = models.CharField(max_length=100, default="hearth")
    licence = models.CharField(max_length=64)
    instruction_key = models.CharField(max_length=64, editable=False)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    # Tasks still to hand out in the current state (reviews, answers or rankings). Taken by a
    # conditional UPDATE under the row lock, given back on skip or expiry: never negative.
    open_slots = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("import_prompts", "Can import prompts and responses from files"),
            ("moderate_content", "Can hide, restore and halt content"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["instruction_key"],
                condition=Q(withdrawn_at__isnull=True),
                name="prompt_instruction_unique_while_live",
            ),
        ]
        indexes = [
            models.Index(fields=["state", "category", "language"]),
            # An author's own prompts in order (My contributions, ?author=me): a page is found
            # from the index (apps.core.paging.IdsFirst), not by sorting every one of them.
            models.Index(fields=["author", "created_at", "id"], name="prompt_author_recent"),
            # The duplicate check, withdrawn prompts included (the unique index above covers
            # live ones only): an import looks up each batch's 500 keys at once, which read
            # every prompt without it (0.6 s a batch at 20,000 prompts, growing with them).
            models.Index(fields=["instruction_key"], name="prompt_instruction_key"),
            # Browse and the API list live prompts newest first.
            models.Index(
                fields=["-created_at", "-id"],
                condition=Q(withdrawn_at__isnull=True, hidden_at__isnull=True),
                name="prompt_live_recent",
            ),
            # The moderators' list of hidden prompts (moderation.selectors.hidden_prompts),
            # most recently hidden first: the few hidden rows, not a scan of every prompt.
            models.Index(
                fields=["-hidden_at", "-id"],
                condition=Q(hidden_at__isnull=False),
                name="prompt_hidden_recent",
            ),
        ]

    def __str__(self) -> str:
        return self.instruction[:60]

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None

    @property
    def context_required(self) -> bool:
        return self.category in CONTEXT_REQUIRED


class Response(TimeStampedModel):
    """One answer to a prompt."""

    prompt = models.ForeignKey(Prompt, on_delete=models.CASCADE, related_name="responses")
    # Indexed by response_author_recent, which leads with it.
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="responses",
        db_index=False,
    )
    text = models.TextField()
    state = models.CharField(
        max_length=16, choices=ResponseState.choices, default=ResponseState.REVIEW, db_index=True
    )
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.HUMAN)
    origin = models.CharField(max_length=100, default="hearth")
    licence = models.CharField(max_length=64)
    withdrawn_at = models.DateTimeField(null=True, blank=True)
    hidden_at = models.DateTimeField(null=True, blank=True)
    # Review tasks still to hand out for this answer.
    open_slots = models.PositiveIntegerField(default=0)
    # Place in the prompt's consensus ranking (1 = best), once consensus has run.
    consensus_rank = models.PositiveSmallIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            # Nobody answers the same prompt twice: volunteers' answers (written here) and
            # model-written ones (their own author). Imported answers are all the importing
            # maintainer's, so a data set's several answers to one prompt (a release's own
            # Dolly file) coexist; the import compares their texts instead.
            models.UniqueConstraint(
                fields=["prompt", "author"],
                condition=Q(withdrawn_at__isnull=True) & (Q(origin="hearth") | Q(source="model")),
                name="one_live_response_per_author_and_prompt",
            ),
        ]
        indexes = [
            # An author's own answers in order, as prompt_author_recent: page 690 of a power
            # user's 14,000 answers fetched, joined and sorted them all (0.6-0.7 s).
            models.Index(fields=["author", "created_at", "id"], name="response_author_recent"),
            # The moderators' list of hidden answers, as prompt_hidden_recent for prompts.
            models.Index(
                fields=["-hidden_at", "-id"],
                condition=Q(hidden_at__isnull=False),
                name="response_hidden_recent",
            ),
            # The live model-written answers, by prompt: the prompts a model may answer
            # (services._answerable_by_model) are those without one, which read every answer
            # to find the few models wrote (0.2 s at 150,000 answers, on each /training/).
            models.Index(
                fields=["prompt"],
                condition=Q(source="model", withdrawn_at__isnull=True),
                name="response_model_live_prompt",
            ),
        ]

    def __str__(self) -> str:
        return self.text[:60]

    @property
    def is_withdrawn(self) -> bool:
        return self.withdrawn_at is not None


# The least and the most each count of the policy may be, both included: one table for the
# model's full_clean (admin, policy_update), the /policy/ form and PATCH /api/v1/policy/.
# Upper bounds keep every value meaningful and safe to compute with: a task held for
# 10**12 minutes overflowed the date of its deadline (a 500 on every next task on SQLite,
# which stores any integer). The database refuses less than the least for the first four too;
# task weights may be 0, but not all of them (CollectionPolicy.clean).
POLICY_LIMITS: dict[str, tuple[int, int]] = {
    # Reviews and rankings: 50 people agreeing is already far past any useful consensus.
    "prompt_reviews_required": (1, 50),
    "response_reviews_required": (1, 50),
    "rankings_required": (1, 50),
    # Two answers are the least a ranking compares; past 20 nobody ranks them carefully.
    "responses_to_collect": (2, 20),
    # Tasks one person holds at once.
    "max_pending_assignments": (1, 100),
    # How long a task is held: a minute to a week, as the training schedules.
    "write_minutes": (1, 10080),
    "respond_minutes": (1, 10080),
    "review_minutes": (1, 10080),
    "rank_minutes": (1, 10080),
    # Relative chances: 1000 to 1 is as lopsided as a choice among four kinds needs to be.
    "weight_rank": (0, 1000),
    "weight_review": (0, 1000),
    "weight_respond": (0, 1000),
    "weight_write": (0, 1000),
    # Open reports that hide a prompt or an answer.
    "auto_hide_flags": (1, 1000),
}


def _policy_count(name: str, *, default: int) -> models.PositiveSmallIntegerField:
    low, high = POLICY_LIMITS[name]
    return models.PositiveSmallIntegerField(default=default, validators=[InRange(low, high)])


class CollectionPolicy(models.Model):
    """The one set of collection rules, editable by maintainers (admin and API).

    Read it with ``apps.collection.policy.current_policy()``; there is exactly one row.
    """

    prompt_reviews_required = _policy_count("prompt_reviews_required", default=2)
    response_reviews_required = _policy_count("response_reviews_required", default=2)
    acceptance_threshold = models.FloatField(
        default=0.6,
        help_text=_("Accepted when the mean acceptance of the reviews is above this (0–1)."),
    )
    responses_to_collect = _policy_count("responses_to_collect", default=3)
    rankings_required = _policy_count("rankings_required", default=3)
    write_minutes = _policy_count("write_minutes", default=30)
    respond_minutes = _policy_count("respond_minutes", default=30)
    review_minutes = _policy_count("review_minutes", default=10)
    rank_minutes = _policy_count("rank_minutes", default=10)
    max_pending_assignments = _policy_count("max_pending_assignments", default=5)
    weight_rank = _policy_count("weight_rank", default=8)
    weight_review = _policy_count("weight_review", default=4)
    weight_respond = _policy_count("weight_respond", default=2)
    weight_write = _policy_count("weight_write", default=1)
    auto_hide_flags = _policy_count("auto_hide_flags", default=3)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "collection policy"
        constraints = [
            models.CheckConstraint(
                condition=Q(acceptance_threshold__gte=0) & Q(acceptance_threshold__lte=1),
                name="policy_threshold_between_0_and_1",
            ),
            models.CheckConstraint(
                condition=Q(prompt_reviews_required__gte=1)
                & Q(response_reviews_required__gte=1)
                & Q(responses_to_collect__gte=2)
                & Q(rankings_required__gte=1),
                name="policy_counts_positive",
            ),
        ]

    def __str__(self) -> str:
        return "Collection policy"

    def clean(self) -> None:
        weights = (self.weight_rank, self.weight_review, self.weight_respond, self.weight_write)
        if not any(weights):
            raise ValidationError(
                _(
                    "At least one task weight must be above 0: with all of them at 0 no task "
                    "is ever handed out."
                )
            )


class ImportStatus(models.TextChoices):
    QUEUED = "queued", _("Waiting for a worker")
    RUNNING = "running", _("Importing")
    DONE = "done", _("Done")
    FAILED = "failed", _("Failed")


class Import(models.Model):
    """One uploaded Dolly JSONL file, imported in the background by the ``collection.import``
    task (``apps.collection.import_jobs``).

    The file waits in ``DATA_DIR/imports/<id>.jsonl`` until the import is done. Each batch of
    lines commits together with this row's counts and read position, so the row always says
    exactly what is in the database, and an import interrupted anywhere (a killed worker, a
    failed batch) resumes at the first line not yet committed.
    """

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="imports",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Moves with every committed batch: how an import that stopped moving is told apart.
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # When a maintainer gave up on it: its file is removed; what was committed stays.
    discarded_at = models.DateTimeField(null=True, blank=True)
    status = models.CharField(
        max_length=8, choices=ImportStatus.choices, default=ImportStatus.QUEUED, db_index=True
    )
    error = models.TextField(blank=True, help_text=_("Why the import stopped, when it failed."))
    file_name = models.CharField(max_length=255)
    file_size = models.PositiveBigIntegerField()
    # importing.ImportOptions: source, licence, language, state.
    options = models.JSONField(default=dict)
    # The language its sender read the site in: the worker writes the report's messages in it.
    locale = models.CharField(max_length=16, blank=True)
    # The read position after the last committed batch: bytes and lines (blank ones too).
    bytes_done = models.PositiveBigIntegerField(default=0)
    lines_read = models.PositiveIntegerField(default=0)
    # importing.ImportReport, as committed so far.
    imported = models.PositiveIntegerField(default=0)
    answers_added = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    rejected = models.PositiveIntegerField(default=0)
    batches_committed = models.PositiveIntegerField(default=0)
    lines_committed = models.PositiveIntegerField(default=0)
    listed = models.JSONField(default=list, blank=True, help_text=_("ImportReport.lines"))
    lines_per_status = models.PositiveIntegerField()

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"import #{self.pk} ({self.file_name})"

    @property
    def fraction(self) -> float:
        """How much of the file has been read and committed, from 0 to 1."""
        if self.status == ImportStatus.DONE or not self.file_size:
            return 1.0
        return min(1.0, self.bytes_done / self.file_size)
