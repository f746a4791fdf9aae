"""Reads for the Community page's Progress view and ``GET /api/v1/community/progress/``: how
the data set grows and where help is needed, for anyone to see.

What is counted:

- **The pipeline**: every prompt and answer by its state, imported and model-written ones
  included (they are part of the data set). Withdrawn and hidden work is counted apart, not
  in a state; work by a banned author is out of public view and of the task pool until the
  ban is lifted, so it is counted as hidden. An answer counts on its own state, as on the
  leaderboard.
- **Where help is needed**: the open slots the dispatcher hands out
  (``apps.assignments.services``): prompts in review, answers in review under a prompt that
  is collecting answers, prompts collecting answers, prompts in ranking; each live, not
  hidden, and by an author who is not banned (an answer's prompt too). Each kind gives how
  many prompts or answers wait and how many tasks (slots) they hold. Who may take a task
  (languages, one's own work, tasks done before) is for the dispatcher to decide per person:
  these are the whole pool.
- **The last 30 days** (UTC, today included): prompts and answers written on Hearth that are
  accepted or in review, as the Your impact chart counts them (not imported, not written by a
  model, not withdrawn, hidden or by a banned author), and reviews and rankings sent by people
  who are not banned.
- **The accepted data set**: accepted prompts (what Browse shows) per category and language.
- **Quality**: the mean of Kendall's W over the public prompts whose rankings have a
  consensus, and the share of the last 30 days' reviews that ticked a blocking label.

The whole result is computed in a few GROUP BY queries and cached for
``PROGRESS_CACHE_SECONDS``. It holds codes, never translated words, so one cached copy serves
every language.
"""

from __future__ import annotations

import datetime as dt
import operator
from dataclasses import dataclass
from functools import reduce
from typing import Any

from django.db.models import Avg, Count, F, IntegerField, Q, QuerySet, Sum, Value
from django.db.models.functions import TruncDate

from apps.collection.models import (
    ACCEPTED_PROMPT_STATES,
    Category,
    Prompt,
    PromptState,
    Response,
    ResponseState,
    Source,
)
from apps.collection.selectors import PUBLIC_PROMPT
from apps.community.selectors import (
    ANSWERS,
    PROMPTS,
    RANKINGS,
    REVIEWS,
    WRITTEN_HERE,
    KindCounts,
    _midnight,
    today_utc,
)
from apps.core.caching import CachedValue, cached
from apps.feedback.models import BLOCKING_LABELS, PromptConsensus, Ranking, Review

UTC = dt.UTC
PROGRESS_CACHE_SECONDS = 60
PROGRESS_DAYS = 30
TOP_LANGUAGES = 10

# The ?type= of the Contribute page (apps.assignments.views) that hands out each kind of task.
HELP_KINDS = {
    "prompts_to_review": "review",
    "answers_to_review": "review",
    "prompts_to_answer": "respond",
    "prompts_to_rank": "rank",
}


def _live(prefix: str = "") -> Q:
    """Not withdrawn, not hidden, and by an author who is not banned."""
    return Q(
        **{
            f"{prefix}withdrawn_at__isnull": True,
            f"{prefix}hidden_at__isnull": True,
            f"{prefix}author__banned_at__isnull": True,
        }
    )


def _hidden() -> Q:
    """Not withdrawn, but out of public view: hidden by moderators, or by a banned author."""
    return Q(withdrawn_at__isnull=True) & (
        Q(hidden_at__isnull=False) | Q(author__banned_at__isnull=False)
    )


@dataclass(frozen=True)
class OpenWork:
    """One kind of task waiting: how many prompts (or answers) hold open slots, and how many
    slots (tasks) they hold in all."""

    items: int
    tasks: int


@dataclass(frozen=True)
class ProgressDay(KindCounts):
    date: dt.date
    prompts: int
    answers: int
    reviews: int
    rankings: int


@dataclass(frozen=True)
class Progress:
    """See the module docstring. States are keyed by their value, in the models' order."""

    prompt_states: dict[str, int]
    prompts_withdrawn: int
    prompts_hidden: int
    answer_states: dict[str, int]
    answers_withdrawn: int
    answers_hidden: int
    answers_model_written: int  # live, among the accepted
    rankings: int
    prompts_with_consensus: int
    help_needed: dict[str, OpenWork]  # keyed as HELP_KINDS
    days: list[ProgressDay]  # the last PROGRESS_DAYS days, oldest first
    categories: list[tuple[str, int]]  # all eight, in Category's order
    languages: list[tuple[str, int]]  # the TOP_LANGUAGES with most, most first
    other_languages: int  # how many other languages
    other_language_prompts: int  # accepted prompts in them
    agreement: float | None  # the mean Kendall's W; None with no consensus yet
    agreement_prompts: int  # prompts whose consensus has an agreement
    reviews_recent: int  # reviews sent in the last PROGRESS_DAYS days
    blocking_reviews_recent: int  # of which ticked at least one blocking label

    @property
    def prompts(self) -> int:
        """Every prompt counted above: in a state, withdrawn or hidden."""
        return sum(self.prompt_states.values()) + self.prompts_withdrawn + self.prompts_hidden

    @property
    def answers(self) -> int:
        return sum(self.answer_states.values()) + self.answers_withdrawn + self.answers_hidden

    @property
    def accepted_prompts(self) -> int:
        return sum(self.prompt_states[str(state)] for state in ACCEPTED_PROMPT_STATES)

    @property
    def is_empty(self) -> bool:
        """Nothing collected yet: no prompt has ever been written or imported."""
        return self.prompts == 0

    @property
    def blocking_share(self) -> float | None:
        if not self.reviews_recent:
            return None
        return self.blocking_reviews_recent / self.reviews_recent

    @property
    def blocking_percent(self) -> int | None:
        share = self.blocking_share
        return None if share is None else round(share * 100)

    @property
    def days_total(self) -> int:
        return sum(day.total for day in self.days)

    @property
    def days_by_kind(self) -> dict[str, int]:
        """The last PROGRESS_DAYS days' counts of each kind."""
        return {
            kind: sum(getattr(day, kind) for day in self.days)
            for kind in ("prompts", "answers", "reviews", "rankings")
        }


