"""Reads for reviews, rankings and consensus."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from django.db.models import Q

from apps.collection.models import Prompt, PromptState, Response, ResponseState
from apps.feedback.consensus import PreferencePair
from apps.feedback.models import BLOCKING_LABELS, Review


def attach_rejection_reasons(*, prompts: Iterable[Prompt], responses: Iterable[Response]) -> None:
    """Give each rejected prompt or answer a ``rejection_reasons`` list the author can read,
    e.g. "spam (2 of 2 reviewers)". One query for all of them."""
    rejected_prompts = {p.pk: p for p in prompts if p.state == PromptState.REJECTED}
    rejected_responses = {r.pk: r for r in responses if r.state == ResponseState.REJECTED}
    for obj in [*rejected_prompts.values(), *rejected_responses.values()]:
        obj.rejection_reasons = []  # type: ignore[attr-defined]
    if not rejected_prompts and not rejected_responses:
        return
    counts: dict[tuple[str, int], Counter[str]] = defaultdict(Counter)
    totals: Counter[tuple[str, int]] = Counter()
    reviews = Review.objects.filter(
        Q(prompt_id__in=rejected_prompts) | Q(response_id__in=rejected_responses)
    )
    for review in reviews:
        key = (
            ("prompt", review.prompt_id)
            if review.prompt_id
            else ("response", review.response_id or 0)
        )
        totals[key] += 1
        counts[key].update(review.blocking_labels)
    labels = {
        name: str(getattr(Review._meta.get_field(name), "verbose_name", name))
        for name in BLOCKING_LABELS
    }
    for (kind, pk), counter in counts.items():
        target: Prompt | Response | None = (
            rejected_prompts.get(pk) if kind == "prompt" else rejected_responses.get(pk)
        )
        if target is None:
            continue
        target.rejection_reasons = [  # type: ignore[union-attr]
            f"{labels[name]} ({n} of {totals[kind, pk]})" for name, n in counter.most_common()
        ]


@dataclass(frozen=True)
class PreferenceRow:
    prompt_id: int
    chosen: int
    rejected: int
    chosen_rank: int
    rejected_rank: int
    rank_gap: int
    margin: float
    rankers: int
    agreement: float | None


def preference_pairs(*, prompts: Iterable[Prompt]) -> Iterator[PreferenceRow]:
    """(chosen, rejected, rank gap, margin) for every pair of each completed prompt's
    consensus order; nothing for prompts judged unusable."""
    for prompt in prompts:
        consensus = getattr(prompt, "consensus", None)
        if consensus is None or not consensus.order:
            continue
        order: list[int] = consensus.order
        wins: dict[str, int] = consensus.pairwise_wins
        for i, chosen in enumerate(order):
            for j in range(i + 1, len(order)):
                rejected = order[j]
                pair = PreferencePair(chosen, rejected, j - i)
                yield PreferenceRow(
                    prompt_id=prompt.pk,
                    chosen=pair.chosen,
                    rejected=pair.rejected,
                    chosen_rank=i + 1,
                    rejected_rank=j + 1,
                    rank_gap=pair.rank_gap,
                    margin=wins.get(f"{chosen}>{rejected}", 0) / consensus.rankers
                    if consensus.rankers
                    else 0.0,
                    rankers=consensus.rankers,
                    agreement=consensus.agreement,
                )


@dataclass(frozen=True)
class ConsensusShown:
    """A prompt's consensus as its page shows it to moderators: its answers best first
    (empty when most rankers marked them unusable), the agreement and who counted."""

    order: list[Response]
    agreement: float | None
    rankers: int
    unusable_rankers: int


def consensus_for_prompt(*, prompt: Prompt) -> ConsensusShown | None:
    """The consensus of ``prompt``, or None while it has none. Two queries."""
    from apps.feedback.models import PromptConsensus

    consensus = PromptConsensus.objects.filter(prompt=prompt).first()
    if consensus is None:
        return None
    ids = [int(pk) for pk in consensus.order]
    found = Response.objects.filter(pk__in=ids).select_related("author").in_bulk()
    return ConsensusShown(
        order=[found[pk] for pk in ids if pk in found],
        agreement=consensus.agreement,
        rankers=consensus.rankers,
        unusable_rankers=consensus.unusable_rankers,
    )
