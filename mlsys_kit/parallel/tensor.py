"""Tensor and sequence parallelism on simulated ranks, forward and backward written out by hand.

The teaching path of this topic: read it top to bottom. It follows

* Shoeybi et al., *Megatron-LM: Training Multi-Billion Parameter Language Models Using Model
  Parallelism* (2019), section 3 and figure 3: the MLP ``Z = GeLU(X A) B`` with ``A`` split by
  columns and ``B`` by rows, and the conjugate operators ``f`` (identity forward, all-reduce
  backward) before the block and ``g`` (all-reduce forward, identity backward) after it;
  self-attention split by heads the same way (Q, K, V column-parallel, output projection
  row-parallel);
* Korthikanti et al., *Reducing Activation Recomputation in Large Transformer Models*
  (MLSys'23), section 4.2.2 and figure 5: sequence parallelism, where the regions outside the
  tensor-parallel blocks (LayerNorm, dropout) are split along the sequence, ``g`` becomes an
  all-gather in the forward pass (reduce-scatter backward) and ``g-bar`` a reduce-scatter
  (all-gather backward); the column-parallel linear keeps only its sequence shard of the input
  and all-gathers it again in the backward pass.

Conventions: the math of the papers, ``Y = X A`` with ``A`` of shape ``[in, out]``; activations
are ``[tokens, hidden]`` with tokens in sequence-major order, so splitting rows splits the
sequence. ``t`` ranks live in one process as lists (element r is rank r's tensor) and every
collective is the counted ring collective of :class:`mlsys_kit.zero.collectives.SimWorld`:
``world.sent[r]`` is what rank r sent. The optimised path (real processes, autograd) is
:mod:`mlsys_kit.parallel.runtime`; the tests check both against the unsplit model.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mlsys_kit.checks import positive_int
from mlsys_kit.zero.collectives import SimWorld

Ranks = list[torch.Tensor]  # one tensor per rank


def _check_split(name: str, size: int, t: int) -> None:
    positive_int("t (tensor-parallel ranks)", t)
    if size % t:
        raise ValueError(f"{name} of size {size} cannot be split over t={t} ranks: it must be a multiple of t")


def split_columns(a: torch.Tensor, t: int) -> Ranks:
    """Column-parallel weight: rank r holds columns ``[r·out/t, (r+1)·out/t)`` of ``A [in, out]``."""
    _check_split("the output dimension", a.shape[-1], t)
    return [c.clone() for c in a.chunk(t, dim=-1)]


def split_rows(b: torch.Tensor, t: int) -> Ranks:
    """Row-parallel weight: rank r holds rows ``[r·in/t, (r+1)·in/t)`` of ``B [in, out]``."""
    _check_split("the input dimension", b.shape[0], t)
    return [c.clone() for c in b.chunk(t, dim=0)]


# -- collectives on [tokens, hidden] tensors (SimWorld works on flat buffers) ---------------

def all_reduce(world: SimWorld, xs: Ranks) -> Ranks:
    """Every rank gets the sum of all ranks' tensors (ring: 2(t-1)/t of the tensor sent)."""
    return [y.view_as(xs[0]) for y in world.all_reduce([x.reshape(-1) for x in xs])]


def all_gather_rows(world: SimWorld, shards: Ranks) -> Ranks:
    """Every rank gets the rows of all ranks stacked in rank order (sequence all-gather)."""
    full = world.all_gather([s.reshape(-1) for s in shards])
    return [y.view(-1, shards[0].shape[-1]) for y in full]


