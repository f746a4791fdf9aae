"""Reads for the Community page and the Your impact panel: the leaderboard, and a volunteer's
own counts, ranks, streak and days. The Progress view's reads, of the data set as a whole, are
in ``progress``.

What counts as a contribution, everywhere in this module:

- a **prompt** or an **answer** written on Hearth, once reviewers have **accepted** it, and
  while it is not withdrawn, hidden or halted, nor by a banned author: exactly what Browse
  shows (``PUBLIC_PROMPT``, ``PUBLIC_RESPONSE``). An answer counts on its own state, whatever
  later happens to its prompt: the author of the prompt withdrawing it takes nothing away
  from the people who answered it;
- a **review** submitted, and a **ranking** submitted (an "all unusable" one too): that work
  is done when it is sent, and nobody accepts or rejects it.

Work in review does **not** count yet. The leaderboard is public and ranks people, so it
counts what the community has checked: otherwise a burst of unreviewed prompts (the Write page
takes any number) would climb the board until reviewers got to it, and the board's prompts and
answers would not be the ones anyone can browse. The volunteer's own panel shows their work
in review beside the counts, and their streak and days (which say when they showed up, not
how they rank) include it, so writing today keeps a streak today.

Work imported from a data set (``origin`` other than ``"hearth"``) and answers written by a
model are not counted: an import of databricks-dolly-15k would otherwise credit the
maintainer who ran it with 15,000 prompts.

Ranks are by the total count, with no weights: equal totals share a rank, and the next rank
skips ("1, 2, 2, 4"); rows of equal totals are listed by user id. People who opted out
(``User.on_leaderboard``) and banned people are not on the board and do not take up ranks.
Periods are calendar periods in UTC: the week from Monday 00:00, the month from its first day.
"""

from __future__ import annotations

import bisect
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any, overload

from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.db.models import Count, F, IntegerField, Q, QuerySet, Value
from django.db.models.functions import TruncDate
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from apps.collection.models import (
    ACCEPTED_PROMPT_STATES,
    Prompt,
    PromptState,
    Response,
    ResponseState,
    Source,
)
from apps.collection.selectors import PUBLIC_PROMPT, PUBLIC_RESPONSE, public_authors
from apps.core.caching import CachedValue, cached, site_wide
from apps.feedback.models import Ranking, Review

UTC = dt.UTC
# Prompt.origin and Response.origin of work written on this site (anything else was imported).
WRITTEN_HERE = "hearth"

PERIODS = {
    "week": gettext_lazy("This week"),
    "month": gettext_lazy("This month"),
    "all": gettext_lazy("All time"),
}
DEFAULT_PERIOD = "week"
# Each period's board is computed at most once a minute; a new contribution shows within that.
LEADERBOARD_CACHE_SECONDS = 60
# The Your impact chart: contributions per day over the last 8 weeks, today included.
CHART_DAYS = 56

# The contribution types, in the order the board's rows and columns give them.
PROMPTS, ANSWERS, REVIEWS, RANKINGS = range(4)


def check_period(value: str | None) -> str:
    """The period named by ``value`` (``week`` when none is given), or a ValidationError."""
    if value is None or value == "":
        return DEFAULT_PERIOD
    if value not in PERIODS:
        raise ValidationError(
            {
                "period": [
                    _("Unknown period %(value)r: use week, month or all.") % {"value": value[:40]}
                ]
            }
        )
    return value


def today_utc() -> dt.date:
    return timezone.now().astimezone(UTC).date()


def period_start(period: str, today: dt.date) -> dt.date | None:
    """The first day (UTC) of ``period`` around ``today``; None for all time."""
    if period == "week":
        return today - dt.timedelta(days=today.weekday())
    if period == "month":
        return today.replace(day=1)
    return None


def _midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time.min, tzinfo=UTC)


def public_label(*, user_id: int, display_name: str) -> str:
    """How the site names a person in public: their display name, or a neutral label made
    from their id (the same words as ``User.public_name``), never their e-mail address."""
    return display_name or _("Volunteer #%(id)s") % {"id": user_id}


# --- the leaderboard ------------------------------------------------------------------------

# One person's row as cached: (rank, user id, display name, prompts, answers, reviews, rankings).
Row = tuple[int, int, str, int, int, int, int]


