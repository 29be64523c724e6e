"""The cluster-scheduling section of ``mlsys-kit demo``: the papers' comparisons re-run in the
simulator (Tiresias vs FIFO/SRTF, Gavel aware vs agnostic, Pollux vs Tiresias), the GPUs of a run
over time, JCT CDFs per policy, and Pollux's models fitted to the tiny GPT on this CPU."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.cluster.experiments import fitted_comparison, paper_numbers
from mlsys_kit.common import Figure, Section

N_JOBS, LOAD, SEED = 300, 1.2, 1


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.cluster.fit import fit_report
    from mlsys_kit.cluster.viz import plot_compare, plot_run
    from mlsys_kit.viz.figure import figure_png

    progress(f"{N_JOBS} Philly-shaped jobs at load {LOAD:g}: FIFO, SRTF, Tiresias, Pollux on 64 V100; Gavel aware/agnostic on 3 types")
    paper = paper_numbers(N_JOBS, LOAD, SEED, record=True)
    homo, het = paper.pop("runs").values()
    progress("Pollux's models fitted to the tiny GPT (throughput vs batch size, gradient noise scale)")
    fit = fit_report()
    fitted = fitted_comparison(fit["pollux_params"])
    m = paper["metrics"]
    args = f"--jobs {N_JOBS} --load {LOAD:g} --seed {SEED}"
    rows = [(f"sim avg JCT (h), 64 V100, {p}", m["homogeneous"][p]["avg_jct"] / 3600) for p in m["homogeneous"]]
    rows += [(f"sim avg JCT (h), V100+P100+K80, {p}", m["heterogeneous"][p]["avg_jct"] / 3600)
             for p in m["heterogeneous"]]
    rows += [(f"sim {k.replace('_', ' ')} avg-JCT ratio (paper {v['paper']:.2g})", v["sim"])
             for k, v in paper["ratios"].items()]
    rows += [("real tiny-GPT fit: held-out throughput relative error", fit["throughput_rel_error"]),
             ("real tiny-GPT fit: gradient noise scale (examples)", fit["noise_scale"]),
             ("real tiny-GPT fit: held-out efficiency absolute error", fit["efficiency_abs_error"]),
             ("sim 40 fitted tiny-GPT jobs on 16 GPUs: avg JCT Tiresias / Pollux", fitted["tiresias_over_pollux"])]
    figures = [
        Figure(f"Tiresias on 64 V100 (8 machines), {N_JOBS} Philly-shaped jobs at load {LOAD:g}: GPUs over time by job",
               figure_png(plot_run(homo["tiresias"])),
               f"mlsys-kit cluster simulate --policy tiresias {args} --gpus 64 --plot run.png"),
        Figure("JCT CDF per policy on 64 V100 (Tiresias NSDI'19 Fig. 8 style)", figure_png(plot_compare(homo)),
               f"mlsys-kit cluster simulate --policy {{fifo,srtf,tiresias,pollux}} {args} --gpus 64 --plot cdf.png"),
        Figure("JCT CDF on 16 V100 + 16 P100 + 16 K80: Gavel heterogeneity-aware vs agnostic, FIFO",
               figure_png(plot_compare(het, "JCT CDF, heterogeneous cluster")),
               f"mlsys-kit cluster simulate --policy {{gavel,gavel-agnostic,fifo}} {args} --types v100:16,p100:16,k80:16 "
               "--plot het.png"),
    ]
    return Section("cluster", "Cluster scheduling (Philly, Tiresias, Gavel, Pollux)",
                   "A trace-driven discrete-event simulator of a GPU cluster (gang scheduling, preemption with a "
                   "restart cost, locality placement) running FIFO, SRTF, Tiresias' 2D-LAS, Gavel's LP policies and "
                   "Pollux's goodput-optimal allocation on Philly/PAI-shaped traces, and Pollux's models fitted to "
                   "the tiny GPT measured on this CPU.", rows, figures,
                   {"paper_numbers": paper["ratios"], "metrics": m, "fit": fit,
                    "fitted_jobs": fitted})
