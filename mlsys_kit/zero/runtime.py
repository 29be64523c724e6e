"""Real ZeRO-1/2/3 data parallelism on torch.distributed (SC'20 sections 5.1-5.3 and 7.2).

One process per rank (gloo on CPU, NCCL when CUDA is there). The model's parameters are cut into
*units* (ZeRO-3: each module that owns parameters, e.g. each ``nn.Linear``; ZeRO-1/2:
buckets of consecutive modules); each unit's parameters live in one flat buffer padded to a
multiple of N, and rank r owns slice r of it. Adam
(``torch.optim.Adam``) only ever sees the N slices' own parts, so its states are partitioned
in every stage. Per step:

* **ZeRO-1** (P_os): full gradients as usual; after the backward pass each unit's gradient
  buffer is reduce-scattered (averaged), Adam updates the own slice, and the slices are
  all-gathered back into every rank's full parameter buffer.
* **ZeRO-2** (P_os+g): as ZeRO-1, but a unit's gradient is reduce-scattered as soon as the
  backward pass has produced it (post-accumulate-grad hooks) and the full gradient is freed
  at once: a rank keeps only its gradient slices.
* **ZeRO-3** (P_os+g+p): a rank keeps only its parameter slices. A forward pre-hook
  all-gathers a unit's parameters just in time and a forward hook frees them (the storage is
  resized to 0, so tensors autograd saved keep pointing at it); a hook on the unit's output
  gradient gathers them again just before the unit's backward, and once its gradients are in
  they are reduce-scattered and the parameters freed again. Volume 3Ψ instead of 2Ψ.

``torch.distributed`` in torch 2.13 has ``reduce_scatter_single``/``all_gather_single`` (the
new names of ``reduce_scatter_tensor``/``all_gather_into_tensor``) and gloo implements both
on CPU, so no fallback is needed for correctness. Gloo's reduce-scatter is however slower
than its all-reduce of the same buffer (measured: benchmarks/zero_runtime.py), so
``reduce_op="all_reduce"`` offers the all-reduce-and-keep-the-slice variant: identical
numbers and memory, 3Ψ instead of 2Ψ on the wire. The launcher, the DDP comparison and
the ``torchrun`` entry point are in :mod:`mlsys_kit.zero.launch`.
"""

from __future__ import annotations

import torch
import torch.distributed as dist
from torch import nn

from mlsys_kit.checks import one_of, positive_int, positive_number
from mlsys_kit.common import ceil_div
from mlsys_kit.zero.model import memory_per_device


