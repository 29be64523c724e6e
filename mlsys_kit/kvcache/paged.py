"""Paged K/V storage and paged attention, vectorised in torch: the teaching path.

PagedAttention (Kwon et al., SOSP'23), section 4.1 "PagedAttention": the keys and values of
a sequence live in fixed-size blocks that need not be contiguous in memory; the attention
kernel finds them through the sequence's block table. Here the "kernel" is plain torch:

* storage: one tensor per layer, ``kv[layer]`` of shape ``[2, num_blocks, kv_heads,
  block_size * head_dim]`` (index 0 holds K, 1 holds V): one block's tile per head, each head's
  ``block_size`` tokens together. Inside a tile, K is kept transposed, ``[head_dim, block_size]``,
  as vLLM's key cache keeps it (its ``[..., head_size / x, block_size, x]`` with x = 1), and V as
  ``[block_size, head_dim]``. In memory the head comes first (``kv[layer]`` is a view of a
  ``[2, kv_heads, num_blocks, ...]`` tensor): a head's tiles of consecutive blocks lie side by
  side, so a sequence whose blocks were handed out in a row is read as one stream. The fast
  decode path (:mod:`mlsys_kit.kvcache.paged_decode`) reads a tile's keys as ``head_dim`` rows
  and its values as ``block_size`` rows, where they lie. What a reader indexes is
  :meth:`PagedKVCache.keys` / :meth:`~PagedKVCache.values`: views of shape
  ``[num_blocks, block_size, kv_heads, head_dim]`` on that storage (no copy);
* write: the new tokens' K/V go to flat *slots* ``block * block_size + offset`` given by the
  slot mapping (one indexed store per tensor, vLLM's ``reshape_and_cache``);
* read (:func:`paged_attention`): each sequence's blocks are gathered into a padded
  ``[S, max_blocks * block_size]`` view of its context; queries of all sequences are padded to
  ``[S, max_queries]`` and one masked ``scaled_dot_product_attention`` call does the batch.
  Query i of a sequence sees context slot j iff ``j <= position(i)`` (causal) and
  ``j < context_len`` (not padding). No Python loop over tokens or sequences.

A CUDA kernel (vLLM's) avoids the gather copy by reading blocks in place; the gather keeps
this version short and exact. The fast path the model runner uses (decode queries without the
padded gather, split-KV chunks merged by log-sum-exp, the plan built once per step) is in
:mod:`mlsys_kit.kvcache.paged_decode`, tested equal to :func:`paged_attention`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mlsys_kit.checks import positive_int
from mlsys_kit.common import ceil_div


class PagedKVCache:
    """K/V blocks of every layer: ``kv[layer]`` has shape [2, num_blocks, kv_heads, block_size * head_dim]
    (a view, head-major in memory: see the module docstring); ``keys(layer)`` and ``values(layer)``
    view it as [num_blocks, block_size, kv_heads, head_dim]."""

    def __init__(self, n_layer: int, num_blocks: int, block_size: int, kv_heads: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
        for name, value in (("n_layer", n_layer), ("num_blocks", num_blocks), ("block_size", block_size),
                            ("kv_heads", kv_heads), ("head_dim", head_dim)):
            positive_int(name, value)
        self.num_blocks, self.block_size = num_blocks, block_size
        self.kv_heads, self.head_dim = kv_heads, head_dim
        # head-major in memory (see the module docstring); kv[layer] views it block-major
        self._store = [torch.zeros(2, kv_heads, num_blocks, block_size * head_dim, dtype=dtype, device=device)
                       for _ in range(n_layer)]
        self.kv = [store.transpose(1, 2) for store in self._store]

    @property
    def nbytes(self) -> int:
        """Bytes of K/V storage allocated for all layers."""
        return sum(t.numel() * t.element_size() for t in self.kv)

    @property
    def bytes_per_token(self) -> int:
        """Bytes one token slot takes across all layers (K and V)."""
        return self.nbytes // (self.num_blocks * self.block_size)

    def keys(self, layer: int) -> torch.Tensor:
        """Layer's keys as [num_blocks, block_size, kv_heads, head_dim] (a view of the storage)."""
        n, H, B, D = self.num_blocks, self.kv_heads, self.block_size, self.head_dim
        return self._store[layer][0].view(H, n, D, B).permute(1, 3, 0, 2)

    def values(self, layer: int) -> torch.Tensor:
        """Layer's values as [num_blocks, block_size, kv_heads, head_dim] (a view of the storage)."""
        n, H, B, D = self.num_blocks, self.kv_heads, self.block_size, self.head_dim
        return self._store[layer][1].view(H, n, B, D).permute(1, 2, 0, 3)

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor, slot_mapping: torch.Tensor) -> None:
        """Store K/V of N new tokens ([N, kv_heads, head_dim]) at flat slots ``slot_mapping`` [N]."""
        block, offset = slot_mapping // self.block_size, slot_mapping % self.block_size
        keys, values = self.keys(layer), self.values(layer)
        keys[block, offset] = k.to(keys.dtype)
        values[block, offset] = v.to(values.dtype)

    def read(self, layer: int, slot_mapping: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """K and V ([N, kv_heads, head_dim] each, copies) at flat slots ``slot_mapping`` [N]."""
        block, offset = slot_mapping // self.block_size, slot_mapping % self.block_size
        return self.keys(layer)[block, offset], self.values(layer)[block, offset]

    def copy_blocks(self, copies: list[tuple[int, int]]) -> None:
        """Apply copy-on-write copies (src, dst) reported by the block manager, in every layer."""
        if not copies:
            return
        src = torch.tensor([s for s, _ in copies], device=self.kv[0].device)
        dst = torch.tensor([d for _, d in copies], device=self.kv[0].device)
        for store in self.kv:
            store[:, dst] = store[:, src]


def slot_mapping(block_table: torch.Tensor, positions: torch.Tensor, block_size: int) -> torch.Tensor:
    """Flat slot of each position of one sequence: ``table[pos // B] * B + pos % B``."""
    return block_table[positions // block_size] * block_size + positions % block_size


def paged_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_tables: torch.Tensor,
                    context_lens: torch.Tensor, query_seq: torch.Tensor, query_pos: torch.Tensor,
                    scale: float | None = None) -> torch.Tensor:
    """Causal attention of N query tokens from S sequences of different lengths over paged K/V.

    q: [N, H, D] queries, grouped by sequence (``query_seq`` [N] non-decreasing in 0..S-1);
    k_cache, v_cache: [num_blocks, block_size, H, D] (any strides: ``PagedKVCache.keys(layer)``,
    ``.values(layer)``);
    block_tables: [S, max_blocks] (padding entries may be any valid block id);
    context_lens: [S] tokens of each sequence in the cache (including the new ones);
    query_pos: [N] position of each query in its sequence (< its context_len).
    Returns [N, H, D]. (The model runner uses :class:`~mlsys_kit.kvcache.paged_decode.AttentionPlan`,
    the fast path: same result, planned once per step for every layer.)
    """
    if q.dim() != 3 or k_cache.dim() != 4 or k_cache.shape != v_cache.shape:
        raise ValueError(f"q must be [N, H, D] and k/v caches [num_blocks, block_size, H, D]: "
                         f"got {tuple(q.shape)}, {tuple(k_cache.shape)}, {tuple(v_cache.shape)}")
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    plan = _plan_padded(block_tables, context_lens, query_seq, query_pos, k_cache.shape[1])
    return _run_padded(q, k_cache, v_cache, plan, scale)


def _plan_padded(block_tables: torch.Tensor, context_lens: torch.Tensor, query_seq: torch.Tensor,
                 query_pos: torch.Tensor, block_size: int) -> tuple:
    S, N = block_tables.shape[0], query_seq.shape[0]
    hi = int(context_lens.max()) if S else 0
    # each sequence's context is gathered by whole blocks, cut to the longest context
    # (index_select on whole blocks is a row memcpy, several times faster than k_cache[block_tables])
    max_blocks = ceil_div(hi, block_size)  # table columns that hold any context
    flat = block_tables[:, :max_blocks].reshape(-1)
    counts = torch.bincount(query_seq, minlength=S)
    max_q = int(counts.max()) if N else 0
    starts = torch.cumsum(counts, 0) - counts
    rank = torch.arange(N, device=query_seq.device) - starts[query_seq]  # index of the query within its sequence
    pos_pad = torch.zeros(S, max_q, dtype=torch.long, device=query_seq.device)  # padding queries see slot 0
    pos_pad[query_seq, rank] = query_pos
    j = torch.arange(hi, device=query_seq.device)
    mask = (j <= pos_pad[:, :, None]) & (j < context_lens[:, None, None])  # [S, max_q, hi]
    return flat, S, max_blocks * block_size, hi, max_q, query_seq, rank, mask[:, None]


def _run_padded(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, plan: tuple,
                scale: float) -> torch.Tensor:
    flat, S, L, hi, max_q, query_seq, rank, mask = plan
    H, D = q.shape[1:]
    keys = k_cache.index_select(0, flat).view(S, L, H, D)[:, :hi].transpose(1, 2)
    values = v_cache.index_select(0, flat).view(S, L, H, D)[:, :hi].transpose(1, 2)
    q_pad = q.new_zeros(S, max_q, H, D)
    q_pad[query_seq, rank] = q
    out = F.scaled_dot_product_attention(q_pad.transpose(1, 2), keys, values, attn_mask=mask,
                                         scale=scale)  # [S, H, max_q, D]
    return out.transpose(1, 2)[query_seq, rank]
