"""Real gradient communication scheduling on torch.distributed (gloo on CPU, NCCL on GPU): a small
model trained data-parallel on 2-4 processes, its gradient all-reduces issued asynchronously
(``dist.all_reduce(..., async_op=True)``) from backward hooks in each policy's order and size, as
ByteScheduler does for real frameworks (Peng et al., SOSP'19, sections 3-4):

* ``fifo``: one all-reduce per layer as soon as its gradients are accumulated;
* ``bucket``: layers gathered in reverse order into buckets of ``bucket_bytes`` (DDP's rule);
* ``bytescheduler``: each layer's gradient cut into ``partition``-byte chunks, a priority queue
  (lower layer first) and at most ``credit`` bytes in flight; the queue is pumped from the hooks,
  after backward and while the next forward waits for a layer.

The next forward runs layer by layer: layer ``i`` waits for its own all-reduce only, takes its
SGD step, then computes, so communication of later layers overlaps it (the timeline of
:mod:`mlsys_kit.feed.comm`). Every rank divides its gradient by the world size before the sum,
as DDP does; the averaged gradients are compared with ``DistributedDataParallel``'s on the same
data at every step (bitwise on 2 ranks, where a+b is one rounding whatever the chunking; on more
ranks gloo's ring sums in an order that depends on the chunk, so within a tight tolerance).
"""

from __future__ import annotations

import copy
import heapq
import statistics
import time
from typing import Any

import torch
import torch.distributed as dist
from torch import nn

from mlsys_kit.checks import one_of, positive_int
from mlsys_kit.feed.comm import POLICIES, Layer, Network, iteration_time
from mlsys_kit.launch import run_ranks

SIZES = (256, 512, 512, 512, 1024, 1024)  # a Linear+ReLU layer between each pair