class _Unit:
    """A group of parameters as one padded flat buffer, with this rank's slice."""

    def __init__(self, params: list[nn.Parameter], world: int, rank: int, stage: int,
                 module: nn.Module | None = None, reduce_op: str = "reduce_scatter") -> None:
        self.module, self.world, self.rank, self.stage, self.reduce_op = module, world, rank, stage, reduce_op
        self.params = params
        self.numel = sum(p.numel() for p in self.params)
        self.shard_numel = ceil_div(self.numel, world)
        self.own = slice(rank * self.shard_numel, (rank + 1) * self.shard_numel)
        p0 = self.params[0]
        self.full = torch.zeros(self.shard_numel * world, dtype=p0.dtype, device=p0.device)
        self.full[: self.numel] = torch.cat([p.detach().reshape(-1) for p in self.params])
        self.params_views(self.full, "data")
        # Stages 1-2 update a view of the full buffer in place; stage 3 keeps a separate slice
        # and frees the full buffer between uses.
        self.shard = self.full[self.own].clone() if stage == 3 else self.full[self.own]
        # Gradients land in a flat padded buffer too: p.grad are views into it (as DDP's
        # gradient_as_bucket_view), so the collective needs no copy. ZeRO-2/3 free it after
        # the reduction; ZeRO-1 keeps it (gradients are not partitioned).
        self.grad_full = torch.zeros_like(self.full)
        self.pending = 0
        self.free_grads()
        if stage == 3:
            self.free()

    def params_views(self, flat: torch.Tensor, attr: str) -> None:
        """Point every parameter's ``data`` (or ``grad``) at its part of ``flat``."""
        off = 0
        for p in self.params:
            setattr(p, attr, flat[off:off + p.numel()].view_as(p))
            off += p.numel()

    def gather(self) -> None:
        """All-gather the slices into the full buffer (ZeRO-3: re-allocate it first)."""
        storage = self.full.untyped_storage()
        if storage.nbytes() == 0:
            storage.resize_(self.full.numel() * self.full.element_size())
        src = self.shard.clone() if self.stage != 3 else self.shard  # input must not alias output
        dist.all_gather_single(self.full, src)

    def free(self) -> None:
        self.full.untyped_storage().resize_(0)

    def prepare_grads(self, bind: bool = True) -> None:
        """(Re-)allocate the zeroed flat gradient buffer; with ``bind``, point ``p.grad`` into it."""
        storage = self.grad_full.untyped_storage()
        if storage.nbytes() == 0:
            storage.resize_(self.grad_full.numel() * self.grad_full.element_size())
        self.grad_full.zero_()
        if bind:
            self.params_views(self.grad_full, "grad")

    def free_grads(self) -> None:
        for p in self.params:
            p.grad = None
        self.grad_full.untyped_storage().resize_(0)

    def reduce_grads(self) -> None:
        """Reduce this unit's gradients across ranks, average, keep the own slice."""
        if self.grad_full.untyped_storage().nbytes() == 0:
            self.prepare_grads(bind=False)  # ZeRO-3, or no zero_grad: autograd made its own tensors
        flat, off = self.grad_full, 0
        for p in self.params:  # copy gradients that autograd did not accumulate into the view
            view = flat[off:off + p.numel()]
            if p.grad is not None and p.grad.data_ptr() != view.data_ptr():
                view.copy_(p.grad.reshape(-1))
            off += p.numel()
        if self.reduce_op == "all_reduce":  # same numbers, 2Ψ instead of Ψ on the wire
            dist.all_reduce(flat)
            part = flat[self.own]
        else:
            part = torch.empty_like(self.shard)
            dist.reduce_scatter_single(part, flat)
            if self.stage == 1:
                flat[self.own] = part
                part = flat[self.own]
        part.div_(self.world)
        if self.stage >= 2:  # gradients partitioned: keep the slice, free the full buffer
            part = part.clone()
            self.free_grads()
        self.shard.grad = part if self.shard.grad is None else self.shard.grad + part