class KindCounts:
    """The total of a row counted per kind (a dataclass declaring the four fields)."""

    prompts: int
    answers: int
    reviews: int
    rankings: int

    @property
    def total(self) -> int:
        return self.prompts + self.answers + self.reviews + self.rankings


@dataclass(frozen=True)
class Standing(KindCounts):
    """One row of the leaderboard."""

    rank: int
    user_id: int
    display_name: str
    prompts: int
    answers: int
    reviews: int
    rankings: int

    @property
    def name(self) -> str:
        return public_label(user_id=self.user_id, display_name=self.display_name)


class Leaderboard:
    """A period's ranking, best first: a sequence of ``Standing`` that a Paginator can page
    (rows are made into Standings only for the slice asked for)."""

    def __init__(self, rows: list[Row]) -> None:
        self._rows = rows
        # Totals negated, ascending: bisect counts the rows above a total.
        self._negated_totals = [-sum(row[3:]) for row in rows]
        self._index = {row[1]: i for i, row in enumerate(rows)}

    def __len__(self) -> int:
        return len(self._rows)

    @overload
    def __getitem__(self, index: int) -> Standing: ...
    @overload
    def __getitem__(self, index: slice) -> list[Standing]: ...
    def __getitem__(self, index: int | slice) -> Standing | list[Standing]:
        if isinstance(index, slice):
            return [Standing(*row) for row in self._rows[index]]
        return Standing(*self._rows[index])

    def __iter__(self) -> Iterator[Standing]:
        return (Standing(*row) for row in self._rows)

    def position_of(self, user_id: int) -> int | None:
        """Where ``user_id``'s row is (0 for the first), or None when they are not listed."""
        return self._index.get(user_id)

    def rank_for(self, *, user_id: int, total: int) -> int | None:
        """The rank ``total`` takes among the listed people other than ``user_id``: theirs
        when listed with that total, or where they would be (opted out, or counted since the
        board was cached). None for a total of 0: nobody is ranked for nothing."""
        if total <= 0:
            return None
        above = bisect.bisect_left(self._negated_totals, -total)
        own = self._index.get(user_id)
        if own is not None and -self._negated_totals[own] > total:
            above -= 1  # their own cached row, counted before the latest change
        return above + 1


def _listed(person: str) -> Q:
    """People the board may show: not banned, not opted out."""
    return Q(**{f"{person}__banned_at__isnull": True, f"{person}__on_leaderboard": True})


def _counted_prompts() -> QuerySet[Prompt]:
    return Prompt.objects.filter(PUBLIC_PROMPT, origin=WRITTEN_HERE)


def _counted_answers() -> QuerySet[Response]:
    return Response.objects.filter(PUBLIC_RESPONSE, origin=WRITTEN_HERE, source=Source.HUMAN)


def _per_person(qs: QuerySet[Any], *, person: str, kind: int, since: dt.date | None) -> Any:
    """(kind, user id, display name, count) for each listed person with work in ``qs``."""
    if since is not None:
        qs = qs.filter(created_at__gte=_midnight(since))
    return (
        qs.filter(_listed(person))
        .order_by()
        .values(user_id=F(f"{person}_id"), name=F(f"{person}__display_name"))
        .annotate(kind=Value(kind, output_field=IntegerField()), n=Count("pk"))
        .values_list("kind", "user_id", "name", "n")
    )


def _ranked(counts: dict[int, list[Any]]) -> list[Row]:
    """Rows best first, ties by user id, with competition ranks ("1, 2, 2, 4")."""
    order = sorted(counts.items(), key=lambda item: (-sum(item[1][1:]), item[0]))
    rows: list[Row] = []
    previous_total, rank = None, 0
    for position, (user_id, (name, prompts, answers, reviews, rankings)) in enumerate(
        order, start=1
    ):
        total = prompts + answers + reviews + rankings
        if total != previous_total:
            rank, previous_total = position, total
        rows.append((rank, user_id, name, prompts, answers, reviews, rankings))
    return rows


