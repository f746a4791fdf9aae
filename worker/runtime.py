"""What both trainers share: the common config knobs, devices and processes, the learning-rate
schedule, checkpoints that survive SIGKILL, and the atomic output folder.

Folders of a run whose ``output_dir`` is ``/models/run-7``::

    /models/.run-7.work/checkpoints/step-000050/   model.pt optimizer.pt scheduler.pt rng-<rank>.pt state.json
    /models/.run-7.work/staging/                   the output being written
    /models/run-7/                                 appears (one rename) only after evaluation succeeded

A checkpoint folder is written under a ``.tmp`` name and renamed when complete, so a kill at any
moment leaves either the previous checkpoint or the new one, never half of one.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import random
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from worker import cards, varlen
from worker.config import Attention, Precision, TrainConfig  # defined there, torch-free
from worker.data import PackedBatch, dolly_chat_template

# ---------------------------------------------------------------------------------------------
# Processes and devices
# ---------------------------------------------------------------------------------------------


@dataclass
class Runtime:
    """This process's place in the job: device, rank among ``world`` processes, precision."""

    device: torch.device
    rank: int = 0
    world: int = 1
    autocast_dtype: torch.dtype | None = None

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def distributed(self) -> bool:
        return self.world > 1

    def autocast(self) -> Any:
        """bf16 autocast on CUDA when configured; a no-op otherwise."""
        if self.autocast_dtype is None:
            return nullcontext()
        return torch.autocast(self.device.type, dtype=self.autocast_dtype)

    def barrier(self) -> None:
        if self.distributed:
            torch.distributed.barrier()

    def sum(self, *values: float) -> list[float]:
        """Sum numbers over all processes (identity when alone)."""
        if not self.distributed:
            return list(values)
        tensor = torch.tensor(values, dtype=torch.float64, device=self.device)
        torch.distributed.all_reduce(tensor)
        return [float(v) for v in tensor.tolist()]

    def sum_later(self, values: torch.Tensor, *numbers: float) -> torch.Tensor:
        """``values`` (on the device) then ``numbers``, summed over all processes, as one
        float64 vector on the device. Nothing here waits for the device: read the sums
        (``.tolist()``) when they are needed."""
        device = values.device
        parts = [values.detach().reshape(-1).to(torch.float64)]
        parts += [torch.full((1,), n, dtype=torch.float64, device=device) for n in numbers]
        tensor = torch.cat(parts)
        if self.distributed:
            torch.distributed.all_reduce(tensor)
        return tensor

    def gather(self, value: Any) -> list[Any]:
        """Every process's ``value`` (picklable), in rank order."""
        if not self.distributed:
            return [value]
        out: list[Any] = [None] * self.world
        torch.distributed.all_gather_object(out, value)
        return out


