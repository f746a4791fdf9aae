"""Supervised fine-tuning end to end on a tiny model and release, through the job entry point."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

from tests.worker.helpers import read_json
from worker import jobs
from worker.data import PackedBatch, collate_sft, tokenize_sft
from worker.progress import ProgressEvent
from worker.runtime import RunPaths

# torch.compile's backend for the tests that check what the traced graph computes: Dynamo and
# AOTAutograd with inductor's decompositions and min-cut partitioner (checkpointed regions
# recomputed as inductor would), run without generating C++ kernels, which took most of a
# minute a test on these CPUs. test_the_compile_mode_reaches_torch_compile runs inductor itself.
GRAPH_ONLY = "aot_eager_decomp_partition"


def sft_spec(release: Path, model: Path, output: Path, **overrides: Any) -> dict[str, Any]:
    return {
        "kind": "sft",
        "run_id": 7,
        "release": f"file://{release}",
        "release_revision": "v1",
        "base_model": str(model),
        "output_dir": str(output),
        "max_seq_len": 256,
        "micro_batch_size": 2,
        "grad_accum_steps": 2,
        "max_steps": 30,
        "learning_rate": 3e-3,
        "warmup_ratio": 0.1,
        "eval_every": 15,
        "checkpoint_every": 10,
        # The loop a GPU runs (one step read behind), so resuming, cancelling and two
        # processes are tested on it; the CPU default reads each step at once.
        "pipeline_steps": True,
    } | overrides


def five_examples(model: Path, seq_len: int = 200) -> PackedBatch:
    """Five tokenized examples packed into two rows of ``seq_len``: three and two."""
    from tests.worker import helpers

    tokenizer = AutoTokenizer.from_pretrained(model)
    examples = [
        e
        for row in helpers.sft_rows(5, seed=11)
        if (e := tokenize_sft(tokenizer, row, max_seq_len=128)) is not None
    ]
    return collate_sft(
        examples, [[0, 1, 2], [3, 4]], seq_len=seq_len, pad_id=tokenizer.pad_token_id
    )


def test_sft_lowers_the_loss_and_writes_a_loadable_output(
    release: Path, tiny_model: Path, tmp_path: Path
) -> None:
    events: list[ProgressEvent] = []
    output = tmp_path / "sft-run"
    spec = sft_spec(release, tiny_model, output, pipeline_steps=None)  # the CPU default
    result = jobs.run_sft(spec, progress=events.append)

    assert result["status"] == "succeeded" and result["output_dir"] == str(output)
    assert result["steps"] == 30 and result["resumed_from_step"] == 0
    metrics = read_json(output / "metrics.json")
    losses = [entry["loss"] for entry in metrics["train_log"]]
    assert sum(losses[-5:]) / 5 < 0.6 * sum(losses[:5]) / 5
    assert [e["step"] for e in metrics["eval_log"]] == [15, 30]
    assert metrics["eval_log"][1]["eval_loss"] < metrics["eval_log"][0]["eval_loss"]
    assert result["metrics"]["eval_perplexity"] == pytest.approx(
        torch.tensor(result["metrics"]["eval_loss"]).exp().item()
    )
    # Training is said to start before its first step ends, then each step with its loss.
    # Training is said to go on after the evaluation at step 15, again with no loss.
    start, *train_events = [e for e in events if e["phase"] == "train"]
    assert start == {"phase": "train", "step": 0, "total": 30}
    assert [e for e in train_events if "loss" not in e] == [
        {"phase": "train", "step": 15, "total": 30}
    ]
    train_events = [e for e in train_events if "loss" in e]
    assert len(train_events) == 30 and train_events[-1]["total"] == 30
    assert {"step", "total", "loss", "tokens_per_s", "lr"} <= set(train_events[0])
    assert events[-1]["phase"] == "done"
    # Each step's time is its own: no step is credited with a neighbour's work, which would
    # show one step at a near-infinite rate (steps are the same size, give or take packing).
    rates = sorted(entry["tokens_per_s"] for entry in metrics["train_log"])
    assert rates[-1] < 5 * rates[len(rates) // 2]

    # The folder is complete, loadable, and every weight moved.
    assert {
        "model.safetensors",
        "config.json",
        "tokenizer.json",
        "training_config.json",
        "metrics.json",
        "README.md",
    } <= {p.name for p in output.iterdir()}
    trained = AutoModelForCausalLM.from_pretrained(output)
    base = AutoModelForCausalLM.from_pretrained(tiny_model)
    for (name, after), before in zip(trained.named_parameters(), base.parameters(), strict=True):
        assert not torch.equal(after, before), f"{name} did not change"
    assert AutoTokenizer.from_pretrained(output).eos_token == "</s>"
    assert read_json(output / "training_config.json")["max_seq_len"] == 256
    card = (output / "README.md").read_text()
    assert f"of `{tiny_model.name}` (a local model)" in card and 'revision: "v1"' in card
    assert "base_model:" not in card and str(tiny_model) not in card  # no server path
    assert "model-index:" in card and "type: perplexity" in card
    assert not RunPaths(output).work.exists()

    # Running the same spec again returns the finished result without training.
    assert jobs.run_sft(spec) == result


@pytest.mark.parametrize("param_dtype", ["fp32", "bf16"])
def test_lora_adapters_are_merged_into_plain_weights(
    release: Path, tiny_model: Path, tmp_path: Path, param_dtype: str
) -> None:
    """Only the adapted projections change. In bf16 weights the frozen base is kept in bf16
    too (half its memory) and only the adapters have fp32 masters: the rest of the output is
    the base rounded to bf16."""
    output = tmp_path / "lora-run"
    spec = sft_spec(
        release,
        tiny_model,
        output,
        method="lora",
        lora_r=4,
        max_steps=4,
        eval_every=0,
        learning_rate=1e-2,
        lora_dropout=0.0,
        param_dtype=param_dtype,
    )
    jobs.run_sft(spec)
    assert not (output / "adapter_config.json").exists()
    merged = AutoModelForCausalLM.from_pretrained(output, dtype=torch.float32)
    base = AutoModelForCausalLM.from_pretrained(tiny_model, dtype=torch.float32)
    as_trained = torch.bfloat16 if param_dtype == "bf16" else torch.float32
    changed = [
        name
        for (name, after), before in zip(merged.named_parameters(), base.parameters(), strict=True)
        if not torch.equal(after, before.to(as_trained).float())
    ]
    assert changed and all("proj" in name for name in changed)


def test_no_output_appears_when_evaluation_fails(
    release: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*args: Any, **kwargs: Any) -> dict[str, float]:
        raise RuntimeError("evaluation failed")

    monkeypatch.setattr("worker.sft.sft_metrics", broken)
    output = tmp_path / "failed-run"
    with pytest.raises(RuntimeError, match="evaluation failed"):
        jobs.run_sft(sft_spec(release, tiny_model, output, max_steps=2, eval_every=0))
    assert not output.exists()


def test_it_rejects_unknown_spec_keys(release: Path, tiny_model: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="lerning_rate"):
        jobs.run_sft(sft_spec(release, tiny_model, tmp_path / "x", lerning_rate=1.0))


@pytest.mark.parametrize("select_targets", [True, False])
def test_a_chunked_loss_gives_the_same_loss_and_gradients(
    tiny_model: Path, select_targets: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The LM head and loss in chunks of 7 positions, their logits recomputed in the backward
    (each chunk's head runs twice), match the whole batch at once."""
    from worker import sft
    from worker.data import IGNORE_INDEX

    batch = five_examples(tiny_model)
    calls: list[int] = []
    head_loss = sft._head_loss

    def counted(head: Any, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        calls.append(len(targets))
        return head_loss(head, hidden, targets)

    monkeypatch.setattr(sft, "_head_loss", counted)
    results = []
    for chunk in (0, 7):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
        loss_module = sft.ResponseLoss(model, "sdpa", chunk_tokens=chunk)
        loss_module.select_targets = select_targets
        loss = loss_module(*batch.tensors())
        forward_calls = len(calls)
        loss.backward()
        results.append(
            (loss.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}, calls[:])
        )
        calls.clear()
        positions = (
            int((batch.targets != IGNORE_INDEX).sum()) if select_targets else batch.targets.numel()
        )
        if chunk:
            assert forward_calls == -(-positions // chunk)
            assert len(results[-1][2]) == 2 * forward_calls  # recomputed, not kept
            assert max(results[-1][2]) == chunk
        else:
            assert results[-1][2] == [positions]
    (whole, whole_grads, _), (chunked, chunked_grads, _) = results
    torch.testing.assert_close(chunked, whole, rtol=1e-5, atol=1e-4)
    for name, grad in whole_grads.items():
        torch.testing.assert_close(chunked_grads[name], grad, rtol=1e-4, atol=1e-6, msg=name)


@pytest.mark.slow(seconds=6)
def test_the_compiled_chunked_loss_matches_the_eager_whole_one(tiny_model: Path) -> None:
    """As on CUDA: model and loss compiled as one graph (every position through the head, in
    chunks that torch.compile traces as checkpointed regions), with and without each decoder
    layer checkpointed as well (``gradient_checkpointing``); the same loss and gradients, and
    checkpointed layers leave the backward fewer activations to keep."""
    from worker import sft

    batch = five_examples(tiny_model)
    results = []
    for compiled, checkpoint_layers in ((False, False), (True, False), (True, True)):
        model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
        model.train()
        if checkpoint_layers:
            model.activation_checkpointing_enable({"use_reentrant": False})
        loss_module = sft.ResponseLoss(model, "sdpa", chunk_tokens=64 if compiled else 0)
        if compiled:
            loss_module.compiled = torch.compile(loss_module.token_loss, backend=GRAPH_ONLY)
        weights = {p.data_ptr() for p in model.parameters()}
        kept: list[int] = []

        def keep(
            tensor: torch.Tensor, weights: set[int] = weights, kept: list[int] = kept
        ) -> torch.Tensor:
            if tensor.data_ptr() not in weights:
                kept.append(tensor.numel() * tensor.element_size())
            return tensor

        with torch.autograd.graph.saved_tensors_hooks(keep, lambda tensor: tensor):
            loss = loss_module(*batch.tensors())
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()], sum(kept)))
    (whole, whole_grads, _), *compiled_runs = results
    for chunked, chunked_grads, _ in compiled_runs:
        torch.testing.assert_close(chunked, whole, rtol=1e-4, atol=1e-3)
        for got, expected in zip(chunked_grads, whole_grads, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-5)
    kept_all, kept_checkpointed = (kept for _, _, kept in compiled_runs)
    assert 0 < kept_checkpointed < kept_all / 2


