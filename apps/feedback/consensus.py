"""Merging rankers' orderings of a prompt's responses into one consensus ranking.

When the required rankings of a response set are in, `compute_consensus` runs ranked pairs
(Tideman) over the usable rankings, records each response's consensus rank and the agreement
among rankers (Kendall's W), and `Consensus.preference_pairs` turns the result into
(chosen, rejected, rank gap) pairs for the `preferences` dataset.

Pure standard-library Python: no Django, no database, no numpy. A service loads the rankings,
calls `compute_consensus`, and stores what it returns.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from types import MappingProxyType
from typing import NamedTuple, TypeVar

Candidate = TypeVar("Candidate", bound=Hashable)


def _repeated(items: Sequence[Hashable]) -> list[Hashable]:
    seen: set[Hashable] = set()
    repeated = []
    for item in items:
        if item in seen:
            repeated.append(item)
        seen.add(item)
    return repeated


def _check_candidates(candidates: Sequence[Hashable]) -> None:
    if repeated := _repeated(candidates):
        raise ValueError(f"candidates must be distinct; repeated: {repeated!r}")


def _check_ballot(ballot: Sequence[Hashable], candidates: Sequence[Hashable], label: str) -> None:
    """Raise ValueError unless `ballot` orders every candidate exactly once."""
    expected = set(candidates)
    given = set(ballot)
    if len(ballot) == len(candidates) and given == expected:
        return
    problems = []
    if missing := [c for c in candidates if c not in given]:
        problems.append(f"missing {missing!r}")
    if unknown := [c for c in ballot if c not in expected]:
        problems.append(f"unknown {unknown!r}")
    if repeated := _repeated(ballot):
        problems.append(f"repeated {repeated!r}")
    raise ValueError(
        f"{label} {list(ballot)!r} is not an ordering of all candidates "
        f"{list(candidates)!r}: {', '.join(problems)}"
    )


def _check_ballots(ballots: Sequence[Sequence[Hashable]], candidates: Sequence[Hashable]) -> None:
    _check_candidates(candidates)
    for index, ballot in enumerate(ballots):
        _check_ballot(ballot, candidates, f"ballot {index}")


def pairwise_wins(
    ballots: Sequence[Sequence[Candidate]], candidates: Sequence[Candidate]
) -> dict[tuple[Candidate, Candidate], int]:
    """How many ballots put a above b, for every ordered pair (a, b) of distinct candidates.

    Precondition: every ballot orders all candidates (checked; ValueError otherwise).
    """
    _check_ballots(ballots, candidates)
    wins = {(a, b): 0 for a in candidates for b in candidates if a != b}
    for ballot in ballots:
        for i, above in enumerate(ballot):
            for below in ballot[i + 1 :]:
                wins[above, below] += 1
    return wins


def ranked_pairs(
    ballots: Sequence[Sequence[Candidate]],
    candidates: Sequence[Candidate],
    tie_break: Sequence[Candidate] | None = None,
) -> list[Candidate]:
    """Order the candidates best to worst by Tideman's ranked pairs.

    Each ballot orders all candidates best to worst. For every pair of candidates the one more
    ballots prefer is the pair's winner. Pairs are taken strongest first — most winning votes,
    then largest margin — and each is locked in as "winner above loser" unless that would
    contradict (form a cycle with) pairs already locked. The locked pairs then order every
    candidate, and that order is returned.

    Tie-breaking follows Zavist and Tideman (1989): a tie-breaking ranking of the candidates
    (TBRC), by default `candidates` in the order given, settles everything the ballots leave
    open, so the result never depends on dict or set ordering, or on the order of `ballots`:

    - pairs of equal strength and margin are taken in the TBRC order of their winners (the
      pair whose winner stands higher first); among pairs with the same winner the one whose
      loser stands lower goes first (their order cannot change the result; this only makes
      the sort total);
    - a pair that ties (as many ballots each way) counts as a win for whichever of its two
      candidates stands higher in the TBRC, and is taken after every pair with a real majority.

    So with no ballots, or when every pair ties, the result is the TBRC itself.

    Raises ValueError when candidates repeat, when a ballot is not an ordering of all the
    candidates, or when `tie_break` is not.
    """
    wins = pairwise_wins(ballots, candidates)
    order_for_ties = list(candidates) if tie_break is None else list(tie_break)
    _check_ballot(order_for_ties, candidates, "tie_break")
    position = {c: i for i, c in enumerate(order_for_ties)}

    def lock_precedence(pair: tuple[Candidate, Candidate]) -> tuple[bool, int, int, int, int]:
        winner, loser = pair
        won, lost = wins[winner, loser], wins[loser, winner]
        return (won == lost, -won, lost - won, position[winner], -position[loser])

    pairs = []
    for i, a in enumerate(candidates):
        for b in candidates[i + 1 :]:
            a_wins = wins[a, b] > wins[b, a] or (
                wins[a, b] == wins[b, a] and position[a] < position[b]
            )
            pairs.append((a, b) if a_wins else (b, a))
    pairs.sort(key=lock_precedence)

    # below[c]: every candidate the locked pairs put below c, directly or through others.
    below: dict[Candidate, set[Candidate]] = {c: set() for c in candidates}
    for winner, loser in pairs:
        if winner in below[loser]:
            continue  # locking it would make a cycle: the locked pairs already say otherwise
        newly_below = below[loser] | {loser}
        for c in candidates:
            if c == winner or winner in below[c]:
                below[c] |= newly_below
    # Every pair was either locked or already implied the other way, so the locked pairs order
    # all candidates strictly: the best has every other candidate below it, the worst none.
    return sorted(candidates, key=lambda c: (-len(below[c]), position[c]))


def kendalls_w(ballots: Sequence[Sequence[Candidate]], candidates: Sequence[Candidate]) -> float:
    """Kendall's coefficient of concordance W among the ballots, in [0, 1].

    W = 12 S / (m² (n³ − n)) for m ballots ranking n candidates without ties, where S is the
    sum over candidates of the squared deviation of the candidate's rank sum from its mean
    m (n + 1) / 2. 1 means every ballot is the same ordering; 0 means the rank sums are all
    equal (e.g. two opposite ballots). Computed exactly, then rounded once to a float.

    Edge cases: with fewer than two candidates there is nothing to disagree about, so W is
    1.0. A single ballot gives 1.0 as the formula itself does: one ranker agrees with
    themself. That is vacuous, which is why a `Consensus` also records how many rankers
    were counted.

    Raises ValueError without ballots (there is no agreement to measure), or when a ballot is
    not an ordering of all the candidates.
    """
    _check_ballots(ballots, candidates)
    m, n = len(ballots), len(candidates)
    if m == 0:
        raise ValueError("Kendall's W needs at least one ballot")
    if n < 2:
        return 1.0
    rank_sums = dict.fromkeys(candidates, 0)
    for ballot in ballots:
        for rank, candidate in enumerate(ballot, start=1):
            rank_sums[candidate] += rank
    mean = Fraction(m * (n + 1), 2)
    s = sum((total - mean) ** 2 for total in rank_sums.values())
    return float(12 * s / (m * m * (n**3 - n)))


class PreferencePair(NamedTuple):
    chosen: int
    rejected: int
    rank_gap: int


@dataclass(frozen=True)
class Consensus:
    """The merged ranking of one prompt's response set.

    `order` lists response ids best first and `ranks` maps each id to its place (1 = best);
    both are empty when the set was judged unusable. `agreement` is Kendall's W over the
    counted rankings (None when none was counted). `rankers` counts the rankings that ordered
    the responses, `unusable_rankers` those that marked them all unusable. `pairwise_wins`
    maps (a, b) to how many counted rankers put a above b.
    """

    order: tuple[int, ...]
    ranks: Mapping[int, int]
    agreement: float | None
    rankers: int
    unusable_rankers: int
    pairwise_wins: Mapping[tuple[int, int], int]

    @property
    def is_unusable(self) -> bool:
        """True when more than half of all rankers marked the responses unusable."""
        return self.unusable_rankers * 2 > self.rankers + self.unusable_rankers

    def margin(self, chosen: int, rejected: int) -> float:
        """The fraction of counted rankers who put `chosen` above `rejected`.

        It can be below 0.5 for a consensus pair: ranked pairs drops the weakest majority of a
        cycle. Raises ValueError when no ranking was counted.
        """
        if self.rankers == 0:
            raise ValueError("no usable ranking was counted, so there is no margin")
        return self.pairwise_wins[chosen, rejected] / self.rankers

    def preference_pairs(self, *, min_gap: int = 1) -> Iterator[PreferencePair]:
        """(chosen, rejected, rank gap) for every two responses of the consensus order.

        Pairs come in order: the best response against each worse one, then the second best,
        and so on. `min_gap` keeps only pairs at least that many places apart (2 skips
        neighbours). Yields nothing when the set was judged unusable.
        """
        if min_gap < 1:
            raise ValueError(f"min_gap must be at least 1, not {min_gap}")
        for i, chosen in enumerate(self.order):
            for j in range(i + min_gap, len(self.order)):
                yield PreferencePair(chosen, self.order[j], j - i)


def compute_consensus(
    rankings: Sequence[Sequence[int] | None],
    candidates: Sequence[int],
    *,
    tie_break: Sequence[int] | None = None,
) -> Consensus:
    """Merge one prompt's rankings into a `Consensus`.

    Each ranking orders all `candidates` (response ids) best first, or is None when the ranker
    marked them all unusable. Unusable rankings carry no order: they are left out of the vote
    and of Kendall's W but counted, and when they are more than half of all rankings the result
    is unusable (no order, no preference pairs).

    Ties in the vote are broken by `tie_break`, by default `candidates` as given (see
    `ranked_pairs`), so callers should pass candidates in a stable order, e.g. by id.

    Raises ValueError without rankings, when candidates repeat, or when a ranking is not an
    ordering of all the candidates.
    """
    if not rankings:
        raise ValueError("consensus needs at least one ranking")
    _check_candidates(candidates)
    for index, ranking in enumerate(rankings):
        if ranking is not None:
            _check_ballot(ranking, candidates, f"ranking {index}")
    ordered = [ranking for ranking in rankings if ranking is not None]
    unusable_rankers = len(rankings) - len(ordered)

    order: tuple[int, ...] = ()
    if unusable_rankers * 2 <= len(rankings):
        order = tuple(ranked_pairs(ordered, candidates, tie_break))
    return Consensus(
        order=order,
        ranks=MappingProxyType({c: rank for rank, c in enumerate(order, start=1)}),
        agreement=kendalls_w(ordered, candidates) if ordered else None,
        rankers=len(ordered),
        unusable_rankers=unusable_rankers,
        pairwise_wins=MappingProxyType(pairwise_wins(ordered, candidates)),
    )