def setup_runtime(precision: Precision) -> Runtime:
    """Join the process group that torchrun/accelerate describes, if any, and pick a device.

    Under ``torchrun --nproc-per-node=N`` the environment carries RANK, WORLD_SIZE and
    LOCAL_RANK; NCCL is used on CUDA and gloo on CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cuda = torch.cuda.is_available()
    device = torch.device(f"cuda:{local_rank}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    if world > 1 and not torch.distributed.is_initialized():
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    if precision == "bf16" and not cuda:
        raise ValueError("bf16 training needs a CUDA device")
    use_bf16 = precision == "bf16" or (precision == "auto" and cuda)
    return Runtime(device, rank, world, torch.bfloat16 if use_bf16 else None)


def resolve_attention(attention: Attention, runtime: Runtime, *, varlen_auto: bool = False) -> str:
    """The ``attn_implementation`` to load the model with: ``auto`` is flex attention on CUDA
    (block-sparse document masks), sdpa elsewhere; ``varlen`` is :data:`worker.varlen.NAME`.
    With ``varlen_auto`` (SFT, for a model that suits it: ``varlen.suits_auto``), ``auto`` is
    varlen where it can run: CUDA with bf16 autocast on an Ampere or newer GPU (FlashAttention
    2), measured 1.2× flex attention's tokens/s at the same loss (README, "Training
    benchmark").

    ``varlen`` is refused (ValueError) on a device with no kernel for it (there is none on a
    CPU; the tests register one) and, on CUDA, without bf16 autocast: FlashAttention has no
    float32 kernel.
    """
    if attention == "varlen":
        if not varlen.kernel_available(runtime.device):
            raise ValueError(
                f"attention 'varlen' needs a CUDA device (FlashAttention has no kernel for "
                f"{runtime.device.type}); use auto, flex_attention, sdpa or eager"
            )
        if runtime.device.type == "cuda" and runtime.autocast_dtype is None:
            raise ValueError(
                "attention 'varlen' needs precision auto or bf16 (FlashAttention has no fp32 kernel)"
            )
        return varlen.NAME
    if attention != "auto":
        return attention
    if runtime.device.type != "cuda":
        return "sdpa"
    if (
        varlen_auto
        and runtime.autocast_dtype == torch.bfloat16
        and torch.cuda.get_device_capability(runtime.device) >= (8, 0)
    ):
        return varlen.NAME
    return "flex_attention"


def resolve_compile(flag: bool | None, runtime: Runtime) -> bool:
    return runtime.device.type == "cuda" if flag is None else flag


def compile_layers(backbone: torch.nn.Module, *, dynamic: bool | None = None) -> None:
    """Compile a transformer backbone in place, one block at a time (regional compilation).

    The blocks of a decoder share their code, so torch.compile traces one and reuses the result
    for every other: compiling costs one block's time whatever the depth, and the kernels are
    those a whole-model compile would make inside each block. A backbone without a ``layers``
    list (encoders name theirs differently) is compiled whole.
    """
    layers = getattr(backbone, "layers", None)
    if not isinstance(layers, torch.nn.ModuleList):
        backbone.compile(dynamic=dynamic)
        return
    for layer in layers:
        layer.compile(dynamic=dynamic)


def to_device(batches: list[PackedBatch], runtime: Runtime) -> list[PackedBatch]:
    """Copy batches to the device; on CUDA from pinned memory, queued behind the work already
    launched, so that the next step's copy overlaps this step's compute."""
    if runtime.device.type == "cuda":
        batches = [b.pin_memory() for b in batches]
    return [b.to(runtime.device) for b in batches]


def seed_everything(seed: int) -> None:
    random.seed(seed)
    torch.manual_seed(seed)
    try:
        import numpy as np

        np.random.seed(seed)
    except ImportError:  # pragma: no cover - numpy comes with datasets
        pass


# ---------------------------------------------------------------------------------------------
# Model and optimizer
# ---------------------------------------------------------------------------------------------


def load_tokenizer(config: TrainConfig) -> Any:
    """The base model's tokenizer, with a pad token (EOS when it has none)."""
    from transformers import AutoTokenizer

    source, gguf_file = dense_base(config)
    kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
    tokenizer = AutoTokenizer.from_pretrained(source, **kwargs)
    if tokenizer.eos_token_id is None:
        raise ValueError(f"{config.base_model}'s tokenizer has no EOS token")
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_model(
    auto_class: Any, config: TrainConfig, attention: str, **kwargs: Any
) -> torch.nn.Module:
    """Load the base model in fp32 (the master weights) with the chosen attention kernel.

    A GGUF base is dequantised into a plain dense model (once, see dense_base), so that it
    trains and saves (as safetensors) like any other.
    """
    source, gguf_file = dense_base(config)
    if attention == varlen.NAME:
        varlen.register()
    if gguf_file:
        return _from_gguf(auto_class, source, gguf_file, attn_implementation=attention, **kwargs)
    model: Any = auto_class.from_pretrained(
        source, dtype=torch.float32, attn_implementation=attention, **kwargs
    )
    return model  # type: ignore[no-any-return]


def _from_gguf(auto_class: Any, folder: str, name: str, **kwargs: Any) -> Any:
    """A GGUF model dequantised to fp32, forgetting it came from GGUF."""
    from transformers import GgufConfig

    model = auto_class.from_pretrained(
        folder,
        gguf_file=name,
        quantization_config=GgufConfig(dequantize=True),
        dtype=torch.float32,
        **kwargs,
    )
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def dense_base(config: TrainConfig) -> tuple[str, str | None]:
    """What ``from_pretrained`` reads for the base model (``TrainConfig.base_model_files``),
    with a local GGUF file dequantised once into a plain folder (config, tokenizer,
    safetensors) under worker.paths.gguf_cache_dir() and read from there afterwards.

    Reading a GGUF file is slow: transformers parses it once for the configuration, once for
    the tokenizer and once for the weights, and maps each tensor's name with a table built
    afresh every time (SmolLM2-135M: about 40 s of a CPU before the first step, every run;
    the plain folder loads in a few seconds). The folder is keyed by the file's name, size
    and modification time and by the transformers version that converted it, written
    beside its final name and renamed into place, so a crash leaves no half-written copy and
    two workers converting at once both end with one whole folder. A GGUF file on the Hub
    (``base_model_gguf_file`` in a repo) is read as it is.
    """
    source, gguf_file = config.base_model_files()
    path = Path(source) / gguf_file if gguf_file else None
    if path is None or not path.is_file():
        return source, gguf_file
    import transformers

    from worker.paths import gguf_cache_dir

    stat = path.stat()
    key = f"{path.stem}-{stat.st_size}-{stat.st_mtime_ns}-tf{transformers.__version__}"
    folder = gguf_cache_dir() / key
    if not (folder / "config.json").is_file():
        _dequantise(path, folder)
    return str(folder), None


