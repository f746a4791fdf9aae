"""Consensus over rankings: ranked pairs on published elections, Kendall's W on known values,
and property tests for the guarantees the dataset relies on.

Plain functions, no database: the module under test never imports Django.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from apps.feedback.consensus import (
    Consensus,
    PreferencePair,
    compute_consensus,
    kendalls_w,
    pairwise_wins,
    ranked_pairs,
)

# The suite-wide conftest has a function-scoped autouse fixture (a per-test cache prefix) that
# these pure tests neither use nor mind, so hypothesis need not warn about it. No deadline:
# timing on a loaded CI machine must not make a property test flaky.
PROPERTY = settings(suppress_health_check=[HealthCheck.function_scoped_fixture], deadline=None)


def electorate(*groups: tuple[int, Sequence[str]]) -> list[Sequence[str]]:
    """Ballots from (number of voters, their ordering) groups."""
    return [ordering for voters, ordering in groups for _ in range(voters)]


# --- ranked pairs on published elections ----------------------------------------------------


def test_the_tennessee_capital_example_elects_nashville_then_chattanooga_knoxville_memphis():
    # Wikipedia, "Ranked pairs": voters in per cent, each group ranking by distance from home.
    # Nashville beats everyone (68 over Chattanooga and Knoxville, 58 over Memphis), so it is
    # the Condorcet winner; Memphis loses every pair 42-58.
    memphis, nashville, chattanooga, knoxville = "Memphis", "Nashville", "Chattanooga", "Knoxville"
    ballots = electorate(
        (42, [memphis, nashville, chattanooga, knoxville]),
        (26, [nashville, chattanooga, knoxville, memphis]),
        (15, [chattanooga, knoxville, nashville, memphis]),
        (17, [knoxville, chattanooga, nashville, memphis]),
    )
    cities = [memphis, nashville, chattanooga, knoxville]

    assert ranked_pairs(ballots, cities) == [nashville, chattanooga, knoxville, memphis]


def test_the_wikipedia_schulze_example_tallies_the_published_matrix_and_locks_a_c_e_b_d():
    # Wikipedia, "Schulze method": 45 voters, 5 candidates, and its published matrix d[X, Y].
    ballots = electorate(
        (5, "ACBED"),
        (5, "ADECB"),
        (8, "BEDAC"),
        (3, "CABED"),
        (7, "CAEBD"),
        (2, "CBADE"),
        (7, "DCEBA"),
        (8, "EBADC"),
    )
    published = {
        "A": {"B": 20, "C": 26, "D": 30, "E": 22},
        "B": {"A": 25, "C": 16, "D": 33, "E": 18},
        "C": {"A": 19, "B": 29, "D": 17, "E": 24},
        "D": {"A": 15, "B": 12, "C": 28, "E": 14},
        "E": {"A": 23, "B": 27, "C": 21, "D": 31},
    }
    wins = pairwise_wins(ballots, "ABCDE")
    assert {x: {y: wins[x, y] for y in "ABCDE" if y != x} for x in "ABCDE"} == published

    # Majorities, strongest first: B>D 33, E>D 31, A>D 30, C>B 29, D>C 28, E>B 27, A>C 26,
    # B>A 25, C>E 24, E>A 23. Lock B>D, E>D, A>D, C>B; skip D>C (C>B>D already); lock E>B and
    # A>C; skip B>A (A>C>B); lock C>E (E reaches only B and D); skip E>A (A>C>E).
    # The locked pairs read A > C > E > B > D. (Schulze's own method picks E here.)
    assert ranked_pairs(ballots, "ABCDE") == list("ACEBD")


def test_a_cycle_drops_its_weakest_majority():
    # A rock-paper-scissors vote from the election-methods list (Feb 2000): A beats B 66-34,
    # B beats C 69-31, C beats A 65-35. Lock B>C (69), then A>B (66); C>A (65), the weakest
    # link of the cycle, would close it and is dropped.
    ballots = electorate((35, "ABC"), (34, "BCA"), (31, "CAB"))

    assert ranked_pairs(ballots, "ABC") == list("ABC")
    assert ranked_pairs(ballots, "ABC", tie_break="CBA") == list("ABC")


def test_a_cycle_of_equal_majorities_is_broken_by_the_tie_break_ranking():
    # Condorcet's paradox: A>B, B>C and C>A each win 2-1. Equal pairs go in the tie-break
    # order of their winners, so the pair whose winner stands lowest is the one dropped.
    ballots = ["ABC", "BCA", "CAB"]

    # Default (candidates as given): A>B, B>C locked; C>A dropped.
    assert ranked_pairs(ballots, "ABC") == list("ABC")
    # C first: C>A, B>C locked; A>B dropped. B>C stays a real majority, so B leads.
    assert ranked_pairs(ballots, "ABC", tie_break="CBA") == list("BCA")


def test_a_fully_tied_vote_returns_the_tie_break_ranking_whatever_the_ballot_order():
    # Each ballot's reverse is also cast, so every pair ties 2-2.
    ballots = ["ABCD", "DCBA", "BDAC", "CADB"]

    results = {tuple(ranked_pairs(ballots[i:] + ballots[:i], "ABCD")) for i in range(4)}
    assert results == {tuple("ABCD")}
    assert ranked_pairs(ballots, "ABCD", tie_break="CADB") == list("CADB")
    assert ranked_pairs(list(reversed(ballots)), "DCBA") == list("DCBA")


def test_no_ballots_gives_the_tie_break_ranking():
    assert ranked_pairs([], [3, 1, 2]) == [3, 1, 2]
    assert ranked_pairs([], [3, 1, 2], tie_break=[1, 2, 3]) == [1, 2, 3]


def test_tied_pairs_are_settled_after_every_real_majority():
    # C beats A 2-0; A-B and B-C tie 1-1. The tie A-B goes to A (higher in the tie-break) and
    # is locked: C>A>B. The tie B-C would go to B but C>A>B already says otherwise.
    # Ordering by the tie-break alone would have put B first.
    assert ranked_pairs(["CAB", "BCA"], "ABC") == list("CAB")


def test_a_single_candidate_or_none_is_its_own_ranking():
    assert ranked_pairs([[7], [7]], [7]) == [7]
    assert ranked_pairs([[], []], []) == []


@pytest.mark.parametrize(
    ("ballot", "problem"),
    [
        ("AB", r"missing \['C'\]"),
        ("ABCD", r"unknown \['D'\]"),
        ("ABB", r"missing \['C'\], repeated \['B'\]"),
        ("ABCA", r"repeated \['A'\]"),
    ],
)
def test_ranked_pairs_rejects_a_ballot_that_is_not_an_ordering_of_all_candidates(ballot, problem):
    with pytest.raises(
        ValueError, match=rf"ballot 1 .* is not an ordering of all candidates .*{problem}"
    ):
        ranked_pairs(["ABC", ballot], "ABC")


def test_ranked_pairs_rejects_repeated_candidates_and_a_bad_tie_break():
    with pytest.raises(ValueError, match=r"candidates must be distinct; repeated: \[.A.\]"):
        ranked_pairs(["ABA"], "ABA")
    with pytest.raises(ValueError, match=r"tie_break .* missing \[.C.\]"):
        ranked_pairs(["ABC"], "ABC", tie_break="AB")


# --- Kendall's W ----------------------------------------------------------------------------


def test_kendalls_w_is_one_when_every_ranker_agrees():
    assert kendalls_w(["ABCD"] * 3, "ABCD") == 1.0


def test_kendalls_w_is_zero_for_two_opposite_rankers():
    assert kendalls_w(["ABCDE", "EDCBA"], "ABCDE") == 0.0


def test_kendalls_w_matches_a_hand_computed_example():
    # m = 3 rankers, n = 4 items. Ranks (A, B, C, D): (1,2,3,4), (2,1,3,4), (1,3,2,4).
    # Rank sums R = 4, 6, 8, 12; mean m(n+1)/2 = 7.5; deviations -3.5, -1.5, 0.5, 4.5;
    # S = 12.25 + 2.25 + 0.25 + 20.25 = 35. W = 12·35 / (3²·(4³ − 4)) = 420 / 540 = 7/9.
    assert kendalls_w(["ABCD", "BACD", "ACBD"], "ABCD") == pytest.approx(7 / 9)


def test_kendalls_w_of_two_rankers_who_swap_the_top_two_is_three_quarters():
    # Ranks (A, B, C): (1,2,3), (2,1,3). R = 3, 3, 6; mean m(n+1)/2 = 4; S = 1 + 1 + 4 = 6.
    # W = 12·6 / (2²·(3³ − 3)) = 72 / 96 = 3/4.
    assert kendalls_w(["ABC", "BAC"], "ABC") == pytest.approx(3 / 4)


def test_kendalls_w_is_one_for_a_single_ranker_or_a_single_candidate():
    assert kendalls_w(["CAB"], "ABC") == 1.0
    assert kendalls_w(["A", "A", "A"], "A") == 1.0


def test_kendalls_w_refuses_no_ballots_and_bad_ballots():
    with pytest.raises(ValueError, match="at least one ballot"):
        kendalls_w([], "ABC")
    with pytest.raises(ValueError, match=r"ballot 0 .* missing"):
        kendalls_w(["AB"], "ABC")


# --- compute_consensus ----------------------------------------------------------------------


def test_unanimous_rankers_give_their_order_full_agreement_and_every_preference_pair():
    consensus = compute_consensus([[30, 10, 20]] * 3, [10, 20, 30])

    assert consensus.order == (30, 10, 20)
    assert consensus.ranks == {30: 1, 10: 2, 20: 3}
    assert consensus.agreement == 1.0
    assert (consensus.rankers, consensus.unusable_rankers) == (3, 0)
    assert not consensus.is_unusable
    assert list(consensus.preference_pairs()) == [
        PreferencePair(chosen=30, rejected=10, rank_gap=1),
        PreferencePair(chosen=30, rejected=20, rank_gap=2),
        PreferencePair(chosen=10, rejected=20, rank_gap=1),
    ]
    assert consensus.margin(30, 20) == 1.0


def test_preference_pairs_can_skip_neighbours():
    consensus = compute_consensus([[1, 2, 3, 4]], [1, 2, 3, 4])

    assert list(consensus.preference_pairs(min_gap=2)) == [(1, 3, 2), (1, 4, 3), (2, 4, 2)]
    with pytest.raises(ValueError, match="min_gap must be at least 1"):
        list(consensus.preference_pairs(min_gap=0))


def test_an_unusable_ranking_is_counted_but_left_out_of_the_vote():
    consensus = compute_consensus([[2, 1, 3], None, [2, 3, 1]], [1, 2, 3])

    assert consensus.order == (2, 1, 3)  # 1-3 ties 1-1; the tie-break (ids as given) picks 1
    assert (consensus.rankers, consensus.unusable_rankers) == (2, 1)
    assert not consensus.is_unusable
    assert consensus.agreement == pytest.approx(3 / 4)
    assert consensus.margin(2, 1) == 1.0
    assert consensus.margin(1, 3) == 0.5


def test_a_majority_of_unusable_rankings_makes_the_result_unusable():
    consensus = compute_consensus([None, [1, 2, 3], None], [1, 2, 3])

    assert consensus.is_unusable
    assert consensus.order == ()
    assert consensus.ranks == {}
    assert list(consensus.preference_pairs()) == []
    assert (consensus.rankers, consensus.unusable_rankers) == (1, 2)
    assert consensus.agreement == 1.0  # of the one ranker who did order them


def test_when_every_ranker_says_unusable_there_is_no_agreement_or_margin():
    consensus = compute_consensus([None, None, None], [1, 2, 3])

    assert consensus.is_unusable
    assert consensus.agreement is None
    assert consensus.rankers == 0
    with pytest.raises(ValueError, match="no usable ranking"):
        consensus.margin(1, 2)


def test_half_unusable_is_not_a_majority():
    consensus = compute_consensus([None, [2, 1]], [1, 2])

    assert not consensus.is_unusable
    assert consensus.order == (2, 1)


def test_a_consensus_pair_can_have_a_minority_margin_inside_a_cycle():
    # Condorcet's paradox: the consensus ranks 1 over 3 although only 1 of 3 rankers does.
    consensus = compute_consensus([[1, 2, 3], [2, 3, 1], [3, 1, 2]], [1, 2, 3])

    assert consensus.order == (1, 2, 3)
    assert consensus.margin(1, 3) == pytest.approx(1 / 3)
    assert consensus.agreement == 0.0


def test_compute_consensus_passes_the_tie_break_through():
    consensus = compute_consensus([[1, 2], [2, 1]], [1, 2], tie_break=[2, 1])

    assert consensus.order == (2, 1)


def test_compute_consensus_refuses_no_rankings_bad_rankings_and_repeated_candidates():
    with pytest.raises(ValueError, match="at least one ranking"):
        compute_consensus([], [1, 2])
    with pytest.raises(ValueError, match=r"ranking 2 \[1, 1\] is not an ordering .* missing \[2\]"):
        compute_consensus([[1, 2], None, [1, 1]], [1, 2])
    with pytest.raises(ValueError, match="candidates must be distinct"):
        compute_consensus([[1, 1]], [1, 1])


def test_the_consensus_is_frozen():
    consensus = compute_consensus([[1, 2]], [1, 2])

    assert isinstance(consensus, Consensus)
    with pytest.raises(AttributeError):
        consensus.order = (2, 1)  # type: ignore[misc]
    with pytest.raises(TypeError):
        consensus.ranks[1] = 2  # type: ignore[index]


# --- properties -----------------------------------------------------------------------------

candidate_lists = st.lists(st.integers(0, 10_000), min_size=1, max_size=6, unique=True)


@st.composite
def profiles(draw: st.DrawFn, min_ballots: int = 0) -> tuple[list[int], list[list[int]]]:
    """Candidates (distinct ints) and complete ballots over them."""
    candidates = draw(candidate_lists)
    ballots = draw(st.lists(st.permutations(candidates), min_size=min_ballots, max_size=9))
    return candidates, ballots


@PROPERTY
@given(candidates=candidate_lists, data=st.data(), voters=st.integers(1, 9))
def test_unanimous_ballots_give_exactly_that_order(candidates, data, voters):
    order = data.draw(st.permutations(candidates))

    assert ranked_pairs([order] * voters, candidates) == order
    assert compute_consensus([order] * voters, candidates).order == tuple(order)


@PROPERTY
@given(profile=profiles(), data=st.data())
def test_the_result_is_always_a_permutation_of_the_candidates(profile, data):
    candidates, ballots = profile
    tie_break = data.draw(st.permutations(candidates))

    result = ranked_pairs(ballots, candidates, tie_break)

    assert sorted(result) == sorted(candidates)


@PROPERTY
@given(profile=profiles(min_ballots=1), data=st.data())
def test_a_condorcet_winner_always_comes_first(profile, data):
    candidates, ballots = profile
    winner = data.draw(st.sampled_from(candidates))
    # Put the winner on top of a strict majority of ballots: it then beats everyone pairwise.
    for ballot in ballots[: len(ballots) // 2 + 1]:
        ballot.remove(winner)
        ballot.insert(0, winner)

    assert ranked_pairs(ballots, candidates)[0] == winner


@PROPERTY
@given(profile=profiles(min_ballots=1), data=st.data())
def test_a_condorcet_loser_always_comes_last(profile, data):
    candidates, ballots = profile
    loser = data.draw(st.sampled_from(candidates))
    for ballot in ballots[: len(ballots) // 2 + 1]:
        ballot.remove(loser)
        ballot.append(loser)

    assert ranked_pairs(ballots, candidates)[-1] == loser


@PROPERTY
@given(profile=profiles())
def test_any_condorcet_winner_found_in_the_tally_comes_first(profile):
    candidates, ballots = profile
    wins = pairwise_wins(ballots, candidates)
    beats_everyone = [
        a for a in candidates if all(wins[a, b] > wins[b, a] for b in candidates if b != a)
    ]

    if beats_everyone:
        assert ranked_pairs(ballots, candidates)[0] == beats_everyone[0]


@PROPERTY
@given(profile=profiles(), data=st.data())
def test_the_result_does_not_depend_on_the_order_of_the_ballots(profile, data):
    candidates, ballots = profile
    shuffled = data.draw(st.permutations(ballots))

    assert ranked_pairs(shuffled, candidates) == ranked_pairs(ballots, candidates)


@PROPERTY
@given(profile=profiles(), data=st.data())
def test_with_a_fixed_tie_break_the_order_candidates_are_listed_in_does_not_matter(profile, data):
    candidates, ballots = profile
    listed = data.draw(st.permutations(candidates))

    assert ranked_pairs(ballots, listed, tie_break=candidates) == ranked_pairs(ballots, candidates)


@PROPERTY
@given(profile=profiles(), data=st.data())
def test_when_every_pair_ties_the_result_is_the_tie_break(profile, data):
    candidates, ballots = profile
    tie_break = data.draw(st.permutations(candidates))
    mirrored = ballots + [list(reversed(ballot)) for ballot in ballots]

    assert ranked_pairs(mirrored, candidates, tie_break) == tie_break


@PROPERTY
@given(profile=profiles(min_ballots=1))
def test_kendalls_w_lies_between_zero_and_one_and_is_one_only_for_identical_ballots(profile):
    candidates, ballots = profile

    w = kendalls_w(ballots, candidates)

    assert 0.0 <= w <= 1.0
    if len(candidates) > 1:
        assert (w == 1.0) == all(ballot == ballots[0] for ballot in ballots)


@PROPERTY
@given(profile=profiles(min_ballots=1), data=st.data())
def test_a_ballot_that_is_not_a_permutation_raises_value_error(profile, data):
    candidates, ballots = profile
    spoiled = data.draw(st.sampled_from(ballots))
    how = data.draw(st.sampled_from(["drop", "repeat", "stranger"]))
    if how == "drop":
        spoiled.pop()
    elif how == "repeat" and len(spoiled) > 1:
        spoiled[-1] = spoiled[0]
    elif how == "repeat":
        spoiled.append(spoiled[0])
    else:
        spoiled[0] = -1

    with pytest.raises(ValueError, match="is not an ordering of all candidates"):
        ranked_pairs(ballots, candidates)
    with pytest.raises(ValueError, match="is not an ordering of all candidates"):
        kendalls_w(ballots, candidates)
    with pytest.raises(ValueError, match="is not an ordering of all candidates"):
        compute_consensus(ballots, candidates)


@PROPERTY
@given(profile=profiles(min_ballots=1), unusable=st.integers(0, 4))
def test_preference_pairs_cover_every_pair_of_the_order_once_with_its_rank_gap(profile, unusable):
    candidates, ballots = profile
    consensus = compute_consensus([*ballots, *([None] * unusable)], candidates)

    pairs = list(consensus.preference_pairs())

    if consensus.is_unusable:
        assert pairs == []
    else:
        n = len(candidates)
        assert len(pairs) == n * (n - 1) // 2
        assert len({frozenset((p.chosen, p.rejected)) for p in pairs}) == len(pairs)
        for chosen, rejected, gap in pairs:
            assert gap == consensus.ranks[rejected] - consensus.ranks[chosen] > 0
            assert 0.0 <= consensus.margin(chosen, rejected) <= 1.0
