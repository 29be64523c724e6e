"""A small model trained for real under any layout (t, d, ZeRO stage), saving and loading the
sharded state that layout prescribes: the runtime under universal checkpoints and recovery.

The model is Megatron-LM's MLP block (Shoeybi et al. 2019, section 3): ``y = GeLU(x W1^T + b1)
W2^T + b2`` with W1/b1 split by rows over the t tensor ranks (column parallel), W2 split by
columns (row parallel) and b2 replicated; the partial outputs are summed by an all-reduce over
the tensor group (the *g* operator: all-reduce forward, identity backward). Over the d data
ranks, gradients are averaged by an all-reduce and Adam (the formula of ``torch.optim.Adam``,
written out elementwise) updates each rank's ZeRO slice, which an all-gather returns to every
data rank (ZeRO, SC'20 section 5; stage 0 updates the whole buffer on every rank). Each rank's
flat buffers are laid out exactly as :mod:`mlsys_kit.fault.reshard_math` says, so a checkpoint
is that module's shard: ``param`` whole or a slice, ``exp_avg``/``exp_avg_sq`` whole or a slice,
plus the step count. For compute every rank holds its tensor chunk whole (ZeRO-3 gathers it
each step; storage savings are not the point here, the layout of what is saved is).

One worker runs one process group; ``work(cfg)`` runs a list of jobs in it (so a test pays for
one spawn), each: start from the seeded initial state or a checkpoint directory, train steps
``[start, stop)``, save after the listed steps (a folder may name ``{rank}`` and ``{peer}``, the
ring peer ``rank+1 mod N``), optionally kill one rank (SIGKILL) after it computed step ``kill_at``
and before it saved it.
"""

from __future__ import annotations

import os
import signal
from pathlib import Path
from typing import Any

import torch
import torch.distributed as dist

from mlsys_kit.fault.reshard_math import (STATES, Layout, ParamSpec, buffer_numel, from_universal, shard_numel,
                                          to_universal)
from mlsys_kit.launch import run_ranks

HIDDEN, FFN, BATCH = 16, 64, 8
LR, BETAS, EPS = 1e-2, (0.9, 0.999), 1e-8


def specs(hidden: int = HIDDEN, ffn: int = FFN) -> list[ParamSpec]:
    """The MLP's parameters as reshard_math sees them (tensor-parallel dimension of each)."""
    return [ParamSpec("w1", (ffn, hidden), 0), ParamSpec("b1", (ffn,), 0),
            ParamSpec("w2", (hidden, ffn), 1), ParamSpec("b2", (hidden,), None)]


def initial_universal(seed: int = 0) -> dict[str, dict[str, list[float]]]:
    """The seeded initial state, per parameter (Adam's moments at zero)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for s in specs():
        p = torch.randn(s.shape, generator=g) * (0.3 if s.name.startswith("w") else 0.1)
        out[s.name] = {"param": p.reshape(-1).tolist(), "exp_avg": [0.0] * s.numel, "exp_avg_sq": [0.0] * s.numel}
    return out


def batch(step: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Step ``step``'s global batch (the same under every layout)."""
    g = torch.Generator().manual_seed(seed * 100_003 + step)
    x = torch.randn(BATCH, HIDDEN, generator=g)
    return x, torch.sin(x.flip(1) * 1.5)


