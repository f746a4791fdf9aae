"""Training throughput: Hearth's trainers against TRL's, one after the other in one process.

``make bench-train`` runs ``python -m worker.bench``. All four runs use the same random-init
Llama-style model, the same synthetic Dolly-shaped data (short instructions, ~30% with a long
context, answers ~110 tokens with a long tail) and the same tokens per optimizer step:

* Hearth SFT (worker.sft: packed rows whose examples see only themselves — on CUDA
  FlashAttention's variable-length kernel, else sdpa with document masks — the model and its
  loss compiled as one graph and fused AdamW on CUDA) against TRL's
  ``SFTTrainer`` with ``packing=True`` (best-fit-decreasing, padding-free);
* Hearth's reward trainer (each prompt once, its K=4 responses as branches, every ranked
  pair) against TRL's ``RewardTrainer`` on the same pairs, one (chosen, rejected) per example.

Printed per run: tokens/s (real tokens, no padding), pairs/s for reward runs, peak GPU memory,
MFU (6·N FLOPs per token, N = parameters outside the input embedding, against a measured
bf16 matmul peak on GPU or fp32 on CPU; attention FLOPs are not counted) and the training
loss at the last step; then the Hearth/TRL ratios. Throughput is measured over the steps after
``--warmup`` (compilation and autotuning excluded).

GPU default model: hidden 1024, 24 layers, 16 heads, MLP 2816, vocab 32000 (~0.4B); 4 rows of
2,048 tokens (8,192 tokens) per SFT step, 32 pairs' worth of tokens per reward step; 200 SFT
steps and 60 reward steps. ``--small`` (automatic without CUDA) uses a tiny model so the bench
checks out on a CPU. Needs the ``bench`` extra (TRL); ``--only hearth-sft,trl-sft`` runs a
subset, in that order. A run that fails is reported and the others still run;
``--steps-log`` and ``--profile`` keep per-step timings and a profile of three steps of each
Hearth run. ``tests/bench/bench_train_offline.sh`` runs it on a GPU machine without network.
"""

from __future__ import annotations

import argparse
import gc
import json
import math
import os
import random
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from worker.config import Attention, CompileMode, ParamDtype
from worker.data import DOLLY_END, DOLLY_INTRO_WITH_INPUT, dolly_prompt, tokenize_sft
from worker.progress import ProgressCallback, ProgressEvent

RUNS = ("hearth-sft", "trl-sft", "hearth-reward", "trl-reward")
# Also selectable with --only: Hearth's SFT trading speed for memory, keeping a tenth of its
# activations for the backward (lowmem: SFTConfig.activation_memory_budget) or only each
# decoder layer's input, with the loss computed 1,024 positions at a time (minmem:
# gradient_checkpointing, loss_chunk_tokens); Hearth's SFT with the matrix-product kernels
# timed and chosen at compile time (autotune: compile_mode="max-autotune-no-cudagraphs") or
# replayed as CUDA graphs (cudagraphs: compile_mode="reduce-overhead"), also with minmem's
# checkpoints and loss chunks (cudagraphs-minmem); Hearth's SFT with FlashAttention's
# variable-length kernel instead of flex attention (varlen: attention="varlen"), also replayed
# as CUDA graphs (cudagraphs-varlen), which ``auto`` now picks on CUDA, and so flex attention
# named (flex: attention="flex_attention", what ``auto`` was before), and varlen with minmem's
# checkpoints and loss chunks, with and without CUDA graphs (varlen-minmem,
# cudagraphs-varlen-minmem); varlen with CUDA graphs with the model's weights, activations
# and gradients in bf16 over fp32 master weights (cudagraphs-varlen-bf16: param_dtype="bf16"),
# also with minmem's knobs (cudagraphs-varlen-bf16-minmem), and Hearth's reward model so
# (hearth-reward-bf16); TRL's SFT without the gradient checkpointing it turns on
# by default (faster, more memory). Every Hearth SFT run is compared with trl-sft, and every
# Hearth reward run with trl-reward, when both ran.
EXTRA_RUNS = (
    "hearth-sft-lowmem",
    "hearth-sft-minmem",
    "hearth-sft-autotune",
    "hearth-sft-cudagraphs",
    "hearth-sft-cudagraphs-minmem",
    "hearth-sft-varlen",
    "hearth-sft-cudagraphs-varlen",
    "hearth-sft-flex",
    "hearth-sft-varlen-minmem",
    "hearth-sft-cudagraphs-varlen-minmem",
    "hearth-sft-cudagraphs-varlen-bf16",
    "hearth-sft-cudagraphs-varlen-bf16-minmem",
    "hearth-reward-bf16",
    "trl-sft-nockpt",
)


# minmem's knobs. Not activation_memory_budget=0: with the whole model one graph, the compiler
# then recomputes from the embeddings and holds every layer again (on CPU it kept 96% of what
# the full run keeps; layer checkpoints kept a third).
MINMEM: dict[str, Any] = {"gradient_checkpointing": True, "loss_chunk_tokens": 1024}

# Examples every SFT run's trained model is scored on (Bench.held_out_losses).
HELD_OUT_EXAMPLES = 64


@dataclass(frozen=True)
class ModelShape:
    """A Llama-style architecture."""

    hidden: int
    layers: int
    heads: int
    mlp: int
    vocab: int