def _compute_rows(since: dt.date | None) -> list[Row]:
    """One query: the four counts per person, as one UNION ALL of four GROUP BYs. Each part
    reads its table's rows since ``since`` (created_at is indexed on prompts and answers)."""
    parts = [
        _per_person(_counted_prompts(), person="author", kind=PROMPTS, since=since),
        _per_person(_counted_answers(), person="author", kind=ANSWERS, since=since),
        _per_person(Review.objects.all(), person="reviewer", kind=REVIEWS, since=since),
        _per_person(Ranking.objects.all(), person="ranker", kind=RANKINGS, since=since),
    ]
    counts: dict[int, list[Any]] = {}
    for kind, user_id, name, n in parts[0].union(*parts[1:], all=True):
        entry = counts.setdefault(user_id, [name, 0, 0, 0, 0])
        entry[1 + kind] = n
    return _ranked(counts)


def leaderboard(*, period: str, today: dt.date | None = None) -> Leaderboard:
    """The board of ``period`` (see ``check_period``), from the cache when computed in the
    last ``LEADERBOARD_CACHE_SECONDS``. The key names the period's first day, so a new week
    or month starts with a board of its own."""
    return _leaderboards((period,), today or today_utc())[period]


def _leaderboards(periods: Iterable[str], today: dt.date) -> dict[str, Leaderboard]:
    """The boards of ``periods`` (see ``leaderboard``), with the people off the board read once
    for all of them: Your impact ranks its person on all three, and read them once a board."""
    unlisted: set[int] | None = None
    boards: dict[str, Leaderboard] = {}
    for period in periods:
        rows, computed = cached(*_board_value(period, today))
        if not computed:
            if unlisted is None:
                unlisted = _unlisted()
            rows = _without_unlisted(rows, unlisted)
        boards[period] = Leaderboard(rows)
    return boards


def _board_value(period: str, today: dt.date) -> CachedValue[list[Row]]:
    since = period_start(period, today)
    key = f"community:leaderboard:v1:{period}:{since.isoformat() if since else 'all'}"
    return CachedValue(key, LEADERBOARD_CACHE_SECONDS, lambda: _compute_rows(since))


@site_wide
def _site_wide_values() -> list[CachedValue[Any]]:
    """Kept warm by beat (``caching.site_wide``): the board of each period, which Your impact
    reads for every signed-in volunteer, and Progress."""
    from apps.community.selectors.progress import progress_value  # it imports this module

    today = today_utc()
    return [*(_board_value(period, today) for period in PERIODS), progress_value(today)]


def _unlisted() -> set[int]:
    """The ids of the people off the board now (opted out or banned): one query, for the
    few, next to the listed."""
    return set(
        get_user_model()
        .objects.filter(Q(on_leaderboard=False) | Q(banned_at__isnull=False))
        .values_list("pk", flat=True)
    )


def _without_unlisted(rows: list[Row], unlisted: set[int]) -> list[Row]:
    """Cached ``rows`` less anyone in ``unlisted`` (who opted out or was banned since they were
    computed), ranked again: leaving the board takes effect at once, not within the cache's
    minute (a person who opts back in waits for it)."""
    if not any(row[1] in unlisted for row in rows):
        return rows
    return _ranked({row[1]: [*row[2:]] for row in rows if row[1] not in unlisted})


@dataclass(frozen=True)
class OwnStanding:
    """Where the signed-in person stands on a board they may or may not be listed on."""

    rank: int | None
    total: int
    listed: bool  # their row is on the board
    opted_out: bool
    banned: bool
    position: int | None  # their row's index on the board, when listed


def own_standing(*, user: Any, board: Leaderboard, period: str) -> OwnStanding | None:
    """The signed-in ``user``'s place on ``board`` (of ``period``); None when signed out.

    Listed people are read from the board itself, so the line above the table agrees with
    their row. Anyone else (opted out, banned, or with nothing counted when the board was
    cached) is counted afresh: an opted-out person learns where they would be."""
    if user is None or not user.is_authenticated:
        return None
    position = board.position_of(user.pk)
    if position is not None:
        row = board[position]
        return OwnStanding(row.rank, row.total, True, False, False, position)
    banned = user.banned_at is not None
    total = 0 if banned else _own_total(user=user, since=period_start(period, today_utc()))
    rank = None if banned else board.rank_for(user_id=user.pk, total=total)
    return OwnStanding(rank, total, False, not user.on_leaderboard, banned, None)


