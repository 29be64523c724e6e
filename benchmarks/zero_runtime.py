"""Step time of the real ZeRO runtime against torch's own: ZeRO-1 against
``ZeroRedundancyOptimizer`` (+ DDP) and ZeRO-3 against FSDP2 ``fully_shard``, same model (an MLP
of about 1.6M parameters), same data, gloo on CPU, 2 and 4 ranks, one thread per rank.

The trainers' steps are interleaved (step i of every trainer, then step i + 1), so that a load
spike on a shared machine hits all of them alike. Prints one JSON object: median step time in
ms (max over ranks), ratio ours / torch's (goal <= 1.2), and the largest parameter difference
between ours and the peer after all steps.

    python benchmarks/zero_runtime.py [--ranks 2 4] [--steps 30]
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

import torch
import torch.distributed as dist
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlsys_kit.zero.peers import make_fully_shard, make_zero_redundancy  # noqa: E402
from mlsys_kit.zero.runtime import ZeroDataParallel  # noqa: E402
from mlsys_kit.zero.simulate import small_model  # noqa: E402

SIZES = (256, 1024, 1024, 256)
BATCH = 32  # per rank
LR = 1e-3
WARMUP = 3


def make_ours(base, stage, reduce_op="reduce_scatter"):
    zdp = ZeroDataParallel(copy.deepcopy(base), stage, LR, reduce_op=reduce_op)

    def step(x, y):
        zdp.zero_grad()
        nn.functional.mse_loss(zdp.model(x), y).backward()
        zdp.step()
    return step, zdp.full_parameters


def _worker(rank, world, port, steps, out):
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    base = small_model(SIZES, seed=0)
    gen = torch.Generator().manual_seed(1)
    batches = []
    for _ in range(steps):
        x, y = torch.randn(world * BATCH, SIZES[0], generator=gen), torch.randn(world * BATCH, SIZES[-1], generator=gen)
        batches.append((x[rank * BATCH:(rank + 1) * BATCH], y[rank * BATCH:(rank + 1) * BATCH]))
    trainers = {"zero1": make_ours(base, 1), "zero_redundancy_optimizer": make_zero_redundancy(base, LR),
                "zero1_all_reduce_variant": make_ours(base, 1, "all_reduce"),
                "zero3": make_ours(base, 3), "fully_shard": make_fully_shard(base, LR),
                "zero3_all_reduce_variant": make_ours(base, 3, "all_reduce")}
    times = {name: [] for name in trainers}
    for i, (x, y) in enumerate(batches):
        for name, (step, _) in trainers.items():
            t0 = time.perf_counter()
            step(x, y)
            if i >= WARMUP:
                times[name].append(time.perf_counter() - t0)
    ms = {}
    for name, ts in times.items():
        t = torch.tensor([statistics.median(ts)], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)
        ms[name] = round(float(t) * 1e3, 2)
    params = {name: fn() for name, (_, fn) in trainers.items()}
    if rank == 0:
        Path(out).write_text(json.dumps({
            **{f"{k}_ms": v for k, v in ms.items()},
            "zero1_ratio": round(ms["zero1"] / ms["zero_redundancy_optimizer"], 3),
            "zero3_ratio": round(ms["zero3"] / ms["fully_shard"], 3),
            "zero1_max_diff_vs_peer": float((params["zero1"] - params["zero_redundancy_optimizer"]).abs().max()),
            "zero3_max_diff_vs_peer": float((params["zero3"] - params["fully_shard"]).abs().max())}))
    dist.barrier()
    dist.destroy_process_group()
    sys.stdout.flush()
    os._exit(0)  # skip interpreter finalisation (gloo teardown can abort there; see launch.py)


def run(ranks: int, steps: int) -> dict:
    import torch.multiprocessing as mp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "r.json")
        mp.spawn(_worker, args=(ranks, port, steps, out), nprocs=ranks)
        return json.loads(Path(out).read_text())


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--ranks", type=int, nargs="+", default=[2, 4])
    ap.add_argument("--steps", type=int, default=30)
    args = ap.parse_args()
    n_params = sum(p.numel() for p in small_model(SIZES).parameters())
    result = {"model": f"MLP {SIZES}, {n_params:,} params, batch {BATCH}/rank, fp32, gloo CPU, 1 thread/rank",
              "steps_timed": args.steps - WARMUP, "interleaved": True, "cpu_cores": os.cpu_count()}
    for n in args.ranks:
        result[f"ranks_{n}"] = run(n, args.steps)
    print(json.dumps(result, indent=2))
