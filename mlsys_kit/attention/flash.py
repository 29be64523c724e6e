"""FlashAttention, the teaching path: exact attention computed tile by tile.

Dao et al., *FlashAttention: Fast and Memory-Efficient Exact Attention with IO-Awareness*
(NeurIPS'22), and Dao, *FlashAttention-2: Faster Attention with Better Parallelism and Work
Partitioning* (2023). Read top to bottom:

1. :func:`standard_attention` is the paper's Algorithm 0 (section 2.2): three passes over main
   memory (HBM), S = Q K^T written out, P = softmax(S) written out, O = P V. Its backward,
   :func:`standard_attention_backward`, is Algorithm 3 (appendix B.2): it reads P back.
2. :func:`flash_forward` is the tiled forward (section 3.1, Algorithm 1) in FlashAttention-2's
   loop order (FA2 section 3.1.1): the outer loop walks tiles of Q rows, the inner loop walks
   tiles of K/V; each Q tile keeps a running row max ``m`` and a running sum ``l`` of
   ``exp(s - m)`` (the *online softmax*), and rescales its partial output whenever ``m`` grows.
   O is written once per Q tile, plus the log-sum-exp ``L = m + log(l)`` of each row, which is
   all the backward pass needs (FA2 section 3.1.1 keeps L instead of both m and l).
3. :func:`flash_backward` is FA2's backward (FA2 Algorithm 2): D = rowsum(dO * O) first, then
   the outer loop walks K/V tiles (dK, dV stay on chip), the inner loop walks Q tiles and
   *recomputes* P = exp(Q K^T * scale - L) from Q, K and L (section 3.1 "Recomputation"),
   adding its share to dQ in main memory.
4. :class:`FlashAttentionFunction` wraps both in a ``torch.autograd.Function``;
   :func:`flash_attention` is the one-line entry point.

Every tile a loop moves between main memory and on-chip memory goes through an :class:`HBM`
object that counts the bytes (``hbm.load`` / ``hbm.store``); :mod:`mlsys_kit.attention.io` uses
those counts for the paper's IO analysis (section 3.2, Theorem 2). The loops run in plain torch
on the CPU, so they are slow: the point is the order of the memory traffic, not the speed.

Conventions: q [..., N, d], k and v [..., N_k, d] (any leading batch / head dims, equal for the
three); ``scale`` defaults to 1/sqrt(d); ``causal`` masks key j for query i when j > i (top-left
aligned, as ``torch.nn.functional.scaled_dot_product_attention(is_causal=True)``). Arithmetic on
tiles is in fp32 whatever the input dtype (as the GPU kernels accumulate); outputs and
gradients come back in the input dtype, the log-sum-exp in fp32 (fp64 inputs stay fp64).
"""

from __future__ import annotations

import math
from collections import Counter

import torch

from mlsys_kit.checks import positive_int


class HBM:
    """Main memory as the tiled loops see it: every tile loaded (HBM -> SRAM) or stored
    (SRAM -> HBM) passes through :meth:`load` / :meth:`store` and is counted in bytes, per
    tensor name (``reads["K"]``, ``writes["O"]``, ...)."""

    def __init__(self) -> None:
        self.reads: Counter = Counter()
        self.writes: Counter = Counter()

    def load(self, name: str, tile: torch.Tensor) -> torch.Tensor:
        """Count reading ``tile`` from main memory and return it on chip (fp32, or fp64 for fp64)."""
        self.reads[name] += tile.numel() * tile.element_size()
        return tile.to(torch.promote_types(tile.dtype, torch.float32))

    def store(self, name: str, dst: torch.Tensor, value: torch.Tensor) -> None:
        """Write ``value`` into the main-memory view ``dst`` (in dst's dtype) and count it."""
        dst.copy_(value)
        self.writes[name] += dst.numel() * dst.element_size()

    @property
    def read_bytes(self) -> int:
        return sum(self.reads.values())

    @property
    def written_bytes(self) -> int:
        return sum(self.writes.values())

    @property
    def total_bytes(self) -> int:
        return self.read_bytes + self.written_bytes


