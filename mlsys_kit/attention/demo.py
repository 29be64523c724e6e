"""The FlashAttention section of ``mlsys-kit demo``: the bytes each algorithm moves at the
paper's settings (Figure 2 left's workload, M = 100 KB and the A100's 192 KB), the tiled
forward and backward checked against torch's SDPA in fp32 and bf16, split-KV decoding
checked against one-pass attention, and the tile walk."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.attention.viz import io_figure, tile_walk_figure, walk_trace
from mlsys_kit.common import Figure, Section
from mlsys_kit.viz.figure import figure_png


def section(progress: Callable[[str], None]) -> Section:
    import torch
    import torch.nn.functional as F

    from mlsys_kit.attention.check import check_against_sdpa
    from mlsys_kit.attention.decode import split_kv_decode
    from mlsys_kit.attention.io import PAPER_FIGURE_2, PAPER_SRAM_KB, paper_example

    progress("counting HBM bytes of both algorithms at the paper's settings")
    rows: list[tuple[str, object]] = []
    examples = {}
    for kb in (PAPER_SRAM_KB, 192):  # the paper's typical M; the A100's 192 KB of SRAM per SM
        ex = paper_example(kb)
        examples[kb] = ex
        rows += [(f"Figure 2 workload, M = {kb} KB: standard GB (paper 40.3)", round(ex["standard_gb"], 2)),
                 (f"Figure 2 workload, M = {kb} KB: FlashAttention GB (paper 4.4)", round(ex["flash_gb"], 2)),
                 (f"Figure 2 workload, M = {kb} KB: ratio (paper 9.2)", round(ex["ratio"], 2))]
    figures = [Figure("HBM bytes of standard attention and FlashAttention (forward + backward, one head, fp16) "
                      "vs SRAM size M and sequence length N, counted by running the loops (Theorem 2)",
                      figure_png(io_figure(PAPER_FIGURE_2["seq"], PAPER_FIGURE_2["head_dim"], PAPER_SRAM_KB)),
                      f"mlsys-kit attention io --seq {PAPER_FIGURE_2['seq']} --head-dim {PAPER_FIGURE_2['head_dim']} "
                      f"--sram-kb {PAPER_SRAM_KB} --plot attention_io.png")]

    progress("tiled forward + backward against fp64 SDPA + autograd")
    checks = [check_against_sdpa(256, 64, 64, causal=c, dtype=dt) for c in (False, True) for dt in ("fp32", "bf16")]
    for r in checks:
        rows.append((f"check N=256, d=64, tiles 64, {r['dtype']}{', causal' if r['causal'] else ''}: "
                     "max |error| out / grad (matches SDPA)",
                     f"{r['max_abs_error_out']:.2g} / {r['max_abs_error_grad']:.2g} ({r['matches_sdpa']})"))

    progress("split-KV decode against one-pass attention")
    gen = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(4, 8, 1, 64, generator=gen), torch.randn(4, 8, 4096, 64, generator=gen), \
        torch.randn(4, 8, 4096, 64, generator=gen)
    ref = F.scaled_dot_product_attention(q, k, v)
    split_err = max(float((split_kv_decode(q, k, v, s)[0] - ref).abs().max()) for s in (1, 4, 16, 64))
    rows.append(("split-KV decode, 4096 keys in 1-64 chunks: max |error| vs SDPA", f"{split_err:.2g}"))

    trace = walk_trace(64, 16, 16, causal=True)
    figures.append(Figure("The tiled forward's walk (causal, N = 64, tiles of 16): tiles visited, the one on chip, "
                          "tiles the mask skips; the running max and sum of the online softmax",
                          figure_png(tile_walk_figure(64, 16, 16, len(trace) - 1, True, trace=trace)),
                          "mlsys-kit attention check --seq 64 --block 16 --causal --plot attention_walk.png"))
    return Section(
        topic="attention", title="FlashAttention: tiling, online softmax and the bytes it saves (Dao et al., NeurIPS'22)",
        summary="Standard three-pass attention and the tiled forward with the online softmax (and its recomputing "
                "backward, FlashAttention-2 order), both counting every byte they move through main memory; "
                "checked against torch's scaled_dot_product_attention and autograd, and split-KV decoding "
                "checked against one-pass attention.",
        rows=rows, figures=figures,
        data={"paper_example": {str(kb): ex for kb, ex in examples.items()}, "checks": checks,
              "split_kv_max_abs_error": split_err})
