"""Packed rows give each example exactly the logits (and scores) it gets alone."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoModelForSequenceClassification, AutoTokenizer

from tests.worker import helpers
from worker.data import (
    RankedPrompt,
    collate_groups_padded,
    collate_groups_shared,
    collate_sft,
    tokenize_group,
    tokenize_sft,
)
from worker.masks import attention_mask
from worker.reward import GroupScorer


@pytest.mark.slow(seconds=15)
@pytest.mark.parametrize("attention", ["sdpa", "eager", "flex_attention"])
def test_packed_and_unpacked_forward_passes_give_the_same_logits(
    tiny_model: Path, attention: str
) -> None:
    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention).eval()
    examples = [
        e
        for row in helpers.sft_rows(5, seed=11)
        if (e := tokenize_sft(tokenizer, row, max_seq_len=128)) is not None
    ]
    rows = [[0, 1, 2], [3, 4]]
    batch = collate_sft(examples, rows, seq_len=200, pad_id=tokenizer.pad_token_id)
    with torch.no_grad():
        packed = model(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=attention_mask(batch, attention, torch.float32),
        ).logits
        for r, row in enumerate(rows):
            start = 0
            for index in row:
                ids = torch.tensor([examples[index].input_ids])
                alone = model(input_ids=ids).logits[0]
                got = packed[r, start : start + ids.shape[1]]
                torch.testing.assert_close(got, alone, atol=1e-4, rtol=0)
                start += ids.shape[1]


def test_a_shared_prompt_scores_each_response_as_if_it_were_alone(tmp_path: Path) -> None:
    folder = helpers.build_tiny_llama(tmp_path / "rm", seed=3, classifier=True)
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForSequenceClassification.from_pretrained(folder, attn_implementation="sdpa")
    groups = [
        tokenize_group(
            tokenizer,
            RankedPrompt(g["prompt_id"], g["instruction"], "", tuple(g["responses"]), (1, 2, 3, 4)),
            max_prompt_len=64,
            max_response_len=32,
        )
        for g in helpers.ranked_groups(3, seed=4)
    ]
    scorer = GroupScorer(model.eval(), "sdpa")
    shared = collate_groups_shared(groups, pad_id=tokenizer.pad_token_id)
    padded = collate_groups_padded(groups, pad_id=tokenizer.pad_token_id)
    assert shared.input_ids.numel() < padded.input_ids.numel()

    def scores(batch):  # type: ignore[no-untyped-def]
        extra = batch.extra
        return scorer(
            batch.input_ids,
            batch.position_ids,
            batch.doc,
            batch.segment,
            extra["score_row"],
            extra["score_index"],
        )

    with torch.no_grad():
        reference = torch.cat(
            [
                model(input_ids=torch.tensor([g.prompt + r])).logits[:, 0]
                for g in groups
                for r in g.responses
            ]
        )
        torch.testing.assert_close(scores(shared), reference, atol=1e-4, rtol=0)
        torch.testing.assert_close(scores(padded), reference, atol=1e-4, rtol=0)


@pytest.mark.parametrize("attention", ["sdpa", "flex_attention"])
def test_static_inputs_keep_their_buffers_and_take_each_batchs_contents(
    tiny_model: Path, attention: str
) -> None:
    """For CUDA graphs, each training batch and its mask reach the model in the buffers of the
    first batch (same addresses), holding the new batch's values; the mask built from the
    staged ``doc``/``segment`` is the new batch's mask."""
    from worker.masks import StaticInputs, dense_mask

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = [
        e
        for row in helpers.sft_rows(8, seed=5)
        if (e := tokenize_sft(tokenizer, row, max_seq_len=128)) is not None
    ]
    first = collate_sft(examples, [[0, 1], [2]], seq_len=256, pad_id=tokenizer.pad_token_id)
    second = collate_sft(examples, [[3], [4, 5, 6]], seq_len=256, pad_id=tokenizer.pad_token_id)
    assert not torch.equal(first.doc, second.doc)
    static = StaticInputs()
    seen = []
    for batch in (first, second):
        doc = static.tensor("doc", batch.doc)
        segment = static.tensor("segment", batch.segment)
        staged = type(batch)(batch.input_ids, batch.position_ids, doc, segment, batch.targets)
        mask = static.mask(attention_mask(staged, attention, torch.float32))
        dense = mask if attention == "sdpa" else mask.to_dense()
        expected = dense_mask(batch.doc, batch.segment)
        if attention == "sdpa":
            assert torch.equal(dense, expected)
        else:  # the block tables: a block is kept where any of its positions may attend
            blocks = expected.unflatten(2, (-1, 128)).unflatten(4, (-1, 128)).any(dim=(3, 5))
            assert torch.equal(dense.bool(), blocks)
            # and the mask_mod reads the staged doc ids: the new batch's rule, position by position
            q, k = torch.meshgrid(torch.arange(256), torch.arange(256), indexing="ij")
            for b in range(2):
                allowed = mask.mask_mod(torch.tensor(b), torch.tensor(0), q, k)
                assert torch.equal(allowed, expected[b, 0])
        tensors = [doc, segment] + (
            [mask] if attention == "sdpa" else [t for t in mask.as_tuple() if torch.is_tensor(t)]
        )
        seen.append([t.data_ptr() for t in tensors])
        assert torch.equal(doc, batch.doc)
    assert seen[0] == seen[1]
    # A batch of another shape gets buffers of its own.
    wider = collate_sft(examples, [[0, 1, 2]], seq_len=384, pad_id=tokenizer.pad_token_id)
    assert static.tensor("doc", wider.doc).shape == (1, 384)
