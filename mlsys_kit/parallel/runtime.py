"""Real tensor and sequence parallelism of the tiny GPT on torch.distributed (gloo on CPU).

The optimised path of :mod:`mlsys_kit.parallel.tensor`: the same operators as autograd
functions, one process per rank (Megatron-LM, Shoeybi et al. 2019, section 3; sequence
parallelism, Korthikanti et al. MLSys'23, section 4.2.2):

=====================  =========================  ==============================
operator               forward                    backward
=====================  =========================  ==============================
``f`` (CopyToTP)       identity                   all-reduce
``g`` (ReduceFromTP)   all-reduce                 identity
``g`` (SP)             all-gather the sequence    reduce-scatter
``g-bar`` (SP)         reduce-scatter             all-gather
=====================  =========================  ==============================

Attention is split by heads (rank r holds heads ``[r·H/t, (r+1)·H/t)`` of Q, K and V: the
column-parallel ``c_attn``; the row-parallel ``c_proj``), the MLP as ``GeLU(X A) B``. The
embeddings, the final LayerNorm and the tied LM head are replicated (every rank computes the
same logits); under sequence parallelism the residual stream between blocks holds a sequence
shard, the LayerNorms and the row-parallel biases inside it see only their shard, so their
gradients are summed over the ranks after the backward pass (one all-reduce).

Every collective goes through :class:`Comm`, which counts what rank r sends with the ring
algorithm (an all-gather or reduce-scatter sends ``(t-1)·ceil(n/t)`` elements, an all-reduce
twice that), so ``bytes_sent_measured`` counts the collectives the run really called, with the
sizes it really passed; :func:`mlsys_kit.parallel.model.tp_step_elements` predicts them.

This file holds the operators and the parallel GPT; :mod:`.check` runs one step of it against
the single process, :mod:`.launch` starts the processes (``run_config``, ``run_tensor_parallel``).
"""

from __future__ import annotations

import copy

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils.checkpoint import checkpoint

from mlsys_kit.common import ceil_div
from mlsys_kit.models.gpt import GPT


