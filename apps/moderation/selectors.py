from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, overload

from django.db.models import (
    Case,
    Count,
    F,
    Func,
    IntegerField,
    Max,
    Min,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    When,
)
from django.db.models.functions import Coalesce

from apps.accounts import roles
from apps.accounts.models import MODEL_AUTHOR_EMAIL, User
from apps.collection.models import Prompt, Response
from apps.feedback.models import LABELS, Ranking, Review
from apps.moderation.models import Flag, FlagReason, ModerationAction

# The open flags the queue shows of each item, oldest first, with what each reporter said;
# the rest are counted by reason. A prompt that many people report (hundreds, when it is
# plainly bad) would otherwise bury its own Hide and Dismiss buttons under every report, and
# make the page as long as the reports: 1,500 of them took 0.86 s and 350 kB.
FLAGS_SHOWN = 10


@dataclass(frozen=True)
class QueueItem:
    kind: str  # "prompt" or "response"
    target: Prompt | Response
    open_flags: int
    # The reason of every open flag, oldest first.
    reasons: list[str]
    # The oldest open flags (FLAGS_SHOWN at most), with their reporters: what each one said.
    flags: list[Flag] = field(default_factory=list)

    @property
    def flags_not_shown(self) -> int:
        return self.open_flags - len(self.flags)

    @property
    def reasons_not_shown(self) -> list[tuple[str, int]]:
        """The open flags ``flags`` leaves out, as (reason's label, how many), most first."""
        labels = dict(FlagReason.choices)
        counts = Counter(self.reasons[len(self.flags) :])
        return [(str(labels.get(r, r)), n) for r, n in counts.most_common()]


def _open_flag_groups() -> QuerySet[Any, Any]:
    """One row per prompt or answer with open flags, in the queue's order: hidden ones first
    (flags hid them and they wait for a moderator), then the most flagged, then the one
    waiting longest; the ids break the last ties, so pages never overlap or skip."""
    hidden = Case(
        When(Q(prompt__hidden_at__isnull=False) | Q(response__hidden_at__isnull=False), then=1),
        default=0,
        output_field=IntegerField(),
    )
    return (
        Flag.objects.filter(resolved_at__isnull=True)
        .values("prompt_id", "response_id")
        .annotate(hidden=Max(hidden), open_flags=Count("id"), first_flagged_at=Min("created_at"))
        .order_by(
            "-hidden",
            "-open_flags",
            "first_flagged_at",
            F("prompt_id").asc(nulls_last=True),
            F("response_id").asc(nulls_last=True),
        )
    )


def _queue_items(groups: list[dict[str, Any]]) -> list[QueueItem]:
    """The prompts and answers of these rows of _open_flag_groups, in their order, each with
    the reasons of its open flags and the oldest FLAGS_SHOWN of them: at most five queries
    however many items and flags there are."""
    open_flags = Flag.objects.filter(resolved_at__isnull=True).order_by("created_at", "id")
    open_flag_prefetch = Prefetch(
        "flags",
        queryset=open_flags.select_related("reporter")[:FLAGS_SHOWN],
        to_attr="open_flag_list",
    )
    prompt_ids = [g["prompt_id"] for g in groups if g["prompt_id"] is not None]
    response_ids = [g["response_id"] for g in groups if g["response_id"] is not None]
    prompts = (
        Prompt.objects.select_related("author")
        .prefetch_related(open_flag_prefetch)
        .in_bulk(prompt_ids)
    )
    responses = (
        Response.objects.select_related("author", "prompt")
        .prefetch_related(open_flag_prefetch)
        .in_bulk(response_ids)
    )
    reasons: dict[tuple[str, int], list[str]] = defaultdict(list)
    if groups:
        for prompt_id, response_id, reason in open_flags.filter(
            Q(prompt_id__in=prompt_ids) | Q(response_id__in=response_ids)
        ).values_list("prompt_id", "response_id", "reason"):
            key = ("prompt", prompt_id) if prompt_id is not None else ("response", response_id)
            reasons[key].append(reason)
    items: list[QueueItem] = []
    for group in groups:
        target: Prompt | Response | None
        if group["prompt_id"] is not None:
            kind, target = "prompt", prompts.get(group["prompt_id"])
        else:
            kind, target = "response", responses.get(group["response_id"])
        # Resolved or deleted between the reads: nothing left to show.
        if target is None or not target.open_flag_list or not reasons[kind, target.pk]:
            continue
        found = reasons[kind, target.pk]
        items.append(QueueItem(kind, target, len(found), found, list(target.open_flag_list)))
    return items


