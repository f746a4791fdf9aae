"""Reviews, rankings and consensus.

Acceptance rule (documented for volunteers on the review page too): each review scores 1 when
it raises none of the blocking labels (spam, fails_task, wrong_language, pii, harmful,
machine_generated) and 0 otherwise; an item is accepted when the mean score of its reviews is
above the policy's threshold (0.6 by default, so with two reviews both must be clean).
Open-Assistant used 1 − (mean spam + mean wrong-language); Hearth blocks on every label that
makes an item unusable for training. ``wrong_category`` and ``quality`` are kept for the data
but do not block.
"""

from __future__ import annotations

import random
from collections.abc import Collection, Iterable, Mapping, Sequence
from typing import Any

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, F, IntegerField, OuterRef, Q, QuerySet, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce, Greatest
from django.utils import timezone
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.assignments.models import Assignment, AssignmentState, TaskType
from apps.collection import flow
from apps.collection.models import (
    CollectionPolicy,
    Prompt,
    PromptState,
    Response,
    ResponseState,
    Source,
)
from apps.collection.policy import policy_gate
from apps.core.sql import columns, fetch_all, insert, is_row_id, quote, scalar
from apps.feedback.consensus import compute_consensus
from apps.feedback.models import BLOCKING_LABELS, LABELS, PromptConsensus, Ranking, Review


def acceptance(reviews: Iterable[Review]) -> float:
    """Mean acceptance of ``reviews``: the share that raise no blocking label."""
    scores = [0.0 if review.blocking_labels else 1.0 for review in reviews]
    return sum(scores) / len(scores) if scores else 0.0


# The review and ranking services below run inside the dispatcher's submission (which holds
# the row locks they need, and rolls back to its own savepoint when they refuse), so they open
# a transaction only when called outside one, and no savepoint of their own: two statements
# fewer on every submission.


def check_review_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Labels as booleans (from a ``labels`` list of their names) and quality 1–5."""
    errors: dict[str, list[str]] = {}
    labels = payload.get("labels", [])
    clean: dict[str, Any] = dict.fromkeys(LABELS, False)
    if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
        errors["labels"] = [_("Give the labels as a list of names.")]
    else:
        unknown = sorted(set(labels) - set(LABELS))
        if unknown:
            errors["labels"] = [
                _("Unknown labels: %(unknown)s. Use: %(known)s.")
                % {"unknown": ", ".join(unknown), "known": ", ".join(LABELS)}
            ]
        for name in labels:
            if name in clean:
                clean[name] = True
    quality = payload.get("quality")
    if isinstance(quality, bool) or not isinstance(quality, int) or not 1 <= quality <= 5:
        errors["quality"] = [_("Rate the quality from 1 (poor) to 5 (excellent).")]
    if errors:
        raise ValidationError(errors)
    clean["quality"] = quality
    return clean


@transaction.atomic(savepoint=False)
def prompt_review_create(
    *, reviewer: User, prompt: Prompt, payload: Mapping[str, Any], policy: CollectionPolicy
) -> Review:
    """Record a review of a prompt in review; moves it on when the last review is in.

    Precondition: the caller holds the prompt's row lock, and the reviewer held a slot.
    """
    fields = check_review_payload(payload)
    if prompt.author_id == reviewer.pk:
        raise ValidationError(_("Nobody reviews their own prompt."))
    review = insert(Review(reviewer=reviewer, prompt=prompt, **fields))
    _prompt_decide(prompt, _reviews("prompt_id", prompt.pk), policy)
    return review


def _prompt_decide(prompt: Prompt, reviews: Sequence[Review], policy: CollectionPolicy) -> None:
    """With the reviews that count (``_reviews``) as many as the policy asks for, accept (to
    collecting) or reject a prompt in review; otherwise leave it as it is. Precondition: the
    caller holds the prompt's row lock."""
    if prompt.state != PromptState.REVIEW or len(reviews) < policy.prompt_reviews_required:
        return
    accepted = acceptance(reviews) > policy.acceptance_threshold
    flow.prompt_transition(
        prompt=prompt,
        to=PromptState.COLLECTING if accepted else PromptState.REJECTED,
        policy=policy,
    )
    if accepted:
        _open_review_of_waiting_responses(prompt, policy)


def _open_review_of_waiting_responses(prompt: Prompt, policy: CollectionPolicy) -> None:
    """Answers written before their prompt was accepted (the author's own) become reviewable."""
    prompt.responses.filter(state=ResponseState.REVIEW, withdrawn_at__isnull=True).update(
        open_slots=policy.response_reviews_required
    )


@transaction.atomic(savepoint=False)
def response_review_create(
    *,
    reviewer: User,
    response: Response,
    payload: Mapping[str, Any],
    policy: CollectionPolicy,
) -> Review:
    """Record a review of an answer; accept or reject it when the last review is in.

    A rejected answer frees its place in the prompt's collection; the last accepted answer
    moves the prompt on to ranking. Precondition: the caller holds the row locks of the
    prompt, then of the response.
    """
    fields = check_review_payload(payload)
    if response.author_id == reviewer.pk:
        raise ValidationError(_("Nobody reviews their own answer."))
    review = insert(Review(reviewer=reviewer, response=response, **fields))
    _response_decide(response, _reviews("response_id", response.pk), policy)
    return review