def _dequantise(path: Path, folder: Path) -> None:
    """Write ``path``'s model (as a causal LM: GGUF files hold language models) and tokenizer
    into ``folder``, through a temporary folder beside it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = folder.parent / f".{folder.name}.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name)
        model = _from_gguf(AutoModelForCausalLM, str(path.parent), path.name)
        model.save_pretrained(staging)
        tokenizer.save_pretrained(staging)
        try:
            staging.rename(folder)
        except OSError:  # another worker's copy is in place: keep it
            if not (folder / "config.json").is_file():
                raise
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def apply_lora(model: torch.nn.Module, config: TrainConfig, task_type: str) -> torch.nn.Module:
    """Wrap ``model`` with LoRA adapters (peft); only adapters (and heads) stay trainable."""
    from peft import LoraConfig, get_peft_model

    lora = LoraConfig(
        task_type=task_type,
        r=config.lora_r,
        lora_alpha=config.lora_alpha,
        lora_dropout=config.lora_dropout,
        target_modules=config.lora_target_modules,
    )
    peft_model: torch.nn.Module = get_peft_model(model, lora)  # type: ignore[arg-type]
    return peft_model


def unwrap_hf(model: torch.nn.Module) -> Any:
    """The transformers model inside a PEFT wrapper (LoRA layers stay injected in place)."""
    get_base = getattr(model, "get_base_model", None)
    return get_base() if callable(get_base) else model


def cast_parameters(model: torch.nn.Module, config: TrainConfig) -> None:
    """Cast the model's parameters, and only those, to ``param_dtype`` (fp32: left as loaded).

    Not ``model.to(dtype)``: that would round the buffers too, such as the rotary embedding's
    inverse frequencies, which transformers keeps in fp32 because a bf16 angle is off by
    radians a few thousand positions in."""
    if config.param_dtype != "bf16":
        return
    for param in model.parameters():
        param.data = param.data.to(torch.bfloat16)  # the same Parameter: tied weights stay tied


class MasterAdamW(torch.optim.AdamW):
    """AdamW over fp32 master copies of a bf16 model's trainable parameters
    (``param_dtype="bf16"``).

    The model computes and keeps its gradients in bf16; ``take_grads`` moves them onto the
    masters as fp32 (where they are clipped), ``step`` updates the masters and copies them
    back into the model. The masters ride in ``state_dict``, so a checkpoint resumes from them
    rather than from the rounded weights; ``restore`` gives the model its fp32 weights back
    for saving.
    """

    def __init__(self, groups: list[dict[str, Any]], **kwargs: Any) -> None:
        self.model_params: list[torch.Tensor] = [p for g in groups for p in g["params"]]
        master_groups = [
            {**g, "params": [p.detach().to(torch.float32, copy=True) for p in g["params"]]}
            for g in groups
        ]
        super().__init__(master_groups, **kwargs)
        self.masters: list[torch.Tensor] = [p for g in self.param_groups for p in g["params"]]

    def take_grads(self) -> list[torch.Tensor]:
        """The model's gradients as the masters' fp32 ones (the model's are freed); returns the
        masters."""
        for param, master in zip(self.model_params, self.masters, strict=True):
            master.grad = None if param.grad is None else param.grad.to(torch.float32)
            param.grad = None
        return self.masters

    @torch.no_grad()
    def step(self, closure: Any = None) -> Any:
        loss = super().step(closure)
        torch._foreach_copy_(self.model_params, self.masters)
        return loss

    def state_dict(self) -> dict[str, Any]:
        return {**super().state_dict(), "masters": self.masters}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        state_dict = dict(state_dict)
        masters = state_dict.pop("masters")
        super().load_state_dict(state_dict)
        with torch.no_grad():
            torch._foreach_copy_(
                self.masters, [m.to(p.device) for m, p in zip(masters, self.masters, strict=True)]
            )
            torch._foreach_copy_(self.model_params, self.masters)

    def restore(self) -> None:
        """Make the masters the model's weights (fp32): the end of training."""
        for param, master in zip(self.model_params, self.masters, strict=True):
            param.data = master.detach()


def make_optimizer(model: torch.nn.Module, config: TrainConfig, runtime: Runtime) -> Any:
    """AdamW over trainable parameters; no weight decay on biases and norms; fused on CUDA.
    Over fp32 masters (MasterAdamW) where the model's weights are not fp32."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for param in model.parameters():
        if param.requires_grad:
            (decay if param.ndim >= 2 else no_decay).append(param)
    groups: list[dict[str, Any]] = [
        {"params": decay, "weight_decay": config.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    kind = MasterAdamW if config.param_dtype != "fp32" else torch.optim.AdamW
    return kind(
        groups,
        lr=config.learning_rate,
        betas=(config.adam_beta1, config.adam_beta2),
        eps=config.adam_eps,
        fused=runtime.device.type == "cuda",
    )


def optimizer_step(
    model: torch.nn.Module, optimizer: Any, scheduler: Any, max_norm: float
) -> torch.Tensor:
    """Clip the step's gradients to ``max_norm``, apply them and advance the schedule; return
    the gradient norm before clipping (on the device, not yet read). Afterwards the optimizer
    holds the next step's learning rate: read this step's (``step_lr``) before."""
    if isinstance(optimizer, MasterAdamW):
        params: Any = optimizer.take_grads()
    else:
        params = model.parameters()
    grad_norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    optimizer.step()
    scheduler.step()
    optimizer.zero_grad(set_to_none=True)
    return grad_norm.detach()


def step_lr(optimizer: Any) -> float:
    """The learning rate the optimizer's next ``step()`` applies (its first parameter
    group's; the schedule scales every group alike)."""
    return float(optimizer.param_groups[0]["lr"])


def make_scheduler(optimizer: Any, total_steps: int, config: TrainConfig) -> Any:
    """Linear warm-up then cosine decay to ``min_lr_ratio``; stepped once per optimizer step."""
    warmup = int(config.warmup_ratio * total_steps)

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = (step - warmup) / max(1, total_steps - warmup)
        cosine = 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))
        return config.min_lr_ratio + (1 - config.min_lr_ratio) * cosine

    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)


