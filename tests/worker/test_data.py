"""Releases in, token rows out: reading, prompt format, loss mask, packing, ranked groups."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from transformers import AutoTokenizer

from tests.worker import helpers
from worker.data import (
    IGNORE_INDEX,
    collate_sft,
    dolly_chat_template,
    dolly_prompt,
    format_prompt,
    format_response,
    groups_from_preferences,
    groups_from_rankings,
    load_ranked_prompts,
    pack_by_tokens,
    pack_rows,
    parse_release,
    read_rows,
    tokenize_group,
    tokenize_sft,
)


def test_it_reads_each_config_and_split_of_a_release(release: Path) -> None:
    assert len(read_rows(f"file://{release}", "sft", "train")) == 160
    assert len(read_rows(str(release), "sft", "test")) == 24
    with pytest.raises(FileNotFoundError):
        read_rows(str(release), "prompts", "train")


def test_it_reads_repo_and_revision_from_a_hub_location() -> None:
    ref = parse_release("hf://datasets/hearth/dolly-community@v3")
    assert (ref.repo_id, ref.revision) == ("hearth/dolly-community", "v3")
    assert parse_release("file:///data/v3").repo_id is None


def test_the_loss_mask_covers_the_response_and_eos_only(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    row = helpers.sft_rows(1, seed=5)[0] | {"context": "the lamp is red .", "response": "red ."}
    example = tokenize_sft(tokenizer, row, max_seq_len=256)
    assert example is not None
    ids, targets = example.input_ids, example.targets()
    prompt = str(tokenizer.decode(ids[: example.n_prompt]))
    assert prompt.startswith("<s>") and prompt.rstrip().endswith("# # # Response :")
    assert "Input :" in prompt
    assert tokenizer.decode(ids[example.n_prompt :]) == "red . # # # End </s>"
    for t in range(len(ids)):
        if t + 1 < example.n_prompt or t == len(ids) - 1:
            assert targets[t] == IGNORE_INDEX, t
        else:
            assert targets[t] == ids[t + 1], t
    assert targets[-2] == tokenizer.eos_token_id
    assert sum(t != IGNORE_INDEX for t in targets) == example.n_targets == 7


def test_an_over_long_prompt_is_cut_in_the_middle_and_keeps_its_header(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    row = helpers.sft_rows(1, seed=5)[0] | {"context": "the apple " * 200, "response": "red ."}
    example = tokenize_sft(tokenizer, row, max_seq_len=64)
    assert example is not None and len(example) <= 64
    assert str(tokenizer.decode(example.input_ids[: example.n_prompt])).endswith("# # # Response :")
    assert example.n_targets == 7


def test_packing_fits_rows_and_uses_every_example_once() -> None:
    rng = random.Random(0)
    lengths = [rng.randint(1, 100) for _ in range(300)]
    rows = pack_rows(lengths, 128, random.Random(1))
    assert sorted(i for row in rows for i in row) == list(range(300))
    assert all(sum(lengths[i] for i in row) <= 128 for row in rows)
    assert len(rows) <= sum(lengths) / 128 * 1.1 + 1
    assert pack_by_tokens([5, 5, 5, 20, 1], 10) == [[0, 1], [2], [3], [4]]


def test_packed_rows_restart_positions_and_never_target_across_examples(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = [
        e
        for row in helpers.sft_rows(3, seed=3)
        if (e := tokenize_sft(tokenizer, row, max_seq_len=128)) is not None
    ]
    batch = collate_sft(examples, [[0, 1], [2], []], seq_len=256, pad_id=tokenizer.pad_token_id)
    first, second = len(examples[0]), len(examples[1])
    assert batch.position_ids[0, :first].tolist() == list(range(first))
    assert batch.position_ids[0, first : first + second].tolist() == list(range(second))
    assert batch.doc[0, first - 1 : first + 1].tolist() == [0, 1]
    assert batch.targets[0, first - 1] == IGNORE_INDEX  # EOS of example 0 predicts nothing
    assert (batch.doc[2] == -1).all() and (batch.targets[2] == IGNORE_INDEX).all()
    assert batch.n_targets == sum(e.n_targets for e in examples)


def test_preferences_and_rankings_give_the_same_consensus(release: Path) -> None:
    from_pairs = load_ranked_prompts(str(release), "preferences", "test")
    from_rankings = load_ranked_prompts(str(release), "rankings", "test")
    assert len(from_pairs) == len(from_rankings) == 24
    for a, b in zip(from_pairs, from_rankings, strict=True):
        best_a = a.responses[a.ranks.index(min(a.ranks))]
        best_b = b.responses[b.ranks.index(min(b.ranks))]
        assert best_a == best_b
        assert len(a.pairs()) == len(b.pairs()) == 6


def test_ranks_fall_back_to_lost_pairs_when_missing() -> None:
    rows = [
        {"prompt_id": "p", "instruction": "i", "context": "", "chosen": c, "rejected": r}
        for c, r in (("a", "b"), ("a", "c"), ("b", "c"))
    ]
    (group,) = groups_from_preferences(rows)
    assert group.responses == ("a", "b", "c") and group.ranks == (0.0, 1.0, 2.0)
    ranking = {"prompt_id": "p", "instruction": "i", "context": "", "responses": ["x", "y"]}
    # Two rankers who disagree leave no ordered pair, so the prompt teaches nothing.
    assert groups_from_rankings([ranking | {"order": [0, 1]}, ranking | {"order": [1, 0]}]) == []


def preference(chosen: str, rejected: str, ranks: tuple[int, int], **extra: object) -> dict:
    return {
        "prompt_id": "p",
        "instruction": "i",
        "context": "",
        "chosen": chosen,
        "rejected": rejected,
        "chosen_rank": ranks[0],
        "rejected_rank": ranks[1],
    } | extra


# A prompt left with two rankers after a ban: they agree that a beats b and c, and disagree on
# b against c (margin 0.5, a tie the consensus broke); prompt q's one pair is such a tie.
TIED = [
    preference("a", "b", (1, 2), margin=1.0, rankers=2),
    preference("a", "c", (1, 3), margin=1.0, rankers=2),
    preference("b", "c", (2, 3), margin=0.5, rankers=2),
    preference("x", "y", (1, 2), margin=0.5, rankers=2) | {"prompt_id": "q"},
]


def test_ties_are_left_out_of_the_pairs_but_not_of_the_order() -> None:
    """groups_from_preferences took every pair as strict: a 1-1 split between two rankers
    was trained on as a preference."""
    (group,) = groups_from_preferences(TIED, min_margin=0.5)
    assert group.prompt_id == "p" and group.responses == ("a", "b", "c")
    assert group.ranks == (1.0, 2.0, 3.0)  # Kendall's tau is still against this order
    assert group.pairs() == [(0, 1), (0, 2)]
    # A negative minimum (and the function's default) keeps every pair and prompt.
    for everything in (groups_from_preferences(TIED, min_margin=-1), groups_from_preferences(TIED)):
        assert [len(g.pairs()) for g in everything] == [3, 1]
    # Pairs of a cycle that most rankers ordered the other way go too.
    cycle = [*TIED[:2], preference("b", "c", (2, 3), margin=1 / 3, rankers=3)]
    assert groups_from_preferences(cycle, min_margin=0.5)[0].pairs() == [(0, 1), (0, 2)]
    # A row with no margin, or none counted, says nothing against its pair: kept.
    unknown = [
        *TIED[:2],
        preference("b", "c", (2, 3)),
        preference("x", "y", (1, 2), margin=0.0, rankers=0) | {"prompt_id": "q"},
    ]
    assert [len(g.pairs()) for g in groups_from_preferences(unknown, min_margin=0.5)] == [3, 1]


def test_a_pair_the_release_left_out_is_not_put_back_from_the_ranks() -> None:
    """A release leaves out a consensus pair most of its rankers reversed (data QA: inverted
    labels); the ranks of the other pairs still order both answers, and must not bring the
    pair back the consensus' way, whatever the minimum."""
    cycle = [
        preference("a", "b", (1, 2), margin=2 / 3, rankers=3),
        preference("b", "c", (2, 3), margin=2 / 3, rankers=3),
    ]
    for minimum in (-1.0, 0.5):
        (group,) = groups_from_preferences(cycle, min_margin=minimum)
        assert group.responses == ("a", "b", "c") and group.ranks == (1.0, 2.0, 3.0)
        assert group.pairs() == [(0, 1), (1, 2)], minimum
        assert (0, 2) in group.left_out


