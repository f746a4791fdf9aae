"""Supervised fine-tuning on a release's ``sft`` config: data, model, loop, save, publish.

The loss is on response tokens only (EOS included); examples are packed into rows of
``max_seq_len`` tokens and cannot see each other (document masks, positions restarting at 0
per example; see worker.masks). One optimizer step reads ``micro_batch_size ×
grad_accum_steps × world`` rows, so tokens per step do not depend on the number of GPUs.

Single process: ``python -m worker.jobs sft spec.json``. Several GPUs of one node (DDP, same
entry point, same spec)::

    torchrun --standalone --nproc-per-node=8 -m worker.jobs sft spec.json
    accelerate launch --multi-gpu --num-processes=8 -m worker.jobs sft spec.json

Rank 0 writes checkpoints and the output; a run killed at any point and started again with
the same spec resumes from its last checkpoint and reproduces the uninterrupted run.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from contextlib import nullcontext
from typing import Any

import torch
from torch import nn

from worker import varlen
from worker.config import SFTConfig
from worker.data import (
    IGNORE_INDEX,
    PackedBatch,
    TokenizedExample,
    collate_sft,
    pack_rows,
    read_rows,
    tokenize_sft,
)
from worker.evaluate import sft_metrics
from worker.loop import Launched, StepLoop, train_to_output
from worker.masks import StaticInputs, attention_mask
from worker.progress import ProgressCallback, StopCheck, never_stop, no_progress
from worker.runtime import (
    RunPaths,
    Runtime,
    Timer,
    apply_lora,
    cast_parameters,
    dense_base,
    load_model,
    load_tokenizer,
    make_optimizer,
    make_scheduler,
    optimizer_step,
    resolve_attention,
    resolve_compile,
    result_from,
    resume,
    seed_everything,
    setup_runtime,
    step_lr,
    to_device,
    unwrap_hf,
)

# ---------------------------------------------------------------------------------------------
# Data
# ---------------------------------------------------------------------------------------------


def load_examples(
    config: SFTConfig, tokenizer: Any, split: str, limit: int | None = None
) -> list[TokenizedExample]:
    """Tokenize a split of the release's sft config, in file order, skipping empty answers."""
    rows = read_rows(config.release, config.config_name, split)[:limit]
    examples = [
        tokenize_sft(tokenizer, row, max_seq_len=config.max_seq_len, fmt=config.prompt_format)
        for row in rows
    ]
    return [e for e in examples if e is not None]


def plan_steps(
    examples: list[TokenizedExample], config: SFTConfig, world: int
) -> list[list[list[int]]]:
    """The whole run as data: for each optimizer step, the rows (lists of example indices).

    Every epoch packs afresh with its own seed, so the plan is a pure function of the data and
    the config; a step number alone says where a resumed run continues. With ``max_steps``
    set, epochs repeat until that many steps exist and the plan is cut there.
    """
    per_step = config.micro_batch_size * config.grad_accum_steps * world
    lengths = [len(e) for e in examples]
    steps: list[list[list[int]]] = []
    epoch = 0
    while epoch < config.num_epochs or (config.max_steps and len(steps) < config.max_steps):
        rows = pack_rows(lengths, config.max_seq_len, random.Random(f"{config.seed}/{epoch}"))
        steps.extend(rows[i : i + per_step] for i in range(0, len(rows), per_step))
        epoch += 1
    return steps[: config.max_steps] if config.max_steps else steps


def rows_per_pass(config: SFTConfig, runtime: Runtime) -> int:
    """How many packed rows go through the model in one forward and backward pass: a whole
    micro-batch, or one row at a time on a CPU without compile.

    Rows cannot see each other and the loss is a sum over response tokens, so a micro-batch
    passed row by row gives the same gradients. On a CPU that halves the peak memory
    (SmolLM2-135M, 4 rows of 1,024 tokens: 10.9 GB against 5.5 GB) and is no slower; an
    accelerator is faster with the whole micro-batch, and a compiled model keeps one shape.
    """
    if runtime.device.type == "cpu" and not resolve_compile(config.compile, runtime):
        return 1
    return config.micro_batch_size