def reduce_scatter_rows(world: SimWorld, xs: Ranks) -> Ranks:
    """Rank r gets rows block r of the sum over ranks (sequence reduce-scatter)."""
    tokens = xs[0].shape[0]
    _check_split("the token (sequence) dimension", tokens, world.n)
    parts = world.reduce_scatter([x.reshape(-1) for x in xs])
    return [p.view(tokens // world.n, -1) for p in parts]


# -- the two parallel linears (Megatron-LM section 3) ---------------------------------------

def column_parallel_forward(x: torch.Tensor | Ranks, a_shards: Ranks) -> Ranks:
    """``Y_r = X A_r``. ``f`` before it is the identity: every rank reads the same ``X`` (one
    tensor, or a list of identical per-rank copies)."""
    xs = x if isinstance(x, list) else [x] * len(a_shards)
    return [xr @ ar for xr, ar in zip(xs, a_shards)]


def column_parallel_backward(world: SimWorld, x: torch.Tensor | Ranks, a_shards: Ranks,
                             grad_y: Ranks) -> tuple[Ranks, Ranks]:
    """Gradients of ``Y_r = X A_r`` given each rank's ``dL/dY_r``.

    ``dL/dA_r = X^T dY_r`` is local. ``dL/dX = sum_r dY_r A_r^T``: each rank holds one term, so
    ``f``'s backward is an all-reduce. Returns (per-rank ``dL/dX``, per-rank ``dL/dA_r``).
    """
    xs = x if isinstance(x, list) else [x] * len(a_shards)
    grad_a = [xr.t() @ gy for xr, gy in zip(xs, grad_y)]
    partial = [gy @ ar.t() for gy, ar in zip(grad_y, a_shards)]
    return all_reduce(world, partial), grad_a


def row_parallel_forward(world: SimWorld, x_shards: Ranks, b_shards: Ranks) -> Ranks:
    """``Z = sum_r X_r B_r``: each rank multiplies its column block of ``X`` (the output of a
    column-parallel layer) by its row block of ``B``; ``g`` all-reduces the partial sums."""
    return all_reduce(world, [xr @ br for xr, br in zip(x_shards, b_shards)])


def row_parallel_backward(x_shards: Ranks, b_shards: Ranks, grad_z: Ranks) -> tuple[Ranks, Ranks]:
    """Gradients of ``Z = sum_r X_r B_r``: ``g``'s backward is the identity (every rank already
    holds the whole ``dL/dZ``), so ``dL/dX_r = dZ B_r^T`` and ``dL/dB_r = X_r^T dZ`` are local.
    Returns (per-rank ``dL/dX_r``, per-rank ``dL/dB_r``)."""
    grad_x = [gz @ br.t() for gz, br in zip(grad_z, b_shards)]
    grad_b = [xr.t() @ gz for xr, gz in zip(x_shards, grad_z)]
    return grad_x, grad_b


# -- the Megatron MLP, tensor-parallel and sequence-parallel --------------------------------

def _gelu_grad(u: torch.Tensor) -> torch.Tensor:
    """d GeLU(u) / du for the tanh approximation GPT-2 uses (by autograd on a copy)."""
    u = u.detach().requires_grad_(True)
    F.gelu(u, approximate="tanh").sum().backward()
    return u.grad


def mlp_forward(world: SimWorld, x: torch.Tensor, a_shards: Ranks, b_shards: Ranks) -> tuple[Ranks, dict]:
    """Tensor-parallel MLP ``Z = GeLU(X A) B``: f, column-parallel ``A``, GeLU on each rank's
    columns (no communication: why ``A`` is split by columns), row-parallel ``B``, g.
    Returns the per-rank ``Z`` (all equal) and what the backward pass needs."""
    u = column_parallel_forward(x, a_shards)
    hid = [F.gelu(ur, approximate="tanh") for ur in u]
    return row_parallel_forward(world, hid, b_shards), {"x": x, "u": u, "hid": hid}


def mlp_backward(world: SimWorld, saved: dict, a_shards: Ranks, b_shards: Ranks,
                 grad_z: Ranks) -> tuple[Ranks, Ranks, Ranks]:
    """Backward of :func:`mlp_forward`: returns (per-rank ``dL/dX``, ``dL/dA_r``, ``dL/dB_r``)."""
    grad_hid, grad_b = row_parallel_backward(saved["hid"], b_shards, grad_z)
    grad_u = [gh * _gelu_grad(ur) for gh, ur in zip(grad_hid, saved["u"])]
    grad_x, grad_a = column_parallel_backward(world, saved["x"], a_shards, grad_u)
    return grad_x, grad_a, grad_b


def sp_mlp_forward(world: SimWorld, x_shards: Ranks, a_shards: Ranks, b_shards: Ranks) -> tuple[Ranks, dict]:
    """Sequence-parallel MLP: rank r enters with its sequence shard ``X^s_r`` (rows block r).
    ``g`` all-gathers the sequence, the block runs as in :func:`mlp_forward`, and ``g-bar``
    reduce-scatters the partial sums back to sequence shards. Only the shard is saved."""
    x_full = all_gather_rows(world, x_shards)
    u = column_parallel_forward(x_full, a_shards)
    hid = [F.gelu(ur, approximate="tanh") for ur in u]
    z_shards = reduce_scatter_rows(world, [hr @ br for hr, br in zip(hid, b_shards)])
    return z_shards, {"x_shards": x_shards, "u": u, "hid": hid}


def sp_mlp_backward(world: SimWorld, saved: dict, a_shards: Ranks, b_shards: Ranks,
                    grad_z_shards: Ranks) -> tuple[Ranks, Ranks, Ranks]:
    """Backward of :func:`sp_mlp_forward`: all-gather ``dZ`` (g-bar's backward), the local row
    backward, all-gather ``X`` again (it was saved as a shard: Korthikanti 4.2.2), the local
    weight gradient, and a reduce-scatter of ``dX`` (g's backward). Returns (per-rank
    ``dL/dX^s_r``, ``dL/dA_r``, ``dL/dB_r``)."""
    grad_z = all_gather_rows(world, grad_z_shards)
    grad_hid, grad_b = row_parallel_backward(saved["hid"], b_shards, grad_z)
    grad_u = [gh * _gelu_grad(ur) for gh, ur in zip(grad_hid, saved["u"])]
    x_full = all_gather_rows(world, saved["x_shards"])
    grad_a = [xr.t() @ gu for xr, gu in zip(x_full, grad_u)]
    grad_x = reduce_scatter_rows(world, [gu @ ar.t() for gu, ar in zip(grad_u, a_shards)])
    return grad_x, grad_a, grad_b


# -- per-layer communication volume (what the counted collectives above add up to) ----------

def block_comm_elements(tokens: int, hidden: int, t: int, sequence_parallel: bool = False) -> dict[str, int]:
    """Elements one rank sends for ONE tensor-parallel block (an MLP or an attention: one
    column-parallel and one row-parallel linear) on ``tokens x hidden`` activations, with ring
    collectives. ``u = (t-1)·tokens·hidden/t`` is one all-gather or reduce-scatter; an
    all-reduce is 2u.

    * tensor parallel: forward g = 2u, backward f = 2u;
    * sequence parallel: forward all-gather + reduce-scatter = 2u; backward all-gather of dZ,
      all-gather of X again, reduce-scatter of dX = 3u (one all-gather more than tensor
      parallelism: the price of saving only the shard of X).
    """
    positive_int("tokens", tokens)
    positive_int("hidden", hidden)
    positive_int("t", t)
    if sequence_parallel:
        _check_split("tokens (sequence)", tokens, t)
    u = (t - 1) * tokens * hidden // t
    fwd, bwd = 2 * u, 3 * u if sequence_parallel else 2 * u
    return {"forward": fwd, "backward": bwd, "total": fwd + bwd}


def layer_comm_elements(tokens: int, hidden: int, t: int, sequence_parallel: bool = False,
                        recompute: bool = False) -> dict[str, int]:
    """Elements one rank sends for one transformer layer: two blocks (attention and MLP).

    With full recomputation the backward pass runs the layer's forward again, and with it its
    collectives, all but the last: the layer's output (after the MLP's g or g-bar) is not needed
    by the backward pass, and ``torch.utils.checkpoint`` stops recomputing once every saved
    tensor is back. Tensor parallel: one all-reduce more (2u); sequence parallel: an all-gather,
    a reduce-scatter and an all-gather (3u). ``recompute`` is counted in ``backward``.
    """
    blk = block_comm_elements(tokens, hidden, t, sequence_parallel)
    u = (t - 1) * tokens * hidden // t
    fwd, bwd = 2 * blk["forward"], 2 * blk["backward"] + ((3 if sequence_parallel else 2) * u if recompute else 0)
    return {"forward": fwd, "backward": bwd, "total": fwd + bwd}
