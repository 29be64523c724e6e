"""Our runtime's step time against torch.distributed.pipelining running the same schedule on the
same model (gloo, CPU, one process per rank). Prints one JSON object: per schedule, the fastest
step of each (seconds), the ratio ours / torch, and the largest gradient difference between the
two runtimes. Usage: python benchmarks/pipeline_runtime.py [P] [M] [HIDDEN]."""

from __future__ import annotations

import json
import sys
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402
from torch import nn  # noqa: E402

from mlsys_kit.pipeline.generators import make_schedule  # noqa: E402
from mlsys_kit.launch import free_port  # noqa: E402
from mlsys_kit.pipeline.runtime import RunConfig, build_stages, make_data, run_step  # noqa: E402

# ours -> (torch class, stages per rank)
PAIRS = {"gpipe": ("ScheduleGPipe", 1), "1f1b": ("Schedule1F1B", 1),
         "interleaved-1f1b": ("ScheduleInterleaved1F1B", 2), "zb-h1": ("ScheduleInterleavedZeroBubble", 1)}
REPEATS = 10


def _worker(rank: int, world: int, port: int, m: int, cfg: RunConfig, queue) -> None:
    from torch.distributed.pipelining import PipelineStage
    from torch.distributed.pipelining import schedules as ts

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank, world_size=world,
                            timeout=timedelta(seconds=120))
    x, y = make_data(cfg)
    results = {}
    for name, (cls_name, v) in PAIRS.items():
        sched = make_schedule(name, world, m, v)
        S = sched.num_stages
        # ours and torch's on the same stages and placement, alternating steps so load noise hits both
        stages = {s: build_stages(S, cfg)[s] for s in sched.stages_of(rank)}
        mods = {s: build_stages(S, cfg)[s] for s in sched.stages_of(rank)}
        pstages = [PipelineStage(mods[s], s, S, torch.device("cpu")) for s in sorted(mods)]
        cls = getattr(ts, cls_name)
        loss_fn = nn.functional.mse_loss  # torch averages over microbatches (scale_grads): the same loss as ours
        single = cls_name in ("ScheduleGPipe", "Schedule1F1B")
        schedule = cls(pstages[0], m, loss_fn=loss_fn) if single else cls(pstages, m, loss_fn=loss_fn)
        args = (x,) if 0 in mods else ()
        kwargs = {"target": y} if S - 1 in mods else {}
        ours = theirs = float("inf")
        for _ in range(REPEATS):
            for st in list(stages.values()) + list(mods.values()):
                st.zero_grad(set_to_none=True)
            _, _, step = run_step(sched, rank, stages, x, y, torch.device("cpu"))
            dist.barrier()
            t0 = time.perf_counter()
            schedule.step(*args, **kwargs)
            t = torch.tensor([step, time.perf_counter() - t0], dtype=torch.float64)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
            ours, theirs = min(ours, t[0].item()), min(theirs, t[1].item())
        our_grads = {s: [p.grad for p in st.parameters()] for s, st in stages.items()}
        diff = max((a - p.grad).abs().max().item() for s, mod in mods.items()
                   for a, p in zip(our_grads[s], mod.parameters()))
        d = torch.tensor([diff], dtype=torch.float64)
        dist.all_reduce(d, op=dist.ReduceOp.MAX)
        results[name] = {"torch_class": cls_name, "ours_step_s": round(ours, 5), "torch_step_s": round(theirs, 5),
                         "ratio_ours_over_torch": round(ours / theirs, 3), "max_grad_diff_vs_torch": d.item()}
    if rank == 0:
        queue.put(results)
    dist.destroy_process_group()


def main(p: int = 2, m: int = 8, hidden: int = 256) -> dict:
    cfg = RunConfig(hidden=hidden, batch=8 * m, layers_per_stage=2)
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(p, free_port(), m, cfg, queue), nprocs=p, join=True, start_method="spawn")
    return {"p": p, "m": m, "hidden": hidden, "batch": cfg.batch, "repeats": REPEATS, "backend": "gloo",
            **queue.get()}


if __name__ == "__main__":
    args = [int(a) for a in sys.argv[1:4]]
    print(json.dumps(main(*args), indent=2))
