"""torch's own ZeRO, for comparison with :mod:`mlsys_kit.zero.runtime`: ZeRO-1 as
``ZeroRedundancyOptimizer`` over DDP (DDP all-reduces the gradients, each rank steps Adam on
its share of the parameters, then broadcasts them) and ZeRO-3 as FSDP2 ``fully_shard`` on
every ``nn.Linear`` and the root (per-parameter sharding along dim 0, all-gather before use,
reshard after forward). All need an initialised process group.

``make_*`` return ``(step(x, y), params())`` so that a benchmark can interleave the steps of
several trainers (a load spike then hits all of them alike); ``train_*`` run them over batches
and return the step times (seconds) and the final flat parameters.
"""

from __future__ import annotations

import copy
import time
from typing import Callable

import torch
import torch.distributed as dist
from torch import nn

Trainer = tuple[Callable[[torch.Tensor, torch.Tensor], None], Callable[[], torch.Tensor]]


def _trainer(model: nn.Module, forward: nn.Module, opt: torch.optim.Optimizer,
             params: Callable[[], torch.Tensor]) -> Trainer:
    def step(x: torch.Tensor, y: torch.Tensor) -> None:
        opt.zero_grad(set_to_none=True)
        nn.functional.mse_loss(forward(x), y).backward()
        opt.step()
    return step, params


def make_zero_redundancy(base: nn.Module, lr: float) -> Trainer:
    """DDP + ``ZeroRedundancyOptimizer(Adam)`` on a copy of ``base``."""
    from torch.distributed.optim import ZeroRedundancyOptimizer

    model = copy.deepcopy(base)
    ddp = nn.parallel.DistributedDataParallel(model)
    opt = ZeroRedundancyOptimizer(ddp.parameters(), optimizer_class=torch.optim.Adam, lr=lr)
    return _trainer(model, ddp, opt, lambda: torch.cat([p.detach().reshape(-1) for p in model.parameters()]))


def make_fully_shard(base: nn.Module, lr: float) -> Trainer:
    """FSDP2 ``fully_shard`` (each ``nn.Linear``, then the root) + Adam on a copy of ``base``."""
    from torch.distributed.device_mesh import init_device_mesh
    from torch.distributed.fsdp import fully_shard

    model = copy.deepcopy(base)
    mesh = init_device_mesh(next(model.parameters()).device.type, (dist.get_world_size(),))
    for m in model.modules():
        if isinstance(m, nn.Linear):
            fully_shard(m, mesh=mesh)
    fully_shard(model, mesh=mesh)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    return _trainer(model, model, opt,
                    lambda: torch.cat([p.full_tensor().detach().reshape(-1) for p in model.parameters()]))


def _run(trainer: Trainer, batches: list) -> tuple[list[float], torch.Tensor]:
    step, params = trainer
    times = []
    for x, y in batches:
        t0 = time.perf_counter()
        step(x, y)
        times.append(time.perf_counter() - t0)
    return times, params()


def train_zero_redundancy(base: nn.Module, batches: list, lr: float) -> tuple[list[float], torch.Tensor]:
    return _run(make_zero_redundancy(base, lr), batches)


def train_fully_shard(base: nn.Module, batches: list, lr: float) -> tuple[list[float], torch.Tensor]:
    return _run(make_fully_shard(base, lr), batches)
