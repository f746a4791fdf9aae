"""FlashAttention over packed rows as one token stream (SFT's ``attention="varlen"``).

A ``[B, L]`` batch of packed rows is, to FlashAttention's variable-length kernel, ``B × L``
tokens in a row and the offsets where each example starts (``cu_seqlens``, int32). Each
example attends causally to itself only, as :func:`worker.masks.dense_mask` says for SFT
(``segment`` all 0); the kernel computes no score across examples, and no mask exists.

Shapes stay fixed from step to step, for torch.compile and CUDA graphs: every batch of the
run is laid out as the same number of sequences (:class:`Layout`, from the run's plan): row
by row, its examples, then its padding as sequences of its own (split into pieces no longer
than the longest example), then zero-length sequences to fill the batch out; so
``cu_seqlens`` always has ``sequences + 1`` entries, and the kernel is told the run's longest
sequence (``max_seqlen``), a constant too. Both are kept to what the run needs, since
FlashAttention 2 launches ``ceil(max_seqlen / 128)`` thread blocks for every sequence and
head, and the backward allocates 128 rows of float32 accumulators for each: a block past its
sequence's end returns at once, but at the benchmark's four rows of 2,048 tokens, laid out
as 38 sequences a row (its fullest row's 37 examples and its padding) with ``max_seqlen``
2,048, 97% of the thread blocks had nothing to do, and attention kernels took a quarter of
the step on an H200 (13.4 of 54.7 ms). Laid out by the batch, the most sequences any batch
needs (72 there, against 4 × 38 = 152) with the longest example (1,553 tokens) as
``max_seqlen``, the grid is 2.6 times smaller, and the attention kernels took 8.9 ms.

The kernel, ``torch.nn.attention.varlen.varlen_attn``, is torch's custom op
``torch_attn::_varlen_attn`` (FlashAttention 2 on CUDA, bf16 or fp16; no CPU kernel). The
model is loaded with ``attn_implementation=NAME`` (:func:`register` adds it to transformers)
and ``cu_seqlens`` reaches each attention layer as the ``cu_seq_lens_q``/``cu_seq_lens_k``
keyword arguments of the decoder's forward, which transformers passes down to attention
functions. Transformers builds no mask for an implementation it has no mask function for.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch

NAME = "hearth_varlen"
OP = "torch_attn::_varlen_attn"


@dataclass(frozen=True)
class Layout:
    """How every batch of a run becomes one token stream: ``sequences`` sequences (the
    length of ``cu_seqlens`` less one), none longer than ``longest`` tokens."""

    sequences: int
    longest: int

    @classmethod
    def of(cls, batches: Iterable[Sequence[Sequence[int]]], rows: int, seq_len: int) -> Layout:
        """The layout of batches given as their rows' example lengths, each batch filled out
        to ``rows`` rows of ``seq_len`` positions with empty rows."""
        batches = [list(batch) + [[]] * (rows - len(batch)) for batch in batches]
        longest = max((n for batch in batches for row in batch for n in row), default=1)
        sequences = max(
            (
                sum(len(row) + _pieces(seq_len - sum(row), longest) for row in batch)
                for batch in batches
            ),
            default=1,
        )
        return cls(sequences, longest)


def _pieces(padding: int, longest: int) -> int:
    return -(-padding // longest)


def cu_seqlens(doc: torch.Tensor, layout: Layout) -> torch.Tensor:
    """The int32 start offsets (and the end) of ``layout.sequences`` sequences in the
    flattened rows.

    Row by row, each example is a sequence, then the row's padding (``doc`` -1) in pieces of
    at most ``layout.longest`` positions; the zero-length sequences that fill the layout out
    come last. Nothing is read back from the device. Preconditions (what
    :func:`worker.data.collate_sft` lays out, and what the layout was made of): in each row
    the examples are numbered from 0 in order, each in one run of positions no longer than
    ``layout.longest``, and the padding follows them all; the batch needs no more than
    ``layout.sequences`` sequences (one that needs more gets an index error).
    """
    length = doc.shape[1]
    longest = layout.longest
    used = (doc >= 0).sum(1)  # each row's positions in examples, which come first
    examples = doc.amax(1) + 1  # a row of padding alone: 0
    per_row = examples + torch.div(length - used + longest - 1, longest, rounding_mode="floor")
    first = per_row.cumsum(0) - per_row  # each row's first sequence
    past = torch.arange(length, device=doc.device) - used[:, None]  # ≥ 0 in the padding
    piece = examples[:, None] + torch.div(past.clamp(min=0), longest, rounding_mode="floor")
    slot = first[:, None] + torch.where(doc >= 0, doc, piece)
    lengths = torch.zeros(layout.sequences, dtype=torch.int32, device=doc.device)
    lengths.scatter_add_(0, slot.flatten(), torch.ones_like(slot.flatten(), dtype=torch.int32))
    offsets = torch.zeros(layout.sequences + 1, dtype=torch.int32, device=doc.device)
    offsets[1:] = lengths.cumsum(0, dtype=torch.int32)
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
    :func:`cu_seqlens` of these rows, and ``max_length_q`` (and ``max_length_k``) no less
    than its longest sequence (default: the row length). Under autocast q, k and v go to the autocast dtype
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
        kwargs.get("max_length_q") or length,
        kwargs.get("max_length_k") or length,
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
