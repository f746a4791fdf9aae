"""Every knob of a training run, in one place and free of torch.

The trainers (worker.sft, worker.reward) read these dataclasses; the web process imports this
module to validate hyperparameters before it sends a run (``SFTConfig.from_spec({...})``), so
nothing here may import torch, transformers or anything heavy. worker.runtime, worker.sft,
worker.reward and worker.data re-export the names they used to define.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
from dataclasses import dataclass
from typing import Any, Literal, TypeVar, get_args

PromptFormat = Literal["dolly", "chat_template"]
Precision = Literal["auto", "bf16", "fp32"]
Attention = Literal["auto", "flex_attention", "sdpa", "eager"]
# CUDA-graph modes are left out: the loop reads a step's outputs after the next is launched.
CompileMode = Literal["default", "max-autotune-no-cudagraphs"]

# Fields that describe a run without shaping it: they stay out of the fingerprint, so that a
# checkpoint resumes under a changed output folder or release page address.
_NOT_FINGERPRINTED = frozenset({"output_dir", "release_tag", "release_url"})

C = TypeVar("C", bound="TrainConfig")


@dataclass(kw_only=True)
class TrainConfig:
    """Knobs common to every training kind (see SFTConfig and RewardConfig for the rest).

    Data: ``release`` is a release location (see worker.data); ``release_revision`` names the
    data version for the model card when the location does not (``hf://…@v3`` does).
    ``release_tag`` (the release's version, ``v3``) and ``release_url`` (its page on the site)
    only go into the model card.
    Model: ``base_model`` is a Hub id or a local folder; ``base_model_gguf_file`` loads a GGUF
    file inside that folder (dequantised to full precision). ``method`` is ``full`` or ``lora``;
    LoRA adapters are merged into the saved weights when ``merge_lora`` is set, otherwise the
    output is a PEFT adapter folder (load with ``peft.AutoPeftModel…from_pretrained``).
    Optimisation: AdamW, linear warm-up over ``warmup_ratio`` of the steps, then cosine decay to
    ``min_lr_ratio × learning_rate``; gradients clipped to ``max_grad_norm``; one optimizer step
    is ``grad_accum_steps`` micro-batches on each process. ``max_steps`` caps the step count
    that ``num_epochs`` gives. ``eval_every`` (0: only at the end) and ``checkpoint_every`` are
    in optimizer steps. Precision ``auto`` is bf16 autocast over fp32 master weights on CUDA
    and fp32 on CPU. Attention ``auto`` is flex attention (document block masks) on CUDA and
    sdpa with a dense block-diagonal mask on CPU; ``compile`` (None: on CUDA only) wraps the
    forward in torch.compile. ``gradient_checkpointing`` keeps only each decoder layer's
    input for the backward and recomputes the layer there (about a third more compute, and the
    least activation memory; compiled, the checkpoints are part of the one graph).
    """

    release: str
    base_model: str
    output_dir: str
    config_name: str = "sft"
    release_revision: str | None = None
    release_tag: str | None = None
    release_url: str | None = None
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
    attention: Attention = "auto"
    compile: bool | None = None
    gradient_checkpointing: bool = False
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
        """Refuse values that cannot train; subclasses extend this."""
        for name in ("grad_accum_steps", "num_epochs", "checkpoint_every", "keep_checkpoints"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")
        if self.max_steps is not None and self.max_steps < 1:
            raise ValueError("max_steps must be at least 1")
        if not 0 <= self.warmup_ratio < 1 or not 0 <= self.min_lr_ratio <= 1:
            raise ValueError("warmup_ratio must be in [0, 1) and min_lr_ratio in [0, 1]")

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def fingerprint(self) -> str:
        """A hash of everything that shapes training (not where the output goes, nor the
        release's tag and page, which only label it)."""
        values = {k: v for k, v in self.to_dict().items() if k not in _NOT_FINGERPRINTED}
        return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(kw_only=True)
class SFTConfig(TrainConfig):
    """Supervised fine-tuning (all common knobs are documented on TrainConfig).

    ``max_seq_len`` is both the longest example (longer ones are cut, see
    worker.data.tokenize_sft) and the length of a packed row; ``micro_batch_size`` rows go
    through the model at once. ``use_liger`` (None: when installed, on CUDA, without
    compile) computes the LM head and cross-entropy with Liger's fused kernel, which never
    materialises logits. ``activation_memory_budget`` (with compile) is the share of the
    activations the backward pass may keep; the compiler recomputes the rest (1.0: keep all,
    fastest; lower values trade speed for memory, 0 recomputes all it can).
    ``loss_chunk_tokens`` (0: off) runs the LM head and loss on that many positions at a time
    and recomputes their logits in the backward, so that a batch's logits never exist at once
    (Liger's fused loss, where it is used, never materialises them anyway).
    ``compile_mode`` is torch.compile's mode: ``max-autotune-no-cudagraphs`` times several
    kernels for each matrix product on CUDA and keeps the fastest (longer to compile).
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
        if not 0 <= self.activation_memory_budget <= 1:
            raise ValueError("activation_memory_budget must be between 0 and 1")
        if self.compile_mode not in get_args(CompileMode):
            raise ValueError(f"compile_mode must be one of {get_args(CompileMode)}")
        if self.loss_chunk_tokens < 0:
            raise ValueError("loss_chunk_tokens must be 0 (off) or a number of positions")
        if self.max_seq_len < 8 or self.micro_batch_size < 1:
            raise ValueError("max_seq_len must be at least 8 and micro_batch_size at least 1")


@dataclass(kw_only=True)
class RewardConfig(TrainConfig):
    """Reward-model training (common knobs are documented on TrainConfig).

    ``config_name`` is ``preferences`` or ``rankings``. Prompts are cut to ``max_prompt_len``
    tokens (in the middle) and responses to ``max_response_len`` (at the end). A micro-batch
    holds whole prompt groups up to ``micro_batch_tokens`` tokens (a longer group goes alone).
    ``share_prompt`` (None: for decoder bases) packs each prompt once with its responses as
    branches. ``margin_scale`` multiplies the rank gap into a margin (0: plain Bradley–Terry);
    ``score_l2`` weighs the mean squared score.
    """

    config_name: str = "preferences"
    learning_rate: float = 1e-5
    max_prompt_len: int = 512
    max_response_len: int = 512
    micro_batch_tokens: int = 4096
    share_prompt: bool | None = None
    margin_scale: float = 0.0
    score_l2: float = 0.001

    def validate(self) -> None:
        super().validate()
        if self.config_name not in {"preferences", "rankings"}:
            raise ValueError("a reward model trains on 'preferences' or 'rankings'")
        if min(self.max_prompt_len, self.max_response_len, self.micro_batch_tokens) < 1:
            raise ValueError("length limits must be positive")


CONFIGS: dict[str, type[TrainConfig]] = {"sft": SFTConfig, "reward": RewardConfig}