class Comm:
    """The tensor-parallel group (here: the whole world) with counted ring collectives."""

    def __init__(self) -> None:
        self.t, self.rank = dist.get_world_size(), dist.get_rank()
        self.sent = 0  # bytes this rank sent (ring accounting)

    def _count(self, numel: int, times: int, elem: int) -> None:
        self.sent += times * (self.t - 1) * ceil_div(numel, self.t) * elem

    def all_reduce(self, x: torch.Tensor) -> torch.Tensor:
        x = x.contiguous()
        self._count(x.numel(), 2, x.element_size())
        dist.all_reduce(x)
        return x

    def all_gather(self, shard: torch.Tensor) -> torch.Tensor:
        """Shards ``[T/t, ...]`` -> ``[T, ...]`` in rank order (along dim 0: the sequence)."""
        shard = shard.contiguous()
        out = shard.new_empty((self.t * shard.shape[0], *shard.shape[1:]))
        self._count(out.numel(), 1, shard.element_size())
        dist.all_gather_single(out, shard)
        return out

    def reduce_scatter(self, x: torch.Tensor) -> torch.Tensor:
        """``[T, ...]`` summed over ranks; rank r keeps rows block r."""
        x = x.contiguous()
        if x.shape[0] % self.t:
            raise ValueError(f"sequence length {x.shape[0]} must be a multiple of t={self.t} for sequence parallelism")
        out = x.new_empty((x.shape[0] // self.t, *x.shape[1:]))
        self._count(x.numel(), 1, x.element_size())
        dist.reduce_scatter_single(out, x)
        return out

    def own_rows(self, x: torch.Tensor) -> torch.Tensor:
        return x.chunk(self.t, dim=0)[self.rank].contiguous()


class _F(torch.autograd.Function):  # f: identity forward, all-reduce backward
    @staticmethod
    def forward(ctx, x, comm):
        ctx.comm = comm
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.comm.all_reduce(g.clone()), None


class _G(torch.autograd.Function):  # g: all-reduce forward, identity backward
    @staticmethod
    def forward(ctx, x, comm):
        return comm.all_reduce(x.clone())

    @staticmethod
    def backward(ctx, g):
        return g, None


class _ReduceScatter(torch.autograd.Function):  # g-bar (SP): reduce-scatter forward, all-gather backward
    @staticmethod
    def forward(ctx, x, comm):
        ctx.comm = comm
        return comm.reduce_scatter(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.comm.all_gather(g), None


class _Split(torch.autograd.Function):  # enter the SP region: keep own rows; backward all-gather
    @staticmethod
    def forward(ctx, x, comm):
        ctx.comm = comm
        return comm.own_rows(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.comm.all_gather(g), None


class _Gather(torch.autograd.Function):  # leave the SP region: all-gather; backward keep own rows
    @staticmethod
    def forward(ctx, x, comm):
        ctx.comm = comm
        return comm.all_gather(x)

    @staticmethod
    def backward(ctx, g):
        return ctx.comm.own_rows(g), None


class _SPColumnLinear(torch.autograd.Function):
    """Sequence-parallel column-parallel linear: all-gather the input shard, multiply; save only
    the shard and all-gather it again in the backward pass (Korthikanti et al. 4.2.2); the
    input gradient is reduce-scattered back to shards (g's backward)."""

    @staticmethod
    def forward(ctx, x_shard, weight, bias, comm):
        ctx.comm = comm
        ctx.save_for_backward(x_shard, weight)
        return F.linear(comm.all_gather(x_shard), weight, bias)

    @staticmethod
    def backward(ctx, gy):
        x_shard, weight = ctx.saved_tensors
        x = ctx.comm.all_gather(x_shard)
        gw = gy.reshape(-1, gy.shape[-1]).t() @ x.reshape(-1, x.shape[-1])
        gb = gy.reshape(-1, gy.shape[-1]).sum(0)
        return ctx.comm.reduce_scatter(gy @ weight), gw, gb, None


class ParallelLinear(nn.Module):
    """Rank r's part of a column- or row-parallel linear layer, built from a full ``nn.Linear``
    (weight ``[out, in]``). Column: output features split (``pieces`` > 1 splits each of that
    many equal parts, e.g. Q, K and V, so that rank r gets its heads of each). Row: input
    features split; the bias is added once, after the reduction."""

    def __init__(self, full: nn.Linear, kind: str, t: int, rank: int, pieces: int = 1) -> None:
        super().__init__()
        w, b = full.weight.detach(), full.bias.detach()
        if kind == "column":
            w = torch.cat([p.chunk(t, 0)[rank] for p in w.chunk(pieces, 0)])
            b = torch.cat([p.chunk(t, 0)[rank] for p in b.chunk(pieces, 0)])
        else:
            w = w.chunk(t, 1)[rank]
        self.kind, self.pieces = kind, pieces
        self.weight, self.bias = nn.Parameter(w.clone()), nn.Parameter(b.clone())


class ParallelBlock(nn.Module):
    """One GPT-2 block split over the tensor-parallel ranks (activations ``[T, B, C]``)."""

    def __init__(self, block: nn.Module, comm: Comm, sp: bool, n_head: int) -> None:
        super().__init__()
        t, r = comm.t, comm.rank
        self.comm, self.sp, self.local_heads = comm, sp, n_head // t
        self.ln_1, self.ln_2 = copy.deepcopy(block.ln_1), copy.deepcopy(block.ln_2)
        self.c_attn = ParallelLinear(block.attn.c_attn, "column", t, r, pieces=3)
        self.attn_proj = ParallelLinear(block.attn.c_proj, "row", t, r)
        self.c_fc = ParallelLinear(block.mlp.c_fc, "column", t, r)
        self.mlp_proj = ParallelLinear(block.mlp.c_proj, "row", t, r)

    def _column(self, x: torch.Tensor, lin: ParallelLinear) -> torch.Tensor:
        if self.sp:
            return _SPColumnLinear.apply(x, lin.weight, lin.bias, self.comm)
        return F.linear(_F.apply(x, self.comm), lin.weight, lin.bias)

    def _row(self, x: torch.Tensor, lin: ParallelLinear) -> torch.Tensor:
        partial = F.linear(x, lin.weight)
        out = _ReduceScatter.apply(partial, self.comm) if self.sp else _G.apply(partial, self.comm)
        return out + lin.bias

    def attention(self, x: torch.Tensor) -> torch.Tensor:
        qkv = self._column(x, self.c_attn)  # [T, B, 3 C/t]
        T, B = qkv.shape[:2]
        q, k, v = (z.reshape(T, B, self.local_heads, -1).permute(1, 2, 0, 3) for z in qkv.chunk(3, dim=-1))
        y = F.scaled_dot_product_attention(q, k, v, is_causal=True)  # [B, H/t, T, D]
        return self._row(y.permute(2, 0, 1, 3).reshape(T, B, -1), self.attn_proj)

    def mlp(self, x: torch.Tensor) -> torch.Tensor:
        return self._row(F.gelu(self._column(x, self.c_fc), approximate="tanh"), self.mlp_proj)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attention(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class ParallelGPT(nn.Module):
    """Rank ``comm.rank``'s part of a :class:`~mlsys_kit.models.gpt.GPT` under tensor
    parallelism (``sp=False``) or tensor + sequence parallelism (``sp=True``)."""

    def __init__(self, model: GPT, comm: Comm, sp: bool = False, recompute: bool = False) -> None:
        super().__init__()
        cfg = model.config
        if cfg.n_head % comm.t:
            raise ValueError(f"n_head={cfg.n_head} must be a multiple of t={comm.t} (attention is split by heads)")
        self.comm, self.sp, self.recompute = comm, sp, recompute
        self.wte, self.wpe, self.ln_f = (copy.deepcopy(m) for m in (model.wte, model.wpe, model.ln_f))
        self.h = nn.ModuleList(ParallelBlock(b, comm, sp, cfg.n_head) for b in model.h)

    def sp_replicated(self) -> list[nn.Parameter]:
        """Replicated parameters that see only a sequence shard under SP (LayerNorms inside the
        blocks, row-parallel biases): their gradients are partial sums."""
        return [p for b in self.h for m in (b.ln_1, b.ln_2) for p in m.parameters()] + \
               [b.attn_proj.bias for b in self.h] + [b.mlp_proj.bias for b in self.h]

    def forward(self, idx: torch.Tensor) -> torch.Tensor:
        x = (self.wte(idx) + self.wpe(torch.arange(idx.shape[1]))).transpose(0, 1).contiguous()  # [T, B, C]
        if self.sp:
            x = _Split.apply(x, self.comm)
        for block in self.h:
            x = checkpoint(block, x, use_reentrant=False) if self.recompute else block(x)
        if self.sp:
            x = _Gather.apply(x, self.comm)
        return (self.ln_f(x) @ self.wte.weight.t()).transpose(0, 1)  # [B, T, V]

    def sync_sp_grads(self) -> None:
        """Sum the partial gradients of :meth:`sp_replicated` over the ranks (one all-reduce)."""
        if not self.sp:
            return
        params = self.sp_replicated()
        flat = self.comm.all_reduce(torch.cat([p.grad.reshape(-1) for p in params]))
        off = 0
        for p in params:
            p.grad.copy_(flat[off:off + p.numel()].view_as(p))
            off += p.numel()
