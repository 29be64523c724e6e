"""The training-memory section of ``mlsys-kit demo``: every policy on GPT-2's chain, vDNN's
VGG-16 headline (MICRO'16), the sqrt(n) rule (Chen et al. 2016), the larger batch optimal
checkpointing buys (Checkmate, MLSys'20), ZeRO-Offload's 13B on one 32 GB V100 (ATC'21), the
real check on the tiny GPT with torch, and the two levels of the plan (block and operator,
Checkmate sections 4-5) with operator-level plans run by torch."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.memory.chain import build_chain, uniform_chain
from mlsys_kit.memory.config import MEMORY
from mlsys_kit.memory.policies import POLICIES, largest_batch, plan
from mlsys_kit.memory.real import real_plan, run_plan
from mlsys_kit.memory.viz import policies_figure, real_figure, step_figure
from mlsys_kit.memory.op_real import run_op_plan
from mlsys_kit.memory.widgets import levels_data, levels_figure
from mlsys_kit.memory.zero_offload import max_params_offload, offload_memory
from mlsys_kit.viz.figure import figure_png


def section(progress: Callable[[str], None]) -> Section:
    progress("six policies on GPT-2 (batch 8, budget 8 GB, link 16 GB/s)")
    gpt = build_chain("gpt2", 8)
    res = [plan(p, gpt, 8e9, 16e9, k=2) for p in POLICIES]
    rows: list[tuple[str, object]] = []
    for r in res:
        rows.append((f"GPT-2 b=8, {r.policy}: peak GB (fits 8 GB), step slowdown",
                     f"{r.step.peak_bytes / 1e9:.2f} ({r.fits}), x{r.step.step_time / r.step.compute_time:.3f}"))
    figures = [Figure("GPT-2 (12 blocks, batch 8, seq 1024, A100 at 50%): memory over one step per policy, "
                      "budget 8 GB, link 16 GB/s; right: compute, recompute and stalls",
                      figure_png(policies_figure(res, "GPT-2 b=8: every policy", 8e9)),
                      "mlsys-kit memory plan --preset gpt2 --batch 8 --policy optimal --budget-gb 8 --plot memory_gpt2.png")]

    progress("vDNN: VGG-16 batch 256 on a 12 GB Titan X over PCIe (12.8 GB/s)")
    vgg = build_chain("vgg16", 256)
    base = plan("all", vgg, 12e9)
    off = plan("offload", vgg, 12e9, 12.8e9)
    rows += [("vDNN VGG-16 b=256: keep-all peak GB (paper: 28 GB)", round(base.step.peak_bytes / 1e9, 2)),
             ("vDNN VGG-16 b=256: offload-all peak GB, fits 12 GB", f"{off.step.peak_bytes / 1e9:.2f}, {off.fits}"),
             ("vDNN VGG-16 b=256: offload slowdown (paper: 18% loss)",
              f"{100 * (off.step.step_time / off.step.compute_time - 1):.1f}%")]
    figures.append(Figure("vDNN (MICRO'16): VGG-16 at batch 256 with every layer's input offloaded over PCIe "
                          "(12.8 GB/s); memory over the step and the compute/link timeline",
                          figure_png(step_figure(off, "VGG-16 b=256, vDNN offload, 12 GB budget")),
                          "mlsys-kit memory plan --preset vgg16 --batch 256 --policy offload --budget-gb 12 "
                          "--link-gbps 12.8 --plot memory_vgg16.png"))

    progress("sqrt(n) on a 100-layer uniform chain; the batch optimal checkpointing buys")
    uni = uniform_chain(100, 10, 30)
    keep, sq = plan("all", uni), plan("sqrt", uni)
    fwd = sum(x.fwd_time for x in uni.layers)
    rows += [("sqrt(n), 100 uniform layers: peak / keep-all peak", round(sq.step.peak_bytes / keep.step.peak_bytes, 3)),
             ("sqrt(n): recompute time in forward passes (paper: one)", round(sq.step.recompute_time / fwd, 3))]
    batches = {p: largest_batch(lambda b: build_chain("gpt2", b), p, 16e9)[0] for p in ("all", "sqrt", "optimal")}
    rows += [(f"GPT-2 in 16 GB: largest batch, {p}", b) for p, b in batches.items()]
    rows.append(("Checkmate-style factor: optimal / keep-all batch in 16 GB (paper: up to 5.1x input)",
                 round(batches["optimal"] / batches["all"], 2)))

    progress("ZeRO-Offload: 13B on one 32 GB V100")
    zo = offload_memory(13_000_000_000, 1)
    rows += [("ZeRO-Offload 13B: device GB, host GB", f"{zo['device_bytes'] / 1e9:.0f}, {zo['host_bytes'] / 1e9:.0f}"),
             ("ZeRO-Offload: largest model in 32 GB, no activations (B params)", max_params_offload(32e9) / 1e9),
             ("ZeRO-Offload: largest model in 32 GB with 6 GB of activations (paper: 13B)",
              max_params_offload(32e9, activation_bytes=6e9) / 1e9)]

    progress("real check: tiny GPT under every policy, torch's saved_tensors_hooks")
    real, C = [], MEMORY  # `mlsys-kit memory run`'s defaults
    for p in POLICIES:
        pl, _ = real_plan(p, C.run_preset, C.run_batch, C.run_seq, 1 if p == "every-k" else None, None, C.run_link_gbps)
        r = run_plan(pl, C.run_preset, C.run_batch, C.run_seq)
        r["policy"] = p
        real.append(r)
    rows += [("real tiny GPT: every policy matches the plain step (bitwise)", all(r["bitwise_equal"] for r in real)),
             ("real tiny GPT: saved bytes measured == predicted, every policy",
              all(r["saved_bytes_measured"] == r["saved_bytes_predicted"] for r in real)),
             ("real tiny GPT: recompute count measured == predicted",
              all(r["recompute_count_measured"] == r["recompute_count_predicted"] for r in real)),
             ("real tiny GPT: offloaded bytes measured == predicted",
              all(r["offloaded_bytes_measured"] == r["offloaded_bytes_predicted"] for r in real))]
    figures.append(Figure("Real check on the tiny GPT: bytes autograd saves (saved_tensors_hooks) beside the chain "
                          "model's prediction, one step per policy", figure_png(real_figure(real)),
                          "mlsys-kit memory run --policy sqrt --plot memory_real.png"))
    progress("operator level: the tiny GPT's traced graph, block plans against Checkmate's integer program")
    graph, levels, cut = levels_data("tiny", 8, 128, points=12)
    mid = levels[6]
    rows += [("op level, tiny GPT b=8 s=128: ops in the traced step, saveable tensors",
              f"{graph.to_dict()['ops']}, {len(graph.saveable)}"),
             (f"op level at {mid['budget_bytes'] / 1e6:.1f} MB saved: recompute GFLOP, best block plan "
              f"({mid['block']['plan']}) / operator-level MILP",
              f"{mid['block']['recompute_flops'] / 1e9:.3f} / {mid['op']['recompute_flops'] / 1e9:.3f}"),
             ("op level: operator optimum <= best block plan at every budget (12 budgets)",
              all(r["op"]["recompute_flops"] <= r["block"]["recompute_flops"] for r in levels)),
             ("op level: min cut (torch's rule, no matmul recomputed): saved MB, recompute GFLOP",
              f"{cut['saved_bytes'] / 1e6:.2f}, {cut['recompute_flops'] / 1e9:.4f}")]
    op_real = [run_op_plan(p, C.run_preset, C.run_batch, C.run_seq) for p in ("sqrt", "min-cut", "optimal")]
    rows.append(("real op-level plans (sqrt, min-cut, optimal) on the micro GPT: bitwise, saved bytes and "
                 "recomputed FLOPs measured == predicted",
                 all(r["bitwise_equal"] and r["saved_bytes_measured"] == r["saved_bytes_predicted"]
                     and r["recompute_flops_measured"] == r["recompute_flops_predicted"] for r in op_real)))
    figures.append(Figure("The two levels of one problem (Checkmate, MLSys'20): recomputed GFLOP against saved MB "
                          "for the best block plan and the operator-level optimum on the tiny GPT's traced step; "
                          "right: what each keeps at one budget",
                          figure_png(levels_figure(levels, cut, graph.name, 6)),
                          "mlsys-kit memory plan --level op --preset tiny --policy optimal --budget-gb 0.017"))
    return Section(
        topic="memory", title="Training memory: recomputation, swapping and offload (Chen 2016, vDNN, Checkmate, "
                              "Capuchin, ZeRO-Offload)",
        summary="Every tensor's lifetime through a training step under keep-all, every-k, sqrt(n), the optimal "
                "checkpoint plan (exact DP), vDNN offload and Capuchin's hybrid; the papers' headline numbers; and "
                "the same plans run by torch on the tiny GPT with the saved bytes counted; then the same problem at "
                "the level of operators (Checkmate's integer program on the traced step) beside the block level.",
        rows=rows, figures=figures,
        data={"gpt2": [r.to_dict() for r in res], "vgg16": {"all": base.to_dict(), "offload": off.to_dict()},
              "largest_batch_16gb": batches, "zero_offload": zo, "real": real,
              "op_levels": levels, "op_min_cut": {k: cut[k] for k in ("saved_bytes", "recompute_flops")},
              "op_real": op_real})