def _own_total(*, user: Any, since: dt.date | None) -> int:
    """``user``'s counted contributions since ``since``, by the board's rules but whether or
    not they are listed: one query."""
    parts = []
    for qs, person in (
        (_counted_prompts(), "author"),
        (_counted_answers(), "author"),
        (Review.objects.all(), "reviewer"),
        (Ranking.objects.all(), "ranker"),
    ):
        qs = qs.filter(**{person: user}).order_by()
        if since is not None:
            qs = qs.filter(created_at__gte=_midnight(since))
        parts.append(qs.values_list("pk"))
    return parts[0].union(*parts[1:], all=True).count()


# --- Your impact ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Day:
    date: dt.date
    count: int


@dataclass(frozen=True)
class Acceptance:
    """Of one's prompts (or answers) that reviewers have decided on, how many they accepted.
    Withdrawn and hidden work is left out of both."""

    accepted: int
    rejected: int

    @property
    def decided(self) -> int:
        return self.accepted + self.rejected

    @property
    def rate(self) -> float | None:
        return self.accepted / self.decided if self.decided else None

    @property
    def percent(self) -> int | None:
        rate = self.rate
        return None if rate is None else round(rate * 100)


@dataclass(frozen=True)
class Impact:
    """A volunteer's own stats, for My contributions and ``GET /api/v1/me/stats/``.

    Counts follow the board's rules (see the module docstring) whether or not the person is
    listed or banned: they always see their own work. Ranks are None for a banned person and
    for nothing counted in the period; for an opted-out person they say where they would be."""

    prompts: int
    answers: int
    reviews: int
    rankings: int
    prompts_in_review: int
    answers_in_review: int
    prompt_acceptance: Acceptance
    answer_acceptance: Acceptance
    imported: int  # prompts and answers imported under their name, which are not counted
    ranks: dict[str, int | None]  # by period
    on_leaderboard: bool
    banned: bool
    current_streak: int
    longest_streak: int
    last_day: dt.date | None  # the last day with a contribution (in review included)
    days: list[Day]  # the last CHART_DAYS days, oldest first, in review included

    @property
    def total(self) -> int:
        return self.prompts + self.answers + self.reviews + self.rankings

    @property
    def in_review(self) -> int:
        return self.prompts_in_review + self.answers_in_review

    @property
    def chart_total(self) -> int:
        return sum(day.count for day in self.days)

    @property
    def chart_active_days(self) -> int:
        return sum(1 for day in self.days if day.count)

    @property
    def busiest_day(self) -> Day | None:
        """The chart's day with the most contributions (the latest of equals); None if none."""
        best = max(self.days, key=lambda day: (day.count, day.date), default=None)
        return best if best is not None and best.count else None


def streaks(days: set[dt.date], *, today: dt.date) -> tuple[int, int]:
    """(current, longest) runs of consecutive days in ``days``. The current run ends today,
    or yesterday when nothing is in yet today (the day is not over); else it is 0."""
    longest = run = 0
    previous: dt.date | None = None
    for day in sorted(days):
        run = run + 1 if previous is not None and day - previous == dt.timedelta(days=1) else 1
        longest = max(longest, run)
        previous = day
    one = dt.timedelta(days=1)
    end = today if today in days else today - one
    current = 0
    while end in days:
        current += 1
        end -= one
    return current, longest


class _PromptStates:
    accepted = ACCEPTED_PROMPT_STATES
    REVIEW = PromptState.REVIEW
    REJECTED = PromptState.REJECTED


class _ResponseStates:
    accepted = (ResponseState.ACCEPTED,)
    REVIEW = ResponseState.REVIEW
    REJECTED = ResponseState.REJECTED


# An answer in review is waiting for reviewers only while its prompt can still be reviewed
# under: one whose prompt was withdrawn will never be, one whose prompt is hidden or by a
# banned author not until that is undone. Neither is counted as in review (UX QA: answers to a
# withdrawn prompt stayed "in review" on their authors' panels for ever).
ANSWER_REVIEWABLE = Q(
    prompt__withdrawn_at__isnull=True, prompt__hidden_at__isnull=True
) & public_authors("prompt__")


# Columns of the per-day query below.
_DAY, _KIND, _COUNTED, _IN_REVIEW, _WAITING, _REJECTED, _IMPORTED = range(7)


