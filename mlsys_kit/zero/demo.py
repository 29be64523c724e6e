"""The ZeRO section of ``mlsys-kit demo``: the paper's worked example (SC'20 Figure 1), the
N-rank simulation checked against plain Adam and the analytic model, and the real runtime on
2 gloo ranks checked against DDP with its memory measured."""

from __future__ import annotations

import time
from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.viz import figure_png


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.viz.zero import measured_figure, memory_figure
    from mlsys_kit.zero.launch import run_stages
    from mlsys_kit.zero.model import all_stages, comm_bytes_per_rank, max_params, memory_per_device
    from mlsys_kit.zero.simulate import simulate

    psi, n, dev = 7_500_000_000, 64, 32e9
    stages = all_stages(psi, n)
    fits = [max_params(dev, n, s) for s in range(4)]
    rows: list[tuple[str, object]] = [
        (f"7.5B params, N_d=64: stage {m.stage} GB per device", round(m.total_bytes / 1e9, 2)) for m in stages]
    rows += [(f"largest model in 32 GB, N_d=64, stage {s} (B params)", round(f / 1e9, 2)) for s, f in enumerate(fits)]
    figures = [Figure("Model states per device for Ψ = 7.5B, N_d = 64, K = 12 (paper Figure 1), "
                      "communication per step and the largest model that fits in 32 GB",
                      figure_png(memory_figure(stages, "Ψ = 7.5B, N_d = 64, K = 12", dev, fits)),
                      "mlsys-kit zero memory --params 7.5e9 --ranks 64 --device-memory 32 --plot zero_memory.png")]

    progress("simulating 6 ranks, stages 0-3, against plain Adam")
    sim, t0 = [], time.perf_counter()
    for s in range(4):
        sim.append(simulate(s, 6, steps=5, sizes=(10, 33, 5)))
    sim_rate = 20 / (time.perf_counter() - t0)
    ok_mem = all(r["held_bytes"][0]["total_bytes"] ==
                 memory_per_device(r["params"], 6, r["stage"], 8, param_bytes=4, grad_bytes=4, padded=True).total_bytes
                 for r in sim)
    ok_comm = all(r["sent_bytes"][0] == 5 * comm_bytes_per_rank(r["params"], 6, r["stage"], 4) for r in sim)
    rows += [(f"simulation (6 ranks, Ψ={sim[0]['params']}): max |param - Adam| over stages", max(r["max_abs_diff"] for r in sim)),
             ("simulation: bytes held per rank == model (padded)", ok_mem),
             ("simulation: bytes sent per rank == ring volume", ok_comm),
             ("simulation steps per second (6 ranks)", round(sim_rate, 1))]

    progress("real ZeRO-1/2/3 on 2 gloo ranks against DDP + Adam")
    real = run_stages([1, 2, 3], 2, steps=3)
    for r in real:
        rows += [(f"real ZeRO-{r['stage']}, 2 ranks: matches DDP (max diff)", f"{r['matches_ddp']} ({r['max_abs_diff']:.2g})"),
                 (f"real ZeRO-{r['stage']}: measured bytes/rank (model)",
                  f"{r['measured_bytes_per_rank']['total_bytes']:,} ({r['model_bytes_per_rank']['total_bytes']:,})")]
    figures.append(Figure(
        "Real ZeRO on 2 gloo ranks: bytes of model states per rank, measured from the live tensors "
        "beside the analytic model", figure_png(measured_figure(
            [{"stage": r["stage"], "measured": r["measured_bytes_per_rank"], "model": r["model_bytes_per_rank"]}
             for r in real], "real ZeRO on 2 gloo ranks: bytes per rank")),
        "mlsys-kit zero run --stage 1 2 3 --ranks 2 --steps 3 --plot zero_run.png"))
    return Section(
        topic="zero", title="ZeRO: partitioned data parallelism (Rajbhandari et al., SC'20)",
        summary="Per-device memory of parameters, gradients and Adam states under ZeRO stages 0-3, "
                "the same stages run on simulated ranks with counted ring collectives, and a real "
                "ZeRO-1/2/3 on torch.distributed that matches DDP + Adam.",
        rows=rows, figures=figures,
        data={"memory": [m.to_dict() for m in stages], "max_params": fits,
              "simulation": [{k: v for k, v in r.items() if k != "held_bytes"} for r in sim], "runtime": real})
