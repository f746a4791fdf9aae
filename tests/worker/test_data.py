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
    groups_from_preferences,
    groups_from_rankings,
    load_ranked_prompts,
    pack_by_tokens,
    pack_rows,
    parse_release,
    read_rows,
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
