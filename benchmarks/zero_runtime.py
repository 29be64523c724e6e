"""Step time of the real ZeRO runtime against torch's own: ZeRO-1 against
``ZeroRedundancyOptimizer`` (+ DDP) and ZeRO-3 against FSDP2 ``fully_shard``, same model (an MLP
of about 1.3M parameters), same data, gloo on CPU, 2 and 4 ranks, one thread per rank. Prints
one JSON object: median step time in ms (max over ranks), ratio ours / torch's (goal <= 1.2),
and the largest parameter difference between ours and the peer after the timed steps.

    python benchmarks/zero_runtime.py [--ranks 2 4] [--steps 12]
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

from mlsys_kit.zero.runtime import ZeroDataParallel  # noqa: E402
from mlsys_kit.zero.simulate import small_model  # noqa: E402

SIZES = (256, 1024, 1024, 256)
BATCH = 32  # per rank
LR = 1e-3


def _time(step, batches, warmup=3):
    times = []
    for i, (x, y) in enumerate(batches):
        t0 = time.perf_counter()
        step(x, y)
        if i >= warmup:
            times.append(time.perf_counter() - t0)
    t = torch.tensor([statistics.median(times)], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t) * 1e3


def _params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def _ours(base, stage, batches, reduce_op="reduce_scatter"):
    zdp = ZeroDataParallel(copy.deepcopy(base), stage, LR, reduce_op=reduce_op)

    def step(x, y):
        zdp.zero_grad()
        nn.functional.mse_loss(zdp.model(x), y).backward()
        zdp.step()
    return _time(step, batches), zdp.full_parameters()


def _zero_redundancy(base, batches):
    from torch.distributed.optim import ZeroRedundancyOptimizer

    model = copy.deepcopy(base)
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=torch.optim.Adam, lr=LR)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
    return _time(step, batches), _params(model)


def _fsdp2(base, batches):
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    model = copy.deepcopy(base)
    mesh = init_device_mesh("cpu", (dist.get_world_size(),))
    for m in model:
        if isinstance(m, nn.Linear):
            fully_shard(m, mesh=mesh)
    fully_shard(model, mesh=mesh)
    opt = torch.optim.Adam(model.parameters(), lr=LR)

    def step(x, y):
        opt.zero_grad(set_to_none=True)
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    ms = _time(step, batches)
    full = torch.cat([p.full_tensor().detach().reshape(-1) for p in model.parameters()])
    return ms, full


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
    z1_ms, z1 = _ours(base, 1, batches)
    z1ar_ms, _ = _ours(base, 1, batches, "all_reduce")
    z3ar_ms, _ = _ours(base, 3, batches, "all_reduce")
    zro_ms, zro = _zero_redundancy(base, batches)
    z3_ms, z3 = _ours(base, 3, batches)
    fs_ms, fs = _fsdp2(base, batches)
    if rank == 0:
        Path(out).write_text(json.dumps({
            "zero1_ms": round(z1_ms, 2), "zero_redundancy_optimizer_ms": round(zro_ms, 2),
            "zero1_ratio": round(z1_ms / zro_ms, 3), "zero1_all_reduce_variant_ms": round(z1ar_ms, 2), "zero1_max_diff_vs_peer": float((z1 - zro).abs().max()),
            "zero3_ms": round(z3_ms, 2), "fully_shard_ms": round(fs_ms, 2),
            "zero3_ratio": round(z3_ms / fs_ms, 3), "zero3_all_reduce_variant_ms": round(z3ar_ms, 2), "zero3_max_diff_vs_peer": float((z3 - fs).abs().max())}))
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
    ap.add_argument("--steps", type=int, default=12)
    args = ap.parse_args()
    n_params = sum(p.numel() for p in small_model(SIZES).parameters())
    result = {"model": f"MLP {SIZES}, {n_params:,} params, batch {BATCH}/rank, fp32, gloo CPU, 1 thread/rank",
              "steps_timed": args.steps - 3, "cpu_cores": os.cpu_count()}
    for n in args.ranks:
        result[f"ranks_{n}"] = run(n, args.steps)
    print(json.dumps(result, indent=2))
