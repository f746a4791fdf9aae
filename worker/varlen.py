"""FlashAttention over packed rows as one token stream (SFT's ``attention="varlen"``).

A ``[B, L]`` batch of packed rows is, to FlashAttention's variable-length kernel, ``B × L``
tokens in a row and the offsets where each example starts (``cu_seqlens``, int32). Each
example attends causally to itself only, as :func:`worker.masks.dense_mask` says for SFT
(``segment`` all 0); the kernel computes no score across examples, and no mask exists.

Shapes stay fixed from step to step, for torch.compile and CUDA graphs: every row gets the
same number of sequences (``slots``, its examples, zero-length ones to fill it out, then its
padding as a sequence of its own, last), so ``cu_seqlens`` always has ``B × slots + 1``
entries, and the longest sequence is given as ``L``. A zero-length sequence costs the kernel
nothing but a thread block that returns at once (FlashAttention 2 returns from a query block
that starts past its sequence's end, in the forward and the backward). ``slots`` is kept to
what the rows need (:func:`doc_slots`, from the run's plan) rather than the worst case of one
per token, because the backward allocates 128 rows of float32 accumulators per sequence and
head: at the benchmark's four rows of 2,048 tokens the worst case would be 4.3 GB of them.

The kernel, ``torch.nn.attention.varlen.varlen_attn``, is torch's custom op
``torch_attn::_varlen_attn`` (FlashAttention 2 on CUDA, bf16 or fp16; no CPU kernel). The
model is loaded with ``attn_implementation=NAME`` (:func:`register` adds it to transformers)
and ``cu_seqlens`` reaches each attention layer as the ``cu_seq_lens_q``/``cu_seq_lens_k``
keyword arguments of the decoder's forward, which transformers passes down to attention
functions. Transformers builds no mask for an implementation it has no mask function for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import torch

NAME = "hearth_varlen"
OP = "torch_attn::_varlen_attn"


def doc_slots(rows: Iterable[Sequence[int]]) -> int:
    """Sequences per row for rows of example indices: the most examples in a row, plus one
    for the padding."""
    return 1 + max((len(row) for row in rows), default=0)


def cu_seqlens(doc: torch.Tensor, slots: int) -> torch.Tensor:
    """The int32 start offsets (and the end) of ``B × slots`` sequences in the flattened rows.

    Row ``r``'s example ``d`` is sequence ``r × slots + d``, its padding (``doc`` -1) sequence
    ``r × slots + slots - 1``; the sequences between are empty. Nothing is read back from the
    device. Preconditions (what :func:`worker.data.collate_sft` lays out): in each row the
    examples are numbered from 0 in order, each in one run of positions, and the padding
    follows them all; no row holds more than ``slots - 1`` examples (a row with more gets an
    index error).
    """
    batch = doc.shape[0]
    slot = torch.where(doc >= 0, doc, slots - 1)
    lengths = torch.zeros(batch, slots, dtype=torch.int32, device=doc.device)
    lengths.scatter_add_(1, slot, torch.ones_like(slot, dtype=torch.int32))
    offsets = torch.zeros(batch * slots + 1, dtype=torch.int32, device=doc.device)
    offsets[1:] = lengths.flatten().cumsum(0, dtype=torch.int32)
    return offsets


def kernel_available(device: torch.device) -> bool:
    """Whether varlen attention can run on ``device``: CUDA, or a device type for which a
    kernel of the op has been registered (the tests register a CPU reference)."""
    if device.type == "cuda":
        return True
    import torch.nn.attention.varlen  # defines the op

    return bool(torch._C._dispatch_has_kernel_for_dispatch_key(OP, device.type.upper()))


def suits_auto(model_config: Any, max_seq_len: int) -> bool:
    """Whether SFT's ``attention="auto"`` may use varlen for a model of this configuration:
    a decoder whose attention has no logit soft cap and no sliding window shorter than the
    rows (which the kernel, asked for plain causal attention, would not apply)."""
    if getattr(model_config, "is_encoder_decoder", False):
        return False
    if getattr(model_config, "attn_logit_softcapping", None) is not None:
        return False
    window = getattr(model_config, "sliding_window", None)
    return window is None or int(window) >= max_seq_len


def _kernel_takes_gqa() -> bool:
    """Whether this torch's ``varlen_attn`` shares key and value heads itself (torch 2.11's
    kernel has no ``enable_gqa``)."""
    import inspect

    from torch.nn.attention.varlen import varlen_attn

    return "enable_gqa" in inspect.signature(varlen_attn).parameters


def attention_forward(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    sliding_window: int | None = None,
    softcap: float | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """Causal attention of each packed example to itself, in transformers' attention
    function contract: ``query`` ``[B, H, L, D]``, ``key``/``value`` ``[B, H_kv, L, D]``
    (fewer heads: grouped-query attention), the output ``[B, L, H, D]`` and no weights.

    Precondition: ``cu_seq_lens_q`` (and the same ``cu_seq_lens_k``) in ``kwargs``, from
    :func:`cu_seqlens` of these rows. Under autocast q, k and v go to the autocast dtype
    (rotary embeddings leave q and k in float32, and the kernel has no float32 version).
    """
    from torch.nn.attention.varlen import varlen_attn

    offsets = kwargs.get("cu_seq_lens_q")
    if offsets is None:
        raise ValueError(f"{NAME} attention needs cu_seq_lens_q (see worker.varlen.cu_seqlens)")
    if dropout:
        raise ValueError(f"{NAME} attention has no dropout (got {dropout})")
    batch, heads, length, dim = query.shape
    if softcap is not None or (sliding_window is not None and length > sliding_window):
        raise ValueError(f"{NAME} attention has no soft cap and no sliding window")
    kv_heads = key.shape[1]
    device_type = query.device.type
    dtype = (
        torch.get_autocast_dtype(device_type)
        if torch.is_autocast_enabled(device_type)
        else query.dtype
    )

    def tokens(states: torch.Tensor) -> torch.Tensor:
        """``[B, h, L, D]`` as ``[B × L, h, D]``, one token stream."""
        return states.transpose(1, 2).reshape(batch * length, -1, dim).to(dtype)

    gqa: dict[str, Any] = {}
    if heads != kv_heads:
        if _kernel_takes_gqa():
            gqa["enable_gqa"] = True
        else:  # an older kernel: give every query head its own copy of its key-value head
            key = key.repeat_interleave(heads // kv_heads, dim=1)
            value = value.repeat_interleave(heads // kv_heads, dim=1)
    out = varlen_attn(
        tokens(query),
        tokens(key),
        tokens(value),
        offsets,
        kwargs.get("cu_seq_lens_k", offsets),
        length,
        length,
        scale=scaling,
        window_size=(-1, 0),  # causal
        **gqa,
    )
    assert isinstance(out, torch.Tensor)  # no auxiliary outputs were asked for
    return out.view(batch, length, heads, dim), None


def register() -> None:
    """Make ``attn_implementation=NAME`` known to transformers (idempotent)."""
    from transformers import AttentionInterface

    AttentionInterface.register(NAME, attention_forward)