class ModerationQueue(Sequence[QueueItem]):
    """The moderators' queue: prompts and answers with open flags, read a slice at a time.
    Django's Paginator (the queue page) and the API's Pagination take its length (one COUNT)
    and slice it, and only the slice's items are loaded, so a page costs the same queries
    with ten flags or ten thousand."""

    def __init__(self) -> None:
        self._groups = _open_flag_groups()

    def __len__(self) -> int:
        return self._groups.count()

    @overload
    def __getitem__(self, index: int) -> QueueItem: ...

    @overload
    def __getitem__(self, index: slice) -> list[QueueItem]: ...

    def __getitem__(self, index: int | slice) -> QueueItem | list[QueueItem]:
        if isinstance(index, slice):
            return _queue_items(list(self._groups[index]))
        found = _queue_items(list(self._groups[index : index + 1]))
        if not found:
            raise IndexError(index)
        return found[0]

    def __iter__(self) -> Iterator[QueueItem]:
        # The whole queue in one read, not one read per item as Sequence's default would.
        return iter(self[:])


def moderation_queue() -> ModerationQueue:
    """Prompts and answers with open flags, hidden ones first, then the most flagged, then
    the longest waiting. Page through it (Paginator): it is read a page at a time."""
    return ModerationQueue()


def with_latest_hides(rows: Iterable[Any], target: str) -> list[Any]:
    """``rows`` (a page of hidden prompts or answers; ``target`` is the log's field for them)
    as a list, each with who hid it and why, from its latest hide in the audit log:
    ``hid_action`` (hide, auto_hide, or None when the log has none), ``hid_by`` (the
    moderator's display name), ``hid_reason``. One query for the page, once it is cut: as
    subqueries of the list query, PostgreSQL ran them for every row an OFFSET skipped too
    (page 500 of 10,000 hidden prompts: 0.47 s)."""
    page = list(rows)
    for row in page:
        row.hid_action = row.hid_by = row.hid_reason = None
    if not page:
        return page
    by_id = {row.pk: row for row in page}
    hides = (
        ModerationAction.objects.filter(
            **{f"{target}_id__in": list(by_id)},
            action__in=[ModerationAction.Action.HIDE, ModerationAction.Action.AUTO_HIDE],
        )
        .order_by(f"{target}_id", "-created_at", "-id")
        .values_list(f"{target}_id", "action", "actor__display_name", "reason")
    )
    seen: set[int] = set()
    for row_id, action, by, reason in hides:
        if row_id in seen:
            continue  # an older hide of the same row
        seen.add(row_id)
        row = by_id[row_id]
        row.hid_action, row.hid_by, row.hid_reason = action, by, reason
    return page


def hidden_prompts() -> QuerySet[Prompt]:
    """Prompts a moderator (or enough flags) hid, most recently hidden first. Show a page of
    them with ``with_latest_hides(page, "prompt")``."""
    return (
        Prompt.objects.filter(hidden_at__isnull=False)
        .select_related("author")
        .order_by("-hidden_at", "-id")
    )


def hidden_responses() -> QuerySet[Response]:
    """Answers a moderator (or enough flags) hid, most recently hidden first. Show a page of
    them with ``with_latest_hides(page, "response")``."""
    return (
        Response.objects.filter(hidden_at__isnull=False)
        .select_related("author", "prompt")
        .order_by("-hidden_at", "-id")
    )


def banned_users() -> QuerySet[User]:
    return User.objects.filter(banned_at__isnull=False).order_by("-banned_at", "-id")