def micro_batches(
    rows: list[list[int]],
    examples: list[TokenizedExample],
    config: SFTConfig,
    runtime: Runtime,
    pad_id: int,
) -> list[PackedBatch]:
    """This process's passes for one step: ``grad_accum_steps`` micro-batches of
    ``micro_batch_size`` rows (empty rows pad them out), each in passes of
    :func:`rows_per_pass` rows.

    Every process runs the same number of forward passes, as DDP requires.
    """
    per_pass = rows_per_pass(config, runtime)
    return [
        collate_rows(examples, rows, config, pad_id, per_pass)
        for rows in pass_rows(rows, config, runtime.rank, runtime.world, per_pass)
    ]


def pass_rows(
    rows: list[list[int]], config: SFTConfig, rank: int, world: int, per_pass: int
) -> list[list[list[int]]]:
    """The rows of process ``rank``'s passes for one step, as :func:`micro_batches` makes
    them (empty rows included)."""
    mine = rows[rank::world]
    size = config.micro_batch_size
    passes = []
    for a in range(config.grad_accum_steps):
        micro = mine[a * size : (a + 1) * size]
        micro = micro + [[] for _ in range(size - len(micro))]
        passes += [micro[start : start + per_pass] for start in range(0, size, per_pass)]
    return passes


def collate_rows(
    examples: list[TokenizedExample],
    rows: list[list[int]],
    config: SFTConfig,
    pad_id: int,
    size: int | None = None,
) -> PackedBatch:
    """A ``[size, max_seq_len]`` batch of ``rows`` (``size``: ``micro_batch_size`` unless
    given), empty rows filling it out: every batch has one shape, so the compiled model never
    sees another."""
    size = config.micro_batch_size if size is None else size
    rows = rows + [[] for _ in range(size - len(rows))]
    return collate_sft(examples, rows, seq_len=config.max_seq_len, pad_id=pad_id)


def varlen_layout(
    steps: list[list[list[int]]],
    train: list[TokenizedExample],
    test_rows: list[list[int]],
    test: list[TokenizedExample],
    config: SFTConfig,
    runtime: Runtime,
) -> varlen.Layout:
    """The layout (see :class:`worker.varlen.Layout`) of every batch this process will pass
    through the model: its training passes and the test batches."""
    per_pass = rows_per_pass(config, runtime)
    batches = [
        [[len(train[i]) for i in row] for row in rows]
        for step in steps
        for rows in pass_rows(step, config, runtime.rank, runtime.world, per_pass)
    ]
    batches += [
        [[len(test[i]) for i in row] for row in test_rows[start : start + per_pass]]
        for start in range(0, len(test_rows), per_pass)
    ]
    return varlen.Layout.of(batches, per_pass, config.max_seq_len)


