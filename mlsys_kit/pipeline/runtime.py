"""A real pipeline runtime on torch.distributed: one process per rank runs any valid schedule.

The model is a small MLP (``Linear`` + ``tanh`` layers) cut into ``num_stages`` stages; rank r
holds the stages the schedule's placement gives it. Each rank walks its action list as written:

* ``F``: wait for the input activation, run the stage, post the output with ``isend`` (the last
  stage computes the microbatch loss instead). Every receive of the step is posted up front
  (``irecv``) and waited on when its action comes up, so data lands while the rank computes;
* ``BW``: receive the output gradient, ``torch.autograd.backward`` (input and weight gradients);
* ``B``: the Zero Bubble split (Qi et al., ICLR'24, section 2): ``torch.autograd.grad`` with respect
  to the stage input and each layer's pre-activation only, so the previous stage gets its
  gradient early; the weights are untouched;
* ``W``: later, the weight-gradient GEMMs from what B saved: ``dW += dz^T x``, ``db += sum dz``.

Messages carry a tag that names (kind, stage, microbatch), so a receive never matches the wrong
send, and stage pairs that live on the same rank (ZB-V's turn) hand tensors over locally.
Loss and gradients are compared on rank 0 with the same model run in one process.

Launch: :func:`run_spawn` spawns the processes on this machine (gloo on CPU); under ``torchrun``,
``python -m mlsys_kit.pipeline.runtime --schedule 1f1b --stages 4 --microbatches 8`` runs
unchanged (``init_method="env://"``), so it scales to several machines.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from datetime import timedelta
from typing import Any

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from mlsys_kit.checks import positive_int, positive_number
from mlsys_kit.launch import free_port
from mlsys_kit.pipeline.generators import SCHEDULES, make_schedule
from mlsys_kit.pipeline.schedule import Schedule
from mlsys_kit.pipeline.simulate import Event, memory_curves
from mlsys_kit.pipeline.validate import validate


@dataclass
class RunConfig:
    hidden: int = 64
    layers_per_stage: int = 2
    batch: int = 32
    repeats: int = 3
    seed: int = 0
    tolerance: float = 1e-6
    prepost: bool = True  # post all receives of a step up front (irecv); False: blocking recv when needed

    def __post_init__(self) -> None:
        for name in ("hidden", "layers_per_stage", "batch", "repeats"):
            positive_int(name, getattr(self, name))
        positive_number("tolerance", self.tolerance)


@dataclass
class RunResult:
    schedule: str
    stages: int
    microbatches: int
    match: bool
    max_diff: float
    loss: float
    reference_loss: float
    step_time_s: float
    backend: str
    tolerance: float
    events: list[Event] = field(default_factory=list)
    memory: list[list[tuple[float, float]]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = {k: v for k, v in asdict(self).items() if k not in ("events", "memory")}
        d["peak_activations"] = [max(y for _, y in c) for c in self.memory]
        return d


class Stage(nn.Module):
    """``layers`` x (Linear, tanh); ``forward_saving`` also returns each layer's input and pre-activation."""

    def __init__(self, hidden: int, layers: int) -> None:
        super().__init__()
        self.linears = nn.ModuleList(nn.Linear(hidden, hidden) for _ in range(layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_saving(x)[0]

    def forward_saving(self, x: torch.Tensor) -> tuple[torch.Tensor, list[torch.Tensor], list[torch.Tensor]]:
        xs, zs = [], []
        for lin in self.linears:
            xs.append(x)
            z = lin(x)
            zs.append(z)
            x = torch.tanh(z)
        return x, xs, zs


def build_stages(num_stages: int, cfg: RunConfig) -> list[Stage]:
    """The whole model, deterministically from ``cfg.seed`` (every rank builds the same one)."""
    torch.manual_seed(cfg.seed)
    return [Stage(cfg.hidden, cfg.layers_per_stage) for _ in range(num_stages)]


def make_data(cfg: RunConfig) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(cfg.seed + 1)
    return torch.randn(cfg.batch, cfg.hidden, generator=g), torch.randn(cfg.batch, cfg.hidden, generator=g)


def reference(num_stages: int, cfg: RunConfig) -> tuple[float, list[list[torch.Tensor]]]:
    """Loss and per-stage parameter gradients of the unsplit model on the whole batch, one process."""
    stages = build_stages(num_stages, cfg)
    x, y = make_data(cfg)
    out = x
    for st in stages:
        out = st(out)
    loss = nn.functional.mse_loss(out, y)
    loss.backward()
    return loss.item(), [[p.grad.clone() for p in st.parameters()] for st in stages]


def _tag(kind: int, stage: int, mb: int, S: int, m: int) -> int:
    return (kind * S + stage) * m + mb  # kind 0: activation sent forward, 1: gradient sent back


def run_step(sched: Schedule, rank: int, stages: dict[int, Stage], x: torch.Tensor, y: torch.Tensor,
             device: torch.device, prepost: bool = True) -> tuple[list[Event], dict[int, float], float]:
    """Run rank ``rank``'s actions once; return its events (seconds), its microbatch losses, step time.

    ``prepost=False`` receives each message with a blocking ``recv`` only when its action comes up.
    """
    S, m, place = sched.num_stages, sched.num_microbatches, sched.placement
    xs_mb, ys_mb = x.chunk(m), y.chunk(m)
    local: dict[tuple[int, int, int], torch.Tensor] = {}  # hand-offs between stages on this rank
    saved: dict[tuple[int, int], Any] = {}
    losses: dict[int, float] = {}
    sends, events = [], []

    # Post every receive of the step up front (irecv into its own buffer) and wait on it when the
    # action needs it: the sender's data can land while this rank computes, instead of a
    # post-recv / send handshake sitting on the critical path of each message.
    posted: dict[tuple[int, int, int], tuple[torch.Tensor, Any]] = {}
    dist.barrier()
    t0 = time.perf_counter()  # the step starts here on every rank, receives posted inside it
    if prepost:
        for a in sched.ranks[rank]:
            s, i = a.stage, a.microbatch
            src = (0, s - 1, i) if a.kind == "F" and s > 0 else (1, s + 1, i) if a.kind in ("B", "BW") and s < S - 1 else None
            if src is not None and place[src[1]] != rank:
                buf = torch.empty_like(xs_mb[i])
                posted[src] = (buf, dist.irecv(buf, src=place[src[1]], tag=_tag(*src, S, m)))

    def receive(kind: int, stage: int, mb: int, like: torch.Tensor) -> torch.Tensor:
        if place[stage] == rank:
            return local.pop((kind, stage, mb))
        if (kind, stage, mb) in posted:
            buf, work = posted.pop((kind, stage, mb))
            work.wait()
            return buf
        buf = torch.empty_like(like)
        dist.recv(buf, src=place[stage], tag=_tag(kind, stage, mb, S, m))
        return buf

    def send(kind: int, stage: int, mb: int, t: torch.Tensor, dst_stage: int) -> None:
        if place[dst_stage] == rank:
            local[(kind, stage, mb)] = t
        else:
            sends.append(dist.isend(t.contiguous(), dst=place[dst_stage], tag=_tag(kind, stage, mb, S, m)))

    for a in sched.ranks[rank]:
        s, i, st = a.stage, a.microbatch, stages[a.stage]
        if a.kind == "F":
            inp = xs_mb[i] if s == 0 else receive(0, s - 1, i, xs_mb[i]).detach().requires_grad_()
            start = time.perf_counter()
            out, ins, zs = st.forward_saving(inp)
            if s == S - 1:
                out = nn.functional.mse_loss(out, ys_mb[i]) / m  # mean over the batch = mean of microbatch means / m
                losses[i] = out.item()
            else:
                send(0, s, i, out.detach(), s + 1)
            saved[(s, i)] = (inp, out, ins, zs)
        elif a.kind == "W":  # the weight-gradient GEMMs, from what B saved
            start = time.perf_counter()
            ins, dzs = saved.pop((s, i))
            with torch.no_grad():
                for lin, xin, dz in zip(st.linears, ins, dzs):
                    gw, gb = dz.t() @ xin, dz.sum(0)
                    lin.weight.grad = gw if lin.weight.grad is None else lin.weight.grad.add_(gw)
                    lin.bias.grad = gb if lin.bias.grad is None else lin.bias.grad.add_(gb)
        else:
            inp, out, ins, zs = saved[(s, i)]
            grad = receive(1, s + 1, i, out) if s < S - 1 else None
            start = time.perf_counter()
            if a.kind == "BW":
                torch.autograd.backward(out, grad)
                del saved[(s, i)]
                if s > 0:
                    send(1, s, i, inp.grad, s - 1)
            else:  # B: input gradient, and the pre-activation gradients that W will need
                wrt = ([inp] if s > 0 else []) + zs
                grads = torch.autograd.grad(out, wrt, grad)
                if s > 0:
                    send(1, s, i, grads[0], s - 1)
                saved[(s, i)] = (ins, grads[-len(zs):])
        end = time.perf_counter()
        events.append(Event(rank, a, start - t0, end - t0))
    for w in sends:
        w.wait()
    step = time.perf_counter() - t0
    return events, losses, step


def _worker(rank: int, world: int, init_method: str, scheds: list[Schedule], cfg: RunConfig, queue: Any) -> None:
    use_cuda = torch.cuda.is_available() and torch.cuda.device_count() >= world
    backend = "nccl" if use_cuda else "gloo"
    device = torch.device(f"cuda:{os.environ.get('LOCAL_RANK', rank)}" if use_cuda else "cpu")
    torch.set_num_threads(1)
    kwargs = {} if init_method == "env://" else {"rank": rank, "world_size": world}
    dist.init_process_group(backend, init_method=init_method, timeout=timedelta(seconds=120), **kwargs)
    try:
        results = [_run_one(s, rank, cfg, device, backend) for s in scheds]
        if rank == 0 and queue is not None:
            queue.put(results)
        elif rank == 0:
            for r in results:
                print(json.dumps(r.to_dict(), indent=2))
    finally:
        dist.destroy_process_group()


def _run_one(sched: Schedule, rank: int, cfg: RunConfig, device: torch.device, backend: str) -> RunResult | None:
    S, m = sched.num_stages, sched.num_microbatches
    all_stages = build_stages(S, cfg)
    stages = {s: all_stages[s].to(device) for s in sched.stages_of(rank)}
    x, y = (t.to(device) for t in make_data(cfg))
    best, events, losses = float("inf"), [], {}
    for _ in range(cfg.repeats):
        for st in stages.values():
            st.zero_grad(set_to_none=True)
        evs, losses, step = run_step(sched, rank, stages, x, y, device, cfg.prepost)
        t = torch.tensor([step], dtype=torch.float64)
        dist.all_reduce(t, op=dist.ReduceOp.MAX)  # the step ends when the slowest rank does
        if t.item() < best:  # keep the timeline of the fastest step
            best, events = t.item(), evs
    grads = {s: [p.grad.detach().cpu() for p in st.parameters()] for s, st in stages.items()}
    gathered: list[Any] = [None] * dist.get_world_size() if rank == 0 else None
    dist.gather_object((events, losses, grads), gathered, dst=0)
    if rank != 0:
        return None
    all_events = [e for g in gathered for e in g[0]]
    loss = sum(v for g in gathered for v in g[1].values())
    ref_loss, ref_grads = reference(S, cfg)
    diff = abs(loss - ref_loss)
    for g in gathered:
        for s, gs in g[2].items():
            for a, b in zip(gs, ref_grads[s]):
                diff = max(diff, (a - b).abs().max().item())
    per_rank = [[e for e in all_events if e.rank == r] for r in range(sched.num_ranks)]
    memory, _ = memory_curves(per_rank, [sched.num_ranks / S] * S)
    return RunResult(sched.name, sched.num_ranks, m, diff <= cfg.tolerance, diff, loss, ref_loss, best, backend,
                     cfg.tolerance, all_events, memory)


def run_spawn(scheds: list[Schedule], cfg: RunConfig | None = None) -> list[RunResult]:
    """Run each schedule (all with the same number of ranks) in one group of spawned processes."""
    cfg = cfg or RunConfig()
    if not scheds:
        raise ValueError("run_spawn needs at least one schedule")
    world = scheds[0].num_ranks
    for s in scheds:
        validate(s)
        if s.num_ranks != world:
            raise ValueError(f"every schedule must use the same number of ranks: got {s.num_ranks} and {world}")
        if cfg.batch % s.num_microbatches:
            raise ValueError(f"batch must be a multiple of the microbatches: got batch={cfg.batch}, m={s.num_microbatches}")
    ctx = mp.get_context("spawn")
    queue = ctx.SimpleQueue()
    mp.start_processes(_worker, args=(world, f"tcp://127.0.0.1:{free_port()}", scheds, cfg, queue),
                       nprocs=world, join=True, start_method="spawn")
    return queue.get()


def main(argv: list[str] | None = None) -> int:
    """Entry point under ``torchrun --nproc-per-node P -m mlsys_kit.pipeline.runtime ...``."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--schedule", required=True, choices=SCHEDULES)
    ap.add_argument("--stages", type=int, required=True)
    ap.add_argument("--microbatches", type=int, required=True)
    ap.add_argument("--chunks", type=int, default=2)
    args = ap.parse_args(argv)
    sched = make_schedule(args.schedule, args.stages, args.microbatches, args.chunks)
    validate(sched)
    world = int(os.environ.get("WORLD_SIZE", "0"))
    if world != sched.num_ranks:
        raise SystemExit(f"run under torchrun with --nproc-per-node {sched.num_ranks}: WORLD_SIZE is {world}")
    _worker(int(os.environ["RANK"]), world, "env://", [sched], RunConfig(batch=4 * args.microbatches), None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
