"""Paged attention, fast path: plan once per step, decode queries without the padded gather,
split-KV chunks merged through their log-sum-exp, torch's fused CPU kernel.

What it speeds up: :func:`mlsys_kit.kvcache.paged.paged_attention` (the teaching path) gathers
every sequence's whole context into a padded buffer and pads every sequence's queries to the
longest query run, so in a serving step one long prefill chunk pads every decode beside it,
and a long decode context is written and re-read from memory. Here

* :class:`AttentionPlan` (FlashInfer's plan / run split; vLLM's attention metadata) works out
  once per step which queries take which path, the gather indices and the masks: they depend
  only on the step's metadata, so every layer only gathers and attends;
* sequences with one query (decodes) take :func:`paged_decode_attention`: the context is read
  a few blocks at a time, flash-decoding style, each chunk small enough to stay in the CPU
  cache, and the chunks' partial results merged exactly (see its docstring); the others share
  the teaching path's padded, masked call;
* step 2 of a chunk uses torch's CPU flash kernel that also returns the log-sum-exp (a private
  ATen op, optional: without it the same two results come from plain matmuls).

Proof of equality with the teaching path: ``tests/kvcache/test_kvcache_paged.py``:
``test_paged_attention_equals_sdpa_on_contiguous`` (random mixed batches: the plan's output
equals :func:`~mlsys_kit.kvcache.paged.paged_attention`'s, both equal dense attention) and
``test_decode_fast_path_equals_sdpa`` (decode-only batches, every chunk width, fused or not). Speed: ``benchmarks/kvcache_decode.py`` (paged / contiguous
decode step, goal <= 1.3x at batch 32, context 1024).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mlsys_kit.attention.decode import attend_with_lse, combine_splits
from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.paged import _plan_padded, _run_padded


class AttentionPlan:
    """What paged attention needs besides q, K and V, computed once per step and reused by every
    layer (FlashInfer's plan / run split; vLLM's attention metadata): which queries take the
    decode path and how their contexts are grouped and chunked, which are padded and masked.

    Sequences with one query (decodes) take the decode path (:func:`paged_decode_attention`),
    so that a long prefill chunk does not pad every decode's queries to its length; the others
    share one padded, masked call: every such sequence's context gathered, its queries padded
    to the longest query run, query i of a sequence seeing slot j iff ``j <= position(i)``
    (causal) and ``j < context_len`` (not padding).
    """

    def __init__(self, block_tables: torch.Tensor, context_lens: torch.Tensor, query_seq: torch.Tensor,
                 query_pos: torch.Tensor, block_size: int, dtype: torch.dtype = torch.float32,
                 chunk_blocks: int = 16) -> None:
        S = block_tables.shape[0]
        counts = torch.bincount(query_seq, minlength=S)
        single = counts == 1  # sequences with one query: decodes (or one-token prefill chunks)
        n_single = int(single.sum())
        self.decode_rows = self.padded_rows = None  # rows of q each path takes (None: all, or none)
        self.decode = self.padded = None
        if n_single == S:  # pure decode batch
            self.decode = _plan_decode(block_tables, context_lens, query_pos, block_size, chunk_blocks, dtype)
        elif n_single == 0:
            self.padded = _plan_padded(block_tables, context_lens, query_seq, query_pos, block_size)
        else:
            starts = torch.cumsum(counts, 0) - counts
            dec = single.nonzero()[:, 0]
            self.decode_rows = starts[dec]  # the query of each one-query sequence
            self.decode = _plan_decode(block_tables[dec], context_lens[dec], query_pos[self.decode_rows], block_size,
                                       chunk_blocks, dtype)
            many = counts > 1
            renumber = torch.cumsum(many, 0) - 1  # sequence id within the multi-query group
            sel = many[query_seq]
            self.padded_rows = sel.nonzero()[:, 0]
            self.padded = _plan_padded(block_tables[many], context_lens[many], renumber[query_seq[sel]],
                                       query_pos[sel], block_size)

    def run(self, q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, scale: float | None = None,
            fused: bool | None = None) -> torch.Tensor:
        """Attention of q [N, H, D] over one layer's paged K/V; returns [N, H, D]."""
        scale, fused = _kernel_options(q, scale, fused)
        if self.padded is None:
            return _run_decode(q, k_cache, v_cache, self.decode, scale, fused)
        if self.decode is None:
            return _run_padded(q, k_cache, v_cache, self.padded, scale)
        out = torch.empty_like(q)
        out[self.decode_rows] = _run_decode(q[self.decode_rows], k_cache, v_cache, self.decode, scale, fused)
        out[self.padded_rows] = _run_padded(q[self.padded_rows], k_cache, v_cache, self.padded, scale)
        return out