def audit_log() -> QuerySet[ModerationAction]:
    return ModerationAction.objects.select_related("actor", "subject", "prompt", "response")


def flag_target(kind: Any, target_id: Any) -> Prompt | Response | None:
    try:
        pk = int(target_id)
    except (TypeError, ValueError):
        return None
    if kind == "prompt":
        return Prompt.objects.filter(pk=pk).first()
    if kind == "response":
        return Response.objects.filter(pk=pk).first()
    return None


# The longest search the People page takes (an e-mail address is at most 254 characters).
PEOPLE_SEARCH_MAX_CHARS = 254


# The People page's ban filter: its query parameter's values, "all" (the default) first.
PEOPLE_STATUSES = ("all", "not_banned", "banned")


def people(*, search: str = "", status: str = "all") -> QuerySet[User]:
    """The accounts a moderator may look up, newest first: every person but deleted accounts
    and the account model-written answers are filed under. ``search`` matches a display name
    or an e-mail address in part, or ``#id`` exactly; ``status`` (PEOPLE_STATUSES) keeps only
    the accounts that are not banned, or only the banned ones."""
    rows = User.objects.filter(deleted_at__isnull=True).exclude(email=MODEL_AUTHOR_EMAIL)
    if status == "not_banned":
        rows = rows.filter(banned_at__isnull=True)
    elif status == "banned":
        rows = rows.filter(banned_at__isnull=False)
    search = search.strip()
    if search.startswith("#") and search[1:].isdigit():
        rows = rows.filter(pk=int(search[1:]))
    elif search:
        rows = rows.filter(Q(display_name__icontains=search) | Q(email__icontains=search))
    return rows.prefetch_related("groups").order_by("-date_joined", "-id")


def with_work_counts(users: Sequence[User]) -> Sequence[User]:
    """Give each user ``prompts_written`` and ``answers_written`` (every state, withdrawn and
    hidden work too: what a moderator weighs). Two queries for the page."""
    ids = [user.pk for user in users]
    prompts = dict(
        Prompt.objects.filter(author_id__in=ids)
        .order_by()
        .values_list("author_id")
        .annotate(n=Count("id"))
    )
    answers = dict(
        Response.objects.filter(author_id__in=ids)
        .order_by()
        .values_list("author_id")
        .annotate(n=Count("id"))
    )
    for user in users:
        user.prompts_written = prompts.get(user.pk, 0)  # type: ignore[attr-defined]
        user.answers_written = answers.get(user.pk, 0)  # type: ignore[attr-defined]
    return users


# The most recent items of each kind the account page (and its API) shows: the rest are
# counted. Each kind is one query, so the page costs the same with 3 items or 30,000.
PERSON_ITEMS_SHOWN = 50


def _count_of(rows: QuerySet[Any, Any]) -> Coalesce:
    """COUNT(*) of ``rows`` (correlated with OuterRef) as a subquery of one row: no GROUP BY."""
    counted = rows.order_by().annotate(n=Func(F("pk"), function="COUNT")).values("n")
    return Coalesce(Subquery(counted, output_field=IntegerField()), 0)


def _work_flags(author: Any) -> Q:
    """Flags on prompts or answers ``author`` (a user id or an OuterRef to one) wrote."""
    return Q(prompt_id__in=Prompt.objects.filter(author_id=author).values("id")) | Q(
        response_id__in=Response.objects.filter(author_id=author).values("id")
    )


@dataclass(frozen=True)
class PersonActivity:
    """One account as a moderator weighs it: how much of each kind it did, and the most
    recent PERSON_ITEMS_SHOWN of each, newest first, with what became of them."""

    person: User
    role: str  # "administrator", "maintainer", "moderator" or "volunteer"
    counts: dict[str, int]
    prompts: list[Prompt]
    answers: list[Response]
    reviews: list[Review]
    rankings: list[Ranking]
    flags_raised: list[Flag]
    flags_against: list[Flag]
    shown: int = PERSON_ITEMS_SHOWN

    @property
    def more(self) -> dict[str, int]:
        """How many of each kind are not in its list."""
        lists: dict[str, Sequence[Any]] = {
            "prompts": self.prompts,
            "answers": self.answers,
            "reviews": self.reviews,
            "rankings": self.rankings,
            "flags_raised": self.flags_raised,
            "flags_against": self.flags_against,
        }
        return {kind: max(0, self.counts[kind] - len(rows)) for kind, rows in lists.items()}