GPU_MODEL = ModelShape(hidden=1024, layers=24, heads=16, mlp=2816, vocab=32000)
SMALL_MODEL = ModelShape(hidden=128, layers=2, heads=4, mlp=352, vocab=4096)


@dataclass(frozen=True)
class Workload:
    """How much each run trains. Tokens per SFT step: ``rows × seq_len`` (packed capacity)."""

    seq_len: int
    rows: int
    sft_steps: int
    reward_steps: int
    warmup: int
    sft_examples: int
    reward_prompts: int
    reward_pairs_per_step: int
    learning_rate: float = 3e-4


GPU_WORKLOAD = Workload(
    seq_len=2048,
    rows=4,
    sft_steps=200,
    reward_steps=60,
    warmup=10,
    sft_examples=4000,
    reward_prompts=1500,
    reward_pairs_per_step=32,
)
SMALL_WORKLOAD = Workload(
    seq_len=512,
    rows=2,
    sft_steps=8,
    reward_steps=8,
    warmup=2,
    sft_examples=240,
    reward_prompts=120,
    reward_pairs_per_step=8,
)


@dataclass
class RunResult:
    name: str
    tokens_per_s: float
    pairs_per_s: float | None
    peak_memory_gib: float | None
    mfu: float
    final_loss: float
    steps: int
    tokens_per_step: float
    # Peak memory up to the last training step (Hearth's runs then evaluate and save; TRL's
    # do neither, so there it is the peak).
    train_peak_memory_gib: float | None = None
    # SFT: the trained model's loss per response token on the held-out examples (the mean
    # of each example's), computed the same way for every run (Bench.held_out_losses).
    held_out_loss: float | None = None


# ---------------------------------------------------------------------------------------------
# Synthetic data, tokenizer and model
# ---------------------------------------------------------------------------------------------


def _words(vocab: int) -> list[str]:
    """Vocabulary words: Dolly's template words plus ``w0…`` up to the vocabulary size."""
    template = {
        *dolly_prompt("x", "y").split(),
        *DOLLY_INTRO_WITH_INPUT.split(),
        *DOLLY_END.split(),
    }
    fixed = sorted(template)
    return fixed + [f"w{i}" for i in range(vocab - 4 - len(fixed))]


class TextSampler:
    """Zipf-distributed words, so that a model can lower its loss by learning frequencies."""

    def __init__(self, vocab: int, seed: int) -> None:
        self.words = [w for w in _words(vocab) if w.startswith("w")]
        self.weights = [1.0 / (rank + 10) for rank in range(len(self.words))]
        self.rng = random.Random(seed)

    def text(self, n: int) -> str:
        return " ".join(self.rng.choices(self.words, self.weights, k=max(1, n)))

    def answer_length(self) -> int:
        # Log-normal: median ~85, mean ~110, a long tail up to 1500 tokens.
        return min(1500, max(3, int(self.rng.lognormvariate(4.45, 0.7))))

    def prompt(self) -> tuple[str, str]:
        instruction = self.text(self.rng.randint(6, 30))
        context = ""
        if self.rng.random() < 0.3:
            context = self.text(min(1200, int(self.rng.lognormvariate(5.3, 0.6))))
        return instruction, context


def sft_rows(n: int, sampler: TextSampler) -> list[dict[str, Any]]:
    rows = []
    for i in range(n):
        instruction, context = sampler.prompt()
        rows.append(
            {
                "id": f"b{i}",
                "instruction": instruction,
                "context": context,
                "response": sampler.text(sampler.answer_length()),
                "category": "closed_qa" if context else "open_qa",
                "language": "en",
                "source": "human",
            }
        )
    return rows


def preference_rows(n: int, sampler: TextSampler, k: int = 4) -> list[dict[str, Any]]:
    """K responses per prompt; better ones say "w0" more often (a learnable signal)."""
    rows = []
    for i in range(n):
        instruction, context = sampler.prompt()
        responses = []
        for quality in range(k):
            words = sampler.text(sampler.answer_length()).split()
            words += ["w0"] * (2 * (k - quality))
            sampler.rng.shuffle(words)
            responses.append(" ".join(words))
        for a in range(k):
            for b in range(a + 1, k):
                rows.append(
                    {
                        "prompt_id": f"q{i}",
                        "instruction": instruction,
                        "context": context,
                        "chosen": responses[a],
                        "rejected": responses[b],
                        "chosen_rank": a + 1,
                        "rejected_rank": b + 1,
                        # As a release writes it: the share of rankers who agree (all
                        # do here), not the rank gap (chosen_rank, rejected_rank).
                        "margin": 1.0,
                        "rankers": 3,
                        "agreement": 1.0,
                    }
                )
    return rows