def target_slots(
    steps: list[list[list[int]]], examples: list[TokenizedExample], config: SFTConfig, world: int
) -> int:
    """How many positions of a training micro-batch the compiled graph sends through the LM
    head: the most response tokens in any micro-batch of the run (on any process), rounded up
    to a multiple of 64; 0 (every position) when that is no fewer than the batch holds.

    Response tokens are commonly half a packed batch or less, so the vocabulary projection and
    its fp32 logits, a tenth of a small model's work and its largest activation, shrink with
    them while the graph keeps one shape.
    """
    size = config.micro_batch_size
    most = 0
    for rows in steps:
        for rank in range(world):
            mine = rows[rank::world]
            for a in range(config.grad_accum_steps):
                part = mine[a * size : (a + 1) * size]
                most = max(most, sum(examples[i].n_targets for row in part for i in row))
    slots = -(-most // 64) * 64
    return 0 if slots >= size * config.max_seq_len else slots


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------


class ResponseLoss(nn.Module):
    """Wraps a causal LM: forward returns the summed cross-entropy over response targets.

    ``doc``/``segment`` become the attention mask inside ``forward`` (so DDP sees tensors only);
    :meth:`token_loss` is the model and the loss, which :func:`wrap_for_training` compiles as
    one graph (``compiled``) on CUDA for training. Compiled, every position goes through the
    LM head (ignored targets add nothing) so that shapes stay fixed and nothing waits on the
    device, or, with ``target_slots`` (see :func:`target_slots`), that many positions, those
    with a target first; eager, only positions with a target do, so prompt and padding tokens
    cost no vocabulary projection.

    Evaluation (no gradients) runs :meth:`token_loss` eagerly: compiling an inference graph
    as well would take as long as compiling the training one, for a few batches. Attention
    there still runs compiled kernels (transformers compiles flex attention on its own); a
    ``force_eager`` stance would send flex attention to its dense reference code, which holds
    every query-key score (3.3 GiB for the benchmark's four rows of 2,048 tokens).

    With ``chunk_tokens`` the LM head and cross-entropy run on that many positions at a time,
    each chunk's logits recomputed in the backward rather than kept: the logits of a whole
    batch (8,192 positions × a 32,000-word vocabulary is 1 GiB in fp32) never exist at once.

    With ``static`` (set for CUDA graphs) a training batch and its mask are copied into fixed
    buffers before they reach the model (see :class:`worker.masks.StaticInputs`).

    With varlen attention (:data:`worker.varlen.NAME`) the "mask" is the batch's
    ``cu_seqlens``, which reaches the attention layers as the decoder's
    ``cu_seq_lens_q``/``cu_seq_lens_k``, with the longest sequence as ``max_length_q``/
    ``max_length_k``; ``layout`` is then required and is the same for every batch
    (:meth:`worker.varlen.Layout.of` every batch the model will see), so that the compiled
    graph and the CUDA graphs see one shape.
    """

    def __init__(
        self,
        model: nn.Module,
        attention: str,
        use_liger: bool = False,
        chunk_tokens: int = 0,
        layout: varlen.Layout | None = None,
        target_slots: int = 0,
    ) -> None:
        super().__init__()
        self.model = model
        self.attention = attention
        self.layout = layout
        self.target_slots = target_slots
        self.select_targets = True  # eager only; the compiled graph takes every position
        self.compiled: Callable[..., torch.Tensor] | None = None
        self.chunk_tokens = chunk_tokens
        self.liger: Any = None
        self.static: StaticInputs | None = None
        if use_liger:
            from liger_kernel.transformers import LigerFusedLinearCrossEntropyLoss

            self.liger = LigerFusedLinearCrossEntropyLoss(reduction="sum")

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        doc: torch.Tensor,
        segment: torch.Tensor,
        targets: torch.Tensor,
    ) -> torch.Tensor:
        training = torch.is_grad_enabled()
        static = self.static if training else None
        if static is not None:
            input_ids, position_ids, doc, segment, targets = (
                static.tensor(name, value)
                for name, value in zip(
                    ("input_ids", "position_ids", "doc", "segment", "targets"),
                    (input_ids, position_ids, doc, segment, targets),
                    strict=True,
                )
            )
        batch = PackedBatch(input_ids, position_ids, doc, segment, targets)
        mask = attention_mask(
            batch, self.attention, unwrap_hf(self.model).dtype, layout=self.layout
        )
        if static is not None:
            mask = static.mask(mask)
        if training and self.compiled is not None:
            return self.compiled(input_ids, position_ids, mask, targets, False)
        return self.token_loss(input_ids, position_ids, mask, targets, self.select_targets)

    def token_loss(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        mask: Any,
        targets: torch.Tensor,
        select_targets: bool,
    ) -> torch.Tensor:
        hf = unwrap_hf(self.model)
        masking: dict[str, Any] = {"attention_mask": mask}
        if self.attention == varlen.NAME:
            longest = self.layout.longest if self.layout else None  # None: the row length
            masking = {"cu_seq_lens_q": mask, "cu_seq_lens_k": mask}
            masking |= {"max_length_q": longest, "max_length_k": longest}
        hidden = hf.get_decoder()(
            input_ids=input_ids, position_ids=position_ids, use_cache=False, **masking
        ).last_hidden_state
        if select_targets:
            selected = targets != IGNORE_INDEX
            hidden, targets = hidden[selected], targets[selected]
        elif self.target_slots:
            # A fixed number of positions, the targets first: a stable sort of "is ignored"
            # keeps their order and needs nothing read back from the device.
            targets = targets.flatten()
            ignored = (targets == IGNORE_INDEX).to(torch.uint8)
            order = torch.argsort(ignored, stable=True)[: self.target_slots]
            hidden, targets = hidden.flatten(0, 1)[order], targets[order]
        else:
            hidden, targets = hidden.flatten(0, 1), targets.flatten()
        head = hf.get_output_embeddings()
        if self.liger is not None:
            return self.liger(head.weight, hidden, targets)  # type: ignore[no-any-return]
        size = self.chunk_tokens
        if not size or len(targets) <= size:
            return _head_loss(head, hidden, targets)
        from torch.utils.checkpoint import checkpoint

        parts = [
            checkpoint(
                _head_loss,
                head,
                hidden[start : start + size],
                targets[start : start + size],
                use_reentrant=False,
            )
            for start in range(0, len(targets), size)
        ]
        return torch.stack(parts).sum()


