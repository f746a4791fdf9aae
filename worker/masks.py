"""Attention masks for packed rows: examples in one row never see each other.

The rule, for query position q and key position k of the same row::

    attend(q, k) = doc[q] == doc[k] and k <= q and (segment[k] == 0 or segment[k] == segment[q])

``doc`` numbers the examples of a row (padding is one more "document" of its own, so every
query attends to at least itself and no softmax row is empty); ``segment`` is 0 for SFT and
marks the response branches that share a prompt for the reward model.

The mask is passed to transformers as a ready 4D mask, which its attention code uses as is:
a boolean ``[B, 1, L, L]`` tensor for ``sdpa``, an additive float one for ``eager``, and a
``BlockMask`` for ``flex_attention`` (on GPU: only the blocks that hold a document's tokens
are computed, so packing costs no attention FLOPs across documents).
"""

from __future__ import annotations

from typing import Any

import torch

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


def attention_mask(batch: PackedBatch, implementation: str, dtype: torch.dtype) -> Any:
    """The mask object to pass as ``attention_mask`` for the model's attention implementation.

    Precondition: the model was loaded with ``attn_implementation`` equal to ``implementation``.
    """
    if implementation == "flex_attention":
        return block_mask(batch.doc, batch.segment)
    mask = dense_mask(batch.doc, batch.segment)
    if implementation == "eager":
        additive = torch.zeros(mask.shape, dtype=dtype, device=mask.device)
        return additive.masked_fill(~mask, torch.finfo(dtype).min)
    return mask
