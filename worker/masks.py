"""Attention masks for packed rows: examples in one row never see each other.

The rule, for query position q and key position k of the same row::

    attend(q, k) = doc[q] == doc[k] and k <= q and (segment[k] == 0 or segment[k] == segment[q])

``doc`` numbers the examples of a row (padding is one more "document" of its own, so every
query attends to at least itself and no softmax row is empty); ``segment`` is 0 for SFT and
marks the response branches that share a prompt for the reward model.

The mask is passed to transformers as a ready 4D mask, which its attention code uses as is:
a boolean ``[B, 1, L, L]`` tensor for ``sdpa``, an additive float one for ``eager``, and a
``BlockMask`` for ``flex_attention`` (on GPU: only the blocks that hold a document's tokens
are computed, so packing costs no attention FLOPs across documents). FlashAttention's
variable-length kernel (:data:`worker.varlen.NAME`, SFT only) takes no mask but where each
document starts, :func:`worker.varlen.cu_seqlens`, which stands in the mask's place here.
"""

from __future__ import annotations

from typing import Any

import torch

from worker import varlen
from worker.data import PackedBatch


def dense_mask(doc: torch.Tensor, segment: torch.Tensor) -> torch.Tensor:
    """Boolean ``[B, 1, L, L]`` mask, True where a query may attend to a key."""
    length = doc.shape[-1]
    causal = torch.ones(length, length, dtype=torch.bool, device=doc.device).tril()
    same_doc = doc[:, :, None] == doc[:, None, :]
    branch = (segment[:, None, :] == 0) | (segment[:, :, None] == segment[:, None, :])
    return (same_doc & branch & causal)[:, None]


def block_mask(doc: torch.Tensor, segment: torch.Tensor) -> Any:
    """A flex-attention ``BlockMask`` with the same rule as :func:`dense_mask`."""
    from torch.nn.attention.flex_attention import create_block_mask

    def mask_mod(b: Any, h: Any, q: Any, k: Any) -> Any:
        same = doc[b, q] == doc[b, k]
        branch = (segment[b, k] == 0) | (segment[b, k] == segment[b, q])
        return same & branch & (k <= q)

    batch, length = doc.shape
    return create_block_mask(mask_mod, batch, None, length, length, device=str(doc.device))


def attention_mask(
    batch: PackedBatch,
    implementation: str,
    dtype: torch.dtype,
    *,
    layout: varlen.Layout | None = None,
) -> Any:
    """The mask object to pass as ``attention_mask`` for the model's attention implementation;
    for varlen, the ``cu_seqlens`` of the run's ``layout``, to pass as ``cu_seq_lens_q`` and
    ``cu_seq_lens_k`` instead (SFT only: ``segment`` must be all 0).

    Precondition: the model was loaded with ``attn_implementation`` equal to ``implementation``.
    """
    if implementation == varlen.NAME:
        if layout is None:
            raise ValueError("varlen attention needs the run's layout (worker.varlen.Layout)")
        return varlen.cu_seqlens(batch.doc, layout)
    if implementation == "flex_attention":
        return block_mask(batch.doc, batch.segment)
    mask = dense_mask(batch.doc, batch.segment)
    if implementation == "eager":
        additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return additive.masked_fill(~mask, torch.finfo(dtype).min)
    return mask


class StaticInputs:
    """Device buffers that keep one address from step to step, for CUDA graphs.

    A CUDA graph replays on the memory it was recorded with. torch.compile's backward graph
    takes what the forward saved as fixed addresses, and that includes the forward's own
    inputs (token ids, targets, the mask), so a fresh batch tensor at every step makes the
    backward record itself again at every step. Each step's batch and mask are copied in
    place into the buffers of the first one (queued behind the previous step's work, which is
    done reading them by then); a change of shape or layout starts new buffers.
    """

    def __init__(self) -> None:
        self.buffers: dict[str, torch.Tensor] = {}
        self.held_mask: Any = None

    def tensor(self, name: str, value: torch.Tensor) -> torch.Tensor:
        """``value``'s contents in the buffer called ``name``."""
        held = self.buffers.get(name)
        if held is None or not _same_layout(held, value):
            held = value.clone()
            torch._dynamo.mark_static_address(held)
            self.buffers[name] = held
        else:
            held.copy_(value)
        return held

    def mask(self, mask: Any) -> Any:
        """The attention mask in fixed buffers: a tensor (varlen's ``cu_seqlens`` too, whose
        length is fixed by the run's layout), or a flex ``BlockMask`` whose block
        tables are copied into the first one's (whose ``mask_mod`` must read the buffers of
        :meth:`tensor`, as :func:`block_mask` of staged ``doc``/``segment`` does)."""
        if isinstance(mask, torch.Tensor):
            return self.tensor("mask", mask)
        new = [t for t in mask.as_tuple() if isinstance(t, torch.Tensor)]
        held = self.held_mask
        if held is not None:
            old = [t for t in held.as_tuple() if isinstance(t, torch.Tensor)]
            if len(old) == len(new) and all(map(_same_layout, old, new)):
                for target, source in zip(old, new, strict=True):
                    target.copy_(source)
                return held
        for t in new:
            torch._dynamo.mark_static_address(t)
        self.held_mask = mask
        return mask


def _same_layout(a: torch.Tensor, b: torch.Tensor) -> bool:
    return a.shape == b.shape and a.dtype == b.dtype and a.device == b.device