def _head_loss(head: nn.Module, hidden: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Summed cross-entropy of the LM head's logits (fp32) at ``hidden`` against ``targets``."""
    logits = head(hidden).float()
    return nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX, reduction="sum")


def sft_attention(config: SFTConfig, runtime: Runtime) -> str:
    """``resolve_attention`` for SFT: on CUDA, ``auto`` may be varlen (see there) for a base
    model whose attention varlen computes exactly (``varlen.suits_auto``, read from the base
    model's configuration)."""
    suits = False
    if config.attention == "auto" and runtime.device.type == "cuda":
        from transformers import AutoConfig

        source, gguf_file = dense_base(config)
        extra = {"gguf_file": gguf_file} if gguf_file else {}
        suits = varlen.suits_auto(AutoConfig.from_pretrained(source, **extra), config.max_seq_len)
    return resolve_attention(config.attention, runtime, varlen_auto=suits)


def build_model(config: SFTConfig, runtime: Runtime, attention: str) -> nn.Module:
    """Load the base causal LM, add LoRA if asked, move it to the device."""
    from transformers import AutoModelForCausalLM

    model = load_model(AutoModelForCausalLM, config, attention)
    if config.gradient_checkpointing:
        model.activation_checkpointing_enable(  # type: ignore[operator]
            activation_checkpointing_kwargs={"use_reentrant": False}
        )
    model.config.use_cache = False  # type: ignore[union-attr]
    if config.method == "lora":
        model = apply_lora(model, config, "CAUSAL_LM")
    cast_parameters(model, config)
    return model.to(runtime.device)


def wrap_for_training(loss_module: ResponseLoss, config: SFTConfig, runtime: Runtime) -> nn.Module:
    """Compile the model and its loss as one graph (CUDA by default) and wrap in DDP when
    distributed.

    One graph for the forward and one for the backward leave the CPU little to do per step:
    a 0.4B model's kernels are short, and launched one Python call at a time they kept an H100
    idle two thirds of the time. ``activation_memory_budget`` lets the compiler recompute
    activations in the backward instead of keeping them (1.0 keeps everything).
    """
    if resolve_compile(config.compile, runtime):
        import torch._functorch.config as functorch_config

        functorch_config.activation_memory_budget = config.activation_memory_budget
        if config.compile_mode == "reduce-overhead":
            loss_module.static = StaticInputs()
        loss_module.compiled = torch.compile(loss_module.token_loss, mode=config.compile_mode)
    if runtime.distributed:
        ids = [runtime.device.index] if runtime.device.type == "cuda" else None
        return nn.parallel.DistributedDataParallel(loss_module, device_ids=ids)
    return loss_module


def _use_liger(config: SFTConfig, runtime: Runtime) -> bool:
    """Liger's fused loss when asked; by default on CUDA without compile (compiled, the loss
    is part of the model's graph, which Liger's kernels would break)."""
    if config.use_liger is not None:
        return config.use_liger
    if runtime.device.type != "cuda" or resolve_compile(config.compile, runtime):
        return False
    try:
        import liger_kernel  # noqa: F401
    except ImportError:
        return False
    return True


# ---------------------------------------------------------------------------------------------
# The run
# ---------------------------------------------------------------------------------------------


