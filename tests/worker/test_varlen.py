"""``attention="varlen"``: packed rows as one token stream for FlashAttention's variable-length
kernel. The kernel is CUDA-only, so these tests run Hearth's side of it (flattening,
``cu_seqlens``, the attention function, the keyword arguments through transformers, positions
restarting per example) against a float32 CPU reference of the two ops (``varlen_on_cpu``,
tests/worker/varlen_cpu.py), and compare with sdpa and its dense block-diagonal mask."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.worker import helpers
from tests.worker.test_sft import five_examples, sft_spec
from tests.worker.varlen_cpu import calls, cpu_kernels
from worker import jobs, sft, varlen
from worker.config import RewardConfig, SFTConfig
from worker.data import PackedBatch, TokenizedExample, collate_sft, tokenize_sft
from worker.masks import attention_mask
from worker.runtime import Runtime, resolve_attention

CPU = Runtime(torch.device("cpu"), 0, 1, None)


def tokenized(model: Path, n: int = 8) -> list[TokenizedExample]:
    tokenizer = AutoTokenizer.from_pretrained(model)
    return [
        e
        for row in helpers.sft_rows(n, seed=11)
        if (e := tokenize_sft(tokenizer, row, max_seq_len=128)) is not None
    ]


def load(model: Path, attention: str) -> torch.nn.Module:
    if attention == varlen.NAME:
        varlen.register()
    return AutoModelForCausalLM.from_pretrained(model, attn_implementation=attention)


def layout_of(*batches: PackedBatch, spare: int = 0) -> varlen.Layout:
    """The layout of these batches (read from their ``doc``), with ``spare`` more sequences."""
    rows = [
        [[int((row == d).sum()) for d in range(int(row.max()) + 1)] for row in batch.doc]
        for batch in batches
    ]
    exact = varlen.Layout.of(rows, rows=batches[0].doc.shape[0], seq_len=batches[0].doc.shape[1])
    return varlen.Layout(exact.sequences + spare, exact.longest)


def test_each_example_and_each_piece_of_a_rows_padding_is_a_sequence(tiny_model: Path) -> None:
    """Row by row, each example is a sequence, then the row's padding in pieces no longer
    than the longest example; zero-length sequences fill the layout out, so every batch has as
    many offsets whatever its packing."""
    examples = tokenized(tiny_model)
    lengths = [len(e) for e in examples]
    rows = [[0, 1, 2], [3, 4], []]
    other = [[5], [6, 7]]  # filled out with an empty row
    layout = varlen.Layout.of(
        [[[lengths[i] for i in row] for row in b] for b in (rows, other)], rows=3, seq_len=200
    )
    longest = max(lengths)
    assert layout.longest == longest < 200

    def sequences(row: list[int]) -> list[int]:
        used = [lengths[i] for i in row]
        padding = 200 - sum(used)
        return (
            used + [longest] * (padding // longest) + [padding % longest] * (padding % longest > 0)
        )

    expected_lengths = [n for row in rows for n in sequences(row)]
    assert layout.sequences == max(
        len(expected_lengths), sum(len(sequences(row)) for row in [*other, []])
    )
    expected_lengths += [0] * (layout.sequences - len(expected_lengths))
    offsets = varlen.cu_seqlens(collate_sft(examples, rows, seq_len=200, pad_id=0).doc, layout)
    expected = torch.tensor([0, *expected_lengths], dtype=torch.int32).cumsum(0, dtype=torch.int32)
    assert offsets.dtype == torch.int32 and torch.equal(offsets, expected)
    assert offsets[-1] == 3 * 200
    # A batch packed otherwise gives as many offsets.
    fewer = collate_sft(examples, [*other, []], seq_len=200, pad_id=0)
    assert varlen.cu_seqlens(fewer.doc, layout).shape == offsets.shape


def test_a_layout_counts_the_fullest_batch_and_the_longest_example() -> None:
    """Batches given as their rows' example lengths: the most sequences any batch needs
    (after empty rows fill it out) and the longest example; padding longer than that is
    split."""
    layout = varlen.Layout.of([[[3, 4], [9]], [[2, 2, 2]]], rows=2, seq_len=10)
    # First batch: 2 + pad 3 (1 piece) + 1 + pad 1 (1) = 5; second: 3 + pad 4 (1) + an empty
    # row's 10 positions of padding in pieces of 9 (2) = 6.
    assert layout == varlen.Layout(sequences=6, longest=9)
    assert varlen.Layout.of([[[10]]], rows=1, seq_len=10) == varlen.Layout(1, 10)
    assert varlen.Layout.of([[[1]]], rows=2, seq_len=4) == varlen.Layout(1 + 3 + 4, 1)


@pytest.mark.parametrize("kernel_shares_heads", [True, False])
def test_packed_logits_equal_the_dense_masks_example_by_example(
    tiny_model: Path, varlen_on_cpu: None, kernel_shares_heads: bool, monkeypatch
) -> None:
    """The varlen model's logits, every position (padding too, which is a sequence of its
    own as it is a document of its own in the dense mask), match sdpa's to 1e-5 in float32;
    the kernel ran once per layer and was handed the empty slots. The tiny model shares key
    and value heads (grouped-query attention): a kernel without ``enable_gqa`` (torch 2.11's)
    gets them repeated instead, with the same result."""
    monkeypatch.setattr(varlen, "_kernel_takes_gqa", lambda: kernel_shares_heads)
    batch = five_examples(tiny_model)
    dense = load(tiny_model, "sdpa").eval()
    flat = load(tiny_model, varlen.NAME).eval()
    layout = layout_of(batch, spare=2)
    offsets = attention_mask(batch, varlen.NAME, torch.float32, layout=layout)
    with torch.no_grad():
        expected = dense(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            attention_mask=attention_mask(batch, "sdpa", torch.float32),
        ).logits
        got = flat(
            input_ids=batch.input_ids,
            position_ids=batch.position_ids,
            cu_seq_lens_q=offsets,
            cu_seq_lens_k=offsets,
            max_length_q=layout.longest,
            max_length_k=layout.longest,
        ).logits
    for r in range(batch.doc.shape[0]):
        for d in batch.doc[r].unique().tolist():
            where = batch.doc[r] == d
            torch.testing.assert_close(got[r, where], expected[r, where], atol=1e-5, rtol=0)
    layers = flat.config.num_hidden_layers
    assert calls["forward"] == layers and calls["empty"] == 2 * layers  # the spare ones
    assert calls["max_seqlen"] == layout.longest < batch.doc.shape[1]


@pytest.mark.parametrize(("select_targets", "checkpoint_layers"), [(True, False), (False, True)])
def test_the_loss_and_gradients_equal_sdpas(
    tiny_model: Path, varlen_on_cpu: None, select_targets: bool, checkpoint_layers: bool
) -> None:
    """Through ResponseLoss (the batch's cu_seqlens made in forward, passed to the decoder),
    also with each decoder layer checkpointed (``gradient_checkpointing``, whose layers pass
    the keyword arguments on): the same summed loss (rtol 1e-5) and every parameter's
    gradient (rtol 1e-4, atol 1e-6)."""
    batch = five_examples(tiny_model)
    results = []
    for attention in ("sdpa", varlen.NAME):
        model = load(tiny_model, attention)
        model.train()
        if checkpoint_layers:
            model.activation_checkpointing_enable({"use_reentrant": False})
        loss_module = sft.ResponseLoss(model, attention, layout=layout_of(batch))
        loss_module.select_targets = select_targets
        loss = loss_module(*batch.tensors())
        loss.backward()
        results.append((loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss, grads), (varlen_loss, varlen_grads) = results
    torch.testing.assert_close(varlen_loss, loss, rtol=1e-5, atol=0)
    layers = model.config.num_hidden_layers
    assert calls["forward"] == layers * (2 if checkpoint_layers else 1)  # recomputed
    assert calls["max_seqlen"] == layout_of(batch).longest
    for name, grad in grads.items():
        assert grad.abs().sum() > 0, name
        torch.testing.assert_close(varlen_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow(seconds=45)
def test_compiled_with_cuda_graph_buffers_it_keeps_one_shape_and_matches_sdpa(
    tiny_model: Path, release: Path, tmp_path: Path, varlen_on_cpu: None
) -> None:
    """As a CUDA run with ``compile_mode="reduce-overhead"`` is set up (on a CPU that is the
    default graph with the fixed input buffers): two batches packed differently go through
    one compiled graph, no recompilation, the cu_seqlens in one buffer, and each gives
    eager sdpa's loss (rtol 1e-4, atol 1e-3) and gradients (rtol 1e-3, atol 1e-5), as the
    other compiled tests allow."""
    examples = tokenized(tiny_model)
    batches = [
        collate_sft(examples, rows, seq_len=200, pad_id=0)
        for rows in ([[0, 1, 2], [3, 4]], [[5], [6, 7, 0]])
    ]
    config = SFTConfig.from_spec(
        sft_spec(release, tiny_model, tmp_path, compile=True, compile_mode="reduce-overhead")
    )
    eager = sft.ResponseLoss(load(tiny_model, "sdpa"), "sdpa")
    model = load(tiny_model, varlen.NAME)
    layout = layout_of(*batches)
    loss_module = sft.ResponseLoss(model, varlen.NAME, layout=layout)
    trainer = sft.wrap_for_training(loss_module, config, CPU)
    assert loss_module.static is not None and loss_module.compiled is not None
    addresses = []
    for step, batch in enumerate(batches):
        with torch._dynamo.config.patch(error_on_recompile=step > 0):
            loss = trainer(*batch.tensors())
        loss.backward()
        expected = eager(*batch.tensors())
        expected.backward()
        torch.testing.assert_close(loss, expected, rtol=1e-4, atol=1e-3)
        for (name, got), want in zip(
            model.named_parameters(), eager.model.parameters(), strict=True
        ):
            torch.testing.assert_close(got.grad, want.grad, rtol=1e-3, atol=1e-5, msg=name)
            got.grad, want.grad = None, None
        held = loss_module.static.buffers["mask"]
        assert torch.equal(held, varlen.cu_seqlens(batch.doc, layout))
        addresses.append(held.data_ptr())
    assert addresses[0] == addresses[1]


@pytest.mark.slow
def test_a_few_training_steps_lose_what_sdpas_do(
    release: Path, tiny_model: Path, tmp_path: Path, varlen_on_cpu: None
) -> None:
    """Six optimizer steps of two micro-batches through the job entry point: each step's
    loss within rtol 1e-4 of sdpa's, the same final evaluation, and an output that names no
    attention of Hearth's (it loads anywhere)."""
    results = {}
    for attention in ("sdpa", "varlen"):
        output = tmp_path / attention
        spec = sft_spec(release, tiny_model, output, max_steps=6, eval_every=0)
        results[attention] = jobs.run_sft({**spec, "attention": attention})
    logs = {a: helpers.read_json(tmp_path / a / "metrics.json") for a in results}
    assert logs["varlen"]["attention"] == varlen.NAME and logs["sdpa"]["attention"] == "sdpa"
    losses = [[e["loss"] for e in logs[a]["train_log"]] for a in ("sdpa", "varlen")]
    assert len(losses[0]) == 6
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=0)
    torch.testing.assert_close(
        results["varlen"]["metrics"]["eval_loss"],
        results["sdpa"]["metrics"]["eval_loss"],
        rtol=1e-4,
        atol=0,
    )
    assert calls["forward"] > 0
    assert varlen.NAME not in (tmp_path / "varlen" / "config.json").read_text()


def test_varlen_is_refused_where_it_cannot_run(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    base = {"release": "file:///x", "base_model": "m", "output_dir": "x", "attention": "varlen"}
    assert SFTConfig.from_spec(base).attention == "varlen"
    with pytest.raises(ValueError, match="'varlen' is for SFT only"):
        RewardConfig.from_spec({**base, "config_name": "preferences"})

    # No kernel on a CPU: refused before the data or the model is loaded.
    assert not varlen.kernel_available(torch.device("cpu"))
    with pytest.raises(ValueError, match="'varlen' needs a CUDA device"):
        resolve_attention("varlen", CPU)
    output = tmp_path / "refused"
    with pytest.raises(ValueError, match="'varlen' needs a CUDA device"):
        jobs.run_sft(sft_spec(release, tiny_model, output, attention="varlen"))
    assert not output.exists()

    # On CUDA it needs bf16: FlashAttention has no float32 kernel.
    cuda = torch.device("cuda")
    with pytest.raises(ValueError, match="precision auto or bf16"):
        resolve_attention("varlen", Runtime(cuda, 0, 1, None))
    assert resolve_attention("varlen", Runtime(cuda, 0, 1, torch.bfloat16)) == varlen.NAME
    assert resolve_attention("auto", Runtime(cuda, 0, 1, torch.bfloat16)) == "flex_attention"

    # SFT's auto: varlen on an Ampere or newer GPU in bf16, flex attention elsewhere on CUDA.
    def auto(dtype: torch.dtype | None, capability: tuple[int, int], suits: bool = True) -> str:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(torch.cuda, "get_device_capability", lambda device=None: capability)
            return resolve_attention("auto", Runtime(cuda, 0, 1, dtype), varlen_auto=suits)

    assert auto(torch.bfloat16, (9, 0)) == auto(torch.bfloat16, (8, 0)) == varlen.NAME
    assert auto(torch.bfloat16, (7, 5)) == "flex_attention"  # no FlashAttention 2 kernel
    assert auto(None, (9, 0)) == "flex_attention"  # fp32
    assert auto(torch.bfloat16, (9, 0), suits=False) == "flex_attention"
    assert resolve_attention("auto", CPU, varlen_auto=True) == "sdpa"

    # The tests' CPU kernels make it runnable, and leave nothing behind.
    with cpu_kernels():
        assert resolve_attention("varlen", CPU) == varlen.NAME
    assert not varlen.kernel_available(torch.device("cpu"))


def test_without_a_layout_there_is_no_varlen_mask(tiny_model: Path) -> None:
    batch: PackedBatch = five_examples(tiny_model)
    with pytest.raises(ValueError, match="layout"):
        attention_mask(batch, varlen.NAME, torch.float32)


def test_auto_takes_varlen_only_for_attention_it_computes_exactly() -> None:
    """No soft cap, no sliding window shorter than the rows, no encoder-decoder."""
    from transformers import Gemma2Config, LlamaConfig, MistralConfig, T5Config

    assert varlen.suits_auto(LlamaConfig(), 2048)
    assert not varlen.suits_auto(Gemma2Config(), 2048)  # attention logit soft cap
    assert not varlen.suits_auto(MistralConfig(sliding_window=1024), 2048)
    assert varlen.suits_auto(MistralConfig(sliding_window=4096), 2048)
    assert varlen.suits_auto(MistralConfig(sliding_window=None), 2048)
    assert not varlen.suits_auto(T5Config(), 2048)
