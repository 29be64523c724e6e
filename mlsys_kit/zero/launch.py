"""Launch the real ZeRO runtime (:mod:`mlsys_kit.zero.runtime`) on N processes and check it
against ``DistributedDataParallel`` + ``torch.optim.Adam`` on the same model and data.

From Python, :func:`run_zero` spawns one process per rank (``torch.multiprocessing``, gloo on
CPU). Under ``torchrun`` the same code runs unchanged, one rank per process::

    torchrun --nproc-per-node 4 -m mlsys_kit.zero.launch --stage 3 --steps 5

(rank 0 prints the JSON object that ``mlsys-kit zero run --json`` prints).
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import statistics
import sys
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from mlsys_kit.checks import one_of, positive_int
from mlsys_kit.launch import exit_now, run_ranks
from mlsys_kit.zero.config import ZERO
from mlsys_kit.zero.peers import train_fully_shard, train_zero_redundancy
from mlsys_kit.zero.runtime import ZeroDataParallel
from mlsys_kit.zero.simulate import small_model


def _device() -> torch.device:
    if torch.cuda.is_available():  # NCCL: one GPU per rank
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", dist.get_rank())) % torch.cuda.device_count())
        torch.cuda.set_device(dev)
        return dev
    return torch.device("cpu")


def _batches(cfg: dict, device: torch.device) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's micro-batches: every rank draws the same global batch and takes its rows."""
    world, rank, b, sizes = dist.get_world_size(), dist.get_rank(), cfg["per_rank_batch"], cfg["sizes"]
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    out = []
    for _ in range(cfg["steps"]):
        x, y = torch.randn(world * b, sizes[0], generator=gen), torch.randn(world * b, sizes[-1], generator=gen)
        out.append((x[rank * b:(rank + 1) * b].to(device), y[rank * b:(rank + 1) * b].to(device)))
    return out


def _max_over_ranks(value: float) -> float:
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def _train_ddp(model: nn.Module, batches: list, lr: float) -> tuple[torch.Tensor, list[float]]:
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.Adam(ddp.parameters(), lr=lr)
    times = []
    for x, y in batches:
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        nn.functional.mse_loss(ddp(x), y).backward()
        opt.step()
        times.append(time.perf_counter() - t0)
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()]), times


def _train_zero(model: nn.Module, stage: int, batches: list, lr: float,
                reduce_op: str = "reduce_scatter") -> tuple[ZeroDataParallel, list[float]]:
    zdp = ZeroDataParallel(model, stage, lr, reduce_op=reduce_op)
    times = []
    for x, y in batches:
        t0 = time.perf_counter()
        zdp.zero_grad()
        nn.functional.mse_loss(zdp.model(x), y).backward()
        zdp.step()
        times.append(time.perf_counter() - t0)
    return zdp, times


def compare_with_ddp(cfg: dict) -> list[dict[str, Any]]:
    """On an initialised process group: DDP + Adam, then each of ``cfg['stages']``; one result
    dict per stage (identical on every rank)."""
    device = _device()
    base = small_model(tuple(cfg["sizes"]), cfg["seed"]).to(device)
    batches = _batches(cfg, device)
    ref, ddp_times = _train_ddp(copy.deepcopy(base), batches, cfg["lr"])
    skip = 1 if len(batches) > 1 else 0  # the first step pays for warm-up
    results = []
    for stage in cfg["stages"]:
        zdp, times = _train_zero(copy.deepcopy(base), stage, batches, cfg["lr"], cfg["reduce_op"])
        diff = _max_over_ranks(float((zdp.full_parameters() - ref).abs().max()))
        measured, predicted = zdp.measured_bytes(), zdp.model_bytes()
        freed = all(u.full.untyped_storage().nbytes() == 0 for u in zdp.units) if stage == 3 else None
        results.append({
            "stage": stage, "ranks": dist.get_world_size(), "steps": cfg["steps"], "backend": dist.get_backend(),
            "reduce_op": cfg["reduce_op"],
            "params": sum(u.numel for u in zdp.units), "unit_numels": [u.numel for u in zdp.units],
            "matches_ddp": diff <= cfg["atol"], "max_abs_diff": diff, "atol": cfg["atol"],
            "measured_bytes_per_rank": measured, "model_bytes_per_rank": predicted,
            "measured_equals_model": measured == predicted,
            "peak_gathered_param_bytes": zdp.peak_gathered_bytes if stage == 3 else None,
            "params_freed_after_step": freed,
            "step_time_s": _max_over_ranks(statistics.median(times[skip:])),
            "ddp_step_time_s": _max_over_ranks(statistics.median(ddp_times[skip:])),
        })
        if cfg.get("peers") and stage in (1, 3):  # torch's own ZeRO-1 / ZeRO-3 on the same run
            name, train = ("zero_redundancy_optimizer", train_zero_redundancy) if stage == 1 else (
                "fully_shard", train_fully_shard)
            peer_times, peer = train(base, batches, cfg["lr"])
            results[-1][f"{name}_max_abs_diff"] = _max_over_ranks(float((zdp.full_parameters() - peer).abs().max()))
            results[-1][f"{name}_step_time_s"] = _max_over_ranks(statistics.median(peer_times[skip:]))
    return results