class _SumOverTensorRanks(torch.autograd.Function):
    """Megatron's g: all-reduce the partial outputs forward, pass the gradient through backward."""

    @staticmethod
    def forward(ctx: Any, x: torch.Tensor, group: Any) -> torch.Tensor:
        x = x.clone()
        dist.all_reduce(x, group=group)
        return x

    @staticmethod
    def backward(ctx: Any, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return grad, None


class Rank:
    """One rank's state under a layout: flat buffers as reshard_math lays them out."""

    def __init__(self, layout: Layout, shard: dict[str, Any]) -> None:
        self.layout, self.specs = layout, specs()
        world, rank = dist.get_world_size(), dist.get_rank()
        if world != layout.world:
            raise ValueError(f"layout {layout} needs {layout.world} ranks, the group has {world}")
        self.tp, self.dp = layout.coords(rank)
        t, d = layout.t, layout.d
        self.tp_group = self.dp_group = None
        for dp in range(d):  # every rank creates every group, in the same order
            g = dist.new_group([dp * t + tp for tp in range(t)])
            self.tp_group = g if dp == self.dp else self.tp_group
        for tp in range(t):
            g = dist.new_group([dp * t + tp for dp in range(d)])
            self.dp_group = g if tp == self.tp else self.dp_group
        self.size = shard_numel(self.specs, layout)
        self.state = {s: torch.tensor(shard[s], dtype=torch.float32) for s in STATES}
        self.step = int(shard["step"])
        self.full = self._gather(self.state["param"]) if layout.partitioned("param") else self.state["param"].clone()

    def _gather(self, part: torch.Tensor) -> torch.Tensor:
        parts = [torch.empty(self.size) for _ in range(self.layout.d)]
        dist.all_gather(parts, part.contiguous(), group=self.dp_group)
        return torch.cat(parts)

    def train_step(self, seed: int = 0) -> float:
        """One step on this rank's rows of the global batch; returns the global loss."""
        t, d = self.layout.t, self.layout.d
        views, off = {}, 0
        for s in self.specs:
            n = s.local_numel(t)
            shape = tuple(dim // t if i == s.tp_dim else dim for i, dim in enumerate(s.shape))
            views[s.name] = self.full[off:off + n].view(shape).clone().requires_grad_()
            off += n
        x, y = batch(self.step, seed)
        rows = slice(self.dp * BATCH // d, (self.dp + 1) * BATCH // d)
        h = torch.nn.functional.gelu(x[rows] @ views["w1"].T + views["b1"])
        partial = h @ views["w2"].T
        out = (_SumOverTensorRanks.apply(partial, self.tp_group) if t > 1 else partial) + views["b2"]
        loss = torch.nn.functional.mse_loss(out, y[rows])
        loss.backward()
        grad = torch.zeros_like(self.full)
        grad[:off] = torch.cat([views[s.name].grad.reshape(-1) for s in self.specs])
        if d > 1:
            dist.all_reduce(grad, group=self.dp_group)
            grad /= d
        self.step += 1
        self._adam(grad)
        total = loss.detach().clone()
        if d > 1:
            dist.all_reduce(total, group=self.dp_group)
        return float(total) / d

    def _adam(self, grad: torch.Tensor) -> None:
        lo, hi = (self.dp * self.size, (self.dp + 1) * self.size) if self.layout.zero >= 1 else (0, self.full.numel())
        m, v = self.state["exp_avg"], self.state["exp_avg_sq"]
        g, p = grad[lo:hi], self.full[lo:hi].clone()
        m.mul_(BETAS[0]).add_(g, alpha=1 - BETAS[0])
        v.mul_(BETAS[1]).addcmul_(g, g, value=1 - BETAS[1])
        denom = (v.sqrt() / (1 - BETAS[1] ** self.step) ** 0.5).add_(EPS)
        p.addcdiv_(m, denom, value=-LR / (1 - BETAS[0] ** self.step))
        if self.layout.zero >= 1:
            self.full = self._gather(p) if self.layout.d > 1 else p
        else:
            self.full = p
        self.state["param"] = self.full[lo:hi].clone() if self.layout.partitioned("param") else self.full.clone()

    def shard(self) -> dict[str, Any]:
        return {**{s: self.state[s].clone() for s in STATES}, "step": self.step}


def shard_bytes(layout: Layout) -> int:
    """Bytes one rank's checkpoint holds (fp32 states; the step count not counted)."""
    return sum(buffer_numel(specs(), layout, s) * 4 for s in STATES)


def save(shard: dict[str, Any], path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".part")
    torch.save(shard, tmp)
    os.replace(tmp, path)  # a reader never sees half a checkpoint


def load_universal(universal: dict, layout: Layout, rank: int, step: int) -> dict[str, Any]:
    """This rank's shard of ``layout`` cut out of a universal (per-parameter) state."""
    shard = from_universal(universal, specs(), layout)[rank]
    return {**shard, "step": step}


def work(cfg: dict) -> list[dict[str, Any]]:
    """Run ``cfg['jobs']`` in this process group (see the module docstring); per job the losses."""
    rank = dist.get_rank()
    results = []
    for job in cfg["jobs"]:
        layout = Layout(*job["layout"])
        if job.get("from_shards"):  # same layout: this rank's own file
            shard = torch.load(Path(job["from_shards"]) / f"rank{rank}.pt")
            shard = {**{s: shard[s].tolist() for s in STATES}, "step": shard["step"]}
        elif job.get("from_universal"):
            uni = torch.load(job["from_universal"])
            shard = load_universal(uni["state"], layout, rank, uni["step"])
        else:
            shard = load_universal(initial_universal(cfg.get("seed", 0)), layout, rank, 0)
        r = Rank(layout, shard)
        losses = []
        while r.step < job["stop"]:
            losses.append(r.train_step(cfg.get("seed", 0)))
            if job.get("kill_rank") == rank and r.step == job.get("kill_at"):
                os.kill(os.getpid(), signal.SIGKILL)  # this machine fails, for real, before it saves
            for where in job.get("save", {}).get(str(r.step), []):
                folder = where.replace("{rank}", str(rank)).replace("{peer}", str((rank + 1) % layout.world))
                save(r.shard(), Path(folder) / f"rank{rank}.pt")
            dist.barrier()  # every rank's checkpoint of this step is complete before the next
        results.append({"losses": losses, "step": r.step})
    return results


def spawn(cfg: dict, world: int) -> list[dict[str, Any]]:
    """Run ``cfg['jobs']`` (:func:`work`) on ``world`` fresh gloo processes; the per-job results."""
    return run_ranks(work, cfg, world)


def read_universal(folder: Path, layout: Layout) -> dict[str, dict[str, list[float]]]:
    """The per-parameter form of the shards a layout saved in ``folder`` (UCP section 3.2)."""
    shards = []
    for r in range(layout.world):
        sh = torch.load(Path(folder) / f"rank{r}.pt")
        shards.append({s: sh[s].tolist() for s in STATES})
    return to_universal(shards, specs(), layout)