# CPU flash-attention kernel that also returns the log-sum-exp of each query's scores (what
# F.scaled_dot_product_attention computes, plus the normaliser). Private to torch, so it is
# optional: without it (or off the CPU) the same two results come from plain matmuls.
_FLASH_WITH_LSE = getattr(torch.ops.aten, "_scaled_dot_product_flash_attention_for_cpu", None)


def _kernel_options(q: torch.Tensor, scale: float | None, fused: bool | None) -> tuple[float, bool]:
    """Defaults: scale 1/sqrt(head_dim); the fused CPU kernel wherever torch has it and q is on the CPU."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    if fused is None:
        fused = _FLASH_WITH_LSE is not None and q.device.type == "cpu"
    return scale, fused


def _attend_with_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, bias: torch.Tensor | None,
                     scale: float, fused: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Softmax attention of q [S, H, 1, D] over k, v [S, H, n, D] with additive ``bias`` (0 or
    -inf, [S, 1, 1, n]). Returns (output [S, H, 1, D], log-sum-exp of the scores [S, H, 1])."""
    if fused:
        out, lse = _FLASH_WITH_LSE(q, k, v, 0.0, False, attn_mask=bias, scale=scale)[:2]
        return out, lse
    return attend_with_lse(q, k, v, scale, bias)


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

    A serving batch mixes short and long contexts (a real kernel walks each sequence's own
    blocks). Walking all of them to the longest would make a step cost batch x longest context,
    so sequences are first grouped by the blocks they read, each group spanning less than a
    factor of 4, and each group runs the chunked walk above on its own.
    """
    scale, fused = _kernel_options(q, scale, fused)
    plan = _plan_decode(block_tables, context_lens, query_pos, k_cache.shape[1], chunk_blocks, q.dtype)
    return _run_decode(q, k_cache, v_cache, plan, scale, fused)


_GROUP_SPREAD = 4  # see paged_decode_attention: a group's longest context is < 4x its shortest


def _plan_decode(block_tables: torch.Tensor, context_lens: torch.Tensor, query_pos: torch.Tensor, block_size: int,
                 chunk_blocks: int, dtype: torch.dtype) -> list:
    """Groups of queries [(rows or None for all, chunk width, chunks)] for :func:`_run_decode`."""
    limit = torch.minimum(query_pos + 1, context_lens)  # slots each query sees: j < limit (causal)
    used = ceil_div(limit, block_size)  # blocks each query reads
    lo, hi = (int(x) for x in torch.aminmax(used))
    if hi <= _GROUP_SPREAD * lo:
        return [(None, *_plan_chunks(block_tables, limit, block_size, chunk_blocks, dtype))]
    # ragged contexts (serving batches): one walk for all would pad every query to the longest
    # context, so queries are grouped by how many blocks they read, no group spanning more than
    # a factor _GROUP_SPREAD: each query reads at most that many times its own blocks
    group = torch.floor(torch.log2(used.double()) / math.log2(_GROUP_SPREAD)).long()
    plan = []
    for g in torch.unique(group).tolist():
        rows = (group == g).nonzero()[:, 0]
        plan.append((rows, *_plan_chunks(block_tables[rows], limit[rows], block_size, chunk_blocks, dtype)))
    return plan


def _plan_chunks(block_tables: torch.Tensor, limit: torch.Tensor, block_size: int, chunk_blocks: int,
                 dtype: torch.dtype) -> tuple[int, list]:
    """The chunks of one group's walk: (flat block ids, first slot, slots, bias, empty) each."""
    S, B = block_tables.shape[0], block_size
    lo, hi = (int(x) for x in torch.aminmax(limit))
    used = ceil_div(hi, B)  # table columns that hold any visible slot
    n_chunks = max(1, round(used / chunk_blocks))  # chunks of equal width, about chunk_blocks each
    width = ceil_div(used, n_chunks)
    chunks = []
    for first in range(0, used, width):
        ids = block_tables[:, first:min(first + width, used)].reshape(-1)
        start = first * B
        n = min(ids.numel() // S * B, hi - start)  # slots of this chunk, cut at the longest context
        bias = empty = None
        if start + n > lo:  # some sequence ends inside (or before) this chunk
            j = torch.arange(start, start + n, device=limit.device)
            bias = torch.zeros(S, 1, 1, n, dtype=dtype, device=limit.device).masked_fill(
                (j >= limit[:, None])[:, None, None], float("-inf"))
        if start >= lo and n_chunks > 1:  # sequences that see nothing of this chunk contribute nothing
            empty = (limit <= start)[:, None, None]
        chunks.append((ids, n, bias, empty))
    return width, chunks


def _run_decode(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, plan: list, scale: float,
                fused: bool) -> torch.Tensor:
    if len(plan) == 1 and plan[0][0] is None:
        return _run_chunks(q, k_cache, v_cache, plan[0][1], plan[0][2], scale, fused)
    out = torch.empty_like(q)
    for rows, width, chunks in plan:
        out[rows] = _run_chunks(q[rows], k_cache, v_cache, width, chunks, scale, fused)
    return out


def _run_chunks(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, width: int, chunks: list,
                scale: float, fused: bool) -> torch.Tensor:
    """One group's chunked walk (see :func:`paged_decode_attention`): attend to each chunk, merge."""
    S, H, D = q.shape
    B = k_cache.shape[1]
    q4 = q.unsqueeze(2)  # [S, H, 1, D]
    if len(chunks) == 1:  # the whole context is one chunk: plain attention, nothing to merge
        ids, n, bias, _ = chunks[0]
        keys = k_cache.index_select(0, ids).view(S, -1, H, D)[:, :n].transpose(1, 2)
        values = v_cache.index_select(0, ids).view(S, -1, H, D)[:, :n].transpose(1, 2)
        return F.scaled_dot_product_attention(q4, keys, values, attn_mask=bias, scale=scale)[:, :, 0]
    k_buf = k_cache.new_empty(S * width, B, H, D)  # reused by every chunk
    v_buf = v_cache.new_empty(S * width, B, H, D)
    outs, lses = [], []
    for ids, n, bias, empty in chunks:
        keys = torch.index_select(k_cache, 0, ids, out=k_buf[:ids.numel()]).view(S, -1, H, D)[:, :n].transpose(1, 2)
        values = torch.index_select(v_cache, 0, ids, out=v_buf[:ids.numel()]).view(S, -1, H, D)[:, :n].transpose(1, 2)
        out, lse = _attend_with_lse(q4, keys, values, bias, scale, fused)
        if empty is not None:
            lse = lse.masked_fill(empty, float("-inf"))
            out = out.masked_fill(empty[..., None], 0.0)
        outs.append(out)
        lses.append(lse)
    out, _ = combine_splits(torch.stack(outs), torch.stack(lses))  # [S, H, 1, D], merged by log-sum-exp
    return out[:, :, 0]