def test_ties_left_out_stay_out_once_tokenized(tiny_model: Path) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    (group,) = groups_from_preferences(TIED, min_margin=0.5)
    tokenized = tokenize_group(tokenizer, group, max_prompt_len=64, max_response_len=64)
    assert tokenized.pairs() == [(0, 1), (0, 2)] and tokenized.ranks == group.ranks


def test_rankings_leave_out_pairs_without_a_majority() -> None:
    ranking = {"prompt_id": "p", "instruction": "i", "context": "", "responses": ["a", "b", "c"]}
    rows = [ranking | {"order": [0, 1, 2]}, ranking | {"order": [0, 2, 1]}]
    # Mean positions 1, 2.5, 2.5: b and c tie and make no pair; a's pairs are unanimous.
    (group,) = groups_from_rankings(rows, min_margin=0.5)
    assert group.pairs() == [(0, 1), (0, 2)]
    # Three rankers: c beats b by mean position (1.67 against 2) though two of three put b
    # first.
    ranking = ranking | {"responses": ["a", "b", "c", "d"]}
    rows = [
        ranking | {"order": [1, 2, 0, 3]},
        ranking | {"order": [1, 2, 0, 3]},
        ranking | {"order": [2, 0, 3, 1]},
    ]
    (everything,) = groups_from_rankings(rows)
    (kept,) = groups_from_rankings(rows, min_margin=0.5)
    assert (2, 1) in everything.pairs() and (2, 1) not in kept.pairs()
    assert kept.ranks == everything.ranks