def write_release(root: Path, configs: dict[str, dict[str, list[dict[str, Any]]]]) -> Path:
    """A release folder in the Hub layout (see worker.data)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    lines = ["---", "configs:"]
    for config, splits in configs.items():
        lines += [f"- config_name: {config}", "  data_files:"]
        for split, rows in splits.items():
            (root / "data" / config).mkdir(parents=True, exist_ok=True)
            path = f"data/{config}/{split}-00000-of-00001.parquet"
            pq.write_table(pa.Table.from_pylist(rows), root / path)
            lines += [f"  - split: {split}", f"    path: {path}"]
    (root / "README.md").write_text("\n".join([*lines, "---", "", "# bench release", ""]))
    return root


def build_tokenizer(vocab: int) -> Any:
    """A whitespace word-level tokenizer over the bench vocabulary, with BOS/EOS/PAD."""
    from tokenizers import Tokenizer, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    special = ["<pad>", "<s>", "</s>", "<unk>"]
    table = {token: i for i, token in enumerate(special + _words(vocab))}
    tokenizer = Tokenizer(models.WordLevel(vocab=table, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.post_processor = processors.TemplateProcessing(
        single="<s> $A", special_tokens=[("<s>", table["<s>"])]
    )
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token="<s>",
        eos_token="</s>",
        pad_token="<pad>",
        unk_token="<unk>",
    )


def build_model(folder: Path, shape: ModelShape, tokenizer: Any, max_positions: int) -> Path:
    """Save a random-init Llama of ``shape`` (seed 0) and the tokenizer into ``folder``."""
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=shape.hidden,
        intermediate_size=shape.mlp,
        num_hidden_layers=shape.layers,
        num_attention_heads=shape.heads,
        num_key_value_heads=shape.heads,
        max_position_embeddings=max(max_positions, 4096),
        bos_token_id=tokenizer.bos_token_id,
        eos_token_id=tokenizer.eos_token_id,
        pad_token_id=tokenizer.pad_token_id,
        tie_word_embeddings=False,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


# ---------------------------------------------------------------------------------------------
# Measuring
# ---------------------------------------------------------------------------------------------


def matmul_peak(device: torch.device) -> float:
    """Measured dense matmul FLOP/s: bf16 8192³ on CUDA, fp32 1024³ on CPU."""
    if device.type == "cuda":
        n, dtype, reps = 8192, torch.bfloat16, 20
    else:
        n, dtype, reps = 1024, torch.float32, 5
    a = torch.randn(n, n, device=device, dtype=dtype)
    b = torch.randn(n, n, device=device, dtype=dtype)
    for _ in range(2):
        a @ b
    _sync(device)
    start = time.perf_counter()
    for _ in range(reps):
        a @ b
    _sync(device)
    return 2 * n**3 * reps / (time.perf_counter() - start)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_parameters(model_dir: Path) -> int:
    """Parameters that take part in matmuls: all but the input embedding."""
    from transformers import AutoConfig, AutoModelForCausalLM

    with torch.device("meta"):
        model = AutoModelForCausalLM.from_config(AutoConfig.from_pretrained(model_dir))
    total = sum(p.numel() for p in model.parameters())
    return total - model.get_input_embeddings().weight.numel()


def _reset_memory(device: torch.device) -> None:
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats(device)


def _peak_memory(device: torch.device) -> float | None:
    if device.type != "cuda":
        return None
    return torch.cuda.max_memory_allocated(device) / 2**30


def _throughput(log: list[dict[str, float]], warmup: int, key: str) -> float:
    measured = log[warmup:] or log
    return sum(e[key] for e in measured) / sum(e["seconds"] for e in measured)


class StepLog:
    """Every step of every run as a JSON line (``--steps-log``), written as it happens, so a
    benchmark stopped halfway still leaves its timings; profiles a few steps of Hearth's runs
    (``--profile``): the kernels' share of the wall time and the busiest operators."""

    def __init__(self, path: Path | None, profile_dir: Path | None, profile_after: int) -> None:
        self.path = path
        self.profile_dir = profile_dir
        self.profile_after = profile_after
        self._profiling: tuple[str, Any, float] | None = None
        # The step after the profile ends is timed across its summary, too.
        self._summarised = False
        # The run whose allocations are being recorded (one step after the profile).
        self._recording: str | None = None
        self.train_peak: dict[str, float] = {}
        if path:
            path.write_text("")

    def write(self, run: str, **values: Any) -> None:
        if self.path:
            with self.path.open("a") as handle:
                handle.write(json.dumps({"run": run, **values}) + "\n")

    def progress(self, run: str) -> ProgressCallback:
        """A trainer progress callback that logs steps, profiles two of them (steps
        ``profile_after`` + 1 and + 2) and then records the next one's allocations.

        The allocations are recorded apart from the profile: recording them with their Python
        stacks slows every allocation on the CPU, so in one window the kernels' share of the
        wall time would mostly measure the recorder."""

        def report(event: ProgressEvent) -> None:
            # A step's event (the one sent as training starts has no loss: no step yet).
            training = event.get("phase") == "train" and "loss" in event
            step = event.get("step", 0)
            if training:
                # Whether the profiler or the recorder slowed this step (the rates leave it out).
                profiled = (
                    self._profiling is not None or self._summarised or self._recording is not None
                )
                self._summarised = False
                peak = _peak_memory(torch.device("cuda")) if torch.cuda.is_available() else None
                if peak is not None:
                    self.train_peak[run] = peak
                self.write(
                    run,
                    step=step,
                    loss=event["loss"],
                    tokens_per_s=event["tokens_per_s"],
                    profiled=profiled,
                    peak_gib=peak,
                )
            if self.profile_dir is None:
                return
            if not training or step >= self.profile_after + 3:
                self._summarised = training and (
                    self._profiling is not None or self._recording is not None
                )
                self.finish()
            elif step == self.profile_after + 2:
                self._summarised = self._profiling is not None
                self._end_profile()
                if torch.cuda.is_available():
                    # Every allocation of the next step, with the Python stack that made it:
                    # `python -m torch.cuda._memory_viz trace_plot` reads the dump.
                    torch.cuda.memory._record_memory_history(max_entries=200_000, stacks="python")
                    self._recording = run
            elif step == self.profile_after:
                from torch.profiler import ProfilerActivity, profile

                activities = [ProfilerActivity.CPU]
                if torch.cuda.is_available():
                    activities.append(ProfilerActivity.CUDA)
                profiler = profile(activities=activities)
                profiler.__enter__()
                self._profiling = (run, profiler, time.perf_counter())

        return report

    def finish(self) -> None:
        """End a profile or a recording in progress and write them out (also when its run
        failed)."""
        self._end_profile()
        if self._recording is not None:
            assert self.profile_dir is not None
            self.profile_dir.mkdir(parents=True, exist_ok=True)
            snapshot = self.profile_dir / f"memory-{self._recording}.pickle"
            torch.cuda.memory._dump_snapshot(str(snapshot))
            torch.cuda.memory._record_memory_history(enabled=None)
            self._recording = None

    def _end_profile(self) -> None:
        if self._profiling is None:
            return
        run, profiler, started = self._profiling
        self._profiling = None
        profiler.__exit__(None, None, None)
        self._summarise(run, profiler, time.perf_counter() - started)

    def _summarise(self, run: str, profiler: Any, wall: float) -> None:
        assert self.profile_dir is not None
        from torch.autograd import DeviceType

        events = profiler.key_averages()
        # Kernels are the events on the device; an operator's own device time repeats theirs.
        device_us = sum(
            e.self_device_time_total for e in events if e.device_type == DeviceType.CUDA
        )
        tables = [
            events.table(sort_by=key, row_limit=30, max_name_column_width=70)
            for key in ("self_device_time_total", "self_cpu_time_total")
            if device_us or key == "self_cpu_time_total"
        ]
        busy = f"{run}: profiled {wall:.3f} s; kernels busy {device_us / 1e6 / wall:.1%}\n"
        print(busy, end="", file=sys.stderr, flush=True)
        self.profile_dir.mkdir(parents=True, exist_ok=True)
        (self.profile_dir / f"profile-{run}.txt").write_text(busy + "\n".join(tables))