def _response_decide(
    response: Response, reviews: Sequence[Review], policy: CollectionPolicy
) -> None:
    """With the reviews that count (``_reviews``) as many as the policy asks for, accept or
    reject an answer in review (see ``response_review_create``); otherwise leave it as it
    is. Precondition: the caller holds the row locks of the prompt, then of the response."""
    if response.state != ResponseState.REVIEW or len(reviews) < policy.response_reviews_required:
        return
    prompt = response.prompt
    if acceptance(reviews) > policy.acceptance_threshold:
        flow.response_transition(response=response, to=ResponseState.ACCEPTED)
        accepted = flow.count_responses(prompt, (ResponseState.ACCEPTED,))
        if prompt.state == PromptState.COLLECTING and accepted >= policy.responses_to_collect:
            flow.prompt_transition(prompt=prompt, to=PromptState.RANKING, policy=policy)
            _retire_earlier_rankings(prompt)
    else:
        # Once per answer: one hidden, or by an author banned, while this review was under
        # way gave its place back then.
        held_place = flow.holds_place(response)
        flow.response_transition(response=response, to=ResponseState.REJECTED)
        if held_place:
            flow.give_back_place(response=response)


def _rankable(table: str) -> str:
    """The condition on an answer (in ``table``, its author's row joined as ``u``) that puts
    it in its prompt's rank set, with one parameter: ``ResponseState.ACCEPTED``. One
    definition for the rank tasks and the consensus."""
    return (
        f'{table}."state" = %s AND {table}."withdrawn_at" IS NULL '
        f'AND {table}."hidden_at" IS NULL AND u."banned_at" IS NULL'
    )


def rankable_responses(prompt: Prompt) -> list[Response]:
    """The response set a ranker orders: accepted, live answers by authors not banned, by id
    (a banned author's answer is out of the set as a hidden one is, until the ban is lifted).
    (In SQL: every rank task reads it twice, and building it with the ORM cost more CPU than
    running it.)"""
    table, users = quote(Response._meta.db_table), quote(User._meta.db_table)
    return fetch_all(
        f"SELECT {columns(Response, table)} FROM {table} "
        f'INNER JOIN {users} u ON u."id" = {table}."author_id" '
        f'WHERE {table}."prompt_id" = %s AND {_rankable(table)} ORDER BY {table}."id"',
        [prompt.pk, ResponseState.ACCEPTED],
        Response,
    )


# Two answers are the least a ranking compares (as the policy's least responses_to_collect).
MIN_RANK_SET = 2


def rank_set_size(prompt_id_column: str) -> tuple[str, list[Any]]:
    """SQL for the number of answers in the rank set of the prompt whose id is in
    ``prompt_id_column`` (``c."id"``), and its parameters: the dispatcher hands out no rank
    task of a set smaller than MIN_RANK_SET, and ``rank_sets_check`` sends such a prompt
    back to collecting."""
    table, users = quote(Response._meta.db_table), quote(User._meta.db_table)
    return (
        f"(SELECT COUNT(*) FROM {table} "
        f'INNER JOIN {users} u ON u."id" = {table}."author_id" '
        f'WHERE {table}."prompt_id" = {prompt_id_column} AND {_rankable(table)})',
        [ResponseState.ACCEPTED],
    )


def _reviews(column: str, pk: int) -> list[Review]:
    """The reviews that count of one prompt (``column`` "prompt_id") or answer
    ("response_id"): those by reviewers not banned. A ban voids its reviewer's reviews, in
    the decisions still to come as in those they made (``reviews_of_banned_reconsider``);
    while the ban lasts. Lifting it makes them count again in the decisions still to come,
    and undoes none made meanwhile."""
    table, users = quote(Review._meta.db_table), quote(User._meta.db_table)
    return fetch_all(
        f"SELECT {columns(Review, table)} FROM {table} "
        f'INNER JOIN {users} u ON u."id" = {table}."reviewer_id" '
        f'WHERE {table}.{quote(column)} = %s AND u."banned_at" IS NULL',
        [pk],
        Review,
    )


# --- a banned reviewer's reviews stop counting -----------------------------------------------


def reviewed_work_of(reviewer: User) -> tuple[Q, Q]:
    """What ``reviews_of_banned_reconsider`` may change for a ban of ``reviewer``, as
    conditions on prompt rows and on answer rows: the prompts they reviewed that are in review
    or rejected, the prompts of the answers they reviewed that are in review or rejected, and
    those answers. A ban locks them with the rest of the person's work, all prompts by id
    and then all answers by id (the dispatcher's order; ``assignments_release_for_user`` takes
    these conditions), before it changes any."""
    reviews = Review.objects.filter(reviewer=reviewer)
    answers = Q(
        state__in=(ResponseState.REVIEW, ResponseState.REJECTED),
        pk__in=reviews.filter(response_id__isnull=False).values("response_id"),
    )
    prompts = Q(
        state__in=(PromptState.REVIEW, PromptState.REJECTED),
        pk__in=reviews.filter(prompt_id__isnull=False).values("prompt_id"),
    ) | Q(pk__in=Response.objects.filter(answers).values("prompt_id"))
    return prompts, answers