class ZeroDataParallel:
    """Wrap ``model`` (already identical on every rank) for ZeRO ``stage`` 1, 2 or 3 with Adam.

    Use: ``loss = zdp.model(x)...; loss.backward(); zdp.step()``. ZeRO-3 makes one unit per
    module that owns parameters (gathered just in time); ZeRO-1/2 pack consecutive modules'
    parameters into buckets of up to ``bucket_numel`` elements, one collective per bucket
    (DeepSpeed's ``reduce_bucket_size``; torch DDP's ``bucket_cap_mb``).
    """

    def __init__(self, model: nn.Module, stage: int, lr: float = 1e-3, bucket_numel: int = 2 ** 22,
                 reduce_op: str = "reduce_scatter") -> None:
        if not dist.is_initialized():
            raise ValueError("ZeroDataParallel needs torch.distributed initialised (init_process_group)")
        one_of("stage", stage, (1, 2, 3))
        positive_number("lr", lr)
        positive_int("bucket_numel", bucket_numel)
        one_of("reduce_op", reduce_op, ("reduce_scatter", "all_reduce"))
        self.model, self.stage = model, stage
        world, rank = dist.get_world_size(), dist.get_rank()
        owners = [m for m in model.modules() if next(m.parameters(recurse=False), None) is not None]
        if stage == 3:
            self.units = [_Unit(list(m.parameters(recurse=False)), world, rank, stage, m, reduce_op) for m in owners]
        else:
            buckets: list[list[nn.Parameter]] = [[]]
            for m in owners:
                ps = list(m.parameters(recurse=False))
                if buckets[-1] and sum(p.numel() for p in buckets[-1] + ps) > bucket_numel:
                    buckets.append([])
                buckets[-1] += ps
            self.units = [_Unit(b, world, rank, stage, None, reduce_op) for b in buckets]
        self.optimizer = torch.optim.Adam([u.shard for u in self.units], lr=lr)
        self.peak_gathered_bytes = 0
        for u in self.units:
            if stage >= 2:
                for p in u.params:
                    p.register_post_accumulate_grad_hook(lambda p, u=u: self._grad_ready(u))
            if stage == 3:
                u.module.register_forward_pre_hook(lambda m, a, u=u: self._gather(u))
                u.module.register_forward_hook(lambda m, a, out, u=u: self._after_forward(u, out))

    def _gathered_now(self) -> int:
        return sum(u.full.untyped_storage().nbytes() for u in self.units)

    def _gather(self, u: _Unit) -> None:
        u.gather()
        self.peak_gathered_bytes = max(self.peak_gathered_bytes, self._gathered_now())

    def _after_forward(self, u: _Unit, out: torch.Tensor) -> torch.Tensor:
        u.free()
        if torch.is_grad_enabled() and isinstance(out, torch.Tensor) and out.requires_grad:
            out.register_hook(lambda g, u=u: (self._gather(u), g)[1])  # just before the unit's backward
        return out

    def _grad_ready(self, u: _Unit) -> None:
        u.pending += 1
        if u.pending == len(u.params):  # every parameter of the unit has its gradient
            u.pending = 0
            u.reduce_grads()
            if self.stage == 3:
                u.free()

    def step(self) -> None:
        """After ``backward()``: reduce (ZeRO-1), sharded Adam, all-gather (ZeRO-1/2)."""
        for u in self.units:
            # ZeRO-1 reduces here; ZeRO-2/3 did in the backward hooks, except for a unit that
            # has a parameter without a gradient (unused in this step): reduce what there is.
            if self.stage == 1 or u.pending:
                u.pending = 0
                u.reduce_grads()
                if self.stage == 3:
                    u.free()
        self.optimizer.step()
        if self.stage in (1, 2):
            for u in self.units:
                u.gather()

    def zero_grad(self) -> None:
        """Drop the gradient slices; ZeRO-1/2 get a zeroed flat gradient buffer per unit."""
        for u in self.units:
            u.shard.grad = None
            if self.stage == 3:
                u.free_grads()
            else:
                u.prepare_grads()

    def full_parameters(self) -> torch.Tensor:
        """All Ψ parameters, flat, as every rank sees them (ZeRO-3 gathers, then frees)."""
        out = []
        for u in self.units:
            if self.stage == 3:
                u.gather()
            out.append(u.full[: u.numel].clone())
            if self.stage == 3:
                u.free()
        return torch.cat(out)

    def measured_bytes(self) -> dict[str, int]:
        """Bytes of model states this rank holds now, by walking the live tensors' storages
        (each storage counted once; Adam's scalar ``step`` counters are not model states)."""
        def total(tensors: list) -> int:
            seen = {}
            for t in tensors:
                if t is not None:
                    s = t.untyped_storage()
                    seen[s.data_ptr() if s.nbytes() else id(t)] = s.nbytes()
            return sum(seen.values())

        params = total([u.full for u in self.units] + ([u.shard for u in self.units] if self.stage == 3 else []))
        grads = total([u.grad_full for u in self.units] + [u.shard.grad for u in self.units]
                      + [p.grad for u in self.units for p in u.params])
        opt = total([v for st in self.optimizer.state.values() for k, v in st.items() if k != "step"])
        return {"params_bytes": params, "grads_bytes": grads, "optimizer_bytes": opt,
                "total_bytes": params + grads + opt}

    def model_bytes(self) -> dict[str, int]:
        """What :func:`mlsys_kit.zero.model.memory_per_device` predicts for these units (each
        its own padded flat buffer; Adam's K = 8 fp32 bytes; parameters and gradients in the
        model's dtype)."""
        out = dict.fromkeys(("params_bytes", "grads_bytes", "optimizer_bytes", "total_bytes"), 0)
        for u in self.units:
            es = u.full.element_size()
            m = memory_per_device(u.numel, u.world, self.stage, 2 * es, param_bytes=es, grad_bytes=es,
                                  padded=True)
            for key in out:
                out[key] += int(getattr(m, key))
        return out