def check_qkv(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor) -> None:
    """Raise ValueError unless q [..., N, d], k and v [..., N_k, d] agree (same leading dims,
    same floating dtype, N, N_k, d >= 1)."""
    for name, t in (("q", q), ("k", k), ("v", v)):
        if not isinstance(t, torch.Tensor) or t.dim() < 2:
            raise ValueError(f"{name} must be a tensor of shape [..., seq, head_dim]: got "
                             f"{tuple(t.shape) if isinstance(t, torch.Tensor) else type(t).__name__}")
        if not t.is_floating_point():
            raise ValueError(f"{name} must be a floating-point tensor: got {t.dtype}")
    if k.shape != v.shape or q.shape[:-2] != k.shape[:-2] or q.shape[-1] != k.shape[-1]:
        raise ValueError("q must be [..., N, d] and k, v [..., N_k, d] with the same leading dims and d: "
                         f"got q {tuple(q.shape)}, k {tuple(k.shape)}, v {tuple(v.shape)}")
    if not q.dtype == k.dtype == v.dtype:
        raise ValueError(f"q, k, v must have one dtype: got {q.dtype}, {k.dtype}, {v.dtype}")
    if min(q.shape[-2], k.shape[-2], q.shape[-1]) < 1:
        raise ValueError(f"sequence lengths and head_dim must be >= 1: got q {tuple(q.shape)}, k {tuple(k.shape)}")


def _causal_mask(i0: int, i1: int, j0: int, j1: int, device: torch.device) -> torch.Tensor:
    """True where key j is in the future of query i (j > i) inside the tile [i0:i1) x [j0:j1)."""
    rows = torch.arange(i0, i1, device=device)[:, None]
    cols = torch.arange(j0, j1, device=device)[None, :]
    return cols > rows


# ---------------------------------------------------------------- 1. standard attention (Algorithm 0)

def standard_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                       scale: float | None = None, hbm: HBM | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Algorithm 0 (section 2.2): returns (O, P). Each pass reads its inputs from main memory
    and writes its N x N result back: S = Q K^T * scale; P = softmax(S); O = P V."""
    check_qkv(q, k, v)
    hbm = hbm if hbm is not None else HBM()
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    N, Nk = q.shape[-2], k.shape[-2]
    S = torch.empty(*q.shape[:-1], Nk, dtype=q.dtype, device=q.device)
    P = torch.empty_like(S)
    O = torch.empty_like(q)
    # pass 1: read Q, K; write S
    s = torch.matmul(hbm.load("Q", q), hbm.load("K", k).transpose(-1, -2)) * scale
    if causal:
        s = s.masked_fill(_causal_mask(0, N, 0, Nk, q.device), float("-inf"))
    hbm.store("S", S, s)
    # pass 2: read S; write P = softmax(S)
    hbm.store("P", P, torch.softmax(hbm.load("S", S), dim=-1))
    # pass 3: read P, V; write O = P V
    hbm.store("O", O, torch.matmul(hbm.load("P", P), hbm.load("V", v)))
    return O, P


def standard_attention_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, P: torch.Tensor,
                                dO: torch.Tensor, scale: float | None = None,
                                hbm: HBM | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Algorithm 3 (appendix B.2): the gradients (dQ, dK, dV) from the stored P, in five passes
    over main memory: dV = P^T dO; dP = dO V^T; dS = P * (dP - rowsum(dP * P));
    dQ = scale dS K; dK = scale dS^T Q."""
    hbm = hbm if hbm is not None else HBM()
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    dV, dQ, dK = torch.empty_like(v), torch.empty_like(q), torch.empty_like(k)
    dP, dS = torch.empty_like(P), torch.empty_like(P)
    hbm.store("dV", dV, torch.matmul(hbm.load("P", P).transpose(-1, -2), hbm.load("dO", dO)))
    hbm.store("dP", dP, torch.matmul(hbm.load("dO", dO), hbm.load("V", v).transpose(-1, -2)))
    p, dp = hbm.load("P", P), hbm.load("dP", dP)
    hbm.store("dS", dS, p * (dp - (dp * p).sum(-1, keepdim=True)))
    hbm.store("dQ", dQ, scale * torch.matmul(hbm.load("dS", dS), hbm.load("K", k)))
    hbm.store("dK", dK, scale * torch.matmul(hbm.load("dS", dS).transpose(-1, -2), hbm.load("Q", q)))
    return dQ, dK, dV


