"""Test-split metrics: SFT loss and perplexity; reward pairwise accuracy and Kendall's tau."""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence

import torch

from worker.data import PackedBatch
from worker.runtime import Runtime


@torch.no_grad()
def sft_metrics(
    loss_sum: Callable[[PackedBatch], tuple[torch.Tensor, int]],
    batches: Iterable[PackedBatch],
    runtime: Runtime,
) -> dict[str, float]:
    """Mean response-token loss and perplexity over this process's share of the test batches.

    ``loss_sum(batch)`` returns the summed token cross-entropy and the number of targets; the
    sums are added up over all processes, so each process passes a disjoint share.
    """
    total, count = 0.0, 0
    for batch in batches:
        with runtime.autocast():
            value, n = loss_sum(batch)
        total += float(value)
        count += n
    total, count_f = runtime.sum(total, float(count))
    if count_f == 0:
        raise ValueError("the test split has no response tokens to evaluate on")
    loss = total / count_f
    # A count: an integer (summed as a float across processes).
    tokens = round(count_f)
    return {"eval_loss": loss, "eval_perplexity": math.exp(min(loss, 50.0)), "eval_tokens": tokens}


def kendall_tau(scores: Sequence[float], ranks: Sequence[float]) -> float:
    """Kendall's tau-b between model scores (higher is better) and ranks (lower is better).

    Returns 0.0 when either side has no untied pair.
    """
    concordant = discordant = ties_score = ties_rank = 0
    n = len(scores)
    for i in range(n):
        for j in range(i + 1, n):
            s = scores[i] - scores[j]
            r = ranks[j] - ranks[i]  # positive when i is ranked better
            if s == 0 and r == 0:
                continue
            if s == 0:
                ties_score += 1
            elif r == 0:
                ties_rank += 1
            elif (s > 0) == (r > 0):
                concordant += 1
            else:
                discordant += 1
    denominator = math.sqrt(
        (concordant + discordant + ties_score) * (concordant + discordant + ties_rank)
    )
    return (concordant - discordant) / denominator if denominator else 0.0


Scored = (
    tuple[Sequence[float], Sequence[float]]
    | tuple[Sequence[float], Sequence[float], Sequence[tuple[int, int]]]
)


def ranking_metrics(scored: Iterable[Scored]) -> dict[str, float]:
    """Pairwise accuracy over the scored pairs and mean Kendall's tau per prompt.

    ``scored`` yields ``(scores, consensus ranks)`` per prompt, or ``(scores, consensus ranks,
    pairs)`` where ``pairs`` (``(better, worse)`` indices) are the pairs accuracy counts
    (without: every strictly ranked pair). Kendall's tau is against the whole consensus
    order. A tie in score counts as half right, as a coin flip would. ``eval_pairs`` and
    ``eval_prompts`` count what was evaluated (worker.cards.COUNT_KEYS).
    """
    right = pairs = 0.0
    taus: list[float] = []
    for item in scored:
        scores, ranks = item[0], item[1]
        counted = (
            item[2]
            if len(item) == 3
            else [
                (i, j)
                for i in range(len(scores))
                for j in range(len(scores))
                if ranks[i] < ranks[j]
            ]
        )
        for i, j in counted:
            pairs += 1
            right += 1.0 if scores[i] > scores[j] else 0.5 if scores[i] == scores[j] else 0
        taus.append(kendall_tau(scores, ranks))
    if not pairs:
        raise ValueError("the test split has no ranked pairs to evaluate on")
    return {
        "eval_pairwise_accuracy": right / pairs,
        "eval_kendall_tau": sum(taus) / len(taus),
        "eval_pairs": pairs,
        "eval_prompts": float(len(taus)),
    }
