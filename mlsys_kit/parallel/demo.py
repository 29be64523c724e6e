"""The parallelism section of ``mlsys-kit demo``: the planner on LLaMA-2-70B (64 A100s), the
Megatron-LM 1T configuration evaluated by the model, and the real tensor-parallel run at
t = 2 on gloo checked against one process."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.parallel.model import Cluster, Plan, evaluate, model_config
from mlsys_kit.parallel.planner import plan
from mlsys_kit.parallel.viz import plan_figure, run_figure
from mlsys_kit.viz.figure import figure_png


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.parallel.launch import run_config, run_tensor_parallel

    progress("planning LLaMA-2-70B on 64 A100-80GB, global batch 1024")
    res = plan(model_config("llama2-70b"), Cluster(64), 1024)
    best = res["plans"][0]
    rows: list[tuple[str, object]] = [
        ("llama2-70b, 64 A100s, batch 1024: best plan", best["plan"]),
        ("  step time (s), MFU", f"{best['step_time']:.3g}, {100 * best['mfu']:.1f}%"),
        ("  plans searched / fit", f"{res['searched']} / {res['fit']}"),
        ("  planner wall time (s)", round(res["planner_seconds"], 2)),
    ]
    figures = [Figure("Best step time per (t, p) for LLaMA-2-70B on 64 A100-80GB (OOM: no plan fits), and the "
                      "top plans' time and memory breakdowns", figure_png(plan_figure(res)),
                      "mlsys-kit parallel plan --preset llama2-70b --devices 64 --devices-per-node 8 "
                      "--global-batch 1024 --plot parallel_plan.png")]

    progress("Megatron-LM's 1T configuration (t=8, p=64, 3072 A100s)")
    one_t = {v: evaluate(model_config("megatron-1t"), Cluster(3072), Plan(8, 64, 6, 1, v, 0, "full"), 3072)
             for v in (1, 2)}
    rows += [("megatron-1t t=8 p=64 d=6 b=1, full recompute: HFU (paper 52%)",
              f"{100 * one_t[1]['hfu']:.1f}% (v=1), {100 * one_t[2]['hfu']:.1f}% (v=2)"),
             ("  interleaving v=2 gain", f"{100 * (one_t[1]['step_time'] / one_t[2]['step_time'] - 1):.1f}%")]

    progress("real tensor parallelism at t = 2 on gloo, TP and TP + SP")
    runs = run_tensor_parallel([run_config(2), run_config(2, sequence_parallel=True)])
    for r in runs:
        tag = "t=2 SP" if r["sequence_parallel"] else "t=2"
        rows += [(f"real {tag}: loss and gradients match one process (max diff)",
                  f"{r['matches_single_process']} ({r['max_abs_diff']:.2g})"),
                 (f"real {tag}: bytes sent per rank counted (model)",
                  f"{r['bytes_sent_measured']:,} ({r['bytes_sent_predicted']:,})")]
    figures.append(Figure("Real tensor parallelism of the tiny GPT on 2 gloo ranks: bytes each rank sends, counted "
                          "in the run beside the communication model, and step time against one process",
                          figure_png(run_figure(runs, "tiny GPT on 2 gloo ranks")),
                          "mlsys-kit parallel run --tensor 2 --plot parallel_run.png"))
    return Section(
        topic="parallel", title="3D parallelism: tensor, sequence, pipeline, data (Megatron-LM SC'21, Alpa OSDI'22)",
        summary="The planner's fastest plan that fits for LLaMA-2-70B, Megatron-LM's 1T configuration through "
                "the same model, and real tensor/sequence parallelism on gloo whose loss, gradients and bytes "
                "sent match one process and the model.",
        rows=rows, figures=figures,
        data={"plan": {k: v for k, v in res.items() if k != "heatmap"}, "heatmap": res["heatmap"],
              "megatron_1t": one_t, "runs": runs})