@pytest.mark.parametrize(
    ("instruction", "context"),
    [
        ("what colour is the apple ?", ""),
        ("Summarise this.", "The apple is red.\nIt is {{ not }} a template {% raw %}."),
        ("Blank context", "  \n "),
        ("Trailing spaces  ", "  context with spaces  "),
    ],
)
def test_the_dolly_chat_template_renders_the_prompt_training_used(
    tiny_model: Path, instruction: str, context: str
) -> None:
    """The output's tokenizer kept the base model's chat template (SmolLM2's ChatML) though
    the model learned Dolly's prompt: apply_chat_template gave a prompt it never saw."""
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = dolly_chat_template()
    messages = [{"role": "user", "content": instruction, "context": context}]
    prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)
    assert prompt == format_prompt(tokenizer, instruction, context, "dolly")
    assert prompt == dolly_prompt(instruction, context)
    if not context:  # the context is optional
        plain = [{"role": "user", "content": instruction}]
        assert tokenizer.apply_chat_template(plain, add_generation_prompt=True, tokenize=False) == (
            prompt
        )
    # A whole exchange renders as training's prompt, response and EOS.
    answered = [*messages, {"role": "assistant", "content": "the apple is red ."}]
    assert tokenizer.apply_chat_template(answered, tokenize=False) == (
        prompt + format_response(tokenizer, "the apple is red .", "dolly") + tokenizer.eos_token
    )
    # Tokenized with the tokenizer's special tokens, as training did, the ids are training's.
    row = {"instruction": instruction, "context": context, "response": "the apple is red ."}
    example = tokenize_sft(tokenizer, row, max_seq_len=512)
    assert example is not None
    assert tokenizer(prompt)["input_ids"] == example.input_ids[: example.n_prompt]


def test_the_dolly_chat_template_refuses_what_dolly_cannot_say(tiny_model: Path) -> None:
    from jinja2.exceptions import TemplateError

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    tokenizer.chat_template = dolly_chat_template()
    for messages in (
        [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}],
        [{"role": "user", "content": "Hi"}, {"role": "user", "content": "Again"}],
    ):
        with pytest.raises(TemplateError, match="one user turn"):
            tokenizer.apply_chat_template(messages, tokenize=False)
