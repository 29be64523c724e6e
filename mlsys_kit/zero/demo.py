"""The ZeRO section of ``mlsys-kit demo``: the paper's worked example (SC'20 Figure 1), the
N-rank simulation checked against plain Adam and the analytic model, and the real runtime on
2 gloo ranks checked against DDP with its memory measured."""

from __future__ import annotations

import time
from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.viz.figure import figure_png
from mlsys_kit.zero.config import ZERO as C
from mlsys_kit.zero.model import all_stages, comm_bytes_per_rank, max_params, memory_per_device
from mlsys_kit.zero.viz import measured_figure, memory_figure


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.zero.launch import run_stages
    from mlsys_kit.zero.simulate import simulate

    psi, n, dev, k = C.example_params, C.example_ranks, C.example_device_gb * 1e9, C.k
    setting = f"Ψ = {psi / 1e9:g}B, N_d = {n}, K = {k:g}"
    stages = all_stages(psi, n, k)
    fits = [max_params(dev, n, s, k) for s in range(4)]
    rows: list[tuple[str, object]] = [
        (f"{psi / 1e9:g}B params, N_d={n}: stage {m.stage} GB per device", round(m.total_bytes / 1e9, 2)) for m in stages]
    rows += [(f"largest model in {dev / 1e9:g} GB, N_d={n}, stage {s} (B params)", round(f / 1e9, 2))
             for s, f in enumerate(fits)]
    figures = [Figure(f"Model states per device for {setting} (paper Figure 1), "
                      f"communication per step and the largest model that fits in {dev / 1e9:g} GB",
                      figure_png(memory_figure(stages, setting, dev, fits)),
                      f"mlsys-kit zero memory --params {psi / 1e9:g}e9 --ranks {n} --device-memory {dev / 1e9:g} "
                      "--plot zero_memory.png")]

    ranks, steps = C.sim_ranks, C.sim_steps
    progress(f"simulating {ranks} ranks, stages 0-3, against plain Adam")
    sim, t0 = [], time.perf_counter()
    for s in range(4):
        sim.append(simulate(s, ranks, steps=steps, sizes=C.sim_sizes))
    sim_rate = 4 * steps / (time.perf_counter() - t0)
    ok_mem = all(r["held_bytes"][0]["total_bytes"] ==  # fp32 run: 4-byte params and grads, K = 8 (Adam's moments)
                 memory_per_device(r["params"], ranks, r["stage"], 8, param_bytes=4, grad_bytes=4, padded=True).total_bytes
                 for r in sim)
    ok_comm = all(r["sent_bytes"][0] == steps * comm_bytes_per_rank(r["params"], ranks, r["stage"], 4) for r in sim)
    rows += [(f"simulation ({ranks} ranks, Ψ={sim[0]['params']}): max |param - Adam| over stages",
              max(r["max_abs_diff"] for r in sim)),
             ("simulation: bytes held per rank == model (padded)", ok_mem),
             ("simulation: bytes sent per rank == ring volume", ok_comm),
             (f"simulation steps per second ({ranks} ranks)", round(sim_rate, 1))]

    n_real = C.demo_run_ranks
    progress(f"real ZeRO-1/2/3 on {n_real} gloo ranks against DDP + Adam")
    real = run_stages([1, 2, 3], n_real, steps=C.demo_run_steps)
    for r in real:
        rows += [(f"real ZeRO-{r['stage']}, {n_real} ranks: matches DDP (max diff)", f"{r['matches_ddp']} ({r['max_abs_diff']:.2g})"),
                 (f"real ZeRO-{r['stage']}: measured bytes/rank (model)",
                  f"{r['measured_bytes_per_rank']['total_bytes']:,} ({r['model_bytes_per_rank']['total_bytes']:,})")]
    figures.append(Figure(
        f"Real ZeRO on {n_real} gloo ranks: bytes of model states per rank, measured from the live tensors "
        "beside the analytic model", figure_png(measured_figure(
            [{"stage": r["stage"], "measured": r["measured_bytes_per_rank"], "model": r["model_bytes_per_rank"]}
             for r in real], f"real ZeRO on {n_real} gloo ranks: bytes per rank")),
        f"mlsys-kit zero run --stage 1 2 3 --ranks {n_real} --steps {C.demo_run_steps} --plot zero_run.png"))
    return Section(
        topic="zero", title="ZeRO: partitioned data parallelism (Rajbhandari et al., SC'20)",
        summary="Per-device memory of parameters, gradients and Adam states under ZeRO stages 0-3, "
                "the same stages run on simulated ranks with counted ring collectives, and a real "
                "ZeRO-1/2/3 on torch.distributed that matches DDP + Adam.",
        rows=rows, figures=figures,
        data={"memory": [m.to_dict() for m in stages], "max_params": fits,
              "simulation": [{k: v for k, v in r.items() if k != "held_bytes"} for r in sim], "runtime": real})
