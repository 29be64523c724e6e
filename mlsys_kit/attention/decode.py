"""Split-KV decoding (flash-decoding): one query against a long K/V, split into chunks.

Dao, Haziza, Massa, Sizov, *Flash-Decoding for long-context inference* (2023), building on
FlashAttention (NeurIPS'22) section 3.1: in a decode step each sequence brings one query, so
the forward's outer loop over Q tiles has a single tile and a GPU would run it on one thread
block. Flash-decoding splits the K/V sequence into chunks that are attended to independently
(in parallel), each returning its partial output o_c and the log-sum-exp l_c of its scores;
then one small reduction combines them exactly:

    L = logsumexp_c(l_c),    o = sum_c exp(l_c - L) * o_c

because softmax over the whole context weighs chunk c's softmax by exp(l_c) / sum exp(l_c').
:func:`combine_splits` is that reduction, the one implementation in the kit (the paged decode
path in :mod:`mlsys_kit.kvcache.paged_decode` merges its partitions with it).
"""

from __future__ import annotations

import math

import torch

from mlsys_kit.checks import positive_int
from mlsys_kit.common import ceil_div


def attend_with_lse(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None,
                    bias: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """softmax(q k^T * scale + bias) v and the log-sum-exp of each row of the scores.
    q [..., n, d], k and v [..., m, d], ``bias`` (0 or -inf) broadcastable to [..., n, m].
    Returns (o [..., n, d], lse [..., n]); a row whose scores are all -inf gets o = 0 and
    lse = -inf (an empty chunk contributes nothing to :func:`combine_splits`)."""
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    scores = torch.matmul(q, k.transpose(-1, -2)) * scale
    if bias is not None:
        scores = scores + bias
    lse = torch.logsumexp(scores, -1)
    finite = torch.where(torch.isneginf(lse), 0.0, lse)
    return torch.matmul(torch.exp(scores - finite.unsqueeze(-1)), v), lse


def combine_splits(outs: torch.Tensor, lses: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Merge partial attention results over C disjoint chunks of the keys.

    outs [C, ..., d] (each chunk's softmax-normalised output), lses [C, ...] (each chunk's
    log-sum-exp). Returns (o [..., d], L [...]): L = logsumexp_c lses, o = sum_c
    exp(lses_c - L) outs_c. Chunks with lse = -inf (nothing visible) weigh 0; a row with no
    visible key in any chunk gets o = 0 and L = -inf.
    """
    if outs.dim() < 2 or lses.shape != outs.shape[:-1]:
        raise ValueError(f"outs must be [C, ..., d] and lses [C, ...] with the same leading dims: "
                         f"got outs {tuple(outs.shape)}, lses {tuple(lses.shape)}")
    m = lses.amax(0).clamp_(min=torch.finfo(lses.dtype).min)  # the largest l_c (finite: no nan below)
    w = (lses - m).exp_()  # exp(l_c - m): 0 for an empty chunk
    z = w.sum(0)  # exp(L - m)
    o = (outs * w.unsqueeze(-1)).sum(0).div_(z.clamp(min=torch.finfo(z.dtype).tiny).unsqueeze(-1))
    return o, m + z.log()  # o = sum_c exp(l_c - L) o_c, L = m + log z (-inf when every chunk is empty)


def split_kv_decode(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, num_splits: int,
                    scale: float | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Attention of the query q [..., 1, d] (or any [..., n, d]) over k, v [..., N, d] split into
    ``num_splits`` chunks of ceil(N / num_splits) keys, combined by :func:`combine_splits`.
    Returns (o [..., n, d], lse [..., n]); equal to attention over the whole K/V at once."""
    positive_int("num_splits", num_splits)
    if q.dim() < 2 or k.shape != v.shape or q.shape[:-2] != k.shape[:-2] or q.shape[-1] != k.shape[-1]:
        raise ValueError("q must be [..., n, d] and k, v [..., N, d] with the same leading dims and d: "
                         f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    N = k.shape[-2]
    if num_splits > N:
        raise ValueError(f"num_splits must be at most the number of keys N = {N}: got {num_splits}")
    width = ceil_div(N, num_splits)
    parts = [attend_with_lse(q, k[..., c:c + width, :], v[..., c:c + width, :], scale) for c in range(0, N, width)]
    return combine_splits(torch.stack([o for o, _ in parts]), torch.stack([l for _, l in parts]))
