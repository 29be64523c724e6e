"""ZeRO stages 0-3 on N simulated ranks in one process (SC'20 sections 5 and 7).

Every rank's model states live in flat fp32 buffers padded to ``N·ceil(Ψ/N)`` elements, so
that rank r owns the contiguous slice ``[r·s, (r+1)·s)`` with ``s = ceil(Ψ/N)`` (the last
rank's slice ends in padding, which stays zero: zero gradient, zero Adam update). One
training step of data parallelism over the ranks' micro-batches:

======  ==========================================================================
stage   per step
======  ==========================================================================
0       local gradient -> all-reduce -> average -> Adam on the whole buffer
1       local gradient -> reduce-scatter -> average -> Adam on the own slice only
        (optimizer states partitioned) -> all-gather the updated parameters
2       as 1, but the full local gradient is freed after the reduce-scatter: a rank
        keeps only its gradient slice (gradients partitioned)
3       a rank keeps only its parameter slice: all-gather before the forward pass,
        free, all-gather again before the backward pass, reduce-scatter the
        gradient, Adam on the slice (parameters partitioned)
======  ==========================================================================

The collectives are the counted ring collectives of :class:`~mlsys_kit.zero.collectives.SimWorld`,
so ``world.sent`` after a step is the traffic the ring algorithm really causes; the tests
check it against :func:`mlsys_kit.zero.model.comm_bytes_per_rank`, the bytes each rank holds
against :func:`mlsys_kit.zero.model.memory_per_device` (``padded=True``, fp32: 4 + 4 bytes
and K = 8), and the parameters after k steps against ``torch.optim.Adam`` on the full batch.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from mlsys_kit.checks import one_of, positive_int, positive_number
from mlsys_kit.common import ceil_div
from mlsys_kit.zero.collectives import SimWorld


def pad_to_multiple(flat: torch.Tensor, n: int) -> torch.Tensor:
    """``flat`` followed by zeros up to the next multiple of ``n`` elements (a new tensor)."""
    positive_int("n", n)
    if flat.dim() != 1:
        raise ValueError(f"pad_to_multiple needs a flat (1-D) tensor: got shape {tuple(flat.shape)}")
    size = ceil_div(flat.numel(), n) * n
    out = flat.new_zeros(size)
    out[: flat.numel()] = flat
    return out


def partition(flat: torch.Tensor, n: int) -> list[torch.Tensor]:
    """The ``n`` equal slices of ``flat`` padded to a multiple of ``n``; slice r is rank r's."""
    return [s.clone() for s in pad_to_multiple(flat, n).chunk(n)]


