"""The offloading section of ``mlsys-kit demo``: FlexGen's policy search for OPT-175B on one T4
(zig-zag against row-by-row), the tiny GPT really run across device, host and disk tiers in both
orders (tokens and bytes checked), and InfiniGen's speculative KV prefetch on the tiny GPT trained
on the shipped text."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.models.gpt import GPT
from mlsys_kit.offload.config import Workload, hardware, model
from mlsys_kit.offload.infinigen import fraction_sweep, skew
from mlsys_kit.offload.real import real_policy, run_offloaded
from mlsys_kit.offload.search import search
from mlsys_kit.offload.train import calibration_ids, eval_ids, trained_gpt

FRACTION = 0.2
SWEEP = (0.05, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.8, 1.0)


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.offload.viz import plot_plan, plot_prefetch, plot_run
    from mlsys_kit.viz.figure import figure_png

    progress("policy search: OPT-175B, one T4 16 GB, 208 GB host, 1.5 TB SSD (FlexGen section 6)")
    hw = hardware("t4-16gb", 208, 1500)
    plans = {s: search(model("opt-175b"), hw, Workload(), s) for s in ("zigzag", "row")}
    progress("real run: tiny GPT across device / host / disk tiers, zig-zag and row-by-row")
    gpt, wl = GPT("tiny"), Workload(32, 8)
    policy = real_policy(gpt, wl, "zigzag")
    runs = [run_offloaded(gpt, policy, wl, s) for s in ("zigzag", "row")]
    progress("InfiniGen: speculative KV prefetch on the tiny GPT trained on the shipped text")
    tg = trained_gpt()
    sweep = fraction_sweep(tg, eval_ids(192), 64, skew(tg, calibration_ids()), SWEEP)
    at = SWEEP.index(FRACTION)
    z, r = plans["zigzag"], plans["row"]
    rows = [
        ("FlexGen OPT-175B/T4 zig-zag: tokens/s (paper ~1 at batch 144)", z["tokens_per_s"]),
        ("FlexGen OPT-175B/T4 zig-zag: effective batch", z["batch"]),
        ("FlexGen OPT-175B/T4 row-by-row: tokens/s", r["tokens_per_s"]),
        ("FlexGen OPT-175B/T4 row-by-row: batch", r["batch"]),
        ("FlexGen OPT-175B/T4 zig-zag / row-by-row", z["tokens_per_s"] / r["tokens_per_s"]),
        ("real tiny GPT zig-zag: tokens identical to the plain run", runs[0]["outputs_match_reference"]),
        ("real tiny GPT row-by-row: tokens identical to the plain run", runs[1]["outputs_match_reference"]),
        ("real zig-zag: bytes moved per link equal the cost model", runs[0]["bytes_match"]),
        ("real row-by-row: bytes moved per link equal the cost model", runs[1]["bytes_match"]),
        ("real zig-zag: host->device bytes (measured)", runs[0]["bytes_moved_measured"]["host_to_device"]),
        ("real row-by-row: host->device bytes (measured)", runs[1]["bytes_moved_measured"]["host_to_device"]),
        ("real zig-zag: weight loads / row-by-row weight loads", runs[0]["weight_loads"] / runs[1]["weight_loads"]),
        ("real zig-zag: time measured (s)", runs[0]["time_s_measured"]),
        ("real zig-zag: time the cost model predicts on cpu-tiny (s)", runs[0]["time_s_predicted"]),
        *((f"InfiniGen fetch {FRACTION:.0%}: attention mass, {c} columns", sweep[c]["attention_mass"][at])
          for c in ("skewed", "random", "oracle")),
        (f"InfiniGen fetch {FRACTION:.0%}: next-token agreement (skewed)", sweep["skewed"]["top1_agreement"][at]),
        (f"InfiniGen fetch {FRACTION:.0%}: KV bytes vs fetching all", sweep["skewed"]["bytes_ratio"][at]),
    ]
    figures = [
        Figure("FlexGen's policy search, OPT-175B on one T4 (16 GB) with 208 GB host and a 1.5 TB SSD: best "
               "throughput per effective batch, zig-zag against row-by-row; the zig-zag placement",
               figure_png(plot_plan(plans, "OPT-175B, T4 16 GB, 208 GB host, 1.5 TB SSD")),
               "mlsys-kit offload plan --model opt-175b --device t4-16gb --host-gb 208 --disk-gb 1500 --plot plan.png"),
        Figure("Real run of the tiny GPT across device/host/disk tiers: bytes on each link over the generation, "
               "zig-zag (solid) and row-by-row (dashed); totals measured vs the cost model",
               figure_png(plot_run(runs)), "mlsys-kit offload run --plot run.png"),
        Figure("InfiniGen: attention mass recovered and next-token agreement against the fraction of the KV "
               "cache fetched (skewed partial query, random columns, oracle top-k)",
               figure_png(plot_prefetch(sweep, FRACTION)), "mlsys-kit offload prefetch --fraction 0.2 --plot prefetch.png"),
    ]
    for run in runs:
        for key in ("trace", "outputs", "reference_outputs"):
            run.pop(key)
    data = {"plans": {s: {k: v for k, v in p.items() if k != "policy"} for s, p in plans.items()},
            "real_runs": runs, "prefetch_sweep": sweep}
    return Section("offload", "Inference beyond device memory (FlexGen, InfiniGen)",
                   "Weights, activations and KV cache split across device, host and disk: FlexGen's zig-zag block "
                   "schedule and LP policy search, the tiny GPT really run across three tiers (tokens and bytes "
                   "checked), and InfiniGen's speculative KV prefetch from a skewed partial query.",
                   rows, figures, data)