def trainable_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """The parameters that change during training (everything for full fine-tuning)."""
    return {n: p.detach().clone() for n, p in model.named_parameters() if p.requires_grad}


def count_parameters(model: torch.nn.Module) -> tuple[int, int]:
    """``(all, trainable)`` parameter counts."""
    total = sum(p.numel() for p in model.parameters())
    return total, sum(p.numel() for p in model.parameters() if p.requires_grad)


# ---------------------------------------------------------------------------------------------
# Run folders, checkpoints, publishing
# ---------------------------------------------------------------------------------------------


class RunPaths:
    """Where a run keeps its work and where its output appears (see module docstring)."""

    def __init__(self, output: str | Path) -> None:
        self.output = Path(output).absolute()
        self.work = self.output.parent / f".{self.output.name}.work"

    @property
    def checkpoints(self) -> Path:
        return self.work / "checkpoints"

    @property
    def staging(self) -> Path:
        return self.work / "staging"

    def is_complete(self) -> bool:
        return (self.output / "metrics.json").is_file()


@dataclass
class TrainerState:
    """Progress that a checkpoint carries besides tensors; ``step`` is the data position."""

    step: int = 0
    tokens_seen: int = 0
    train_log: list[dict[str, float]] = field(default_factory=list)
    eval_log: list[dict[str, float]] = field(default_factory=list)
    fingerprint: str = ""


def capture_rng() -> dict[str, Any]:
    state: dict[str, Any] = {"python": random.getstate(), "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    try:
        import numpy as np

        state["numpy"] = np.random.get_state()
    except ImportError:  # pragma: no cover
        pass
    return state


def restore_rng(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])
    if "numpy" in state:
        import numpy as np

        np.random.set_state(state["numpy"])