def _own_days(user: Any) -> Any:
    """One query: per contribution type and UTC day of all of ``user``'s history, how many
    are counted, in review (of which waiting for reviewers: ``ANSWER_REVIEWABLE``), rejected
    and imported. Withdrawn work is not read at all."""

    def written(model: Any, kind: int, states: Any, waiting: Q, **only: Any) -> Any:
        here = Q(origin=WRITTEN_HERE, hidden_at__isnull=True, **only)
        return (
            model.objects.filter(author=user, withdrawn_at__isnull=True)
            .order_by()
            .annotate(day=TruncDate("created_at", tzinfo=UTC))
            .values("day")
            .annotate(
                kind=Value(kind, output_field=IntegerField()),
                counted=Count("pk", filter=here & Q(state__in=states.accepted)),
                in_review=Count("pk", filter=here & Q(state=states.REVIEW)),
                waiting=Count("pk", filter=here & Q(state=states.REVIEW) & waiting),
                rejected=Count("pk", filter=here & Q(state=states.REJECTED)),
                imported=Count("pk", filter=~Q(origin=WRITTEN_HERE)),
            )
            .values_list("day", "kind", "counted", "in_review", "waiting", "rejected", "imported")
        )

    def submitted(model: Any, person: str, kind: int) -> Any:
        zero = Value(0, output_field=IntegerField())
        return (
            model.objects.filter(**{person: user})
            .order_by()
            .annotate(day=TruncDate("created_at", tzinfo=UTC))
            .values("day")
            .annotate(
                kind=Value(kind, output_field=IntegerField()),
                counted=Count("pk"),
                in_review=zero,
                waiting=zero,
                rejected=zero,
                imported=zero,
            )
            .values_list("day", "kind", "counted", "in_review", "waiting", "rejected", "imported")
        )

    prompts = written(Prompt, PROMPTS, _PromptStates, Q())
    answers = written(Response, ANSWERS, _ResponseStates, ANSWER_REVIEWABLE, source=Source.HUMAN)
    return prompts.union(
        answers,
        submitted(Review, "reviewer", REVIEWS),
        submitted(Ranking, "ranker", RANKINGS),
        all=True,
    )


def impact_for_user(*, user: Any, today: dt.date | None = None) -> Impact:
    """``user``'s own stats (see ``Impact``): one query for their history, and the boards of
    the three periods (cached) for their ranks."""
    today = today or today_utc()
    counted = [0, 0, 0, 0]
    in_review = [0, 0]
    rejected = [0, 0]
    imported = 0
    by_day: dict[dt.date, int] = {}
    counted_since: dict[str, int] = dict.fromkeys(PERIODS, 0)
    starts = {period: period_start(period, today) for period in PERIODS}
    for row in _own_days(user):
        day, kind = row[_DAY], row[_KIND]
        counted[kind] += row[_COUNTED]
        if kind in (PROMPTS, ANSWERS):
            in_review[kind] += row[_WAITING]
            rejected[kind] += row[_REJECTED]
        imported += row[_IMPORTED]
        active = row[_COUNTED] + row[_IN_REVIEW]
        if active:
            by_day[day] = by_day.get(day, 0) + active
        for period, start in starts.items():
            if start is None or day >= start:
                counted_since[period] += row[_COUNTED]
    banned = user.banned_at is not None
    boards = {} if banned else _leaderboards(PERIODS, today)
    ranks: dict[str, int | None] = {
        period: None
        if banned
        else boards[period].rank_for(user_id=user.pk, total=counted_since[period])
        for period in PERIODS
    }
    current, longest = streaks(set(by_day), today=today)
    first = today - dt.timedelta(days=CHART_DAYS - 1)
    return Impact(
        prompts=counted[PROMPTS],
        answers=counted[ANSWERS],
        reviews=counted[REVIEWS],
        rankings=counted[RANKINGS],
        prompts_in_review=in_review[PROMPTS],
        answers_in_review=in_review[ANSWERS],
        prompt_acceptance=Acceptance(counted[PROMPTS], rejected[PROMPTS]),
        answer_acceptance=Acceptance(counted[ANSWERS], rejected[ANSWERS]),
        imported=imported,
        ranks=ranks,
        on_leaderboard=bool(user.on_leaderboard),
        banned=banned,
        current_streak=current,
        longest_streak=longest,
        last_day=max(by_day, default=None),
        days=[
            Day(first + dt.timedelta(days=i), by_day.get(first + dt.timedelta(days=i), 0))
            for i in range(CHART_DAYS)
        ],
    )