# ---------------------------------------------------------------------------------------------
# The runs
# ---------------------------------------------------------------------------------------------


@dataclass
class Bench:
    workdir: Path
    model_dir: Path
    release: Path
    tokenizer: Any
    workload: Workload
    device: torch.device
    peak_flops: float
    n_params: int
    reward_micro_tokens: int
    steps: StepLog
    compile: bool | None = None
    held_out: list[Any] = field(default_factory=list)  # TokenizedExample, see prepare
    # Each SFT run's per-example held-out losses, for paired comparisons in ``report``.
    example_losses: dict[str, list[float]] = field(default_factory=dict)

    def mfu(self, tokens_per_s: float) -> float:
        return 6 * self.n_params * tokens_per_s / self.peak_flops

    @torch.no_grad()
    def held_out_losses(self, name: str, model: Any) -> float:
        """Score a trained SFT model on the held-out examples, one at a time, as every run is
        scored (bf16 autocast on CUDA): each example's mean loss per response token is kept
        under ``name``; returns their mean. The runs see the same examples, so their
        difference is judged against its own spread (``report``), not the train loss of a
        last step that holds different examples in each trainer."""
        from worker.data import IGNORE_INDEX

        model.eval()
        cuda = self.device.type == "cuda"
        autocast = torch.autocast("cuda", dtype=torch.bfloat16) if cuda else nullcontext()
        losses = []
        with autocast:
            for example in self.held_out:
                ids = torch.tensor([example.input_ids], device=self.device)
                targets = torch.tensor(example.targets(), device=self.device)
                logits = model(input_ids=ids, use_cache=False).logits[0].float()
                loss = torch.nn.functional.cross_entropy(logits, targets, ignore_index=IGNORE_INDEX)
                losses.append(float(loss))
        self.example_losses[name] = losses
        return sum(losses) / len(losses)

    def saved_model_loss(self, name: str) -> float:
        """``held_out_losses`` of the model a Hearth run saved (loaded as a user would)."""
        from transformers import AutoModelForCausalLM

        model: Any = AutoModelForCausalLM.from_pretrained(self.workdir / name, dtype=torch.float32)
        model.to(self.device)
        try:
            return self.held_out_losses(name, model)
        finally:
            del model
            if self.device.type == "cuda":
                torch.cuda.empty_cache()

    def hearth_sft(
        self,
        name: str = "hearth-sft",
        activation_memory_budget: float = 1.0,
        loss_chunk_tokens: int = 0,
        gradient_checkpointing: bool = False,
        compile_mode: CompileMode = "default",
        attention: Attention = "auto",
        param_dtype: ParamDtype = "fp32",
    ) -> RunResult:
        from worker.sft import SFTConfig, train_sft

        w = self.workload
        config = SFTConfig(
            release=str(self.release),
            base_model=str(self.model_dir),
            output_dir=str(self.workdir / name),
            activation_memory_budget=activation_memory_budget,
            loss_chunk_tokens=loss_chunk_tokens,
            gradient_checkpointing=gradient_checkpointing,
            compile=self.compile,
            compile_mode=compile_mode,
            attention=attention,
            param_dtype=param_dtype,
            max_seq_len=w.seq_len,
            micro_batch_size=w.rows,
            max_steps=w.sft_steps,
            learning_rate=w.learning_rate,
            checkpoint_every=10**9,
            max_eval_examples=16,
        )
        _reset_memory(self.device)
        train_sft(config, progress=self.steps.progress(name))
        log = json.loads((self.workdir / name / "metrics.json").read_text())["train_log"]
        tokens_per_s = _throughput(log, w.warmup, "tokens")
        result = RunResult(
            name,
            tokens_per_s,
            None,
            _peak_memory(self.device),
            self.mfu(tokens_per_s),
            log[-1]["loss"],
            len(log),
            sum(e["tokens"] for e in log) / len(log),
            self.steps.train_peak.get(name),
        )
        result.held_out_loss = self.saved_model_loss(name)
        return result

    def trl_sft(self, name: str = "trl-sft", gradient_checkpointing: bool = True) -> RunResult:
        """TRL's SFTTrainer with packing; its own default is gradient checkpointing on."""
        from datasets import Dataset
        from transformers import AutoModelForCausalLM
        from trl import SFTConfig as TRLSFTConfig
        from trl import SFTTrainer

        from worker.data import read_rows

        w = self.workload
        rows = read_rows(str(self.release), "sft", "train")
        dataset = Dataset.from_list(
            [
                {
                    "prompt": dolly_prompt(r["instruction"], r["context"]),
                    "completion": f"{r['response']}\n\n{DOLLY_END}",
                }
                for r in rows
            ]
        )
        args = TRLSFTConfig(
            output_dir=str(self.workdir / name),
            max_steps=w.sft_steps,
            per_device_train_batch_size=w.rows,
            gradient_accumulation_steps=1,
            learning_rate=w.learning_rate,
            lr_scheduler_type="cosine",
            warmup_steps=0.03,
            adam_beta2=0.95,
            max_grad_norm=1.0,
            packing=True,
            gradient_checkpointing=gradient_checkpointing,
            max_length=w.seq_len,
            bf16=self.device.type == "cuda",
            use_cpu=self.device.type != "cuda",
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=0,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        model = AutoModelForCausalLM.from_pretrained(
            self.model_dir, dtype=torch.float32, attn_implementation="sdpa"
        )
        timing = _StepTimer(self.steps, name)
        trainer = SFTTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=self.tokenizer,
            callbacks=[timing.callback()],
        )
        trainer.data_collator = timing.counting(trainer.data_collator, self.tokenizer.pad_token_id)
        _reset_memory(self.device)
        trainer.train()
        log = timing.log()
        tokens_per_s = _throughput(log, w.warmup, "tokens")
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        result = RunResult(
            name,
            tokens_per_s,
            None,
            _peak_memory(self.device),
            self.mfu(tokens_per_s),
            losses[-1],
            len(log),
            sum(e["tokens"] for e in log) / max(1, len(log)),
            _peak_memory(self.device),
        )
        result.held_out_loss = self.held_out_losses(name, trainer.model)
        del trainer, model
        return result

    def hearth_sft_lowmem(self) -> RunResult:
        return self.hearth_sft("hearth-sft-lowmem", activation_memory_budget=0.1)

    def hearth_sft_minmem(self) -> RunResult:
        return self.hearth_sft("hearth-sft-minmem", **MINMEM)

    def hearth_sft_autotune(self) -> RunResult:
        return self.hearth_sft("hearth-sft-autotune", compile_mode="max-autotune-no-cudagraphs")

    def hearth_sft_cudagraphs(self) -> RunResult:
        return self.hearth_sft("hearth-sft-cudagraphs", compile_mode="reduce-overhead")

    def hearth_sft_cudagraphs_minmem(self) -> RunResult:
        return self.hearth_sft(
            "hearth-sft-cudagraphs-minmem", compile_mode="reduce-overhead", **MINMEM
        )

    def hearth_sft_varlen(self) -> RunResult:
        return self.hearth_sft("hearth-sft-varlen", attention="varlen")

    def hearth_sft_cudagraphs_varlen(self) -> RunResult:
        return self.hearth_sft(
            "hearth-sft-cudagraphs-varlen", compile_mode="reduce-overhead", attention="varlen"
        )

    def hearth_sft_flex(self) -> RunResult:
        """Flex attention with document masks: what ``auto`` was on CUDA before varlen (on a
        CPU, which has no flex attention backward, the CPU's ``auto``)."""
        cuda = self.device.type == "cuda"
        return self.hearth_sft("hearth-sft-flex", attention="flex_attention" if cuda else "auto")

    def hearth_sft_varlen_minmem(self) -> RunResult:
        return self.hearth_sft("hearth-sft-varlen-minmem", attention="varlen", **MINMEM)

    def hearth_sft_cudagraphs_varlen_minmem(self) -> RunResult:
        return self.hearth_sft(
            "hearth-sft-cudagraphs-varlen-minmem",
            compile_mode="reduce-overhead",
            attention="varlen",
            **MINMEM,
        )

    def hearth_sft_cudagraphs_varlen_bf16(self) -> RunResult:
        return self.hearth_sft(
            "hearth-sft-cudagraphs-varlen-bf16",
            compile_mode="reduce-overhead",
            attention="varlen",
            param_dtype="bf16",
        )

    def hearth_sft_cudagraphs_varlen_bf16_minmem(self) -> RunResult:
        return self.hearth_sft(
            "hearth-sft-cudagraphs-varlen-bf16-minmem",
            compile_mode="reduce-overhead",
            attention="varlen",
            param_dtype="bf16",
            **MINMEM,
        )

    def trl_sft_nockpt(self) -> RunResult:
        return self.trl_sft("trl-sft-nockpt", gradient_checkpointing=False)

    def hearth_reward(
        self, name: str = "hearth-reward", param_dtype: ParamDtype = "fp32"
    ) -> RunResult:
        from worker.reward import RewardConfig, train_reward

        w = self.workload
        config = RewardConfig(
            release=str(self.release),
            base_model=str(self.model_dir),
            output_dir=str(self.workdir / name),
            param_dtype=param_dtype,
            compile=self.compile,
            config_name="preferences",
            max_prompt_len=w.seq_len // 2,
            max_response_len=w.seq_len // 2,
            micro_batch_tokens=self.reward_micro_tokens,
            max_steps=w.reward_steps,
            learning_rate=w.learning_rate / 10,
            checkpoint_every=10**9,
            max_eval_examples=16,
        )
        _reset_memory(self.device)
        train_reward(config, progress=self.steps.progress(name))
        log = json.loads((self.workdir / name / "metrics.json").read_text())["train_log"]
        tokens_per_s = _throughput(log, w.warmup, "tokens")
        return RunResult(
            name,
            tokens_per_s,
            _throughput(log, w.warmup, "pairs"),
            _peak_memory(self.device),
            self.mfu(tokens_per_s),
            log[-1]["loss"],
            len(log),
            sum(e["tokens"] for e in log) / len(log),
            self.steps.train_peak.get(name),
        )

    def hearth_reward_bf16(self) -> RunResult:
        return self.hearth_reward("hearth-reward-bf16", param_dtype="bf16")

    def trl_reward(self) -> RunResult:
        from datasets import Dataset
        from transformers import AutoModelForSequenceClassification
        from trl import RewardConfig as TRLRewardConfig
        from trl import RewardTrainer

        from worker.data import read_rows

        w = self.workload
        rows = read_rows(str(self.release), "preferences", "train")
        random.Random(0).shuffle(rows)
        dataset = Dataset.from_list(
            [
                {
                    "prompt": dolly_prompt(r["instruction"], r["context"]),
                    "chosen": r["chosen"],
                    "rejected": r["rejected"],
                }
                for r in rows
            ]
        )
        args = TRLRewardConfig(
            output_dir=str(self.workdir / "trl-reward"),
            max_steps=w.reward_steps,
            per_device_train_batch_size=w.reward_pairs_per_step,
            gradient_accumulation_steps=1,
            learning_rate=w.learning_rate / 10,
            lr_scheduler_type="cosine",
            warmup_steps=0.03,
            max_length=w.seq_len,
            bf16=self.device.type == "cuda",
            use_cpu=self.device.type != "cuda",
            logging_steps=1,
            save_strategy="no",
            report_to="none",
            seed=0,
            dataloader_num_workers=0,
            disable_tqdm=True,
        )
        model = AutoModelForSequenceClassification.from_pretrained(
            self.model_dir,
            num_labels=1,
            pad_token_id=self.tokenizer.pad_token_id,
            dtype=torch.float32,
            attn_implementation="sdpa",
        )
        timing = _StepTimer(self.steps, "trl-reward", pairs_per_step=w.reward_pairs_per_step)
        trainer = RewardTrainer(
            model=model,
            args=args,
            train_dataset=dataset,
            processing_class=self.tokenizer,
            callbacks=[timing.callback()],
        )
        trainer.data_collator = timing.counting(trainer.data_collator, self.tokenizer.pad_token_id)
        _reset_memory(self.device)
        trainer.train()
        log = timing.log()
        tokens_per_s = _throughput(log, w.warmup, "tokens")
        losses = [e["loss"] for e in trainer.state.log_history if "loss" in e]
        result = RunResult(
            "trl-reward",
            tokens_per_s,
            _throughput(log, w.warmup, "pairs"),
            _peak_memory(self.device),
            self.mfu(tokens_per_s),
            losses[-1],
            len(log),
            sum(e["tokens"] for e in log) / max(1, len(log)),
            _peak_memory(self.device),
        )
        del trainer, model
        return result