class Mlp(nn.Module):
    """Linear layers with ReLU between them: ``layers[i]`` is layer ``i`` of the timeline."""

    def __init__(self, sizes: tuple[int, ...] = SIZES, seed: int = 0) -> None:
        super().__init__()
        torch.manual_seed(seed)
        self.layers = nn.ModuleList(nn.Linear(a, b) for a, b in zip(sizes, sizes[1:]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for i, layer in enumerate(self.layers):
            x = layer(x)
            x = torch.relu(x) if i < len(self.layers) - 1 else x
        return x


class Scheduler:
    """Issues one rank's gradient all-reduces for ``policy`` from backward hooks; ``wait(i)``
    blocks until layer ``i``'s averaged gradient is in its parameters' ``.grad``."""

    def __init__(self, layers: nn.ModuleList, policy: str, partition: int, credit: int, bucket_bytes: int) -> None:
        self.layers, self.policy = layers, policy
        self.partition, self.credit, self.bucket_bytes = partition, credit, bucket_bytes
        self.world = dist.get_world_size()
        for i, layer in enumerate(layers):
            for p in layer.parameters():
                p.register_post_accumulate_grad_hook(lambda p, i=i: self._grad_ready(i))

    def reset(self) -> None:
        n = len(self.layers)
        self.count, self.flat = [0] * n, [None] * n
        self.works: list[list] = [[] for _ in range(n)]  # per layer: the works carrying it
        self.bucket: list[int] = []
        self.queue: list[tuple[int, int, int]] = []  # (layer, start, end) in elements
        self.in_flight: list[tuple[Any, int]] = []  # (work, bytes) in issue order
        self.issued = [0] * n  # chunks issued per layer
        self.chunks = [0] * n

    def _grad_ready(self, i: int) -> None:
        params = list(self.layers[i].parameters())
        self.count[i] += 1
        if self.count[i] < len(params):
            return
        self.flat[i] = torch.cat([p.grad.reshape(-1) for p in params]).div_(self.world)  # as DDP: divide, then sum
        if self.policy == "fifo":
            self.works[i].append(dist.all_reduce(self.flat[i], async_op=True))
        elif self.policy == "bucket":
            self.bucket.append(i)
            if sum(self.flat[j].numel() * 4 for j in self.bucket) >= self.bucket_bytes:
                self._issue_bucket()
        else:
            step = max(1, self.partition // self.flat[i].element_size())
            n = self.flat[i].numel()
            self.chunks[i] = -(-n // step)
            for s in range(0, n, step):
                heapq.heappush(self.queue, (i, s, min(n, s + step)))
            self._pump(block=True, layer=i)  # backward waits while this layer's chunks wait for credit
            self._pump(block=False)

    def _issue_bucket(self) -> None:
        if self.bucket:
            buf = torch.cat([self.flat[j] for j in self.bucket])
            work, offset = dist.all_reduce(buf, async_op=True), 0
            for j in self.bucket:  # layer j's averaged gradient will be this slice of the bucket
                self.works[j].append(work)
                self.flat[j], offset = buf[offset:offset + self.flat[j].numel()], offset + self.flat[j].numel()
            self.bucket = []

    def _pump(self, block: bool, layer: int | None = None) -> None:
        """ByteScheduler: issue the most urgent chunks while the bytes issued and not yet waited
        for stay within the credit; with ``block``, wait for the oldest chunk to make room, until
        every chunk of ``layer`` (the most urgent one: it leads the queue) is issued.
        Every rank must issue the same collectives in the same order (gloo matches them by
        order), so a chunk is retired only by waiting for it at the same point on every rank,
        never because it happens to be done here (``is_completed`` differs between ranks)."""
        flying = sum(b for _, b in self.in_flight)
        while self.queue and (layer is None or self.issued[layer] < self.chunks[layer]):
            i, s, e = self.queue[0]
            nbytes = (e - s) * self.flat[i].element_size()
            if self.in_flight and flying + nbytes > self.credit:
                if not block:
                    return
                work, b = self.in_flight.pop(0)
                work.wait()
                flying -= b
                continue
            heapq.heappop(self.queue)
            work = dist.all_reduce(self.flat[i][s:e], async_op=True)
            self.works[i].append(work)
            self.in_flight.append((work, nbytes))
            self.issued[i] += 1
            flying += nbytes

    def after_backward(self) -> None:
        if self.policy == "bucket":
            self._issue_bucket()
        elif self.policy == "bytescheduler":
            self._pump(block=False)

    def wait(self, i: int) -> None:
        if self.policy == "bytescheduler":  # lower layers are done: layer i's chunks lead the queue
            self._pump(block=True, layer=i)
        for work in self.works[i]:
            work.wait()
        offset = 0
        for p in self.layers[i].parameters():
            p.grad.copy_(self.flat[i][offset:offset + p.numel()].view_as(p))
            offset += p.numel()
        if self.policy == "bytescheduler":  # keep the link busy while layer i computes
            self._pump(block=False)


def _batches(cfg: dict) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """This rank's rows of the same global batches on every rank (one more than the steps: the
    last forward of the timed loop needs an input)."""
    world, rank, b, sizes = dist.get_world_size(), dist.get_rank(), cfg["per_rank_batch"], cfg["sizes"]
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    out = []
    for _ in range(cfg["steps"] + 1):
        x, y = torch.randn(world * b, sizes[0], generator=gen), torch.randn(world * b, sizes[-1], generator=gen)
        out.append((x[rank * b:(rank + 1) * b], y[rank * b:(rank + 1) * b]))
    return out


def _ddp_grads(base: Mlp, batches: list, lr: float) -> list[list[torch.Tensor]]:
    """Gradients DDP averages at every step (SGD between steps), as the reference."""
    model = copy.deepcopy(base)
    ddp = nn.parallel.DistributedDataParallel(model)
    out = []
    for x, y in batches[:-1]:
        model.zero_grad(set_to_none=True)
        nn.functional.mse_loss(ddp(x), y).backward()
        out.append([p.grad.clone() for p in model.parameters()])
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return out


def _run_policy(base: Mlp, batches: list, cfg: dict, policy: str) -> tuple[list, list[float]]:
    """The timed loop: backward (hooks issue the all-reduces), then the next forward layer by
    layer, each layer waiting for its own gradient and taking its SGD step first."""
    model = copy.deepcopy(base)
    layers = model.layers
    sched = Scheduler(layers, policy, cfg["partition"], cfg["credit"], cfg["bucket_bytes"])
    grads, times = [], []
    x, y = batches[0]
    loss = nn.functional.mse_loss(model(x), y)
    for step in range(cfg["steps"]):
        layers.zero_grad(set_to_none=True)
        sched.reset()
        dist.barrier()
        t0 = time.perf_counter()
        loss.backward()
        sched.after_backward()
        h = batches[step + 1][0]
        for i, layer in enumerate(layers):
            sched.wait(i)
            with torch.no_grad():
                for p in layer.parameters():
                    p -= cfg["lr"] * p.grad
            h = layer(h)
            h = torch.relu(h) if i < len(layers) - 1 else h
        times.append(time.perf_counter() - t0)
        grads.append([p.grad.clone() for p in layers.parameters()])
        loss = nn.functional.mse_loss(h, batches[step + 1][1])
    return grads, times


def _calibrate(cfg: dict, layers: nn.ModuleList, x: torch.Tensor) -> tuple[list[Layer], Network]:
    """The simulator's inputs measured here: per-layer forward time (backward taken as twice it),
    all-reduce latency (4 bytes) and bandwidth (the largest gradient) on this process group."""
    reps, fwd, h = 5, [], x
    with torch.no_grad():
        for i, layer in enumerate(layers):
            t0 = time.perf_counter()
            for _ in range(reps):
                out = layer(h)
            fwd.append(_max((time.perf_counter() - t0) / reps))
            h = torch.relu(out) if i < len(layers) - 1 else out

    def allreduce_s(n: int) -> float:
        buf = torch.zeros(n)
        dist.all_reduce(buf)
        t0 = time.perf_counter()
        for _ in range(reps):
            dist.all_reduce(buf)
        return _max((time.perf_counter() - t0) / reps)

    numels = [sum(p.numel() for p in layer.parameters()) for layer in layers]
    small, big = allreduce_s(1), allreduce_s(max(numels))
    world = dist.get_world_size()
    bandwidth = 2 * (world - 1) / world * 4 * max(numels) / max(big - small, 1e-9)
    return ([Layer(f, 2 * f, 4 * n) for f, n in zip(fwd, numels)], Network(bandwidth, small, max(2, world)))


def _max(value: float) -> float:
    t = torch.tensor([value], dtype=torch.float64)
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return float(t.item())


def compare_policies(cfg: dict) -> dict[str, Any]:
    """On an initialised process group: DDP's gradients, then each policy's run; the result
    (identical on every rank): matches_ddp, bitwise, measured and simulated iteration times."""
    base = Mlp(tuple(cfg["sizes"]), cfg["seed"])
    batches = _batches(cfg)
    ref = _ddp_grads(base, batches, cfg["lr"])
    out: dict[str, Any] = {"ranks": dist.get_world_size(), "backend": dist.get_backend(), "steps": cfg["steps"],
                           "sizes": list(cfg["sizes"]), "per_rank_batch": cfg["per_rank_batch"],
                           "partition": cfg["partition"], "credit": cfg["credit"], "bucket_bytes": cfg["bucket_bytes"],
                           "policies": {}}
    skip = 1 if cfg["steps"] > 1 else 0
    for policy in cfg["policies"]:
        grads, times = _run_policy(base, batches, cfg, policy)
        diff = max(float((a - b).abs().max()) for g, r in zip(grads, ref) for a, b in zip(g, r))
        bitwise = all(torch.equal(a, b) for g, r in zip(grads, ref) for a, b in zip(g, r))
        out["policies"][policy] = {"max_abs_diff": _max(diff), "bitwise": bool(_max(float(not bitwise)) == 0.0),
                                   "iteration_time_s": _max(statistics.median(times[skip:]))}
    layers, net = _calibrate(cfg, base.layers, batches[0][0])
    params = {"fifo": {}, "bucket": {"bucket_bytes": cfg["bucket_bytes"]},
              "bytescheduler": {"partition": cfg["partition"], "credit": cfg["credit"]}}
    for policy in cfg["policies"]:
        out["policies"][policy]["simulated_s"] = iteration_time(layers, net, policy, **params[policy]).iteration_time
    out["network"] = {"bandwidth_bytes_s": net.bandwidth, "latency_s": net.latency}
    out["matches_ddp"] = all(r["max_abs_diff"] <= cfg["atol"] for r in out["policies"].values())
    out["bitwise"] = all(r["bitwise"] for r in out["policies"].values())
    measured = sorted(out["policies"], key=lambda p: out["policies"][p]["iteration_time_s"])
    simulated = sorted(out["policies"], key=lambda p: out["policies"][p]["simulated_s"])
    out.update(measured_order=measured, simulated_order=simulated, same_order=measured == simulated)
    return out


def run_real(ranks: int = 2, steps: int = 6, policies: tuple[str, ...] = POLICIES, sizes: tuple[int, ...] = SIZES,
             per_rank_batch: int = 64, partition: int = 256 * 1024, credit: int = 1024 * 1024,
             bucket_bytes: int = 2 * 1024 * 1024, lr: float = 0.01, seed: int = 0, atol: float = 1e-6) -> dict[str, Any]:
    """Spawn ``ranks`` gloo processes on this machine and run every policy against DDP:
    ``matches_ddp``, ``bitwise``, per policy the median measured iteration (backward + next
    forward) and the simulator's prediction from measured layer and network times."""
    if not 2 <= positive_int("ranks", ranks) <= 4:
        raise ValueError(f"ranks must be 2, 3 or 4 (processes on this machine): got {ranks}")
    positive_int("steps", steps)
    for p in policies:
        one_of("policy", p, POLICIES)
    for name, v in (("partition", partition), ("credit", credit), ("bucket_bytes", bucket_bytes),
                    ("per_rank_batch", per_rank_batch)):
        positive_int(name, v)
    if credit < partition:
        raise ValueError(f"credit must be at least one partition ({partition} bytes): got {credit}")
    if len(sizes) < 2 or any(positive_int("sizes", s) < 1 for s in sizes):
        raise ValueError(f"sizes must list at least two layer widths: got {sizes!r}")
    cfg = {"steps": steps, "policies": list(policies), "sizes": list(sizes), "per_rank_batch": per_rank_batch,
           "partition": partition, "credit": credit, "bucket_bytes": bucket_bytes, "lr": lr, "seed": seed, "atol": atol}
    return run_ranks(compare_policies, cfg, ranks)