@pytest.mark.slow(seconds=6)
def test_target_slots_send_only_response_positions_through_the_head(
    tiny_model: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With ``target_slots`` the training graph sends that many positions, those with a target
    first, through the LM head instead of every position: eager, then compiled as one graph
    (alone and with a chunked loss), it gives the loss and gradients of the head on the
    target positions alone."""
    from worker import sft
    from worker.data import IGNORE_INDEX

    batch = five_examples(tiny_model)
    n_targets = int((batch.targets != IGNORE_INDEX).sum())
    assert 0 < n_targets < batch.targets.numel() // 2  # prompts and padding to leave out
    head_positions: list[int] = []
    head_loss = sft._head_loss

    def counted(head: Any, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        head_positions.append(len(targets))
        return head_loss(head, hidden, targets)

    monkeypatch.setattr(sft, "_head_loss", counted)
    results = []
    for slots, compiled, chunk in (
        (0, False, 0),  # the reference: the target positions selected eagerly
        (n_targets + 13, False, 0),
        (n_targets, True, 0),
        (n_targets + 13, True, 16),
    ):
        model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
        model.train()
        loss_module = sft.ResponseLoss(model, "sdpa", chunk_tokens=chunk, target_slots=slots)
        loss_module.select_targets = not slots
        if compiled:
            loss_module.compiled = torch.compile(loss_module.token_loss, backend=GRAPH_ONLY)
        head_positions.clear()
        loss = loss_module(*batch.tensors())
        if not compiled:  # compiled, the counting runs once, at tracing
            assert head_positions == [slots or n_targets]
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    (whole, whole_grads), *slotted = results
    for loss, grads in slotted:
        torch.testing.assert_close(loss, whole, rtol=1e-5, atol=1e-4)
        for got, expected in zip(grads, whole_grads, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-4, atol=1e-6)


def test_on_a_cpu_a_micro_batch_goes_through_row_by_row_with_the_same_gradients(
    tiny_model: Path,
) -> None:
    """Uncompiled on a CPU, each row is its own pass (half the peak memory); elsewhere, and
    compiled, the whole micro-batch. The passes hold the same rows in the same order, and
    their summed loss and gradients are those of whole micro-batches."""
    from types import SimpleNamespace

    from tests.worker import helpers
    from worker import sft

    cpu: Any = SimpleNamespace(device=torch.device("cpu"), rank=0, world=1)
    cuda: Any = SimpleNamespace(device=torch.device("cuda"), rank=0, world=1)
    config: Any = SimpleNamespace(
        micro_batch_size=2, grad_accum_steps=2, max_seq_len=200, compile=None
    )
    assert sft.rows_per_pass(config, cpu) == 1 and sft.rows_per_pass(config, cuda) == 2
    config.compile = True
    assert sft.rows_per_pass(config, cpu) == 2
    config.compile = None

    tokenizer = AutoTokenizer.from_pretrained(tiny_model)
    examples = [
        e
        for row in helpers.sft_rows(5, seed=11)
        if (e := tokenize_sft(tokenizer, row, max_seq_len=128)) is not None
    ]
    rows = [[0, 1, 2], [3], [4]]  # two micro-batches of two rows; the last row is empty
    row_by_row = sft.micro_batches(rows, examples, config, cpu, tokenizer.pad_token_id)
    whole = sft.micro_batches(rows, examples, config, cuda, tokenizer.pad_token_id)
    assert [tuple(b.input_ids.shape) for b in row_by_row] == [(1, 200)] * 4
    assert [tuple(b.input_ids.shape) for b in whole] == [(2, 200)] * 2
    for name in ("input_ids", "position_ids", "doc", "segment", "targets"):
        torch.testing.assert_close(
            torch.cat([getattr(b, name) for b in row_by_row]),
            torch.cat([getattr(b, name) for b in whole]),
            msg=name,
        )

    results = []
    for passes in (whole, row_by_row):
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
        loss_module = sft.ResponseLoss(model, "sdpa")
        total = torch.zeros(())
        for batch in passes:
            loss = loss_module(*batch.tensors())
            loss.backward()
            total += loss.detach()
        results.append((total, {n: p.grad.clone() for n, p in model.named_parameters()}))
    (loss_whole, grads_whole), (loss_rows, grads_rows) = results
    assert loss_whole > 0
    torch.testing.assert_close(loss_rows, loss_whole, rtol=1e-5, atol=1e-4)
    for name, grad in grads_whole.items():
        torch.testing.assert_close(grads_rows[name], grad, rtol=1e-4, atol=1e-6, msg=name)


def test_target_slots_cover_the_fullest_micro_batch_of_the_run() -> None:
    """The most response tokens in any micro-batch, on any process, rounded up to 64; 0 when
    that is the whole batch."""
    from types import SimpleNamespace

    from worker import sft

    examples: Any = [SimpleNamespace(n_targets=n) for n in (10, 200, 30, 5, 70, 1)]
    config: Any = SimpleNamespace(micro_batch_size=2, grad_accum_steps=1, max_seq_len=512)
    # One step of four rows: process 0 gets rows 0 and 2, process 1 rows 1 and 3.
    steps = [[[0], [1, 2], [3], [4, 5]]]
    assert sft.target_slots(steps, examples, config, world=1) == 256  # rows 0, 1: 240
    assert sft.target_slots(steps, examples, config, world=2) == 320  # rows 1, 3: 301
    config.max_seq_len = 128  # 2 × 128 positions: no fewer than 301 rounded
    assert sft.target_slots(steps, examples, config, world=2) == 0


def test_a_micro_batch_beyond_its_target_slots_stops_the_run(
    release: Path, tiny_model: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """If a batch ever held more response tokens than planned, the graph would drop some of
    them from the loss without a word: the step refuses instead."""
    from worker import sft

    monkeypatch.setattr(sft, "target_slots", lambda *args: 8)
    with pytest.raises(RuntimeError, match="more than the 8 planned"):
        jobs.run_sft(sft_spec(release, tiny_model, tmp_path / "out", compile=False))
    assert not (tmp_path / "out").exists()


@pytest.mark.slow(seconds=18)
def test_the_compile_mode_reaches_torch_compile_and_trains_like_eager(
    tiny_model: Path, release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``compile_mode`` goes through wrap_for_training to the real torch.compile, and the model
    and loss compiled that way give the eager loss and gradients. (On a CPU inductor has no
    matrix-product kernels to time, so max-autotune-no-cudagraphs picks what the default
    would, and no CUDA graphs, so reduce-overhead runs as the default but for its fixed input
    buffers; on CUDA the one times several Triton kernels for each product and the other
    replays CUDA graphs.)"""
    from worker import sft
    from worker.runtime import Runtime

    modes: list[str] = []
    real_compile = torch.compile

    def compile_and_note(fn: Any, **options: Any) -> Any:
        modes.append(options["mode"])
        return real_compile(fn, **options)

    monkeypatch.setattr(torch, "compile", compile_and_note)
    batch = five_examples(tiny_model)
    runtime = Runtime(torch.device("cpu"), 0, 1, None)
    results = []
    for compile_mode in (None, "max-autotune-no-cudagraphs", "reduce-overhead"):
        config = sft.SFTConfig.from_spec(
            sft_spec(
                release,
                tiny_model,
                tmp_path / "out",
                compile=compile_mode is not None,
                compile_mode=compile_mode or "default",
            )
        )
        model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation="sdpa")
        loss_module = sft.ResponseLoss(model, "sdpa")
        trainer = sft.wrap_for_training(loss_module, config, runtime)
        loss = trainer(*batch.tensors())
        loss.backward()
        results.append((loss.detach(), [p.grad.clone() for p in model.parameters()]))
    assert modes == ["max-autotune-no-cudagraphs", "reduce-overhead"]
    (eager, eager_grads), *compiled_runs = results
    for compiled, compiled_grads in compiled_runs:
        torch.testing.assert_close(compiled, eager, rtol=1e-4, atol=1e-3)
        for got, expected in zip(compiled_grads, eager_grads, strict=True):
            torch.testing.assert_close(got, expected, rtol=1e-3, atol=1e-5)


