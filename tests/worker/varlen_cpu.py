"""A CPU stand-in for FlashAttention's variable-length kernel, so that Hearth's side of
``attention="varlen"`` (flattening, ``cu_seqlens``, the attention function, the keyword
arguments through transformers, positions restarting per example) runs for real on a CPU.

torch's op ``torch_attn::_varlen_attn`` and its backward op have no CPU kernel (they call
``aten::_flash_attention_forward``, CUDA only). :func:`cpu_kernels` registers one for each,
computed per sequence in float32 with the textbook formulas (the backward by hand: inside a
kernel autograd is off), and removes them again on leaving. ``calls`` counts the forward's
calls and the empty sequences it was given.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import torch

calls: Counter[str] = Counter()


def _sequences(cu_seq_q: torch.Tensor, cu_seq_k: torch.Tensor | None, total: int) -> list[int]:
    """The offsets as a list, after checking what FlashAttention assumes of them."""
    offsets = cu_seq_q.tolist()
    assert cu_seq_q.dtype == torch.int32, cu_seq_q.dtype
    assert cu_seq_k is None or torch.equal(cu_seq_k, cu_seq_q)
    assert offsets[0] == 0 and offsets[-1] == total, (offsets[0], offsets[-1], total)
    assert all(a <= b for a, b in itertools.pairwise(offsets)), "offsets go back"
    return offsets  # type: ignore[no-any-return]


def _probabilities(
    q: torch.Tensor, k: torch.Tensor, scale: float, causal: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax of ``q kᵀ × scale`` for ``[h, n, D]`` float32 heads, and its log-sum-exp."""
    scores = q @ k.transpose(-1, -2) * scale
    if causal:
        n = q.shape[1]
        future = torch.ones(n, n, dtype=torch.bool).triu(1)
        scores = scores.masked_fill(future, float("-inf"))
    lse = scores.logsumexp(-1)
    return (scores - lse[..., None]).exp(), lse


def _heads(states: torch.Tensor, groups: int) -> torch.Tensor:
    """``[n, h_kv, D]`` tokens as ``[h, n, D]`` float32 heads, each KV head shared by
    ``groups`` query heads in turn (as transformers' repeat_kv and FlashAttention's GQA)."""
    return states.float().transpose(0, 1).repeat_interleave(groups, dim=0)


def varlen_forward(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    cu_seq_q: torch.Tensor,
    cu_seq_k: torch.Tensor | None,
    max_q: int,
    max_k: int,
    is_causal: bool = False,
    scale: float | None = None,
    window_size: list[int] | None = None,
    enable_gqa: bool = False,
    seqused_k: torch.Tensor | None = None,
    block_table: torch.Tensor | None = None,
    num_splits: int | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    total, heads, dim = query.shape
    groups = heads // key.shape[1]
    assert enable_gqa == (groups > 1)
    offsets = _sequences(cu_seq_q, cu_seq_k, total)
    scale = dim**-0.5 if scale is None else scale
    out = torch.zeros(total, heads, dim)
    lse = torch.zeros(heads, total)
    calls["forward"] += 1
    calls["max_seqlen"] = max_q
    for start, end in itertools.pairwise(offsets):
        calls["empty"] += start == end
        assert end - start <= min(max_q, max_k)
        if start == end:
            continue
        p, lse[:, start:end] = _probabilities(
            _heads(query[start:end], 1), _heads(key[start:end], groups), scale, is_causal
        )
        out[start:end] = (p @ _heads(value[start:end], groups)).transpose(0, 1)
    return out.to(query.dtype), lse, torch.zeros(2, dtype=torch.uint64)


def varlen_backward(
    grad_out: torch.Tensor,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    out: torch.Tensor,
    lse: torch.Tensor,
    cu_seq_q: torch.Tensor,
    cu_seq_k: torch.Tensor,
    max_q: int,
    max_k: int,
    is_causal: bool,
    rng_state: torch.Tensor,
    scale: float | None = None,
    window_size: list[int] | None = None,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """dV = Pᵀ dO, dS = P ∘ (dO Vᵀ − rowsum(dO ∘ O)), dQ = dS K × scale, dK = dSᵀ Q × scale;
    a KV head's gradients summed over the query heads that share it."""
    total, heads, dim = query.shape
    kv_heads = key.shape[1]
    groups = heads // kv_heads
    offsets = _sequences(cu_seq_q, cu_seq_k, total)
    scale = dim**-0.5 if scale is None else scale
    dq = torch.zeros(total, heads, dim)
    dk = torch.zeros(total, kv_heads, dim)
    dv = torch.zeros(total, kv_heads, dim)
    for start, end in itertools.pairwise(offsets):
        assert end - start <= min(max_q, max_k)
        if start == end:
            continue
        q = _heads(query[start:end], 1)
        k = _heads(key[start:end], groups)
        v = _heads(value[start:end], groups)
        d_out = _heads(grad_out[start:end], 1)
        p, _ = _probabilities(q, k, scale, is_causal)
        o = p @ v
        d_scores = p * (d_out @ v.transpose(-1, -2) - (d_out * o).sum(-1, keepdim=True))

        def per_kv_head(grads: torch.Tensor) -> torch.Tensor:
            return grads.unflatten(0, (kv_heads, groups)).sum(1).transpose(0, 1)

        dq[start:end] = (d_scores @ k * scale).transpose(0, 1)
        dk[start:end] = per_kv_head(d_scores.transpose(-1, -2) @ q * scale)
        dv[start:end] = per_kv_head(p.transpose(-1, -2) @ d_out)
    return dq.to(query.dtype), dk.to(key.dtype), dv.to(value.dtype)


@contextmanager
def cpu_kernels() -> Iterator[None]:
    """The two ops run on CPU tensors while inside; nothing of them is left afterwards."""
    import torch.nn.attention.varlen  # defines the ops

    library = torch.library.Library("torch_attn", "IMPL")
    kernels: dict[str, Any] = {"_varlen_attn": varlen_forward}
    kernels["_varlen_attn_backward"] = varlen_backward
    try:
        for name, kernel in kernels.items():
            library.impl(name, kernel, "CPU")
        calls.clear()
        yield
    finally:
        library._destroy()