class _StepTimer:
    """Times TRL's optimizer steps and counts the real tokens its collator hands out."""

    def __init__(self, steps: StepLog, run: str, pairs_per_step: int = 0) -> None:
        self.tokens: list[int] = []
        self.ends: list[float] = []
        self.start = 0.0
        self.pairs_per_step = pairs_per_step
        self.steps = steps
        self.run = run

    def counting(self, collator: Callable[..., Any], pad_id: int) -> Callable[..., Any]:
        def collate(*args: Any, **kwargs: Any) -> Any:
            batch = collator(*args, **kwargs)
            real = 0
            for key in ("input_ids", "chosen_input_ids", "rejected_input_ids"):
                if key in batch:
                    mask = batch.get("attention_mask") if key == "input_ids" else None
                    ids = batch[key]
                    real += int(mask.sum()) if mask is not None else int((ids != pad_id).sum())
            self.tokens.append(real)
            return batch

        return collate

    def callback(self) -> Any:
        from transformers import TrainerCallback

        timer = self

        class Callback(TrainerCallback):  # type: ignore[misc]
            def on_step_begin(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                if not timer.ends:
                    timer.start = time.perf_counter()

            def on_log(
                self, args: Any, state: Any, control: Any, logs: Any = None, **kw: Any
            ) -> None:
                if logs and "loss" in logs:
                    timer.steps.write(timer.run, step=state.global_step, loss=logs["loss"])

            def on_step_end(self, args: Any, state: Any, control: Any, **kw: Any) -> None:
                _sync(torch.device("cuda") if torch.cuda.is_available() else torch.device("cpu"))
                timer.ends.append(time.perf_counter())
                previous = timer.ends[-2] if len(timer.ends) > 1 else timer.start
                timer.steps.write(
                    timer.run,
                    step=len(timer.ends),
                    tokens=timer.tokens[len(timer.ends) - 1] if timer.tokens else 0,
                    seconds=timer.ends[-1] - previous,
                )

        return Callback()

    def log(self) -> list[dict[str, float]]:
        starts = [self.start, *self.ends[:-1]]
        return [
            {
                "tokens": float(tokens),
                "seconds": end - start,
                "pairs": float(self.pairs_per_step),
            }
            for tokens, start, end in zip(self.tokens, starts, self.ends, strict=False)
        ]


# ---------------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------------


def prepare(
    workdir: Path,
    shape: ModelShape,
    workload: Workload,
    device: torch.device,
    steps: StepLog | None = None,
) -> Bench:
    """Write the model, tokenizer and release; measure the matmul peak."""
    tokenizer = build_tokenizer(shape.vocab)
    model_dir = build_model(workdir / "model", shape, tokenizer, workload.seq_len)
    sampler = TextSampler(shape.vocab, seed=0)
    release = write_release(
        workdir / "release",
        {
            "sft": {
                "train": sft_rows(workload.sft_examples, sampler),
                "test": sft_rows(16, sampler),
            },
            "preferences": {
                "train": preference_rows(workload.reward_prompts, sampler),
                "test": preference_rows(16, sampler),
            },
        },
    )
    # Same tokens per optimizer step for both reward trainers: what TRL's batch of pairs
    # holds on average (each pair is prompt+chosen and prompt+rejected).
    pair_tokens = _mean_pair_tokens(release, tokenizer, workload.seq_len)
    # Held-out examples of the same distribution, from a sampler of their own (the release's
    # rows stay as they were), that no run trains or evaluates on.
    held_out = [
        example
        for row in sft_rows(HELD_OUT_EXAMPLES, TextSampler(shape.vocab, seed=1))
        if (example := tokenize_sft(tokenizer, row, max_seq_len=workload.seq_len)) is not None
    ]
    return Bench(
        workdir=workdir,
        model_dir=model_dir,
        release=release,
        tokenizer=tokenizer,
        workload=workload,
        device=device,
        peak_flops=matmul_peak(device),
        n_params=matmul_parameters(model_dir),
        reward_micro_tokens=int(pair_tokens * workload.reward_pairs_per_step),
        steps=steps or StepLog(None, None, 0),
        held_out=held_out,
    )


def _mean_pair_tokens(release: Path, tokenizer: Any, limit: int) -> float:
    from worker.data import read_rows

    rows = read_rows(str(release), "preferences", "train")[:200]
    total = 0
    for r in rows:
        prompt = len(tokenizer(dolly_prompt(r["instruction"], r["context"]))["input_ids"])
        for text in (r["chosen"], r["rejected"]):
            total += min(limit, prompt + len(text.split()) + 1)
    return total / len(rows)


def report(results: list[RunResult], bench: Bench) -> dict[str, Any]:
    """Print the table and ratios; return everything as JSON-able data."""
    _print_table(results, bench)
    by_name = {r.name: r for r in results}
    ratios: dict[str, float] = {}
    if "trl-sft" in by_name:
        for name, result in by_name.items():
            if name.startswith("hearth-sft"):
                key = "sft" + name.removeprefix("hearth-sft").replace("-", "_")
                ratios[f"{key}_tokens_per_s"] = (
                    result.tokens_per_s / by_name["trl-sft"].tokens_per_s
                )
    if "trl-reward" in by_name:
        trl = by_name["trl-reward"]
        for name, hearth in by_name.items():
            if name.startswith("hearth-reward"):
                key = "reward" + name.removeprefix("hearth-reward").replace("-", "_")
                pairs = (hearth.pairs_per_s or 0) / (trl.pairs_per_s or math.inf)
                ratios[f"{key}_pairs_per_s"] = pairs
                ratios[f"{key}_tokens_per_s"] = hearth.tokens_per_s / trl.tokens_per_s
    for name, value in ratios.items():
        print(f"hearth/trl {name}: {value:.2f}x", flush=True)
    held_out = held_out_differences(bench.example_losses)
    for name, (difference, spread) in held_out.items():
        print(
            f"held-out loss, {name} minus trl-sft: {difference:+.4f} "
            f"(two standard errors of the paired difference: {spread:.4f})",
            flush=True,
        )
    return {
        "device": str(bench.device),
        "matmul_peak_flops": bench.peak_flops,
        "matmul_parameters": bench.n_params,
        "workload": asdict(bench.workload),
        "results": [asdict(r) for r in results],
        "ratios": ratios,
        "held_out_vs_trl": {
            name: {"difference": d, "two_standard_errors": se} for name, (d, se) in held_out.items()
        },
    }


def held_out_differences(example_losses: dict[str, list[float]]) -> dict[str, tuple[float, float]]:
    """For each Hearth SFT run beside trl-sft: the mean over held-out examples of its loss
    minus TRL's on the same example, and two standard errors of that mean. A difference
    within two standard errors is within the noise of which examples were held out."""
    theirs = example_losses.get("trl-sft")
    if not theirs:
        return {}
    out = {}
    for name, ours in example_losses.items():
        if not name.startswith("hearth-sft"):
            continue
        diffs = [a - b for a, b in zip(ours, theirs, strict=True)]
        mean = sum(diffs) / len(diffs)
        variance = sum((d - mean) ** 2 for d in diffs) / max(1, len(diffs) - 1)
        out[name] = (mean, 2 * math.sqrt(variance / len(diffs)))
    return out


def _print_table(results: list[RunResult], bench: Bench) -> None:
    print(
        f"device: {bench.device}  matmul peak: {bench.peak_flops / 1e12:.2f} TFLOP/s  "
        f"N (matmul params): {bench.n_params / 1e6:.1f}M  workload: {asdict(bench.workload)}"
    )
    print(
        f"{'run':<22} {'tokens/s':>10} {'pairs/s':>9} {'tok/step':>9} {'peak GiB':>9} "
        f"{'train GiB':>9} {'MFU':>7} {'loss@end':>9} {'held-out':>9} {'steps':>6}"
    )
    for r in results:
        pairs = f"{r.pairs_per_s:9.1f}" if r.pairs_per_s is not None else f"{'-':>9}"
        memory, train_memory = (
            f"{value:9.2f}" if value is not None else f"{'-':>9}"
            for value in (r.peak_memory_gib, r.train_peak_memory_gib)
        )
        held_out = f"{r.held_out_loss:9.4f}" if r.held_out_loss is not None else f"{'-':>9}"
        print(
            f"{r.name:<22} {r.tokens_per_s:10.0f} {pairs} {r.tokens_per_step:9.0f} {memory} "
            f"{train_memory} {r.mfu:7.2%} {r.final_loss:9.4f} {held_out} {r.steps:6d}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--small", action="store_true", help="tiny model (default without CUDA)")
    parser.add_argument("--steps", type=int, help="optimizer steps of every run")
    parser.add_argument("--sft-steps", type=int, help="optimizer steps of the SFT runs")
    parser.add_argument("--reward-steps", type=int, help="optimizer steps of the reward runs")
    parser.add_argument("--warmup", type=int, help="steps left out of the throughput")
    parser.add_argument(
        "--only",
        default=",".join(RUNS),
        help=f"comma-separated runs, in order, from {', '.join(RUNS + EXTRA_RUNS)}",
    )
    parser.add_argument(
        "--compile",
        action=argparse.BooleanOptionalAction,
        help="torch.compile Hearth's models (default: on CUDA only)",
    )
    parser.add_argument("--json", type=Path, help="also write the results here (after each run)")
    parser.add_argument("--steps-log", type=Path, help="append every step here as a JSON line")
    parser.add_argument(
        "--profile",
        type=Path,
        help="profile 3 steps of Hearth's runs into here (on CUDA with a memory snapshot)",
    )
    args = parser.parse_args(argv)

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    cuda = torch.cuda.is_available()
    small = args.small or not cuda
    shape, workload = (SMALL_MODEL, SMALL_WORKLOAD) if small else (GPU_MODEL, GPU_WORKLOAD)
    overrides = {
        "sft_steps": args.sft_steps or args.steps,
        "reward_steps": args.reward_steps or args.steps,
        "warmup": args.warmup,
    }
    workload = Workload(**{**asdict(workload), **{k: v for k, v in overrides.items() if v}})
    runs = [r for r in args.only.split(",") if r]
    unknown = set(runs) - set(RUNS + EXTRA_RUNS)
    if unknown:
        parser.error(f"unknown runs: {sorted(unknown)}")
    device = torch.device("cuda" if cuda else "cpu")
    # The profiled steps, and the step that waits while the profile is summarised, fall within
    # the warm-up, which the rates leave out (the summary took seconds on a GPU and, counted in
    # the first measured step, cut the figure for 200 SFT steps from about 91,000 tokens/s to
    # 72,000); too short a warm-up leaves no room for a profile.
    profile_after = workload.warmup - 4
    if args.profile and profile_after < 1:
        print("no profile: it needs a warm-up of at least 5 steps", file=sys.stderr)
    steps = StepLog(
        args.steps_log, args.profile if profile_after >= 1 else None, profile_after=profile_after
    )
    failed: dict[str, str] = {}
    with tempfile.TemporaryDirectory(prefix="hearth-bench-train-") as tmp:
        bench = prepare(Path(tmp), shape, workload, device, steps)
        bench.compile = args.compile
        results: list[RunResult] = []
        for run in runs:
            print(f"running {run} …", file=sys.stderr, flush=True)
            # Each run compiles afresh: no run inherits another's compiled code or its
            # guesses about which shapes vary.
            torch._dynamo.reset()
            try:
                results.append(getattr(bench, run.replace("-", "_"))())
            except Exception:  # one failed run must not cost the others' figures
                steps.finish()
                failed[run] = traceback.format_exc()
                print(f"{run} failed:\n{failed[run]}", file=sys.stderr, flush=True)
            data = report(results, bench)
            data["failed"] = failed
            if args.json:
                args.json.write_text(json.dumps(data, indent=2) + "\n")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