def _per_state(rows: QuerySet[Any], live: Q, open_: Q, marked: Q | None = None) -> Any:
    """Per state: live rows, withdrawn, hidden, the rows and slots open to tasks, and the
    live rows ``marked`` picks out (0 without it)."""
    return (
        rows.order_by()
        .values("state")
        .annotate(
            live=Count("pk", filter=live),
            withdrawn=Count("pk", filter=Q(withdrawn_at__isnull=False)),
            hidden=Count("pk", filter=_hidden()),
            open_items=Count("pk", filter=open_),
            open_tasks=Sum("open_slots", filter=open_),
            marked=Count("pk", filter=live & marked) if marked is not None else Value(0),
        )
        .values_list("state", "live", "withdrawn", "hidden", "open_items", "open_tasks", "marked")
    )


def _prompt_counts() -> tuple[dict[str, int], int, int, dict[str, OpenWork]]:
    """One query: prompts per state (live), withdrawn, hidden, and the open slots of the
    three states whose tasks hold one."""
    live = _live()
    open_ = live & Q(open_slots__gt=0)
    rows = _per_state(Prompt.objects.all(), live, open_)
    states = dict.fromkeys(PromptState.values, 0)
    withdrawn = hidden = 0
    open_work: dict[str, OpenWork] = {}
    kinds: dict[str, str] = {
        PromptState.REVIEW: "prompts_to_review",
        PromptState.COLLECTING: "prompts_to_answer",
        PromptState.RANKING: "prompts_to_rank",
    }
    for state, n_live, n_withdrawn, n_hidden, items, tasks, _marked in rows:
        if state in states:
            states[state] = n_live
        withdrawn += n_withdrawn
        hidden += n_hidden
        if state in kinds:
            open_work[kinds[state]] = OpenWork(items, tasks or 0)
    return states, withdrawn, hidden, open_work


def _answer_counts() -> tuple[dict[str, int], int, int, OpenWork, int]:
    """One query: answers per state (live), withdrawn, hidden, the review slots of those the
    dispatcher hands out (under a live prompt collecting answers), and the live answers
    written by a model (accepted on arrival, so among the accepted)."""
    live = _live()
    open_ = (
        live
        & Q(state=ResponseState.REVIEW, open_slots__gt=0, prompt__state=PromptState.COLLECTING)
        & _live("prompt__")
    )
    rows = _per_state(Response.objects.all(), live, open_, Q(source=Source.MODEL))
    states = dict.fromkeys(ResponseState.values, 0)
    withdrawn = hidden = model_written = 0
    to_review = OpenWork(0, 0)
    for state, n_live, n_withdrawn, n_hidden, items, tasks, n_model in rows:
        if state in states:
            states[state] = n_live
        withdrawn += n_withdrawn
        hidden += n_hidden
        model_written += n_model
        if state == ResponseState.REVIEW:
            to_review = OpenWork(items, tasks or 0)
    return states, withdrawn, hidden, to_review, model_written


def _written_recently(model: type[Any], states: list[str], **only: Any) -> QuerySet[Any]:
    """Prompts or answers written on Hearth in ``states``: accepted or in review, as Your
    impact counts them."""
    return model.objects.filter(_live(), origin=WRITTEN_HERE, state__in=states, **only)