# ---------------------------------------------------------------- 2. tiled forward, online softmax

def flash_forward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                  block_q: int = 64, block_k: int = 64, scale: float | None = None,
                  hbm: HBM | None = None, trace: list | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Tiled attention forward with the online softmax; returns (O, L) with L = logsumexp of
    each row of S = Q K^T * scale (shape q.shape[:-1], fp32).

    Outer loop: Q tiles of ``block_q`` rows (loaded once, O and L written once). Inner loop:
    K/V tiles of ``block_k`` rows. For the row scores s of a new tile, with m the running max,
    l the running sum of exp(s - m) and acc the unnormalised output:

        m_new = max(m, rowmax(s));  p = exp(s - m_new);  alpha = exp(m - m_new)
        l = alpha * l + rowsum(p);  acc = alpha * acc + p V_j;  m = m_new

    and after the last tile O_i = acc / l, L_i = m + log(l). Under ``causal``, K/V tiles wholly
    in the future of the Q tile are skipped (never loaded) and tiles crossing the diagonal are
    masked. ``trace``, if a list, receives one dict per inner step (tile bounds, m, l) for the
    lecture's tile walk.
    """
    check_qkv(q, k, v)
    positive_int("block_q", block_q)
    positive_int("block_k", block_k)
    hbm = hbm if hbm is not None else HBM()
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    N, Nk = q.shape[-2], k.shape[-2]
    O = torch.empty_like(q)
    acc_dtype = torch.promote_types(q.dtype, torch.float32)
    L = torch.empty(q.shape[:-1], dtype=acc_dtype, device=q.device)
    for i0 in range(0, N, block_q):
        i1 = min(i0 + block_q, N)
        qi = hbm.load("Q", q[..., i0:i1, :])
        m = torch.full(qi.shape[:-1], float("-inf"), dtype=acc_dtype, device=q.device)
        l = torch.zeros(qi.shape[:-1], dtype=acc_dtype, device=q.device)
        acc = torch.zeros_like(qi)
        kv_end = min(Nk, i1) if causal else Nk  # query i sees keys j <= i
        for j0 in range(0, kv_end, block_k):
            j1 = min(j0 + block_k, kv_end)
            kj, vj = hbm.load("K", k[..., j0:j1, :]), hbm.load("V", v[..., j0:j1, :])
            s = torch.matmul(qi, kj.transpose(-1, -2)) * scale  # [..., Br, Bc], on chip
            if causal and j1 - 1 > i0:  # the tile crosses the diagonal
                s = s.masked_fill(_causal_mask(i0, i1, j0, j1, q.device), float("-inf"))
            m_new = torch.maximum(m, s.amax(-1))
            p = torch.exp(s - m_new[..., None])
            alpha = torch.exp(m - m_new)  # rescales what was summed under the old max
            l = alpha * l + p.sum(-1)
            acc = alpha[..., None] * acc + torch.matmul(p, vj)
            m = m_new
            if trace is not None:
                trace.append({"q_rows": (i0, i1), "kv_rows": (j0, j1), "m": m.clone(), "l": l.clone()})
        hbm.store("O", O[..., i0:i1, :], acc / l[..., None])
        hbm.store("L", L[..., i0:i1], m + torch.log(l))
    return O, L


# ---------------------------------------------------------------- 3. backward, recomputing the tiles

def flash_backward(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, O: torch.Tensor, L: torch.Tensor,
                   dO: torch.Tensor, causal: bool = False, block_q: int = 64, block_k: int = 64,
                   scale: float | None = None, hbm: HBM | None = None
                   ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Gradients (dQ, dK, dV) of :func:`flash_forward` from Q, K, V, O, dO and the log-sum-exp
    L, in FlashAttention-2's order (FA2 Algorithm 2): no N x N matrix is ever stored.

    First D = rowsum(dO * O) (one pass). Then, for each K/V tile j (outer loop; dK_j, dV_j
    accumulate on chip and are written once), for each Q tile i that can see it (inner loop):

        P = exp(Q_i K_j^T * scale - L_i)          (recomputed, section 3.1)
        dV_j += P^T dO_i;   dP = dO_i V_j^T;   dS = P * (dP - D_i)
        dQ_i += scale dS K_j   (read-modify-write in main memory, fp32)
        dK_j += scale dS^T Q_i
    """
    check_qkv(q, k, v)
    if O.shape != q.shape or dO.shape != q.shape or L.shape != q.shape[:-1]:
        raise ValueError(f"O and dO must have q's shape {tuple(q.shape)} and L {tuple(q.shape[:-1])}: "
                         f"got O {tuple(O.shape)}, dO {tuple(dO.shape)}, L {tuple(L.shape)}")
    positive_int("block_q", block_q)
    positive_int("block_k", block_k)
    hbm = hbm if hbm is not None else HBM()
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else scale
    N, Nk = q.shape[-2], k.shape[-2]
    acc_dtype = torch.promote_types(q.dtype, torch.float32)
    D = torch.empty(q.shape[:-1], dtype=acc_dtype, device=q.device)
    hbm.store("D", D, (hbm.load("dO", dO) * hbm.load("O", O)).sum(-1))
    dQ = torch.zeros(q.shape, dtype=acc_dtype, device=q.device)  # accumulated across K/V tiles
    dK, dV = torch.empty_like(k), torch.empty_like(v)
    for j0 in range(0, Nk, block_k):
        j1 = min(j0 + block_k, Nk)
        kj, vj = hbm.load("K", k[..., j0:j1, :]), hbm.load("V", v[..., j0:j1, :])
        dk, dv = torch.zeros_like(kj), torch.zeros_like(vj)
        first = (j0 // block_q) * block_q if causal else 0  # Q tiles wholly before key j0 see none of it
        for i0 in range(first, N, block_q):
            i1 = min(i0 + block_q, N)
            qi, doi = hbm.load("Q", q[..., i0:i1, :]), hbm.load("dO", dO[..., i0:i1, :])
            li, di = hbm.load("L", L[..., i0:i1]), hbm.load("D", D[..., i0:i1])
            s = torch.matmul(qi, kj.transpose(-1, -2)) * scale
            if causal and j1 - 1 > i0:
                s = s.masked_fill(_causal_mask(i0, i1, j0, j1, q.device), float("-inf"))
            p = torch.exp(s - li[..., None])
            dv += torch.matmul(p.transpose(-1, -2), doi)
            ds = p * (torch.matmul(doi, vj.transpose(-1, -2)) - di[..., None])
            dq_i = hbm.load("dQ", dQ[..., i0:i1, :]) + scale * torch.matmul(ds, kj)
            hbm.store("dQ", dQ[..., i0:i1, :], dq_i)
            dk += scale * torch.matmul(ds.transpose(-1, -2), qi)
        hbm.store("dK", dK[..., j0:j1, :], dk)
        hbm.store("dV", dV[..., j0:j1, :], dv)
    return dQ.to(q.dtype), dK, dV


# ---------------------------------------------------------------- 4. autograd

class FlashAttentionFunction(torch.autograd.Function):
    """Forward saves Q, K, V, O and L (O(N) extra memory, not P's O(N^2)); backward recomputes."""

    @staticmethod
    def forward(ctx, q, k, v, causal, block_q, block_k, scale):  # type: ignore[override]
        O, L = flash_forward(q, k, v, causal, block_q, block_k, scale)
        ctx.save_for_backward(q, k, v, O, L)
        ctx.options = (causal, block_q, block_k, scale)
        return O

    @staticmethod
    def backward(ctx, dO):  # type: ignore[override]
        q, k, v, O, L = ctx.saved_tensors
        dq, dk, dv = flash_backward(q, k, v, O, L, dO.contiguous(), *ctx.options)
        return dq, dk, dv, None, None, None, None


def flash_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, causal: bool = False,
                    block_q: int = 64, block_k: int = 64, scale: float | None = None) -> torch.Tensor:
    """softmax(Q K^T * scale) V by tiles, differentiable (:class:`FlashAttentionFunction`);
    equal to ``F.scaled_dot_product_attention(q, k, v, is_causal=causal, scale=scale)``."""
    check_qkv(q, k, v)
    positive_int("block_q", block_q)
    positive_int("block_k", block_k)
    if causal not in (True, False):
        raise ValueError(f"causal must be True or False: got {causal!r}")
    return FlashAttentionFunction.apply(q, k, v, bool(causal), block_q, block_k, scale)