def review_labels(review: Review) -> list[str]:
    """The labels ``review`` gave (its blocking ones and wrong_category), in LABELS' order."""
    return [name for name in LABELS if getattr(review, name)]


def review_target(review: Review) -> Prompt | Response:
    target = review.prompt if review.prompt_id is not None else review.response
    assert target is not None  # the review_has_one_target constraint
    return target


def flag_target_of(flag: Flag) -> Prompt | Response:
    target = flag.prompt if flag.prompt_id is not None else flag.response
    assert target is not None  # the flag_has_one_target constraint
    return target


def ranking_counted(ranking: Ranking, ranker: User) -> bool:
    """Whether the prompt's consensus counts ``ranking`` now: not retired, its ranker not
    banned (apps.feedback.services.consensus_refresh)."""
    return ranking.retired_at is None and ranker.banned_at is None


def role_of(user: User) -> str:
    """The highest role of ``user``, from its groups (prefetch them for a list)."""
    if user.is_superuser:
        return "administrator"
    groups = {group.name for group in user.groups.all()}
    if roles.MAINTAINER in groups:
        return "maintainer"
    if roles.MODERATOR in groups:
        return "moderator"
    return "volunteer"


def person_activity(user_id: int) -> PersonActivity | None:
    """The account page of ``user_id``, one the People page lists (None for another): its
    counts in one query, its role in one, and one query for each kind of item, whatever it
    wrote. Work in every state (withdrawn and hidden too); a ranking is counted in consensus
    unless retired or its ranker is banned."""
    shown = PERSON_ITEMS_SHOWN
    me = OuterRef("pk")
    person = (
        people()
        .filter(pk=user_id)
        .annotate(
            n_prompts=_count_of(Prompt.objects.filter(author_id=me)),
            n_answers=_count_of(Response.objects.filter(author_id=me)),
            n_reviews=_count_of(Review.objects.filter(reviewer_id=me)),
            n_rankings=_count_of(Ranking.objects.filter(ranker_id=me)),
            n_flags_raised=_count_of(Flag.objects.filter(reporter_id=me)),
            # Two levels down: the prompt and answer subqueries are inside the flags' one.
            n_flags_against=_count_of(Flag.objects.filter(_work_flags(OuterRef(me)))),
        )
        .first()
    )
    if person is None:
        return None
    kinds = ("prompts", "answers", "reviews", "rankings", "flags_raised", "flags_against")
    counts = {kind: getattr(person, f"n_{kind}") for kind in kinds}
    newest = ("-created_at", "-id")
    return PersonActivity(
        person=person,
        role=role_of(person),
        counts=counts,
        prompts=list(Prompt.objects.filter(author_id=person.pk).order_by(*newest)[:shown]),
        answers=list(
            Response.objects.filter(author_id=person.pk)
            .select_related("prompt")
            .order_by(*newest)[:shown]
        ),
        reviews=list(
            Review.objects.filter(reviewer_id=person.pk)
            .select_related("prompt__author", "response__author", "response__prompt")
            .order_by(*newest)[:shown]
        ),
        rankings=list(
            Ranking.objects.filter(ranker_id=person.pk)
            .select_related("prompt")
            .order_by(*newest)[:shown]
        ),
        flags_raised=list(
            Flag.objects.filter(reporter_id=person.pk)
            .select_related("prompt__author", "response__author", "response__prompt")
            .order_by(*newest)[:shown]
        ),
        flags_against=list(
            Flag.objects.filter(_work_flags(person.pk))
            .select_related("reporter", "prompt", "response__prompt")
            .order_by(*newest)[:shown]
        ),
        shown=shown,
    )