def _per_day(first: dt.date, last: dt.date) -> Any:
    """One query: (day, kind, count, blocking) per UTC day from ``first`` to ``last``, for the
    four kinds of contribution, as one UNION ALL of four GROUP BYs; ``blocking`` counts the
    reviews that ticked a blocking label (0 for the other kinds)."""
    start, end = _midnight(first), _midnight(last + dt.timedelta(days=1))
    zero = Value(0, output_field=IntegerField())
    blocking = reduce(operator.or_, (Q(**{label: True}) for label in BLOCKING_LABELS))

    def daily(qs: QuerySet[Any], kind: int, blocked: Any = zero) -> Any:
        return (
            qs.filter(created_at__gte=start, created_at__lt=end)
            .order_by()
            .annotate(day=TruncDate("created_at", tzinfo=UTC))
            .values("day")
            .annotate(
                kind=Value(kind, output_field=IntegerField()), n=Count("pk"), blocking=blocked
            )
            .values_list("day", "kind", "n", "blocking")
        )

    prompts = daily(
        _written_recently(Prompt, [*ACCEPTED_PROMPT_STATES, PromptState.REVIEW]), PROMPTS
    )
    answers = daily(
        _written_recently(
            Response, [ResponseState.ACCEPTED, ResponseState.REVIEW], source=Source.HUMAN
        ),
        ANSWERS,
    )
    # A banned person's reviews and rankings no longer count (consensus drops their votes):
    # a spam ring's 'blocking' votes against honest work would stay in the quality figure.
    reviews = daily(
        Review.objects.filter(reviewer__banned_at__isnull=True),
        REVIEWS,
        Count("pk", filter=blocking),
    )
    rankings = daily(Ranking.objects.filter(ranker__banned_at__isnull=True), RANKINGS)
    return prompts.union(answers, reviews, rankings, all=True)


CATEGORY, LANGUAGE = 0, 1


def _composition() -> Any:
    """One query: accepted prompts (what Browse shows) per category and per language."""

    def per(field: str, kind: int) -> Any:
        return (
            Prompt.objects.filter(PUBLIC_PROMPT)
            .order_by()
            .annotate(key=F(field))
            .values("key")
            .annotate(kind=Value(kind, output_field=IntegerField()), n=Count("pk"))
            .values_list("kind", "key", "n")
        )

    return per("category", CATEGORY).union(per("language", LANGUAGE), all=True)


def _consensus() -> tuple[int, float | None, int]:
    """One query: public prompts with a consensus, their mean agreement, and how many of
    them have one (an all-unusable consensus has none)."""
    found = PromptConsensus.objects.filter(
        _live("prompt__"), prompt__state__in=ACCEPTED_PROMPT_STATES
    ).aggregate(
        n=Count("pk"),
        mean=Avg("agreement"),
        with_agreement=Count("agreement"),
    )
    return found["n"], found["mean"], found["with_agreement"]


def _compute(today: dt.date) -> Progress:
    prompt_states, prompts_withdrawn, prompts_hidden, open_prompts = _prompt_counts()
    answer_states, answers_withdrawn, answers_hidden, answers_to_review, model_written = (
        _answer_counts()
    )
    help_needed = {
        kind: open_prompts.get(kind, OpenWork(0, 0))
        if kind != "answers_to_review"
        else answers_to_review
        for kind in HELP_KINDS
    }

    first = today - dt.timedelta(days=PROGRESS_DAYS - 1)
    by_day: dict[dt.date, list[int]] = {}
    reviews_recent = blocking_recent = 0
    for day, kind, n, blocking in _per_day(first, today):
        by_day.setdefault(day, [0, 0, 0, 0])[kind] += n
        if kind == REVIEWS:
            reviews_recent += n
            blocking_recent += blocking
    days = []
    for offset in range(PROGRESS_DAYS):
        date = first + dt.timedelta(days=offset)
        days.append(ProgressDay(date, *by_day.get(date, [0, 0, 0, 0])))

    per_category = dict.fromkeys(Category.values, 0)
    per_language: list[tuple[str, int]] = []
    for kind, key, n in _composition():
        if kind == CATEGORY:
            if key in per_category:
                per_category[key] = n
        else:
            per_language.append((key, n))
    per_language.sort(key=lambda item: (-item[1], item[0]))
    top, rest = per_language[:TOP_LANGUAGES], per_language[TOP_LANGUAGES:]

    consensus, agreement, agreement_prompts = _consensus()
    return Progress(
        prompt_states=prompt_states,
        prompts_withdrawn=prompts_withdrawn,
        prompts_hidden=prompts_hidden,
        answer_states=answer_states,
        answers_withdrawn=answers_withdrawn,
        answers_hidden=answers_hidden,
        answers_model_written=model_written,
        rankings=Ranking.objects.filter(ranker__banned_at__isnull=True).count(),
        prompts_with_consensus=consensus,
        help_needed=help_needed,
        days=days,
        categories=list(per_category.items()),
        languages=top,
        other_languages=len(rest),
        other_language_prompts=sum(n for _, n in rest),
        agreement=agreement,
        agreement_prompts=agreement_prompts,
        reviews_recent=reviews_recent,
        blocking_reviews_recent=blocking_recent,
    )


def progress(*, today: dt.date | None = None) -> Progress:
    """The data set's progress (see the module docstring), from the cache when computed in
    the last ``PROGRESS_CACHE_SECONDS``: six queries when not. The key names the day, so the
    30 days move on at midnight UTC."""
    found, _computed = cached(*progress_value(today or today_utc()))
    return found


def progress_value(today: dt.date) -> CachedValue[Progress]:
    """What ``progress`` keeps on ``today``; kept warm by beat, with the boards (see
    ``apps.community.selectors``)."""
    key = f"community:progress:v2:{today.isoformat()}"  # v2: answers_model_written
    return CachedValue(key, PROGRESS_CACHE_SECONDS, lambda: _compute(today))