def _config(stages: list[int], ranks: int, steps: int, sizes: tuple[int, ...], per_rank_batch: int,
            lr: float, seed: int, atol: float, reduce_op: str = "reduce_scatter", peers: bool = False) -> dict:
    for s in stages:
        one_of("stage", s, (1, 2, 3))
    positive_int("ranks", ranks)
    positive_int("steps", steps)
    positive_int("per_rank_batch", per_rank_batch)
    one_of("reduce_op", reduce_op, ("reduce_scatter", "all_reduce"))
    return {"reduce_op": reduce_op, "peers": peers, "stages": list(stages), "steps": steps, "sizes": list(sizes), "per_rank_batch": per_rank_batch,
            "lr": lr, "seed": seed, "atol": atol}


def run_stages(stages: list[int], ranks: int, steps: int = ZERO.run_steps, sizes: tuple[int, ...] = ZERO.run_sizes,
               per_rank_batch: int = ZERO.run_per_rank_batch, lr: float = ZERO.lr, seed: int = ZERO.seed,
               atol: float = ZERO.atol,
               reduce_op: str = "reduce_scatter", peers: bool = False) -> list[dict]:
    """Spawn ``ranks`` processes once and run DDP and every stage in ``stages`` there; with
    ``peers``, also torch's ``ZeroRedundancyOptimizer`` (stage 1) and ``fully_shard`` (stage 3)."""
    cfg = _config(stages, ranks, steps, sizes, per_rank_batch, lr, seed, atol, reduce_op, peers)
    limit = max(8, 4 * (os.cpu_count() or 1))
    if ranks > limit:
        raise ValueError(f"ranks={ranks} would start {ranks} processes on {os.cpu_count()} CPU cores: at most "
                         f"{limit} here (for the memory of many ranks use `mlsys-kit zero memory` or the simulation)")
    return run_ranks(compare_with_ddp, cfg, ranks, backend="nccl" if torch.cuda.is_available() else "gloo")


def run_zero(stage: int, ranks: int, steps: int = ZERO.run_steps, **kw: Any) -> dict:
    """Real ZeRO-``stage`` on ``ranks`` processes against DDP + Adam: ``matches_ddp``,
    ``max_abs_diff``, measured and model bytes per rank, step times (seconds)."""
    one_of("stage", stage, (1, 2, 3))
    return run_stages([stage], ranks, steps, **kw)[0]


def main(argv: list[str] | None = None) -> int:
    """``torchrun`` entry point: the process group comes from torchrun's environment."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--stage", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--steps", type=int, default=ZERO.run_steps)
    args = p.parse_args(argv)
    dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    try:
        cfg = _config(args.stage, dist.get_world_size(), args.steps, ZERO.run_sizes, ZERO.run_per_rank_batch,
                      ZERO.lr, ZERO.seed, ZERO.atol)
        results = compare_with_ddp(cfg)
        if dist.get_rank() == 0:
            json.dump(results if len(results) > 1 else results[0], sys.stdout, indent=2)
            print()
        dist.barrier()
    finally:
        dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    exit_now(main())