def save_checkpoint(
    paths: RunPaths,
    runtime: Runtime,
    *,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    state: TrainerState,
    keep: int,
    config: dict[str, Any] | None = None,
) -> Path:
    """Write ``step-NNNNNN`` atomically and prune older checkpoints beyond ``keep``.

    Every process calls this (for a barrier and its own RNG state); rank 0 writes the rest,
    with ``config`` (the run's full training config, server paths included: the output's
    training_config.json leaves them out) as training_config.json, for whoever looks at the
    checkpoint; resuming reads state.json's fingerprint, not this.
    Precondition: the model is unwrapped (no DDP/compile wrapper) and all processes are at
    the same step. Only trainable parameters are stored: the frozen ones come from the base.
    """
    final = paths.checkpoints / f"step-{state.step:06d}"
    tmp = final.with_name(final.name + ".tmp")
    if runtime.is_main:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    runtime.barrier()
    torch.save(capture_rng(), tmp / f"rng-{runtime.rank}.pt")
    runtime.barrier()
    if runtime.is_main:
        torch.save(trainable_state(model), tmp / "model.pt")
        torch.save(optimizer.state_dict(), tmp / "optimizer.pt")
        torch.save(scheduler.state_dict(), tmp / "scheduler.pt")
        (tmp / "state.json").write_text(json.dumps(dataclasses.asdict(state)))
        if config is not None:
            write_json(tmp / "training_config.json", config)
        _fsync_dir(tmp)
        os.replace(tmp, final)
        for old in list_checkpoints(paths)[:-keep]:
            shutil.rmtree(old, ignore_errors=True)
    runtime.barrier()
    return final


def list_checkpoints(paths: RunPaths) -> list[Path]:
    """Complete checkpoints, oldest first."""
    if not paths.checkpoints.is_dir():
        return []
    return sorted(
        p for p in paths.checkpoints.iterdir() if p.name.startswith("step-") and "." not in p.name
    )


def load_checkpoint(
    path: Path,
    runtime: Runtime,
    *,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
    fingerprint: str,
) -> TrainerState:
    """Restore model, optimizer, scheduler and this process's RNG from ``path``.

    Refuses a checkpoint written under a different config (another spec, same output).
    """
    state = TrainerState(**json.loads((path / "state.json").read_text()))
    if state.fingerprint != fingerprint:
        raise RuntimeError(f"{path} was written by a run with another config; use a new output_dir")
    weights = torch.load(path / "model.pt", map_location=runtime.device, weights_only=True)
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, tensor in weights.items():
            named[name].copy_(tensor)
    optimizer.load_state_dict(
        torch.load(path / "optimizer.pt", map_location=runtime.device, weights_only=True)
    )
    scheduler.load_state_dict(torch.load(path / "scheduler.pt", weights_only=False))
    rng_file = path / f"rng-{runtime.rank}.pt"
    if rng_file.exists():
        restore_rng(torch.load(rng_file, weights_only=False))
    return state


def resume(
    paths: RunPaths,
    runtime: Runtime,
    config: TrainConfig,
    *,
    model: torch.nn.Module,
    optimizer: Any,
    scheduler: Any,
) -> TrainerState:
    """The state of a new run, or of the last checkpoint in ``paths`` with model, optimizer,
    scheduler and RNG restored from it (see ``load_checkpoint``)."""
    existing = list_checkpoints(paths)
    if not existing:
        return TrainerState(fingerprint=config.fingerprint())
    return load_checkpoint(
        existing[-1],
        runtime,
        model=model,
        optimizer=optimizer,
        scheduler=scheduler,
        fingerprint=config.fingerprint(),
    )


def _fsync_dir(folder: Path) -> None:
    for item in folder.iterdir():
        with open(item, "rb") as handle:
            os.fsync(handle.fileno())


def publish(paths: RunPaths) -> None:
    """Move the finished staging folder into place with one rename; drop the work folder.

    Precondition: evaluation succeeded and staging holds every file of the output.
    """
    if paths.output.exists():
        raise FileExistsError(f"{paths.output} already exists")
    os.replace(paths.staging, paths.output)


def cleanup_work(paths: RunPaths) -> None:
    shutil.rmtree(paths.work, ignore_errors=True)


def write_json(path: Path, value: Any) -> None:
    path.write_text(json.dumps(value, indent=2, sort_keys=True, default=str) + "\n")