def adam_update(p: torch.Tensor, g: torch.Tensor, m: torch.Tensor, v: torch.Tensor, step: int,
                lr: float = 1e-3, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
    """One Adam step (Kingma & Ba, the form ``torch.optim.Adam`` uses), in place on any slice."""
    b1, b2 = betas
    m.lerp_(g, 1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    denom = (v.sqrt() / (1 - b2 ** step) ** 0.5).add_(eps)
    p.addcdiv_(m, denom, value=-lr / (1 - b1 ** step))


def flat_params(model: nn.Module) -> torch.Tensor:
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def small_model(sizes: tuple[int, ...] = (8, 16, 4), seed: int = 0) -> nn.Sequential:
    """An MLP (Linear, Tanh, ..., Linear) with the given layer widths, seeded."""
    if len(sizes) < 2:
        raise ValueError(f"sizes needs at least two layer widths (input, output): got {sizes!r}")
    for width in sizes:
        positive_int("layer width", width)
    torch.manual_seed(seed)
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


@dataclass
class RankState:
    """What one rank holds between steps (flat fp32 buffers, full or one slice)."""

    params: torch.Tensor
    grads: torch.Tensor | None
    exp_avg: torch.Tensor
    exp_avg_sq: torch.Tensor

    def held_bytes(self) -> dict[str, int]:
        nb = lambda t: 0 if t is None else t.numel() * t.element_size()  # noqa: E731
        d = {"params_bytes": nb(self.params), "grads_bytes": nb(self.grads),
             "optimizer_bytes": nb(self.exp_avg) + nb(self.exp_avg_sq)}
        d["total_bytes"] = sum(d.values())
        return d


@dataclass
class ZeroSimulation:
    """``model`` trained with Adam on ``n`` simulated ranks under ZeRO ``stage``."""

    model: nn.Module
    n: int
    stage: int
    lr: float = 1e-3
    world: SimWorld = field(init=False)
    ranks: list[RankState] = field(init=False)
    steps: int = field(init=False, default=0)

    def __post_init__(self) -> None:
        positive_int("n (ranks)", self.n)
        one_of("stage", self.stage, (0, 1, 2, 3))
        positive_number("lr", self.lr)
        self.world = SimWorld(self.n)
        flat = flat_params(self.model).float()
        self.psi = flat.numel()
        self.shard = ceil_div(self.psi, self.n)
        full = pad_to_multiple(flat, self.n)
        self.ranks = []
        for r in range(self.n):
            own = full[r * self.shard:(r + 1) * self.shard]
            opt_size = full.numel() if self.stage == 0 else self.shard
            params = own.clone() if self.stage == 3 else full.clone()
            self.ranks.append(RankState(params, None, torch.zeros(opt_size), torch.zeros(opt_size)))

    def _local_grad(self, full_params: torch.Tensor, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Gradient of this rank's mean-squared-error loss, as a padded flat buffer."""
        names, shapes, tensors, i = [], [], {}, 0
        for name, p in self.model.named_parameters():
            w = full_params[i:i + p.numel()].view_as(p).clone().requires_grad_(True)
            tensors[name] = w
            names.append(name)
            i += p.numel()
        loss = nn.functional.mse_loss(torch.func.functional_call(self.model, tensors, (x,)), y)
        grads = torch.autograd.grad(loss, [tensors[n] for n in names])
        return pad_to_multiple(torch.cat([g.reshape(-1) for g in grads]), self.n)

    def step(self, xs: list[torch.Tensor], ys: list[torch.Tensor]) -> None:
        """One data-parallel Adam step; ``xs[r]``, ``ys[r]`` is rank r's micro-batch."""
        if len(xs) != self.n or len(ys) != self.n:
            raise ValueError(f"need one micro-batch per rank: got {len(xs)} inputs for {self.n} ranks")
        w, n, s = self.world, self.n, self.shard
        self.steps += 1
        if self.stage == 3:
            w.all_gather([r.params for r in self.ranks])  # forward pass: gather, use, free
            full = w.all_gather([r.params for r in self.ranks])  # gathered again for backward
        else:
            full = [r.params for r in self.ranks]
        local = [self._local_grad(full[r], xs[r], ys[r]) for r in range(n)]
        del full
        if self.stage == 0:
            for r, g in enumerate(w.all_reduce(local)):
                st = self.ranks[r]
                st.grads = g / n
                adam_update(st.params, st.grads, st.exp_avg, st.exp_avg_sq, self.steps, self.lr)
            return
        reduced = [g / n for g in w.reduce_scatter(local)]
        for r, st in enumerate(self.ranks):
            if self.stage == 1:  # full gradient buffer kept, own slice holds the reduced values
                local[r][r * s:(r + 1) * s] = reduced[r]
                st.grads = local[r]
                g = st.grads[r * s:(r + 1) * s]
            else:
                st.grads = g = reduced[r]
            own = st.params if self.stage == 3 else st.params[r * s:(r + 1) * s]
            adam_update(own, g, st.exp_avg, st.exp_avg_sq, self.steps, self.lr)
        if self.stage in (1, 2):
            gathered = w.all_gather([st.params[r * s:(r + 1) * s] for r, st in enumerate(self.ranks)])
            for st, full_r in zip(self.ranks, gathered):
                st.params = full_r

    def full_params(self, rank: int = 0) -> torch.Tensor:
        """Rank ``rank``'s view of all Ψ parameters (gathered without counting, for checks)."""
        if self.stage == 3:
            return torch.cat([r.params for r in self.ranks])[: self.psi]
        return self.ranks[rank].params[: self.psi].clone()


def split_batch(x: torch.Tensor, y: torch.Tensor, n: int) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """Equal micro-batches per rank (the global batch must be a multiple of ``n``)."""
    if x.shape[0] % n:
        raise ValueError(f"global batch of {x.shape[0]} is not a multiple of {n} ranks")
    return list(x.chunk(n)), list(y.chunk(n))


def reference_adam(model: nn.Module, batches: list[tuple[torch.Tensor, torch.Tensor]], lr: float = 1e-3) -> torch.Tensor:
    """Plain single-process ``torch.optim.Adam`` on the full batches; the final flat params."""
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for x, y in batches:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return flat_params(model)


def simulate(stage: int, n: int, steps: int = 3, sizes: tuple[int, ...] = (8, 16, 4),
             per_rank_batch: int = 4, lr: float = 1e-3, seed: int = 0) -> dict:
    """Train under ZeRO ``stage`` on ``n`` simulated ranks and compare with plain Adam.

    Returns the largest parameter difference, the bytes each rank holds and sends, Ψ and N.
    """
    import copy

    positive_int("steps", steps)
    positive_int("per_rank_batch", per_rank_batch)
    model = small_model(sizes, seed)
    ref_model = copy.deepcopy(model)
    gen = torch.Generator().manual_seed(seed + 1)
    batches = [(torch.randn(n * per_rank_batch, sizes[0], generator=gen),
                torch.randn(n * per_rank_batch, sizes[-1], generator=gen)) for _ in range(steps)]
    sim = ZeroSimulation(model, n, stage, lr)
    for x, y in batches:
        sim.step(*split_batch(x, y, n))
    ref = reference_adam(ref_model, batches, lr)
    return {"stage": stage, "ranks": n, "params": sim.psi, "steps": steps,
            "max_abs_diff": float((sim.full_params() - ref).abs().max()),
            "held_bytes": [r.held_bytes() for r in sim.ranks],
            "sent_bytes": list(sim.world.sent), "received_bytes": list(sim.world.received)}