def train_sft(
    config: SFTConfig,
    progress: ProgressCallback = no_progress,
    should_stop: StopCheck = never_stop,
) -> dict[str, Any]:
    """Train, evaluate and write the output folder; return the JSON result.

    Idempotent: when ``config.output_dir`` already holds a finished run, its result is returned
    without training. ``should_stop`` is asked after every optimizer step; when it says so on
    any process, every process raises Stopped (checkpoints stay; the caller decides whether
    to remove them). Preconditions: the release has ``sft`` train and test splits and the
    output's parent folder is writable (and shared by all processes of the job).
    """
    paths = RunPaths(config.output_dir)
    if paths.is_complete():
        return result_from(paths)
    timer = Timer()
    runtime = setup_runtime(config.precision)
    seed_everything(config.seed)
    attention = sft_attention(config, runtime)
    progress({"phase": "load"})

    # Data ------------------------------------------------------------------------------------
    with timer("load"):
        tokenizer = load_tokenizer(config)
        train = load_examples(config, tokenizer, "train")
        test = load_examples(config, tokenizer, "test", config.max_eval_examples)
        if not train or not test:
            raise ValueError("the release's sft config needs train and test examples")
        steps = plan_steps(train, config, runtime.world)
        test_rows = pack_rows([len(e) for e in test], config.max_seq_len, random.Random(0))
        per_pass = rows_per_pass(config, runtime)
        test_batches = [
            collate_rows(
                test, test_rows[i : i + per_pass], config, tokenizer.pad_token_id, per_pass
            )
            for i in range(runtime.rank * per_pass, len(test_rows), per_pass * runtime.world)
        ]

        # Model -------------------------------------------------------------------------------
        model = build_model(config, runtime, attention)
        loss_module = ResponseLoss(
            model,
            attention,
            _use_liger(config, runtime),
            config.loss_chunk_tokens,
            layout=varlen_layout(steps, train, test_rows, test, config, runtime),
            target_slots=target_slots(steps, train, config, runtime.world),
        )
        trainer = wrap_for_training(loss_module, config, runtime)
        optimizer = make_optimizer(model, config, runtime)
        scheduler = make_scheduler(optimizer, len(steps), config)
        state = resume(
            paths, runtime, config, model=model, optimizer=optimizer, scheduler=scheduler
        )

    @torch.no_grad()
    def evaluate() -> dict[str, float]:
        model.eval()
        with timer("eval"):  # eagerly, see ResponseLoss
            metrics = sft_metrics(
                lambda b: (loss_module(*b.to(runtime.device).tensors()), b.n_targets),
                test_batches,
                runtime,
            )
        model.train()
        return metrics

    # Loop (see worker.loop) -------------------------------------------------------------------
    def prepare(step: int) -> list[PackedBatch]:
        batches = micro_batches(steps[step], train, config, runtime, tokenizer.pad_token_id)
        return to_device(batches, runtime)

    def launch(step: int, batches: list[PackedBatch]) -> Launched:
        rows = steps[step]
        # Normalise by the response tokens of the whole step on every process, so that
        # gradient accumulation and DDP averaging give the mean over the step's tokens.
        step_targets = sum(train[i].n_targets for row in rows for i in row)
        if config.compile_mode == "reduce-overhead":
            # A new step: the CUDA graphs may reuse the memory of the last step's outputs
            # (what the loop reads later, the loss sum and gradient norm, is computed outside).
            torch.compiler.cudagraph_mark_step_begin()
        losses = []
        for a, batch in enumerate(batches):
            if loss_module.target_slots and batch.n_targets > loss_module.target_slots:
                raise RuntimeError(  # the plan and the batches disagree: a bug, not bad data
                    f"step {step + 1}: {batch.n_targets} response tokens in a micro-batch, "
                    f"more than the {loss_module.target_slots} planned"
                )
            sync = a == len(batches) - 1 or not runtime.distributed
            context = trainer.no_sync() if not sync else nullcontext()  # type: ignore[operator]
            with context, runtime.autocast():
                value = trainer(*batch.tensors())
                (value * runtime.world / step_targets).backward()
            # A copy: replayed as a CUDA graph, the next micro-batch's forward writes its
            # loss where this one's is.
            losses.append(value.detach().clone())
        lr = step_lr(optimizer)  # this step's: optimizer_step moves on to the next
        grad_norm = optimizer_step(model, optimizer, scheduler, config.max_grad_norm)
        return Launched(
            sums=torch.stack(losses).sum().reshape(1),
            grad_norm=grad_norm,
            lr=lr,
            tokens=sum(len(train[i]) for row in rows for i in row),
            counts={"targets": step_targets},
        )

    def describe(launched: Launched, sums: list[float], seconds: float) -> dict[str, float]:
        return {"loss": sums[0] / launched.counts["targets"]}

    loop = StepLoop(
        config=config,
        runtime=runtime,
        paths=paths,
        state=state,
        total=len(steps),
        training=(model, optimizer, scheduler),
        timer=timer,
        progress=progress,
        should_stop=should_stop,
        prepare=prepare,
        launch=launch,
        describe=describe,
        evaluate=evaluate,
    )
    return train_to_output(loop, kind="sft", tokenizer=tokenizer, details={"attention": attention})