class Timer:
    """Named wall-clock sections: ``with timer("train"): …``; ``timer.seconds`` holds totals."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self._start = time.perf_counter()

    @contextmanager
    def __call__(self, name: str) -> Iterator[None]:
        start = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

    def report(self) -> dict[str, float]:
        return {
            **{k: round(v, 3) for k, v in self.seconds.items()},
            "total": round(time.perf_counter() - self._start, 3),
        }


def output_chat_template(config: TrainConfig, tokenizer: Any) -> str | None:
    """The chat template the output's tokenizer carries: Dolly's format
    (``worker.data.dolly_chat_template``) when the run trained on it, so that
    ``apply_chat_template`` gives the prompt the model learned, otherwise the tokenizer's own
    (the ``chat_template`` format trained on it)."""
    if config.prompt_format == "dolly":
        return dolly_chat_template()
    return tokenizer.chat_template  # type: ignore[no-any-return]


def save_dtype(config: TrainConfig, runtime: Runtime) -> torch.dtype:
    """``auto`` saves bf16 weights after bf16 training (autocast or bf16 weights), fp32
    otherwise."""
    bf16_training = runtime.autocast_dtype == torch.bfloat16 or config.param_dtype == "bf16"
    if config.save_dtype == "bf16" or (config.save_dtype == "auto" and bf16_training):
        return torch.bfloat16
    return torch.float32


def save_output(
    model: torch.nn.Module,
    tokenizer: Any,
    config: TrainConfig,
    runtime: Runtime,
    paths: RunPaths,
    summary: dict[str, Any],
    timer: Timer,
) -> None:
    """Write weights (safetensors), tokenizer, training_config.json, metrics.json and the card
    into the staging folder. Merges LoRA adapters when configured; the model is unusable for
    training afterwards.

    The tokenizer is saved with the chat template of the prompt format the run trained on
    (``output_chat_template``). training_config.json is ``cards.published_config``: no path
    of this machine (the checkpoints keep the full config)."""
    shutil.rmtree(paths.staging, ignore_errors=True)
    paths.staging.mkdir(parents=True)
    to_save: Any = model
    if config.method == "lora" and config.merge_lora:
        to_save = model.merge_and_unload()  # type: ignore[operator]
    to_save = to_save.to(save_dtype(config, runtime))
    to_save.save_pretrained(paths.staging, safe_serialization=True)
    trained_with = tokenizer.chat_template
    tokenizer.chat_template = output_chat_template(config, tokenizer)
    try:
        tokenizer.save_pretrained(paths.staging)
    finally:
        tokenizer.chat_template = trained_with
    write_json(
        paths.staging / "training_config.json",
        cards.published_config(config.to_dict(), paths.output.name),
    )
    summary["timings"] = timer.report()
    write_json(paths.staging / "metrics.json", summary)
    card = cards.model_card(
        kind=summary["kind"],
        config=config.to_dict(),
        metrics=summary["final"],
        model_name=paths.output.name,
    )
    (paths.staging / "README.md").write_text(card)


# The result's train loss: the mean of the last TRAIN_LOSS_STEPS steps' losses (of every step
# when there were fewer), under a name that says so. One step's loss (what ``train_loss``
# was, up to metrics.json files written before) is too noisy to set beside the eval loss.
TRAIN_LOSS_STEPS = 10
TRAIN_LOSS_KEY = f"train_loss_last_{TRAIN_LOSS_STEPS}_steps"


def recent_train_loss(train_log: list[dict[str, float]]) -> float | None:
    """The mean loss of the last TRAIN_LOSS_STEPS entries of ``train_log`` (None: no step).
    Each entry's loss is its step's mean (over response tokens for SFT, over prompts for a
    reward model); the steps weigh alike."""
    recent = [entry["loss"] for entry in train_log[-TRAIN_LOSS_STEPS:]]
    return sum(recent) / len(recent) if recent else None


def result_from(paths: RunPaths) -> dict[str, Any]:
    """The JSON result of a finished run, read back from its metrics.json. Its metrics are
    the final evaluation's and TRAIN_LOSS_KEY (``train_loss``, the last step's, for an output
    written before that key existed)."""
    summary = json.loads((paths.output / "metrics.json").read_text())
    last = summary["train_log"][-1] if summary["train_log"] else {}
    key = TRAIN_LOSS_KEY if TRAIN_LOSS_KEY in summary else "train_loss"
    return {
        "kind": summary["kind"],
        "status": "succeeded",
        "output_dir": str(paths.output),
        "metrics": {**summary["final"], key: summary.get(key)},
        "steps": summary["steps"],
        "resumed_from_step": summary["resumed_from_step"],
        "tokens_per_s": last.get("tokens_per_s"),
        "timings": summary["timings"],
    }
