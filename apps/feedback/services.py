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
from django.utils.translation import gettext as _

from apps.accounts.models import User
from apps.collection import flow
from apps.collection.models import (
    CollectionPolicy,
    Prompt,
    PromptState,
    Response,
    ResponseState,
)
from apps.core.sql import columns, fetch_all, insert, is_row_id, quote, scalar, update, upsert
from apps.feedback.consensus import compute_consensus
from apps.feedback.models import LABELS, PromptConsensus, Ranking, Review


def acceptance(reviews: Iterable[Review]) -> float:
    """Mean acceptance of ``reviews``: the share that raise no blocking label."""
    scores = [0.0 if review.blocking_labels else 1.0 for review in reviews]
    return sum(scores) / len(scores) if scores else 0.0


# The review and ranking services below run inside the dispatcher's submission (which holds
# the row locks they need, and rolls back to its own savepoint when they refuse), so they open
# a transaction only when called outside one, and no savepoint of their own: two statements
# fewer on every submission.


def check_review_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Labels as booleans (a ``labels`` list or one key per label) and quality 1–5."""
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
    reviews = _reviews("prompt_id", prompt.pk)
    if prompt.state == PromptState.REVIEW and len(reviews) >= policy.prompt_reviews_required:
        accepted = acceptance(reviews) > policy.acceptance_threshold
        flow.prompt_transition(
            prompt=prompt,
            to=PromptState.COLLECTING if accepted else PromptState.REJECTED,
            policy=policy,
        )
        if accepted:
            _open_review_of_waiting_responses(prompt, policy)
    return review


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
    reviews = _reviews("response_id", response.pk)
    if response.state != ResponseState.REVIEW or len(reviews) < policy.response_reviews_required:
        return review
    prompt = response.prompt
    if acceptance(reviews) > policy.acceptance_threshold:
        flow.response_transition(response=response, to=ResponseState.ACCEPTED)
        accepted = flow.count_responses(prompt, (ResponseState.ACCEPTED,))
        if prompt.state == PromptState.COLLECTING and accepted >= policy.responses_to_collect:
            flow.prompt_transition(prompt=prompt, to=PromptState.RANKING, policy=policy)
    else:
        flow.response_transition(response=response, to=ResponseState.REJECTED)
        if prompt.state == PromptState.COLLECTING:
            flow.give_back_prompt_slot(prompt_id=prompt.pk, phase=PromptState.COLLECTING)
    return review


def rankable_responses(prompt: Prompt) -> list[Response]:
    """The response set a ranker orders: accepted, live answers by authors not banned, by id
    (a banned author's answer is out of the set as a hidden one is, until the ban is lifted).
    (In SQL: every rank task reads it twice, and building it with the ORM cost more CPU than
    running it.)"""
    table, users = quote(Response._meta.db_table), quote(User._meta.db_table)
    return fetch_all(
        f"SELECT {columns(Response, table)} FROM {table} "
        f'INNER JOIN {users} u ON u."id" = {table}."author_id" '
        f'WHERE {table}."prompt_id" = %s AND {table}."state" = %s '
        f'AND {table}."withdrawn_at" IS NULL AND {table}."hidden_at" IS NULL '
        f'AND u."banned_at" IS NULL ORDER BY {table}."id"',
        [prompt.pk, ResponseState.ACCEPTED],
        Response,
    )


def _reviews(column: str, pk: int) -> list[Review]:
    """The reviews of one prompt (``column`` "prompt_id") or answer ("response_id")."""
    table = quote(Review._meta.db_table)
    return fetch_all(
        f"SELECT {columns(Review, table)} FROM {table} WHERE {quote(column)} = %s",
        [pk],
        Review,
    )


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
    rankings = scalar(
        f'SELECT COUNT(*) FROM {quote(Ranking._meta.db_table)} WHERE "prompt_id" = %s', [prompt.pk]
    )
    if prompt.state == PromptState.RANKING and rankings >= policy.rankings_required:
        consensus_run(prompt=prompt)
        flow.prompt_transition(prompt=prompt, to=PromptState.COMPLETE, policy=policy)
    return ranking


@transaction.atomic
def consensus_refresh(*, prompt_ids: Iterable[int]) -> int:
    """Run the consensus again for those of these prompts that have one, after what counts
    changed: a ranker banned or unbanned, an answer hidden, restored or withdrawn. Returns how
    many were re-run."""
    prompts = Prompt.objects.filter(pk__in=set(prompt_ids), consensus__isnull=False)
    count = 0
    for prompt in prompts.order_by("pk"):
        consensus_run(prompt=prompt)
        count += 1
    return count


def consensus_run(*, prompt: Prompt) -> PromptConsensus:
    """Merge the prompt's rankings (ranked pairs) by rankers not banned, store each answer's
    rank and the agreement.

    Rankings are projected onto the current response set, so an answer withdrawn, hidden or
    whose author was banned after some rankings were made simply drops out of them. An answer
    that came back (restored, unbanned) after some ranking was made without it is left out of
    the vote altogether: that ranker never saw it, and every ranking must order every answer.
    With no ranking left to count (every ranker banned) the consensus is empty: no order, no
    agreement. Ties break by a fixed shuffle seeded by the prompt id, so the author's own
    (first) answer is not favoured.
    """
    responses = rankable_responses(prompt)
    current = {r.pk for r in responses}
    rankings: list[list[int] | None] = []
    # A banned ranker's votes no longer count (the ban re-runs this, see consensus_refresh).
    for ranking in _rankings_of_rankers_in_good_standing(prompt):
        rankings.append(None if ranking.unusable else [i for i in ranking.order if i in current])
    seen_by_all = current.intersection(*(set(r) for r in rankings if r is not None))
    ids = sorted(seen_by_all)
    rankings = [None if r is None else [i for i in r if i in seen_by_all] for r in rankings]
    if rankings:
        tie_break = list(ids)
        random.Random(prompt.pk).shuffle(tie_break)
        result = compute_consensus(rankings, ids, tie_break=tie_break)
        consensus = PromptConsensus(
            prompt=prompt,
            order=list(result.order),
            agreement=result.agreement,
            rankers=result.rankers,
            unusable_rankers=result.unusable_rankers,
            pairwise_wins={f"{a}>{b}": n for (a, b), n in result.pairwise_wins.items()},
        )
        ranks = dict(result.ranks)
    else:
        consensus = PromptConsensus(prompt=prompt, order=[], rankers=0, pairwise_wins={})
        ranks = {}
    consensus = upsert(consensus, unique=["prompt"])
    for response in responses:
        rank = ranks.get(response.pk)
        if response.consensus_rank != rank:
            response.consensus_rank = rank
            update(response, ["consensus_rank"])
    # Answers out of the set since (hidden, withdrawn, a banned author) or out of the vote
    # keep no rank.
    keep = f'AND "id" NOT IN ({", ".join(["%s"] * len(ids))})' if ids else ""
    with connection.cursor() as cursor:
        cursor.execute(
            f'UPDATE {quote(Response._meta.db_table)} SET "consensus_rank" = NULL '
            f'WHERE "prompt_id" = %s AND "consensus_rank" IS NOT NULL {keep}',
            [prompt.pk, *ids],
        )
    return consensus


def _rankings_of_rankers_in_good_standing(prompt: Prompt) -> list[Ranking]:
    rankings, users = quote(Ranking._meta.db_table), quote(User._meta.db_table)
    return fetch_all(
        f"SELECT {columns(Ranking, rankings)} FROM {rankings} "
        f'INNER JOIN {users} u ON u."id" = {rankings}."ranker_id" '
        f'WHERE {rankings}."prompt_id" = %s AND u."banned_at" IS NULL '
        f'ORDER BY {rankings}."created_at", {rankings}."id"',
        [prompt.pk],
        Ranking,
    )