@pytest.mark.slow(seconds=6)
def test_evaluation_skips_the_training_graph_but_not_compiled_attention(
    tiny_model: Path, release: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without gradients the loss runs eagerly (no inference graph to compile), on the
    positions that have a target, while flex attention still runs compiled: its dense
    reference code, which a ``force_eager`` stance would pick, holds every query-key score
    (3.3 GiB at the benchmark's shape). The loss equals sdpa's on the same weights."""
    import importlib

    from worker import sft
    from worker.runtime import Runtime

    flex_ops = importlib.import_module("torch._higher_order_ops.flex_attention")
    dense_calls: list[int] = []
    reference = flex_ops.math_attention

    def noted(*args: Any, **kwargs: Any) -> Any:
        dense_calls.append(1)
        return reference(*args, **kwargs)

    monkeypatch.setattr(flex_ops, "math_attention", noted)
    batch = five_examples(tiny_model, seq_len=256)
    config = sft.SFTConfig.from_spec(sft_spec(release, tiny_model, tmp_path / "out", compile=True))
    losses = []
    for attention in ("sdpa", "flex_attention"):
        model = AutoModelForCausalLM.from_pretrained(tiny_model, attn_implementation=attention)
        loss_module = sft.ResponseLoss(model, attention)
        sft.wrap_for_training(loss_module, config, Runtime(torch.device("cpu"), 0, 1, None))
        training_graph = loss_module.compiled
        assert training_graph is not None
        training_calls: list[int] = []

        def counted(
            *args: Any, graph: Any = training_graph, calls: list[int] = training_calls
        ) -> Any:
            calls.append(1)
            return graph(*args)

        loss_module.compiled = counted
        model.eval()
        with torch.no_grad():
            losses.append(loss_module(*batch.tensors()))
        assert training_calls == []
    assert dense_calls == []
    torch.testing.assert_close(losses[1], losses[0], rtol=1e-4, atol=1e-3)
