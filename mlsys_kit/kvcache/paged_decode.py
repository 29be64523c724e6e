"""Paged attention, fast path: plan once per step, then every decode of the batch in a few
torch calls that read K and V straight from the block pool, split into partitions merged by
log-sum-exp (vLLM's PagedAttention V2, Flash-Decoding).

What it speeds up: :func:`mlsys_kit.kvcache.paged.paged_attention` (the teaching path) gathers
every sequence's whole context into a padded buffer (a copy of all the K/V it reads) and pads
every sequence's queries to the longest query run. A decode step reads the whole context for
one query per sequence, so the copy costs about as much as the attention itself. Here

* :class:`AttentionPlan` (FlashInfer's plan / run split; vLLM's attention metadata) works out
  once per step which queries take which path and every index the decodes need: they depend
  only on the step's metadata (block tables, lengths), so every layer only computes;
* sequences with one query (decodes) take :func:`paged_decode_attention`: no gather, no Python
  loop over sequences or blocks (see its docstring); the others (prefill chunks) share the
  teaching path's padded, masked call.

Proof of equality with the teaching path: ``tests/kvcache/test_kvcache_paged.py``:
``test_paged_attention_equals_sdpa_on_contiguous`` (random mixed batches: the plan's output
equals :func:`~mlsys_kit.kvcache.paged.paged_attention`'s, both equal dense attention) and
``test_decode_fast_path_equals_sdpa`` (decode-only batches, ragged, every partition size).
Speed: ``benchmarks/kvcache_decode.py`` (paged / contiguous decode step, goal <= 1.3x at batch
32, contexts 256 and 1024).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from mlsys_kit.attention.decode import combine_splits
from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.paged import _plan_padded, _run_padded

PARTITION_SIZE = 512  # tokens per partition of a decode's context (vLLM's PagedAttention V2 uses 512)


class AttentionPlan:
    """What paged attention needs besides q, K and V, computed once per step and reused by every
    layer (FlashInfer's plan / run split; vLLM's attention metadata): which queries take the
    decode path and its indices, which are padded and masked.

    Sequences with one query (decodes) take the decode path (:func:`paged_decode_attention`),
    so that a long prefill chunk does not pad every decode's queries to its length; the others
    share one padded, masked call: every such sequence's context gathered, its queries padded
    to the longest query run, query i of a sequence seeing slot j iff ``j <= position(i)``
    (causal) and ``j < context_len`` (not padding).
    """

    def __init__(self, block_tables: torch.Tensor, context_lens: torch.Tensor, query_seq: torch.Tensor,
                 query_pos: torch.Tensor, block_size: int, partition_size: int = PARTITION_SIZE) -> None:
        S = block_tables.shape[0]
        counts = torch.bincount(query_seq, minlength=S)
        single = counts == 1  # sequences with one query: decodes (or one-token prefill chunks)
        n_single = int(single.sum())
        self.decode_rows = self.padded_rows = None  # rows of q each path takes (None: all, or none)
        self.decode = self.padded = None
        if n_single == S:  # pure decode batch
            self.decode = DecodePlan(block_tables, context_lens, query_pos, block_size, partition_size)
        elif n_single == 0:
            self.padded = _plan_padded(block_tables, context_lens, query_seq, query_pos, block_size)
        else:
            starts = torch.cumsum(counts, 0) - counts
            dec = single.nonzero()[:, 0]
            self.decode_rows = starts[dec]  # the query of each one-query sequence
            self.decode = DecodePlan(block_tables[dec], context_lens[dec], query_pos[self.decode_rows], block_size,
                                     partition_size)
            many = counts > 1
            renumber = torch.cumsum(many, 0) - 1  # sequence id within the multi-query group
            sel = many[query_seq]
            self.padded_rows = sel.nonzero()[:, 0]
            self.padded = _plan_padded(block_tables[many], context_lens[many], renumber[query_seq[sel]],
                                       query_pos[sel], block_size)

    def run(self, q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
            scale: float | None = None) -> torch.Tensor:
        """Attention of q [N, H, D] over one layer's paged K/V ([num_blocks, block_size, H, D]
        each, any strides: fastest as ``PagedKVCache.keys(layer)`` / ``.values(layer)``)."""
        scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
        if self.padded is None:
            return self.decode.run(q, k_cache, v_cache, scale)
        if self.decode is None:
            return _run_padded(q, k_cache, v_cache, self.padded, scale)
        out = torch.empty_like(q)
        out[self.decode_rows] = self.decode.run(q[self.decode_rows], k_cache, v_cache, scale)
        out[self.padded_rows] = _run_padded(q[self.padded_rows], k_cache, v_cache, self.padded, scale)
        return out


def paged_decode_attention(q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor,
                           block_tables: torch.Tensor, context_lens: torch.Tensor, query_pos: torch.Tensor,
                           scale: float | None = None, partition_size: int = PARTITION_SIZE) -> torch.Tensor:
    """Decode step: one query per sequence (q [S, H, D], sequence i's query at ``query_pos[i]``),
    attending over paged K/V. Same result as :func:`paged_attention`, without its padded gather.

    PagedAttention (Kwon et al., SOSP'23), section 4.1: the kernel walks a sequence's block table
    and reads its K/V block by block, in place. vLLM's V2 kernel (and Flash-Decoding, Dao et
    al. 2023) also splits a long context into partitions of ``partition_size`` tokens that are
    attended to independently, each giving a partial output o_c and the log-sum-exp l_c of its
    scores, and merges them exactly: o = sum_c exp(l_c - L) o_c with L = logsumexp_c l_c
    (:func:`mlsys_kit.attention.decode.combine_splits`, the kit's one merge). Here, for every
    sequence, head and partition of the batch at once, in four steps per layer (two of them one ``embedding_bag`` call each):

    1. scores: a key tile (one block, one head) is stored ``[head_dim, block_size]``
       (:class:`~mlsys_kit.kvcache.paged.PagedKVCache`), so q . k for the block's tokens is a
       weighted sum of the tile's ``head_dim`` rows, weights q: one ``F.embedding_bag`` over
       every (sequence, head, block) the batch reads, its indices built from the block tables;
    2. per partition, its largest score m_c, e = exp(s - m_c) (slots past a sequence's position
       masked with -inf) and their sum z_c, so that l_c = m_c + log z_c;
    3. partial outputs o_c = sum_j e_j v_j / z_c: a second ``embedding_bag``, one bag per
       (sequence, head, partition) over the value rows of its blocks, weights e;
    4. merge the partitions with ``combine_splits``.

    ``embedding_bag`` is torch's fused gather-and-reduce (a recommendation model's embedding
    lookup): it reads each row where it lies in the pool and never writes the gathered rows
    anywhere. Sequences of any lengths share the calls: each reads only its own blocks (no
    padding to the longest context). The scores ([sequences x heads x context] numbers, one per
    token and head) are the only thing the size of the context that gets written. The pool is
    head-major in memory (:class:`~mlsys_kit.kvcache.paged.PagedKVCache`), so one (sequence, head)
    reads its blocks as one stream wherever they were handed out in a row: on a 2-core CPU that
    halves the time of the two calls against the block-major order (where a head's tile is every
    ``kv_heads``-th one), and brings the step within ~1.1x of a contiguous cache
    (``docs/kvcache.md``).
    """
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    plan = DecodePlan(block_tables, context_lens, query_pos, k_cache.shape[1], partition_size)
    return plan.run(q, k_cache, v_cache, scale)


class DecodePlan:
    """The decode path's metadata for one step (see :func:`paged_decode_attention`): built once,
    its indices made on the first layer's call (they need the number of heads and head_dim)."""

    def __init__(self, block_tables: torch.Tensor, context_lens: torch.Tensor, query_pos: torch.Tensor,
                 block_size: int, partition_size: int = PARTITION_SIZE) -> None:
        if isinstance(partition_size, bool) or not isinstance(partition_size, int) or partition_size < 1:
            raise ValueError(f"partition_size must be a positive number of tokens: got {partition_size!r}")
        self.block_tables, self.block_size, self.partition_size = block_tables, block_size, partition_size
        self.limit = torch.minimum(query_pos + 1, context_lens)  # slots each query sees: j < limit (causal)
        self.blocks = ceil_div(self.limit, block_size)  # blocks each query reads
        self._index: tuple | None = None

    def _indices(self, H: int, D: int, n: int) -> tuple:
        if self._index is not None and self._index[0] == (H, D, n):
            return self._index[1]
        B, dev, S = self.block_size, self.limit.device, self.limit.numel()
        R = S * H  # rows: (sequence, head), row = s * H + h
        lo, hi = (int(x) for x in torch.aminmax(self.blocks))
        n_parts, W = _partitions(hi * B, lo == hi, self.partition_size, B)
        dense = lo == hi and hi * B == n_parts * W  # every row fills every partition: no padding
        top = n * H * max(B, D)  # above every row index below
        idx = dict(dtype=torch.int32 if top < 2**31 else torch.long, device=dev)  # int32: half the bytes
        heads = torch.arange(H, **idx)
        # the tile (head h, physical block b: h * n + b, the pool head-major) of every (row, block)
        # pair the batch reads, row-major
        tiles = self.block_tables[:, :hi].to(idx["dtype"])[:, None, :] + (heads * n)[None, :, None]  # [S, H, hi]
        ar = dict(device=dev)
        if dense:  # every row reads hi whole blocks: rows packed one after the other, no padding
            tile = tiles.view(-1)
            T, L = tile.numel(), hi * B
            row = pos = bag_pos = None
            value_offsets = torch.arange(0, T * B, W, **idx)  # one bag per (row, partition), W slots each
            # the last block's slots from the query's limit on are hidden (-inf)
            last = torch.arange(L - B, L, **ar)
            slot = (torch.arange(R, **ar) * L).view(S, H, 1) + last
            hidden = slot[(last >= self.limit[:, None])[:, None, :].expand(S, H, B)]
        else:  # rows of different lengths: packed to gather, their scores padded to [R, n_parts * W]
            nb = self.blocks.repeat_interleave(H)  # blocks each row reads
            tile = tiles.view(R, hi)[torch.arange(hi, **ar) < nb[:, None]]
            T = tile.numel()
            first = torch.cumsum(nb, 0) - nb  # each row's first (row, block) pair
            row = torch.repeat_interleave(torch.arange(R, **ar), nb)  # the row of each pair
            j = torch.arange(T, **ar) - first[row]  # its block index within the sequence
            pos = ((row * (n_parts * W) + j * B)[:, None] + torch.arange(B, **ar)).view(-1)  # its scores' place
            offs = torch.arange(B, **ar)
            last = (nb - 1) * B  # each row's last block's first slot; from the query's limit on: hidden
            hidden = ((torch.arange(R, **ar) * (n_parts * W) + last)[:, None] + offs)[
                (last[:, None] + offs) >= self.limit.repeat_interleave(H)[:, None]]
            parts = ceil_div(nb * B, W)  # partitions of each row: one bag of value rows each
            bag_row = torch.repeat_interleave(torch.arange(R, **ar), parts)
            c = torch.arange(int(parts.sum()), **ar) - (torch.cumsum(parts, 0) - parts)[bag_row]
            value_offsets = (first[bag_row] * B + c * W).to(idx["dtype"])
            bag_pos = None if bag_row.numel() == R * n_parts else bag_row * n_parts + c
        key_rows = ((tile * D)[:, None] + torch.arange(D, **idx)).view(-1)  # each tile's D rows of keys
        key_offsets = torch.arange(0, T * D, D, **idx)
        value_rows = ((tile * B)[:, None] + torch.arange(B, **idx)).view(-1)  # its B rows of values
        index = (R, n_parts, W, T // R if dense else row, key_rows, key_offsets, value_rows, value_offsets, pos,
                 hidden, bag_pos)
        self._index = ((H, D, n), index)
        return index

    def run(self, q: torch.Tensor, k_cache: torch.Tensor, v_cache: torch.Tensor, scale: float) -> torch.Tensor:
        """Attention of the decode queries q [S, H, D] over one layer's K/V (see :func:`paged_decode_attention`)."""
        S, H, D = q.shape
        B = self.block_size
        R, n_parts, W, row, key_rows, key_offsets, value_rows, value_offsets, pos, hidden, bag_pos = \
            self._indices(H, D, k_cache.shape[0])
        # the pool as rows: keys [H, num_blocks, D, B], values [H, num_blocks, B, D] (PagedKVCache's
        # layout: no copy; any other is copied into it)
        key_tiles = k_cache.permute(2, 0, 3, 1).contiguous().view(-1, B)
        value_tiles = v_cache.permute(2, 0, 1, 3).contiguous().view(-1, D)
        # 1. scores of every (row, block): the key tile's D rows weighted by the row's query
        q = q.reshape(R, D) * scale
        weights = q[:, None].expand(R, row, D) if pos is None else q.index_select(0, row)
        scores = F.embedding_bag(key_rows, key_tiles, key_offsets, mode="sum",
                                 per_sample_weights=weights.reshape(-1)).view(-1)
        if pos is not None:  # rows of different lengths: padded, -inf where a row reads nothing
            scores = scores.new_full((R * n_parts * W,), float("-inf")).index_copy_(0, pos, scores)
        scores = scores.index_fill_(0, hidden, float("-inf")).view(R, n_parts, W)
        # 2. per partition: its largest score m, e = exp(s - m) in place, its sum z; l = m + log z
        m = scores.amax(-1, keepdim=True)
        if pos is not None:  # a partition a row does not reach: m = -inf, e = 0 (not nan)
            m = m.clamp_(min=torch.finfo(m.dtype).min)
        e = scores.sub_(m).exp_()
        z = e.sum(-1, keepdim=True)
        # 3. each partition's output: its value rows weighted by e, divided by z (softmax)
        outs = F.embedding_bag(value_rows, value_tiles, value_offsets, mode="sum",
                               per_sample_weights=e.view(-1) if pos is None else e.view(-1).index_select(0, pos))
        if bag_pos is not None:  # rows with fewer partitions: the missing ones are 0 (and weigh 0)
            outs = outs.new_zeros(R * n_parts, D).index_copy_(0, bag_pos, outs)
        outs = outs.view(R, n_parts, D).div_(z.clamp(min=torch.finfo(z.dtype).tiny))
        if n_parts == 1:
            return outs.view(S, H, D)
        # 4. merge the partitions exactly (attention's merge)
        lse = (m + z.log()).view(R, n_parts)  # a partition a row does not reach: z = 0, l = -inf
        out, _ = combine_splits(outs.transpose(0, 1), lse.transpose(0, 1))
        return out.view(S, H, D)


def _partitions(longest: int, equal: bool, partition_size: int, block_size: int) -> tuple[int, int]:
    """(number of partitions, slots per partition) for rows reading at most ``longest`` slots
    each (whole blocks): as few partitions of at most ``partition_size`` (and at least one block)
    as cover the longest row, equal in width. Every partition a row has then holds a slot its
    query sees (the masked tail of a row is less than one block). When every row is as long
    (``equal``), a width that tiles the rows exactly (no padding) is preferred, with up to twice
    as many partitions."""
    n = ceil_div(longest, max(partition_size, block_size))
    if equal:
        for k in range(n, 2 * n + 1):
            if longest % k == 0 and longest // k >= block_size:
                return k, longest // k
    return n, block_size * ceil_div(longest // block_size, n)  # whole blocks: a row's last partition too
