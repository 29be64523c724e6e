"""Paged K/V storage and paged attention, vectorised in torch.

PagedAttention (Kwon et al., SOSP'23), section 4.1 "PagedAttention": the keys and values of
a sequence live in fixed-size blocks that need not be contiguous in memory; the attention
kernel finds them through the sequence's block table. Here the "kernel" is plain torch:

* storage: one tensor per layer of shape ``[2, num_blocks, block_size, kv_heads, head_dim]``
  (index 0 holds K, 1 holds V);
* write: the new tokens' K/V go to flat *slots* ``block * block_size + offset`` given by the
  slot mapping (one ``index_copy_``, vLLM's ``reshape_and_cache``);
* read: ``k_cache[block_tables]`` gathers each sequence's blocks into a padded
  ``[S, max_blocks * block_size]`` view of its context; queries of all sequences are padded to
  ``[S, max_queries]`` and one masked ``scaled_dot_product_attention`` call does the batch.
  Query i of a sequence sees context slot j iff ``j <= position(i)`` (causal) and
  ``j < context_len`` (not padding). No Python loop over tokens or sequences.

A CUDA kernel (vLLM's) avoids the gather copy by reading blocks in place; the gather keeps
this version short and exact, and ``benchmarks/kvcache_decode.py`` measures its cost.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlsys_kit.checks import positive_int


class PagedKVCache:
    """K/V blocks of every layer: ``kv[layer]`` has shape [2, num_blocks, block_size, kv_heads, head_dim]."""

    def __init__(self, n_layer: int, num_blocks: int, block_size: int, kv_heads: int, head_dim: int,
                 dtype: torch.dtype = torch.float32, device: torch.device | str = "cpu") -> None:
        for name, value in (("n_layer", n_layer), ("num_blocks", num_blocks), ("block_size", block_size),
                            ("kv_heads", kv_heads), ("head_dim", head_dim)):
            positive_int(name, value)
        self.num_blocks, self.block_size = num_blocks, block_size
        self.kv = [torch.zeros(2, num_blocks, block_size, kv_heads, head_dim, dtype=dtype, device=device)
                   for _ in range(n_layer)]

    @property
    def nbytes(self) -> int:
        """Bytes of K/V storage allocated for all layers."""
        return sum(t.numel() * t.element_size() for t in self.kv)

    @property
    def bytes_per_token(self) -> int:
        """Bytes one token slot takes across all layers (K and V)."""
        return self.nbytes // (self.num_blocks * self.block_size)

    def write(self, layer: int, k: torch.Tensor, v: torch.Tensor, slot_mapping: torch.Tensor) -> None:
        """Store K/V of N new tokens ([N, kv_heads, head_dim]) at flat slots ``slot_mapping`` [N]."""
        store = self.kv[layer]
        flat = store.view(2, self.num_blocks * self.block_size, *store.shape[3:])
        flat[0].index_copy_(0, slot_mapping, k.to(store.dtype))
        flat[1].index_copy_(0, slot_mapping, v.to(store.dtype))

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
    k_cache, v_cache: [num_blocks, block_size, H, D];
    block_tables: [S, max_blocks] (padding entries may be any valid block id);
    context_lens: [S] tokens of each sequence in the cache (including the new ones);
    query_pos: [N] position of each query in its sequence (< its context_len).
    Returns [N, H, D].
    """
    if q.dim() != 3 or k_cache.dim() != 4 or k_cache.shape != v_cache.shape:
        raise ValueError(f"q must be [N, H, D] and k/v caches [num_blocks, block_size, H, D]: "
                         f"got {tuple(q.shape)}, {tuple(k_cache.shape)}, {tuple(v_cache.shape)}")
    S, max_blocks = block_tables.shape
    N, H, D = q.shape
    lo, hi = (int(context_lens.min()), int(context_lens.max())) if S else (0, 0)
    # gather each sequence's context: [S, L, H, D] -> [S, H, L, D], cut to the longest context.
    # (index_select on whole blocks is a row memcpy, several times faster than k_cache[block_tables])
    flat = block_tables.reshape(-1)
    L = max_blocks * k_cache.shape[1]
    keys = k_cache.index_select(0, flat).view(S, L, H, D)[:, :hi].transpose(1, 2)
    values = v_cache.index_select(0, flat).view(S, L, H, D)[:, :hi].transpose(1, 2)
    counts = torch.bincount(query_seq, minlength=S)
    max_q = int(counts.max()) if N else 0
    if max_q == 1 and N == S:  # pure decode: one query per sequence (its last token), no padding
        q_pad = q.unsqueeze(1)
        if lo == hi:  # every query sees its whole context and nothing is padding: no mask at all
            out = F.scaled_dot_product_attention(q_pad.transpose(1, 2), keys, values, scale=scale)
            return out.transpose(1, 2)[:, 0]
        pos_pad = query_pos.unsqueeze(1)
        rank = torch.zeros_like(query_seq)
    else:
        starts = torch.cumsum(counts, 0) - counts
        rank = torch.arange(N, device=q.device) - starts[query_seq]  # index of the query within its sequence
        q_pad = q.new_zeros(S, max_q, H, D)
        q_pad[query_seq, rank] = q
        pos_pad = torch.zeros(S, max_q, dtype=torch.long, device=q.device)  # padding queries see slot 0
        pos_pad[query_seq, rank] = query_pos
    j = torch.arange(hi, device=q.device)
    mask = (j <= pos_pad[:, :, None]) & (j < context_lens[:, None, None])  # [S, max_q, hi]
    out = F.scaled_dot_product_attention(q_pad.transpose(1, 2), keys, values,
                                         attn_mask=mask[:, None], scale=scale)  # [S, H, max_q, D]
    return out.transpose(1, 2)[query_seq, rank]
