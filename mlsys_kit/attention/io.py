"""IO accounting: the bytes standard attention and FlashAttention move between main memory
(HBM) and on-chip memory (SRAM of M elements), FlashAttention (NeurIPS'22) section 3.2.

Theorem 2: with sequence length N, head dimension d and SRAM size M (d <= M <= N d), standard
attention (Algorithm 0) needs Theta(N d + N^2) HBM accesses, FlashAttention
Theta(N^2 d^2 / M). Here the bytes are *counted*: :func:`counted_io` runs the tiled loops of
:mod:`mlsys_kit.attention.flash` (forward and backward) on real tensors and reads the
:class:`~mlsys_kit.attention.flash.HBM` counter every tile passed through. :func:`formula_io`
gives the same numbers from the loop bounds (one term per tile, no running), tested equal
to the counts; the lecture widget and large sizes use it.

Block sizes follow Algorithm 1 line 1 (B_c = ceil(M / 4d), B_r = min(ceil(M / 4d), d): four
tiles of about M/4 elements fit on chip, and the B_r x B_c score tile too), with the roles of
the loops as FlashAttention-2 orders them: the tile of the *outer* loop is the large one
(ceil(M / 4d) rows: Q tiles in the forward, K/V tiles in the backward), the inner one has
min(ceil(M / 4d), d) rows. So the inner tiles stream past ceil(N / ceil(M/4d)) times:
about 4 N d / M passes over K and V, which is Theorem 2's N^2 d^2 / M.

The paper's headline traffic example (Figure 2 left: GPT-2 medium attention, forward +
backward, N = 1024, d = 64, 16 heads, batch 64, fp16, A100) is :data:`PAPER_FIGURE_2`.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any

import torch

from mlsys_kit.attention.flash import HBM, flash_backward, flash_forward, standard_attention, \
    standard_attention_backward
from mlsys_kit.checks import one_of, positive_int, positive_number
from mlsys_kit.common import ceil_div

# FlashAttention (NeurIPS'22) Figure 2, left: measured on an A100 with Nsight.
PAPER_FIGURE_2 = {
    "source": "FlashAttention (Dao et al., NeurIPS'22), Figure 2 left: GPT-2 medium attention, "
              "forward + backward on an A100",
    "seq": 1024, "head_dim": 64, "heads": 16, "batch": 64, "dtype": "fp16",
    "standard_hbm_gb": 40.3, "flash_hbm_gb": 4.4,
    "standard_runtime_ms": 41.7, "flash_runtime_ms": 7.3,
}
# Section 3.2, after Theorem 2: "For typical values of d (64-128) and M (around 100KB) ..."
PAPER_SRAM_KB = 100

DTYPES = {"fp16": torch.float16, "bf16": torch.bfloat16, "fp32": torch.float32}


def block_sizes(sram_elements: int, head_dim: int) -> tuple[int, int]:
    """(outer, inner) tile rows for an SRAM of ``sram_elements`` elements: ceil(M / 4d) and
    min(ceil(M / 4d), d) (Algorithm 1 line 1, FA2's loop order)."""
    positive_int("head_dim", head_dim)
    positive_int("sram_elements", sram_elements)
    if sram_elements < head_dim:
        raise ValueError(f"the SRAM must hold at least one row of d = {head_dim} elements "
                         f"(Theorem 2 assumes d <= M): got M = {sram_elements} elements")
    outer = ceil_div(sram_elements, 4 * head_dim)
    return outer, min(outer, head_dim)


def sram_elements(sram_kb: float, dtype: str = "fp16") -> int:
    """Elements of ``dtype`` that ``sram_kb`` kilobytes (1 KB = 1024 bytes) hold."""
    positive_number("sram_kb", sram_kb)
    one_of("dtype", dtype, DTYPES)
    return int(sram_kb * 1024) // torch.empty(0, dtype=DTYPES[dtype]).element_size()


def _check(seq: int, head_dim: int, dtype: str) -> int:
    positive_int("seq", seq)
    positive_int("head_dim", head_dim)
    one_of("dtype", dtype, DTYPES)
    return torch.empty(0, dtype=DTYPES[dtype]).element_size()


def counted_io(seq: int, head_dim: int, sram: int, dtype: str = "fp16", causal: bool = False,
               seed: int = 0) -> dict[str, Any]:
    """Run both algorithms on one head (random q, k, v, dO of ``dtype``) and return the bytes
    their loops moved: ``standard_forward``, ``standard_backward``, ``flash_forward``,
    ``flash_backward`` and the tile sizes (``block_outer``, ``block_inner``). ``sram`` is M in
    elements. Cost: one Python step per tile pair, about (N / block_inner)^2 * block_inner /
    block_outer steps."""
    _check(seq, head_dim, dtype)
    outer, inner = block_sizes(sram, head_dim)
    with one_thread():
        return _counted(seq, head_dim, outer, inner, dtype, causal, seed)


@contextmanager
def one_thread():
    """Run torch on one intra-op thread inside the block: the tiled loops do many tiny ops, and
    on a busy machine two threads spin-waiting on each cost ~100x (measured on 2 cores)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _counted(seq: int, head_dim: int, outer: int, inner: int, dtype: str, causal: bool, seed: int) -> dict[str, Any]:
    gen = torch.Generator().manual_seed(seed)
    q, k, v, do = (torch.randn(1, seq, head_dim, generator=gen).to(DTYPES[dtype]) for _ in range(4))
    out: dict[str, Any] = {"block_outer": outer, "block_inner": inner}
    hbm = HBM()
    O, P = standard_attention(q, k, v, causal, hbm=hbm)
    out["standard_forward"] = hbm.total_bytes
    hbm = HBM()
    standard_attention_backward(q, k, v, P, do, hbm=hbm)
    out["standard_backward"] = hbm.total_bytes
    hbm = HBM()
    O, L = flash_forward(q, k, v, causal, block_q=outer, block_k=inner, hbm=hbm)
    out["flash_forward"] = hbm.total_bytes
    hbm = HBM()
    flash_backward(q, k, v, O, L, do, causal, block_q=inner, block_k=outer, hbm=hbm)
    out["flash_backward"] = hbm.total_bytes
    return out


def formula_io(seq: int, head_dim: int, sram: int, dtype: str = "fp16", causal: bool = False) -> dict[str, Any]:
    """The bytes :func:`counted_io` counts, from the loop bounds alone (same keys).

    With e bytes per element, N = seq, d = head_dim and fp32 (4-byte) L, D and dQ accumulator:
    standard forward 2Nde + 2Nde + 4N^2 e (Q, K, V, O; S written, S read, P written, P read);
    standard backward 8Nde + 7N^2 e; flash forward Nde (Q) + Nde (O) + 4N (L) + 2de per K/V row
    each Q tile sees; flash backward 2Nde + 4N (D) + 4Nde (K, V, dK, dV) + per Q row each K/V
    tile sees: 2de (Q, dO) + 8 (L, D) + 8d (dQ read and written).
    """
    e = _check(seq, head_dim, dtype)
    outer, inner = block_sizes(sram, head_dim)
    N, d = seq, head_dim
    fwd = flash_forward_bytes(N, d, outer, e, causal)
    bwd = 2 * N * d * e + 4 * N + 4 * N * d * e
    for j0 in range(0, N, outer):  # each K/V tile is seen by the Q rows from its first Q tile on
        first = (j0 // inner) * inner if causal else 0
        bwd += (N - first) * (2 * d * e + 8 + 8 * d)
    return {"block_outer": outer, "block_inner": inner,
            "standard_forward": (4 * N * d + 4 * N * N) * e, "standard_backward": (8 * N * d + 7 * N * N) * e,
            "flash_forward": fwd, "flash_backward": bwd}


def flash_forward_bytes(seq: int, head_dim: int, block_q: int, elem_bytes: int, causal: bool = False,
                        kv_seq: int | None = None) -> int:
    """HBM bytes of :func:`~mlsys_kit.attention.flash.flash_forward`'s loops with Q tiles of
    ``block_q`` rows: Q read once and O written once (``elem_bytes`` per element), L written once
    (fp32, 4 bytes per row), and each Q tile reads every K and V row it can see (all ``kv_seq``
    rows; under ``causal``, rows up to its last query). The K/V tile size does not matter."""
    for name, value in (("seq", seq), ("head_dim", head_dim), ("block_q", block_q), ("elem_bytes", elem_bytes)):
        positive_int(name, value)
    nk = seq if kv_seq is None else positive_int("kv_seq", kv_seq)
    total = 2 * seq * head_dim * elem_bytes + 4 * seq
    for i0 in range(0, seq, block_q):
        total += 2 * head_dim * elem_bytes * (min(nk, seq, i0 + block_q) if causal else nk)
    return total


def theorem2(seq: int, head_dim: int, sram: int) -> dict[str, float]:
    """Theorem 2's orders of growth (no constants): standard N d + N^2, flash N^2 d^2 / M."""
    return {"standard": float(seq * head_dim + seq * seq), "flash": seq * seq * head_dim * head_dim / sram}


def tile_steps(seq: int, head_dim: int, sram: int) -> int:
    """Inner-loop steps (tile pairs) :func:`counted_io` runs, forward plus backward (non-causal)."""
    outer, inner = block_sizes(sram, head_dim)
    return 2 * ceil_div(seq, outer) * ceil_div(seq, inner)


def io_report(seq: int, head_dim: int, sram_kb: float, dtype: str = "fp16", causal: bool = False,
              backward: bool = True, batch_heads: int = 1, count_limit: int = 4096) -> dict[str, Any]:
    """The JSON object of ``mlsys-kit attention io``: ``standard_bytes``, ``flash_bytes`` and
    ``ratio`` (standard / flash) for ``batch_heads`` heads, forward (+ backward). The bytes are
    counted by running the loops when that takes at most ``count_limit`` tile steps, else
    taken from :func:`formula_io` (``method`` says which; the tests check they agree)."""
    positive_int("batch_heads", batch_heads)
    M = sram_elements(sram_kb, dtype)
    block_sizes(M, head_dim)
    if tile_steps(seq, head_dim, M) <= count_limit:
        io, method = counted_io(seq, head_dim, M, dtype, causal), "counted"
    else:
        io, method = formula_io(seq, head_dim, M, dtype, causal), "formula"
    parts = ("forward", "backward") if backward else ("forward",)
    std = batch_heads * sum(io[f"standard_{p}"] for p in parts)
    fl = batch_heads * sum(io[f"flash_{p}"] for p in parts)
    th = theorem2(seq, head_dim, M)
    return {"seq": seq, "head_dim": head_dim, "sram_kb": sram_kb, "sram_elements": M, "dtype": dtype,
            "causal": causal, "backward": backward, "batch_heads": batch_heads,
            "block_outer": io["block_outer"], "block_inner": io["block_inner"], "method": method,
            "standard_bytes": std, "flash_bytes": fl, "ratio": std / fl,
            "standard_forward_bytes": batch_heads * io["standard_forward"],
            "flash_forward_bytes": batch_heads * io["flash_forward"],
            "theorem2_standard": th["standard"], "theorem2_flash": th["flash"]}


def paper_example(sram_kb: float = PAPER_SRAM_KB) -> dict[str, Any]:
    """Figure 2 (left)'s workload counted here: both algorithms, forward + backward, for all
    batch x heads = 1024 heads, beside the paper's measured HBM traffic."""
    p = PAPER_FIGURE_2
    r = io_report(p["seq"], p["head_dim"], sram_kb, p["dtype"], batch_heads=p["batch"] * p["heads"])
    return {**r, "standard_gb": r["standard_bytes"] / 1e9, "flash_gb": r["flash_bytes"] / 1e9,
            "paper_standard_gb": p["standard_hbm_gb"], "paper_flash_gb": p["flash_hbm_gb"],
            "paper_ratio": p["standard_hbm_gb"] / p["flash_hbm_gb"], "source": p["source"]}
