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

Decode fast path (:func:`paged_decode_attention`): a sequence that brings exactly one query (a
decode, the common case in serving) needs neither the padded gather nor query padding; in a
mixed batch those sequences take this path and only the others are padded. The context
is read a few blocks at a time, flash-decoding style: each chunk of blocks is gathered into a
small buffer that stays in the CPU cache, attended to at once, and the chunks' partial results
are merged exactly through their log-sum-exp (see the function's docstring).
"""

from __future__ import annotations

import math

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
    S, N = block_tables.shape[0], q.shape[0]
    counts = torch.bincount(query_seq, minlength=S)
    single = counts == 1  # sequences with one query: decodes (or one-token prefill chunks)
    n_single = int(single.sum())
    if n_single == S and S:  # pure decode batch: chunked fast path, no padded gather
        return paged_decode_attention(q, k_cache, v_cache, block_tables, context_lens, query_pos, scale)
    if n_single == 0:
        return _padded_attention(q, k_cache, v_cache, block_tables, context_lens, query_seq, query_pos, scale)
    # mixed batch: the one-query sequences take the fast path, so that a long prefill chunk does
    # not pad every decode's queries to its length; the others share one padded call
    out = torch.empty_like(q)
    starts = torch.cumsum(counts, 0) - counts
    dec = single.nonzero()[:, 0]
    rows = starts[dec]  # the query of each one-query sequence
    out[rows] = paged_decode_attention(q[rows], k_cache, v_cache, block_tables[dec], context_lens[dec],
                                       query_pos[rows], scale)
    many = counts > 1
    if bool(many.any()):
        renumber = torch.cumsum(many, 0) - 1  # sequence id within the multi-query group
        sel = many[query_seq]
        out[sel] = _padded_attention(q[sel], k_cache, v_cache, block_tables[many], context_lens[many],
                                     renumber[query_seq[sel]], query_pos[sel], scale)
    return out


def _padded_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, block_tables: torch.Tensor,
                      context_lens: torch.Tensor, query_seq: torch.Tensor, query_pos: torch.Tensor,
                      scale: float | None) -> torch.Tensor:
    """General case of :func:`paged_attention`: every sequence's context gathered and its queries
    padded to the longest query run, one masked ``scaled_dot_product_attention`` call."""
    S, N, H, D = block_tables.shape[0], *q.shape
    hi = int(context_lens.max()) if S else 0
    # gather each sequence's context: [S, L, H, D] -> [S, H, L, D], cut to the longest context.
    # (index_select on whole blocks is a row memcpy, several times faster than k_cache[block_tables])
    max_blocks = -(-hi // k_cache.shape[1])  # table columns that hold any context
    flat = block_tables[:, :max_blocks].reshape(-1)
    L = max_blocks * k_cache.shape[1]
    keys = k_cache.index_select(0, flat).view(S, L, H, D)[:, :hi].transpose(1, 2)
    values = v_cache.index_select(0, flat).view(S, L, H, D)[:, :hi].transpose(1, 2)
    counts = torch.bincount(query_seq, minlength=S)
    max_q = int(counts.max()) if N else 0
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


# CPU flash-attention kernel that also returns the log-sum-exp of each query's scores (what
# F.scaled_dot_product_attention computes, plus the normaliser). Private to torch, so it is
# optional: without it (or off the CPU) the same two results come from plain matmuls.
_FLASH_WITH_LSE = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def _attend_with_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                     scale: float, fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention of q [S, H, 1, D] over k, v [S, H, n, D] with additive ``bias`` (0 or
    -inf, [S, 1, 1, n]). Returns (output [S, H, 1, D], log-sum-exp of the scores [S, H, 1])."""
    if fused:
        out, lse = _FLASH_WITH_LSE(q, k, v, 0.0, False, attn_mask=bias, scale=scale)[:2]
        return out, lse
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale  # [S, H, 1, n]
    if bias is not None:
        scores = scores + bias
    lse = torch.logsumexp(scores, -1)  # [S, H, 1]
    return torch.matmul(torch.exp(scores - lse.unsqueeze(-1)), v), lse


def paged_decode_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                           block_tables: torch.Tensor, context_lens: torch.Tensor, query_pos: torch.Tensor,
                           scale: float | None = None, chunk_blocks: int = 16,
                           fused: bool | None = None) -> torch.Tensor:
    """Decode step: one query per sequence (q [S, H, D], sequence i's query at ``query_pos[i]``),
    attending over paged K/V. Same result as :func:`paged_attention`, without its padded gather.

    PagedAttention (Kwon et al., SOSP'23), section 4.1: the kernel walks a sequence's block table
    and reads its K/V block by block. Flash-decoding (Dao et al. 2023, "Flash-Decoding for
    long-context inference") splits that walk into chunks whose partial softmaxes are merged
    exactly afterwards. Here, for all sequences at once, the used table columns are split into
    equal chunks of about ``chunk_blocks`` columns each:

    1. gather the chunk's blocks of K and V (``index_select`` into a reused buffer small enough
       to stay in cache: S * chunk_blocks * block_size tokens);
    2. attend to the chunk: partial output o_c and log-sum-exp l_c = log sum_j exp(s_j) of the
       chunk's scores s_j = q.k_j * scale (slots past a sequence's length masked with -inf);
    3. merge: softmax over the whole context = sum_c exp(l_c - L) * o_c with L = logsumexp_c l_c.

    Only the chunks' outputs ([S, H, D] each) stay alive; the Python loop runs over chunks
    (about context / (chunk_blocks * block_size) iterations), never over tokens or sequences. A
    context of about one chunk is a single ``scaled_dot_product_attention`` call, nothing to merge.
    On the course machine (``benchmarks/kvcache_decode.py``, batch 32, context 1024) this takes
    the paged decode step from ~2.3x to ~1.35x the time of a contiguous cache: a full padded
    gather writes and re-reads the whole context in memory, a chunk is re-read from cache.
    ``fused`` picks torch's CPU flash kernel for step 2 (default: on the CPU when torch has it)
    or the explicit matmul / logsumexp version.
    """
    S, H, D = q.shape
    B = k_cache.shape[1]
    scale = 1.0 / math.sqrt(D) if scale is None else scale
    if fused is None:
        fused = _FLASH_WITH_LSE is not None and q.device.type == "cpu"
    limit = torch.minimum(query_pos + 1, context_lens)  # slots each query sees: j < limit (causal)
    lo, hi = (int(x) for x in torch.aminmax(limit))
    used = -(-hi // B)  # table columns that hold any visible slot
    n_chunks = max(1, round(used / chunk_blocks))  # chunks of equal width, about chunk_blocks each
    chunk_blocks = -(-used // n_chunks)
    k_buf = k_cache.new_empty(S * chunk_blocks, B, H, D)  # reused by every chunk
    v_buf = v_cache.new_empty(S * chunk_blocks, B, H, D)
    q4 = q.unsqueeze(2)  # [S, H, 1, D]
    outs, lses = [], []
    for first in range(0, used, chunk_blocks):
        ids = block_tables[:, first:min(first + chunk_blocks, used)].reshape(-1)
        start = first * B
        n = min(ids.numel() // S * B, hi - start)  # slots of this chunk, cut at the longest context
        keys = torch.index_select(k_cache, 0, ids, out=k_buf[:ids.numel()]).view(S, -1, H, D)[:, :n].transpose(1, 2)
        values = torch.index_select(v_cache, 0, ids, out=v_buf[:ids.numel()]).view(S, -1, H, D)[:, :n].transpose(1, 2)
        bias = None
        if start + n > lo:  # some sequence ends inside (or before) this chunk
            j = torch.arange(start, start + n, device=q.device)
            bias = q.new_zeros(S, 1, 1, n).masked_fill((j >= limit[:, None])[:, None, None], float("-inf"))
        if n_chunks == 1:  # the whole context is one chunk: plain attention, nothing to merge
            return F.scaled_dot_product_attention(q4, keys, values, attn_mask=bias, scale=scale)[:, :, 0]
        out, lse = _attend_with_lse(q4, keys, values, bias, scale, fused)
        if start >= lo:  # sequences that see nothing of this chunk contribute nothing
            empty = (limit <= start)[:, None, None]
            lse = lse.masked_fill(empty, float("-inf"))
            out = out.masked_fill(empty[..., None], 0.0)
        outs.append(out)
        lses.append(lse)
    lse = torch.stack(lses)  # [C, S, H, 1]
    weights = torch.exp(lse - torch.logsumexp(lse, 0))  # share of each chunk in the softmax
    return (torch.stack(outs) * weights.unsqueeze(-1)).sum(0)[:, :, 0]