def _review_slots_due(column: str, task_type: str, required: int) -> Greatest:
    """For an UPDATE of prompts (``column`` "prompt_id") or answers ("response_id") in
    review: the open review slots each is due, the reviews the policy asks for less those
    that count (``_reviews``) and the review tasks out on it, or its open slots as they are
    if those are more (a lowered count takes nothing away). Exact whatever came before: one
    more slot for a review that stopped counting, none more when it is worked out again."""
    counted = (
        Review.objects.filter(**{column: OuterRef("pk")}, reviewer__banned_at__isnull=True)
        .order_by()
        .values(column)
        .annotate(n=Count("pk"))
        .values("n")
    )
    out = (
        Assignment.objects.filter(
            **{column: OuterRef("pk")}, task_type=task_type, state=AssignmentState.ACTIVE
        )
        .order_by()
        .values(column)
        .annotate(n=Count("pk"))
        .values("n")
    )
    zero = Value(0)
    return Greatest(
        F("open_slots"),
        Value(required) - Coalesce(Subquery(counted), zero) - Coalesce(Subquery(out), zero),
    )


@transaction.atomic(savepoint=False)
def reviews_of_banned_reconsider(
    *,
    reviewer: User,
    locked: bool = False,
    prompts: Iterable[int] | QuerySet[Any, Any] | None = None,
) -> tuple[int, int]:
    """Void the reviews of ``reviewer``, just banned, as if they had never been written;
    returns how many prompts and answers that were rejected are reopened (in review again, or
    accepted at once).

    - A prompt or answer rejected with one of their reviews is decided again by the reviews
      left, those by reviewers not banned. With fewer left than the policy asks for, it goes
      back to review (the edge rejected → review, ``flow.back_to_review``) with open slots for
      the reviews it lacks, and the dispatcher hands them out (not to those who reviewed it
      before: nobody gets the same task twice). With enough left, they decide it now: it is
      accepted as the last review accepts one (``_prompt_decide``, ``_response_decide``: a
      prompt collects, its author's answer becomes reviewable; an answer is accepted and its
      prompt may go on to ranking), or it stays rejected.
    - Only live work is reopened: not withdrawn, not hidden, by an author not banned; an
      answer only while its prompt collects (and is live), and only if it can take back the
      place in the prompt's collection that its rejection gave (``flow.take_back_place``'s
      rule, oldest answers first): with the place taken by a replacement it stays rejected,
      as one on a prompt that has since gone on to ranking does.
    - A prompt or answer still in review with one of their reviews gets one more open slot:
      that review no longer counts toward the decision (``_reviews``), so it needs one more.
      (Worked out from its reviews and tasks out, not added: running this again, or for a ban
      made before reviews of the banned stopped counting, gives none more; see
      ``_review_slots_due``.)

    Lifting the ban undoes none of this: the decisions made meanwhile stand, and their reviews
    count again only in decisions still to come (an item still in review may then get one
    review more than it needs). Run again for the same reviewer, it changes nothing that
    the first run settled.

    In a fixed number of statements however many reviews the reviewer wrote (up to
    ROWS_PER_STATEMENT rejected prompts and as many answers): the policy's gate and row, two
    locks, two updates for the work in review, four reads, an update per distinct count of
    slots or of places; and a few per item only for those decided now (accepted by the
    reviews left, when more than the policy asks for had been written): 13 statements on
    PostgreSQL for a ban that reopens prompts and answers.

    Precondition: the caller (``user_ban``) saved the ban in this transaction and passed the
    policy's gate (``policy_gate``) before it locked any prompt or answer; it may have locked
    ``reviewed_work_of(reviewer)`` already: then ``locked``, and they are not locked again
    (a ban takes every lock before it changes a row; see tests.locks).

    ``prompts`` (ids or a subquery): prompts this ban gave places back to or showed again.
    Their rejected answers with a review by anyone banned are decided again too: one that an
    earlier ban could not reopen, its prompt then full (a place still held by an answer of
    the person banned now) or hidden (by this person's reports), comes back now (spam QA: 14
    honest answers stayed rejected). The caller holds those prompts' row locks."""
    if reviewer.banned_at is None:
        raise ValueError(f"user {reviewer.pk} is not banned: their reviews still count")
    policy_gate()  # a no-op when the ban passed it first, as it should (see above)
    # The policy as current_policy reads it, without creating its row (see rank_sets_check).
    policy = CollectionPolicy.objects.filter(pk=1).first() or CollectionPolicy(pk=1)
    prompt_rows, answer_rows = reviewed_work_of(reviewer)
    if not locked:
        for model, rows in ((Prompt, prompt_rows), (Response, answer_rows)):
            list(
                model.objects.select_for_update(no_key=True)
                .filter(rows)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
    reviewed = Review.objects.filter(reviewer=reviewer)
    reviewed_prompts = reviewed.filter(prompt_id__isnull=False).values("prompt_id")
    reviewed_answers = reviewed.filter(response_id__isnull=False).values("response_id")
    # Still in review: their review no longer counts, so one more is needed. (Before the
    # rejected ones below come back to review with the slots they lack.)
    Prompt.objects.filter(state=PromptState.REVIEW, pk__in=reviewed_prompts).update(
        open_slots=_review_slots_due(
            "prompt_id", TaskType.REVIEW_PROMPT, int(policy.prompt_reviews_required)
        )
    )
    Response.objects.filter(state=ResponseState.REVIEW, pk__in=reviewed_answers).update(
        open_slots=_review_slots_due(
            "response_id", TaskType.REVIEW_RESPONSE, int(policy.response_reviews_required)
        )
    )
    rejected_prompts = Prompt.objects.filter(
        state=PromptState.REJECTED,
        pk__in=reviewed_prompts,
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        author__banned_at__isnull=True,
    )
    reconsidered = Q(pk__in=reviewed_answers)
    if prompts is not None:
        by_banned = Review.objects.filter(
            reviewer__banned_at__isnull=False, response_id__isnull=False
        ).values("response_id")
        reconsidered |= Q(prompt_id__in=prompts, pk__in=by_banned)
    rejected_answers = Response.objects.filter(
        reconsidered,
        state=ResponseState.REJECTED,
        source=Source.HUMAN,
        withdrawn_at__isnull=True,
        hidden_at__isnull=True,
        author__banned_at__isnull=True,
        prompt__state=PromptState.COLLECTING,
        prompt__withdrawn_at__isnull=True,
        prompt__hidden_at__isnull=True,
        prompt__author__banned_at__isnull=True,
    )
    prompt_ids = list(rejected_prompts.order_by("pk").values_list("pk", flat=True))
    answers = list(
        rejected_answers.order_by("pk").values_list("pk", "prompt_id", "prompt__open_slots")
    )
    if not prompt_ids and not answers:
        return 0, 0
    # The reviews that count (``_reviews``) of each, read by id lists: the targets' indexes,
    # where an OR of two subqueries would read the whole table.
    counted: dict[tuple[str, int], list[Review]] = {("p", pk): [] for pk in prompt_ids}
    counted.update((("r", pk), []) for pk, _prompt, _slots in answers)
    answer_ids = [pk for pk, _prompt, _slots in answers]
    for column, kind, ids in (("prompt_id", "p", prompt_ids), ("response_id", "r", answer_ids)):
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            for review in Review.objects.filter(
                reviewer__banned_at__isnull=True,
                **{f"{column}__in": ids[start : start + ROWS_PER_STATEMENT]},
            ).only(column, *BLOCKING_LABELS):
                counted[kind, getattr(review, column)].append(review)
    threshold = policy.acceptance_threshold

    # Prompts: back to review for the reviews they lack, or decided now by those left.
    prompt_slots: dict[int, int] = {}
    for pk in prompt_ids:
        reviews = counted["p", pk]
        lacking = int(policy.prompt_reviews_required) - len(reviews)
        if lacking > 0 or acceptance(reviews) > threshold:
            prompt_slots[pk] = max(lacking, 0)
    # Answers: the same, as far as their prompts have places open, oldest answers first.
    answer_slots: dict[int, int] = {}
    places: dict[int, int] = {}
    taken: dict[int, int] = {}
    for pk, prompt_id, open_slots in answers:
        reviews = counted["r", pk]
        lacking = int(policy.response_reviews_required) - len(reviews)
        if lacking <= 0 and acceptance(reviews) <= threshold:
            continue  # the reviews left reject it as well
        if places.setdefault(prompt_id, int(open_slots)) <= 0:
            continue  # its place went to another answer meanwhile
        places[prompt_id] -= 1
        taken[prompt_id] = taken.get(prompt_id, 0) + 1
        answer_slots[pk] = max(lacking, 0)

    flow.back_to_review(Prompt, slots=prompt_slots)
    flow.back_to_review(Response, slots=answer_slots)
    # The places the reopened answers hold again (take_back_place, in bulk).
    by_count: dict[int, list[int]] = {}
    for prompt_id, n in taken.items():
        by_count.setdefault(n, []).append(prompt_id)
    for n, ids in sorted(by_count.items()):
        ids.sort()
        for start in range(0, len(ids), ROWS_PER_STATEMENT):
            Prompt.objects.filter(
                pk__in=ids[start : start + ROWS_PER_STATEMENT], state=PromptState.COLLECTING
            ).update(open_slots=F("open_slots") - n)

    # Those that the reviews left decide now (back in review with no slot open): as the last
    # review would. Only when more reviews than the policy asks for had been written.
    decide_prompts = sorted(pk for pk, n in prompt_slots.items() if n == 0)
    if decide_prompts:
        for prompt in Prompt.objects.filter(pk__in=decide_prompts).order_by("pk"):
            _prompt_decide(prompt, counted["p", prompt.pk], policy)
    decide_answers = sorted(pk for pk, n in answer_slots.items() if n == 0)
    if decide_answers:
        shared: dict[int, Prompt] = {}
        for response in (
            Response.objects.filter(pk__in=decide_answers).select_related("prompt").order_by("pk")
        ):
            # One instance per prompt: an answer accepted before may have moved it on.
            response.prompt = shared.setdefault(response.prompt_id, response.prompt)
            _response_decide(response, counted["r", response.pk], policy)
    return len(prompt_slots), len(answer_slots)


def check_ranking_payload(
    payload: Mapping[str, Any], response_ids: Sequence[int], *, gone: Collection[int] = ()
) -> tuple[list[int], bool]:
    """The order (best first) and whether the ranker marked the set unusable. The order must
    hold every id of ``response_ids`` once; ids in ``gone`` (answers the task showed that have
    left the set since) may be in it too, and are dropped."""
    unusable = payload.get("unusable", False)
    if not isinstance(unusable, bool):
        raise ValidationError({"unusable": [_("Must be true or false.")]})
    order = payload.get("order")
    if unusable:
        if order not in (None, []):
            raise ValidationError(
                {"order": [_("Send an order or unusable: true, not both: which one did you mean?")]}
            )
        return [], True
    if not isinstance(order, list) or not all(
        isinstance(x, int) and not isinstance(x, bool) for x in order
    ):
        raise ValidationError(
            {"order": [_("Give the answers' ids as a list, best first, or set unusable to true.")]}
        )
    kept = [i for i in order if i not in gone]
    if sorted(kept) != sorted(response_ids) or len(set(order)) != len(order):
        raise ValidationError(
            {
                "order": [
                    _("Order every answer exactly once: %(ids)s.")
                    % {"ids": ", ".join(str(i) for i in response_ids)}
                ]
            }
        )
    return kept, False


# More ids outside the set than a prompt ever has answers: not looked up.
MAX_GONE_ANSWERS = 100


def _gone_answers(prompt: Prompt, order: Any, response_ids: Sequence[int]) -> list[int]:
    """The ids in a submitted order that are answers to ``prompt`` no longer in its rankable
    set (withdrawn, hidden, or by an author banned since the task was handed out). Asks the
    database only when the order names an id outside the set."""
    if not isinstance(order, list):
        return []
    current = set(response_ids)
    # Ids no row can have are not asked about: the order is refused as naming no answer.
    extra = [i for i in order if is_row_id(i) and i not in current]
    if not extra or len(extra) > MAX_GONE_ANSWERS:
        return []  # nothing gone, or an order no task listed: refused either way
    table = quote(Response._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT "id" FROM {table} WHERE "prompt_id" = %s '
            f'AND "id" IN ({", ".join(["%s"] * len(extra))})',
            [prompt.pk, *extra],
        )
        return [int(row[0]) for row in cursor.fetchall()]


@transaction.atomic(savepoint=False)
def ranking_create(
    *, ranker: User, prompt: Prompt, payload: Mapping[str, Any], policy: CollectionPolicy
) -> Ranking:
    """Record one ranking; with the last one in, run consensus and complete the prompt.

    An answer that left the set while the ranker held the task (withdrawn, hidden, its author
    banned) may still be in the order: it is dropped and the rest of the order kept, as the
    consensus does with rankings made before it left. An answer that joined the set since
    (restored) is missing from the order, which is refused: the ranker has not seen it.

    Precondition: the caller holds the prompt's row lock.
    """
    responses = rankable_responses(prompt)
    if prompt.author_id == ranker.pk or any(r.author_id == ranker.pk for r in responses):
        raise ValidationError(_("Nobody ranks answers to their own prompt or their own answers."))
    ids = [r.pk for r in responses]
    gone = _gone_answers(prompt, payload.get("order"), ids)
    order, unusable = check_ranking_payload(payload, ids, gone=gone)
    ranking = insert(Ranking(ranker=ranker, prompt=prompt, order=order, unusable=unusable))
    # The rankings that count, as the consensus counts them: a banned ranker's ranking does
    # not stand for one the prompt needs (complete_prompts_check, _rank_slots_top_up).
    counted, counted_params = counted_rankings("%s")
    rankings = scalar(f"SELECT {counted}", [prompt.pk, *counted_params])
    if prompt.state == PromptState.RANKING and rankings >= policy.rankings_required:
        consensus_run(prompt=prompt)
        flow.prompt_transition(prompt=prompt, to=PromptState.COMPLETE, policy=policy)
    return ranking


# Rows (or ids) one statement carries: with parameters bound on the server, PostgreSQL takes
# at most 65,535 (a consensus row has seven).
ROWS_PER_STATEMENT = 5000


@transaction.atomic
def consensus_refresh(*, prompt_ids: Iterable[int] | QuerySet[Any, Any]) -> int:
    """Run the consensus again for those of these prompts that have one, after what counts
    changed: a ranker banned or unbanned, an answer hidden, restored or withdrawn. Returns how
    many were re-run. ``prompt_ids`` may be a subquery (``….values("prompt_id")``), as a ban or
    an account deletion passes, with tens of thousands of prompts."""
    if isinstance(prompt_ids, QuerySet):
        parts: list[Any] = [prompt_ids]
    else:
        ids = sorted(set(prompt_ids))
        parts = [ids[i : i + ROWS_PER_STATEMENT] for i in range(0, len(ids), ROWS_PER_STATEMENT)]
    with_consensus = sorted(
        pk
        for part in parts
        for pk in PromptConsensus.objects.filter(prompt_id__in=part).values_list(
            "prompt_id", flat=True
        )
    )
    consensus_run_many(prompt_ids=with_consensus)
    return len(with_consensus)


@transaction.atomic
def rank_sets_changed(*, prompt_ids: Iterable[int] | QuerySet[Any, Any]) -> None:
    """After answers left these prompts' rank sets (hidden, withdrawn): ``consensus_refresh``,
    then ``rank_sets_check``. ``prompt_ids`` may be a subquery, as for ``consensus_refresh``.
    Precondition: the caller holds the prompts' row locks."""
    consensus_refresh(prompt_ids=prompt_ids)
    rank_sets_check(prompt_ids=prompt_ids)


@transaction.atomic
def rank_sets_check(*, prompt_ids: Iterable[int] | QuerySet[Any, Any]) -> list[int]:
    """Send those of these prompts still ranking with fewer than MIN_RANK_SET answers left to
    rank (the rest withdrawn, hidden, their authors banned) back to collecting, with slots for
    the answers they lack; returns their ids. In a fixed number of statements, however many
    (a ban passes every prompt its person answered, as a subquery).

    Then those still ranking get back the slots of rankings that stopped counting
    (``_rank_slots_top_up``), and those complete are checked (``complete_prompts_check``).

    Their rankings so far stay as they are until the prompt ranks again (then they are
    retired: see ``_retire_earlier_rankings``), so that a ban lifted meanwhile leaves the
    consensus as it was. Their open rank tasks are released once this transaction commits
    (``rank_tasks_release``): the caller holds the prompts, and a submission holds its task
    and then waits for the prompt, so waiting for the task here would deadlock.

    Precondition: the caller holds the prompts' row locks."""
    if not isinstance(prompt_ids, QuerySet):
        prompt_ids = list(prompt_ids)
    size, params = rank_set_size(f'{quote(Prompt._meta.db_table)}."id"')
    short = list(
        Prompt.objects.filter(pk__in=prompt_ids, state=PromptState.RANKING)
        .alias(rank_set=RawSQL(size, params, output_field=IntegerField()))
        .filter(rank_set__lt=MIN_RANK_SET)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if short:
        flow.prompts_back_to_collecting(prompt_ids=short, policy=_policy())
        from apps.assignments.services import rank_tasks_release  # the dispatcher imports this

        transaction.on_commit(lambda: rank_tasks_release(prompt_ids=short), robust=True)
    # Those still ranking: the slots for rankings that stopped counting (a ranker banned).
    _rank_slots_top_up(prompt_ids=prompt_ids)
    # And those complete on what no longer counts (spam QA: a banned ring's answers and
    # rankings left complete prompts, and their preference pairs, short of the policy).
    complete_prompts_check(prompt_ids=prompt_ids)
    return short


def _policy() -> CollectionPolicy:
    """The policy as current_policy reads it, without creating its row on first use (a
    write, and three more statements, in a bulk path whose count must not depend on
    history)."""
    return CollectionPolicy.objects.filter(pk=1).first() or CollectionPolicy(pk=1)


def counted_rankings(prompt_id_column: str) -> tuple[str, list[Any]]:
    """SQL for the number of rankings that count of the prompt whose id is in
    ``prompt_id_column`` (a column, or a placeholder that comes first), and its parameters:
    the consensus's rule (``_rankings_of_rankers_in_good_standing``), not retired and by
    rankers not banned. A prompt ranking completes when they reach the policy's
    ``rankings_required`` (``ranking_create``)."""
    rankings, users = quote(Ranking._meta.db_table), quote(User._meta.db_table)
    return (
        f'(SELECT COUNT(*) FROM {rankings} rk INNER JOIN {users} ru ON ru."id" = rk."ranker_id" '
        f'WHERE rk."prompt_id" = {prompt_id_column} AND rk."retired_at" IS NULL '
        'AND ru."banned_at" IS NULL)',
        [],
    )


def _rankings_required() -> tuple[str, list[Any]]:
    """SQL for the policy's ``rankings_required`` (its default while the row is missing), so
    that a statement reads it without a statement of its own."""
    policy = quote(CollectionPolicy._meta.db_table)
    return (
        f'COALESCE((SELECT "rankings_required" FROM {policy} WHERE "id" = 1), %s)',
        [int(CollectionPolicy(pk=1).rankings_required)],
    )


def _rank_slots_top_up(*, prompt_ids: list[int] | QuerySet[Any, Any]) -> int:
    """Give those of these prompts ranking whose counted rankings (``counted_rankings``), open
    rank tasks and open slots add up to fewer than the policy's ``rankings_required`` the slots
    they lack (a ranker banned after ranking: their ranking stands no more for one the prompt
    needs); never fewer slots than they have. One statement; returns how many changed.
    Precondition: the caller holds the prompts' row locks."""
    prompts = quote(Prompt._meta.db_table)
    counted, counted_params = counted_rankings(f'{prompts}."id"')
    required, required_params = _rankings_required()
    active = (
        f"(SELECT COUNT(*) FROM {quote(Assignment._meta.db_table)} a "
        f'WHERE a."prompt_id" = {prompts}."id" AND a."task_type" = %s AND a."state" = %s)'
    )
    lacking = f"({required} - {counted} - {active})"
    params = [*required_params, *counted_params, TaskType.RANK, AssignmentState.ACTIVE]
    return int(
        Prompt.objects.filter(pk__in=prompt_ids, state=PromptState.RANKING)
        .filter(open_slots__lt=RawSQL(lacking, params, output_field=IntegerField()))
        .update(open_slots=RawSQL(lacking, params, output_field=IntegerField()))
    )


@transaction.atomic(savepoint=False)
def complete_prompts_check(
    *, prompt_ids: Iterable[int] | QuerySet[Any, Any]
) -> tuple[list[int], list[int]]:
    """Reopen those of these prompts complete on work that no longer counts (answers
    withdrawn, hidden or by authors banned; rankings by rankers banned), as if it had never
    been: returns the ids sent back to collecting and those sent back to ranking.

    - With fewer than MIN_RANK_SET answers left to rank: back to collecting, with slots for
      the answers they lack, exactly as ``rank_sets_check`` sends a prompt ranking: their
      rankings are retired when they rank again (``_retire_earlier_rankings``: they ordered
      a set that is gone; until then a prompt collecting counts none, in the consensus or a
      release), their open rank tasks released once this transaction commits.
    - Else with fewer rankings that count (``counted_rankings``) than the policy's
      ``rankings_required``: back to ranking, with a slot for each ranking they lack (the
      dispatcher never hands one to whoever ranked or answered it); the rankings that count
      stay and count toward completing it again (``ranking_create``).

    Either way their consensus is removed, and their answers' consensus ranks cleared: only
    a complete prompt has one (it is run again when the prompt completes again), and a
    release reads complete prompts' only. In a fixed number of statements, however many (a
    ban passes every prompt its person answered or ranked, as a subquery).

    Precondition: the caller holds the prompts' row locks."""
    if not isinstance(prompt_ids, QuerySet):
        prompt_ids = list(prompt_ids)
    prompts = quote(Prompt._meta.db_table)
    size, size_params = rank_set_size(f'{prompts}."id"')
    counted, counted_params = counted_rankings(f'{prompts}."id"')
    required, required_params = _rankings_required()
    found = list(
        Prompt.objects.filter(pk__in=prompt_ids, state=PromptState.COMPLETE)
        .annotate(
            rank_set=RawSQL(size, size_params, output_field=IntegerField()),
            counted=RawSQL(counted, counted_params, output_field=IntegerField()),
        )
        .filter(
            Q(rank_set__lt=MIN_RANK_SET)
            | Q(counted__lt=RawSQL(required, required_params, output_field=IntegerField()))
        )
        .order_by("pk")
        .values_list("pk", "rank_set", "counted")
    )
    if not found:
        return [], []
    policy = _policy()
    wanted = int(policy.rankings_required)
    to_collect = [pk for pk, rank_set, _n in found if rank_set < MIN_RANK_SET]
    to_rank = {
        pk: wanted - int(n) for pk, rank_set, n in found if rank_set >= MIN_RANK_SET and n < wanted
    }
    reopened = sorted([*to_collect, *to_rank])
    for start in range(0, len(reopened), ROWS_PER_STATEMENT):
        part = reopened[start : start + ROWS_PER_STATEMENT]
        PromptConsensus.objects.filter(prompt_id__in=part).delete()
        Response.objects.filter(prompt_id__in=part, consensus_rank__isnull=False).update(
            consensus_rank=None
        )
    if to_collect:
        flow.prompts_back_to_collecting(
            prompt_ids=to_collect, policy=policy, from_state=PromptState.COMPLETE
        )
        from apps.assignments.services import rank_tasks_release  # the dispatcher imports this

        transaction.on_commit(lambda: rank_tasks_release(prompt_ids=to_collect), robust=True)
    flow.prompts_back_to_ranking(slots=to_rank)
    return to_collect, sorted(to_rank)


def _retire_earlier_rankings(prompt: Prompt) -> None:
    """A prompt entering ranking again (sent back to collecting, its rank set down to fewer
    than two answers) keeps the rankings it had but retires them (``Ranking.retired_at``):
    they ordered a set of which one answer at most is in the new one, so they say nothing
    about it, and counted they would keep its new answers out of the vote (an answer is
    ranked only when every ranking saw it) and stand for rankings it still needs. One
    statement, which finds none for a prompt ranking for the first time. Precondition: the
    caller holds the prompt's row lock."""
    table = quote(Ranking._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {table} SET "retired_at" = %s WHERE "prompt_id" = %s AND "retired_at" IS NULL',
            [connection.ops.adapt_datetimefield_value(timezone.now()), prompt.pk],
        )


def consensus_run(*, prompt: Prompt) -> PromptConsensus:
    """Merge the prompt's rankings (ranked pairs) by rankers not banned, store each answer's
    rank and the agreement.

    Rankings are projected onto the current response set, so an answer withdrawn, hidden or
    whose author was banned after some rankings were made simply drops out of them. An answer
    that came back (restored, unbanned) after some ranking was made without it is left out of
    the vote altogether: that ranker never saw it, and every ranking must order every answer.
    With no ranking left to count (every ranker banned) the consensus is empty: no order, no
    agreement. Rankings retired when the prompt went back to collecting and then ranked again
    (``_retire_earlier_rankings``) do not count. Ties break by a fixed shuffle seeded by the
    prompt id, so the author's own (first) answer is not favoured.

    Precondition: the caller holds the prompt's row lock (the dispatcher, on the last ranking).
    """
    (consensus,) = consensus_run_many(prompt_ids=[prompt.pk])
    consensus.prompt = prompt
    return consensus


def consensus_run_many(*, prompt_ids: Sequence[int]) -> list[PromptConsensus]:
    """``consensus_run`` for each of these prompts (with a consensus or not yet), in a fixed
    number of statements for up to ROWS_PER_STATEMENT prompts rather than a few per prompt:
    two reads, one upsert, and an update per rank that changed. Returns the consensus rows, in
    the order of ``prompt_ids``. Precondition: the caller holds the prompts' row locks."""
    ids = list(dict.fromkeys(prompt_ids))
    found: list[PromptConsensus] = []
    for start in range(0, len(ids), ROWS_PER_STATEMENT):
        found += _consensus_write(ids[start : start + ROWS_PER_STATEMENT])
    return found


def _consensus_write(prompt_ids: list[int]) -> list[PromptConsensus]:
    answers = _answers_of(prompt_ids)
    rankings = _rankings_of_rankers_in_good_standing(prompt_ids)
    rows: list[PromptConsensus] = []
    new_ranks: dict[int | None, list[int]] = {}
    for prompt_id in prompt_ids:
        current = {pk for pk, _rank, rankable in answers.get(prompt_id, ()) if rankable}
        consensus, ranks = _consensus_of(prompt_id, current, rankings.get(prompt_id, []))
        rows.append(consensus)
        # Answers out of the set (hidden, withdrawn, a banned author) or out of the vote keep
        # no rank.
        for pk, rank, _rankable in answers.get(prompt_id, ()):
            if ranks.get(pk) != rank:
                new_ranks.setdefault(ranks.get(pk), []).append(pk)
    _consensus_upsert(rows)
    table = quote(Response._meta.db_table)
    with connection.cursor() as cursor:
        for rank, pks in new_ranks.items():
            for start in range(0, len(pks), ROWS_PER_STATEMENT):
                part = pks[start : start + ROWS_PER_STATEMENT]
                cursor.execute(
                    f'UPDATE {table} SET "consensus_rank" = %s '
                    f'WHERE "id" IN ({", ".join(["%s"] * len(part))})',
                    [rank, *part],
                )
    return rows


def _consensus_of(
    prompt_id: int, current: set[int], rankings: list[Ranking]
) -> tuple[PromptConsensus, Mapping[int, int]]:
    """The consensus of one prompt (the rules ``consensus_run`` states) and each answer's
    rank, from its rank set ``current`` and the rankings that count, oldest first."""
    orders: list[list[int] | None] = [
        None if ranking.unusable else [i for i in ranking.order if i in current]
        for ranking in rankings
    ]
    seen_by_all = current.intersection(*(set(o) for o in orders if o is not None))
    ids = sorted(seen_by_all)
    orders = [None if o is None else [i for i in o if i in seen_by_all] for o in orders]
    if not orders:
        return PromptConsensus(prompt_id=prompt_id, order=[], rankers=0, pairwise_wins={}), {}
    tie_break = list(ids)
    random.Random(prompt_id).shuffle(tie_break)
    result = compute_consensus(orders, ids, tie_break=tie_break)
    consensus = PromptConsensus(
        prompt_id=prompt_id,
        order=list(result.order),
        agreement=result.agreement,
        rankers=result.rankers,
        unusable_rankers=result.unusable_rankers,
        pairwise_wins={f"{a}>{b}": n for (a, b), n in result.pairwise_wins.items()},
    )
    return consensus, result.ranks


def _answers_of(prompt_ids: list[int]) -> dict[int, list[tuple[int, int | None, bool]]]:
    """Every answer of these prompts, by id, as (id, its consensus rank, whether it is in the
    rank set) by prompt: any answer out of the set may still hold a rank to clear."""
    table, users = quote(Response._meta.db_table), quote(User._meta.db_table)
    answers: dict[int, list[tuple[int, int | None, bool]]] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            f'SELECT {table}."id", {table}."prompt_id", {table}."consensus_rank", '
            f"{_rankable(table)} FROM {table} "
            f'INNER JOIN {users} u ON u."id" = {table}."author_id" '
            f'WHERE {table}."prompt_id" IN ({", ".join(["%s"] * len(prompt_ids))}) '
            f'ORDER BY {table}."id"',
            [ResponseState.ACCEPTED, *prompt_ids],
        )
        for pk, prompt_id, rank, rankable in cursor.fetchall():
            answers.setdefault(prompt_id, []).append((pk, rank, bool(rankable)))
    return answers


def _rankings_of_rankers_in_good_standing(prompt_ids: list[int]) -> dict[int, list[Ranking]]:
    """The rankings of these prompts by rankers not banned, oldest first, by prompt; not those
    retired (``_retire_earlier_rankings``)."""
    rankings, users = quote(Ranking._meta.db_table), quote(User._meta.db_table)
    found: dict[int, list[Ranking]] = {}
    for ranking in fetch_all(
        f"SELECT {columns(Ranking, rankings)} FROM {rankings} "
        f'INNER JOIN {users} u ON u."id" = {rankings}."ranker_id" '
        f'WHERE {rankings}."prompt_id" IN ({", ".join(["%s"] * len(prompt_ids))}) '
        f'AND {rankings}."retired_at" IS NULL '
        f'AND u."banned_at" IS NULL ORDER BY {rankings}."created_at", {rankings}."id"',
        list(prompt_ids),
        Ranking,
    ):
        found.setdefault(ranking.prompt_id, []).append(ranking)
    return found


def _consensus_upsert(rows: list[PromptConsensus]) -> None:
    """Insert these consensus rows, or overwrite each prompt's row, in one statement
    (``upsert`` for many rows); takes their primary keys."""
    meta = PromptConsensus._meta
    fields = [f for f in meta.local_concrete_fields if f is not meta.auto_field]
    key = meta.get_field("prompt")
    changed = ", ".join(
        f"{quote(f.column)} = EXCLUDED.{quote(f.column)}" for f in fields if f is not key
    )
    row_marks = f"({', '.join(['%s'] * len(fields))})"
    pks: dict[int, int] = {}
    with connection.cursor() as cursor:
        for start in range(0, len(rows), ROWS_PER_STATEMENT):
            part = rows[start : start + ROWS_PER_STATEMENT]
            cursor.execute(
                f"INSERT INTO {quote(meta.db_table)} "
                f"({', '.join(quote(f.column) for f in fields)}) "
                f"VALUES {', '.join([row_marks] * len(part))} "
                f"ON CONFLICT ({quote(key.column)}) DO UPDATE SET {changed} "
                f"RETURNING {quote(meta.pk.column)}, {quote(key.column)}",
                [
                    f.get_db_prep_save(f.pre_save(row, True), connection)
                    for row in part
                    for f in fields
                ],
            )
            pks.update((prompt_id, pk) for pk, prompt_id in cursor.fetchall())
    for row in rows:
        row.pk = pks[row.prompt_id]
        row._state.adding = False
        row._state.db = connection.alias
