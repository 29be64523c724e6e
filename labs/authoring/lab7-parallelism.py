# lab7-parallelism: the source of labs/source/lab7-parallelism/lab7-parallelism.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab7-parallelism`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.parallel.tensor", "mlsys_kit.parallel.model", "mlsys_kit.parallel.planner"]}

# %% [markdown] id="intro"
# # Lab 7: tensor parallelism and a 3D-parallel planner
#
# A layer too big or too slow for one device is split *inside*: Megatron-LM (Shoeybi et al.
# 2019, section 3) cuts the MLP `Z = GeLU(X A) B` so that `A` is split by columns and `B` by rows,
# and needs one all-reduce in the forward pass and one in the backward pass. Add pipeline and data
# parallelism and you get 3D parallelism (Narayanan et al., SC'21): which (t, p, d) is fastest for
# a model on a cluster? You will:
#
# 1. write the column- and row-parallel linear layers, forward and backward, on `t` **simulated
#    ranks** (a list with one tensor per rank) with the conjugate operators `f` and `g`;
# 2. count the bytes one rank sends per transformer layer, with and without sequence parallelism
#    and recomputation;
# 3. write the memory and the step time of a plan (t, p, d, microbatch, interleaving, ...);
# 4. search the plans and pick one for a stated cluster.
#
# Conventions: `Y = X A` with `A` of shape `[in, out]`; activations `[tokens, hidden]`. The
# names are the reference's (`mlsys_kit.parallel.tensor`, `mlsys_kit.parallel.model`). The `t`
# ranks live in one process: a `SimWorld(t)` (given, like `mlsys_kit.zero.collectives.SimWorld`)
# counts in `world.sent[r]` the bytes rank r has sent and in `world.calls` how often each
# collective ran, and the collectives are given (`all_reduce(world, xs)`,
# `all_gather_rows(world, shards)`, `reduce_scatter_rows(world, xs)`): each takes one tensor per
# rank and adds to `world.sent` what each rank sends with the ring algorithm. Fill in every cell
# that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run the test cell
# below it. Hidden tests check many more shapes, degrees, clusters and plans. Total: 19 points (17
# autograded, 2 graded by hand).

# %% kind="locked" id="setup"
import math

import torch
import torch.nn.functional as F

torch.set_num_threads(1)


class SimWorld:
    """`n` simulated ranks in one process (as `mlsys_kit.zero.collectives.SimWorld`): `sent[r]`
    is what rank r has sent so far, in bytes; `calls` counts the collectives run, by name."""

    def __init__(self, n):
        self.n = n
        self.sent = [0] * n
        self.calls = {}

    def __repr__(self):
        return f"SimWorld(n={self.n}, sent={self.sent}, calls={self.calls})"

    def _count(self, what, tensors, elements_per_step):
        if len(tensors) != self.n:
            raise ValueError(f"{what} needs one tensor per rank: got {len(tensors)} for {self.n} ranks")
        self.calls[what] = self.calls.get(what, 0) + 1
        for r in range(self.n):  # the ring: n - 1 steps, one chunk of ceil(numel / n) elements each
            self.sent[r] += elements_per_step * (self.n - 1) * math.ceil(tensors[0].numel() / self.n) \
                * tensors[0].element_size()


def all_reduce(world, xs):
    """Every rank gets the sum of all ranks' tensors (ring: 2 (t-1) ceil(n/t) elements sent)."""
    world._count("all_reduce", xs, 2)
    total = sum(x.clone() for x in xs)
    return [total.clone() for _ in xs]


def all_gather_rows(world, shards):
    """Every rank gets the rows of all ranks stacked in rank order."""
    full = torch.cat(shards)
    world._count("all_gather_rows", [full] * len(shards), 1)
    return [full.clone() for _ in shards]


def reduce_scatter_rows(world, xs):
    """Rank r gets row block r of the sum over ranks."""
    world._count("reduce_scatter_rows", xs, 1)
    total = sum(x.clone() for x in xs)
    return [c.clone() for c in total.chunk(len(xs))]


_world = SimWorld(2)
print(all_reduce(_world, [torch.ones(4), 2 * torch.ones(4)]), _world)

# %% [markdown] id="md-linears"
# ## 1. Column- and row-parallel linears (6 points)
#
# Rank `r` of `t` holds `a_shards[r]`, columns `[r out/t, (r+1) out/t)` of `A` (column-parallel),
# or `b_shards[r]`, rows `[r in/t, (r+1) in/t)` of `B` (row-parallel).
#
# * `column_parallel_forward(x, a_shards)`: every rank reads the same `x` (`f` is the identity
#   forward: no communication); returns `[x @ A_r for each rank]`.
# * `column_parallel_backward(world, x, a_shards, grad_y)`: `grad_y[r]` is dL/dY_r. Returns
#   `(grad_x, grad_a)`: `grad_a[r] = x^T grad_y[r]` (local), and `grad_x`, one tensor per rank,
#   each the **full** dL/dX = sum over r of `grad_y[r] A_r^T`: `f`'s backward is an all-reduce.
# * `row_parallel_forward(world, x_shards, b_shards)`: rank r multiplies its `x_shards[r]` (its
#   columns of the input, e.g. the output of a column-parallel layer) by `B_r`; `g` all-reduces the
#   partial sums; returns the full `Z` on every rank.
# * `row_parallel_backward(x_shards, b_shards, grad_z)`: `grad_z[r]` is the full dL/dZ on rank r
#   (`g`'s backward is the identity: no communication). Returns `(grad_x, grad_b)`, both local.
#
# Communicate only with the given collectives and only where the operators say so: the tests read
# `world.sent` and `world.calls`. Return new lists and tensors: leave the arguments (`x`, the
# shards, the gradients) as they were.

# %% kind="solution" id="linears"
def column_parallel_forward(x, a_shards):
    ### BEGIN SOLUTION
    return [x @ a for a in a_shards]
    ### END SOLUTION


def column_parallel_backward(world, x, a_shards, grad_y):
    ### BEGIN SOLUTION
    grad_a = [x.t() @ g for g in grad_y]
    partial = [g @ a.t() for g, a in zip(grad_y, a_shards)]
    return all_reduce(world, partial), grad_a
    ### END SOLUTION


def row_parallel_forward(world, x_shards, b_shards):
    ### BEGIN SOLUTION
    return all_reduce(world, [x @ b for x, b in zip(x_shards, b_shards)])
    ### END SOLUTION


def row_parallel_backward(x_shards, b_shards, grad_z):
    ### BEGIN SOLUTION
    grad_x = [g @ b.t() for g, b in zip(grad_z, b_shards)]
    grad_b = [x.t() @ g for x, g in zip(x_shards, grad_z)]
    return grad_x, grad_b
    ### END SOLUTION

# %% kind="checker" id="checks"
import math

import torch
import torch.nn.functional as F


def gelu_grad(u):
    """d GeLU(u) / du (tanh approximation)."""
    u = u.detach().clone().requires_grad_(True)
    F.gelu(u, approximate="tanh").sum().backward()
    return u.grad


def check_close(what, got, want, case):
    """Fail unless `got` is a tensor of `want`'s shape and dtype, equal to it within rounding,
    saying which output differs, where, by how much, and on what input (`case`)."""
    assert type(got) is torch.Tensor, f"{case}: {what} should be a torch.Tensor, got a {type(got).__name__}"
    assert tuple(got.shape) == tuple(want.shape) and got.dtype == want.dtype, \
        f"{case}: {what} is a {got.dtype} tensor of shape {tuple(got.shape)}, expected {want.dtype} {tuple(want.shape)}"
    tol = (1e-9 if want.dtype == torch.float64 else 1e-4) * max(1.0, float(want.abs().max()) if want.numel() else 1.0)
    err = (got.double() - want.double()).abs().nan_to_num(nan=float("inf"))
    if err.numel() and float(err.max()) > tol:
        i = tuple(int(v) for v in torch.unravel_index(err.argmax(), err.shape))
        raise AssertionError(f"{case}: {what} at [{', '.join(map(str, i))}] is {got[i].item():.6g}, expected "
                             f"{want[i].item():.6g} (off by {err[i].item():.3g})")


def check_ranks(what, got, want, case):
    """`got` must be a list of one tensor per rank, each close to `want[r]`."""
    assert type(got) is list and len(got) == len(want), \
        f"{case}: {what} should be a list of {len(want)} tensors (one per rank), got {type(got).__name__} of {len(got)}"
    for r, (g, w) in enumerate(zip(got, want)):
        check_close(f"{what} (rank {r})", g, w, case)


def check_unchanged(what, tensors, before, case):
    """The call must leave its input tensors (a tensor or a list of them) as they were."""
    tensors, before = (tensors, before) if type(tensors) is list else ([tensors], [before])
    assert len(tensors) == len(before), f"{case}: your function changed the length of the list {what}"
    for r, (t, b) in enumerate(zip(tensors, before)):
        if not torch.equal(t, b):
            raise AssertionError(f"{case}: your function changed its input {what}{f'[{r}]' if len(before) > 1 else ''} "
                                 f"in place; return new tensors and leave the arguments as they were")


def mlp_check(column_parallel_forward, column_parallel_backward, row_parallel_forward, row_parallel_backward,
              t, tokens, hidden, seed, dtype=torch.float64):
    """Run the Megatron MLP GeLU(X A) B forward and backward with the four functions on t ranks,
    compare with autograd on the unsplit MLP (float64), and return the bytes sent per rank
    after the forward pass and after the backward pass."""
    case = f"the MLP GeLU(X A) B on t={t} ranks, X of {tokens} tokens x hidden {hidden}, {dtype}"
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, hidden, generator=gen, dtype=torch.float64)
    a = torch.randn(hidden, 4 * hidden, generator=gen, dtype=torch.float64) / hidden ** 0.5
    b = torch.randn(4 * hidden, hidden, generator=gen, dtype=torch.float64) / (4 * hidden) ** 0.5
    gz = torch.randn(tokens, hidden, generator=gen, dtype=torch.float64)
    xr, ar, br = (v.clone().requires_grad_(True) for v in (x, a, b))
    z_ref = F.gelu(xr @ ar, approximate="tanh") @ br
    z_ref.backward(gz)
    x, gz = x.to(dtype), gz.to(dtype)
    a_s, b_s = [c.to(dtype).clone() for c in a.chunk(t, dim=1)], [c.to(dtype).clone() for c in b.chunk(t, dim=0)]
    keep = [x.clone(), [c.clone() for c in a_s], [c.clone() for c in b_s]]
    world = SimWorld(t)
    u = column_parallel_forward(x, a_s)
    check_ranks("column_parallel_forward's X A_r", u, [x @ c for c in a_s], case)
    h = [F.gelu(ur, approximate="tanh") for ur in u]
    z = row_parallel_forward(world, h, b_s)
    check_ranks("row_parallel_forward's Z", z, [z_ref.detach().to(dtype)] * t, case)
    after_forward = [int(s) for s in world.sent]
    grads = [gz.clone() for _ in range(t)]
    gh, gb = row_parallel_backward(h, b_s, grads)
    assert world.sent == after_forward, f"{case}: row_parallel_backward changed world.sent: g's backward sends nothing"
    check_unchanged("grad_z", grads, [gz] * t, case)
    gu = [g * gelu_grad(ur) for g, ur in zip(gh, u)]
    gx, ga = column_parallel_backward(world, x, a_s, gu)
    check_ranks("column_parallel_backward's dL/dX", gx, [xr.grad.to(dtype)] * t, case)
    check_close("dL/dA (grad_a of all ranks side by side)", torch.cat(ga, dim=1), ar.grad.to(dtype), case)
    check_close("dL/dB (grad_b of all ranks stacked)", torch.cat(gb, dim=0), br.grad.to(dtype), case)
    for what, now, before in zip(("x", "a_shards", "b_shards"), (x, a_s, b_s), keep):
        check_unchanged(what, now, before, case)
    return after_forward, [int(s) for s in world.sent]

# %% kind="test" id="test_linears" points=6
import math

_fwd, _total = mlp_check(column_parallel_forward, column_parallel_backward, row_parallel_forward, row_parallel_backward,
                         2, 4, 8, 0)
print("bytes sent per rank after forward:", _fwd, "after backward:", _total)
_case = "the MLP on t=2 ranks, X of 4 tokens x hidden 8 (float64)"
_u = 2 * 1 * 16 * 8  # one all-reduce of the 4 x 8 float64 output: 2 (t - 1) ceil(32 / t) elements of 8 bytes
assert _fwd == [_u] * 2, f"{_case}: bytes sent per rank after the forward pass are {_fwd}, expected {[_u] * 2} (one all-reduce: g)"
assert _total == [2 * _u] * 2, \
    f"{_case}: bytes sent per rank after the backward pass are {_total}, expected {[2 * _u] * 2} (one all-reduce more: f)"
### BEGIN HIDDEN TESTS
_rng = student_rng("linears")
_cases = [(1, 3, 4, 1, torch.float64), (2, 6, 4, 2, torch.float64), (4, 4, 8, 3, torch.float64), (4, 5, 4, 4, torch.float32),
          (8, 2, 8, 5, torch.float64), (3, 7, 6, 6, torch.float32)]
_cases += [(_t, _rng.randint(1, 9), _t * _rng.randint(1, 3), _rng.getrandbits(32), _rng.choice([torch.float32, torch.float64]))
           for _t in (_rng.choice([2, 3, 4, 6, 8]) for _ in range(3))]
for _t, _tok, _h, _seed, _dt in _cases:
    _fwd, _total = mlp_check(column_parallel_forward, column_parallel_backward, row_parallel_forward, row_parallel_backward,
                             _t, _tok, _h, _seed, _dt)
    _u = 2 * (_t - 1) * math.ceil(_tok * _h / _t) * (8 if _dt == torch.float64 else 4)
    assert _fwd == [_u] * _t and _total == [2 * _u] * _t, (_t, _tok, _h, _dt, _fwd, _total)
# each function on its own, with a world that has already sent something: the collectives add to
# world.sent, each operator communicates once (f backward, g forward) and the others never; then the same
# input with other weights and gradients, on a fresh world in the same state (a second step), and once
# more on that world (a second layer): nothing carries over from one call to the next
_g = torch.Generator().manual_seed(_rng.getrandbits(62))


def _one_layer(w, x, a_s, b_s, gy, xs, gz, case):
    t, sent0, calls0 = len(a_s), list(w.sent), w.calls.get("all_reduce", 0)
    ar = 2 * (t - 1) * math.ceil(x.numel() / t) * x.element_size()
    keep = [x.clone(), [c.clone() for c in a_s], [c.clone() for c in b_s], [c.clone() for c in gy],
            [c.clone() for c in xs], [c.clone() for c in gz]]
    check_ranks("column_parallel_forward", column_parallel_forward(x, a_s), [x @ c for c in a_s], case)
    gx, ga = column_parallel_backward(w, x, a_s, gy)
    check_ranks("column_parallel_backward's grad_x", gx, [sum(g @ c.t() for g, c in zip(gy, a_s))] * t, case)
    check_ranks("column_parallel_backward's grad_a", ga, [x.t() @ g for g in gy], case)
    assert w.sent == [s + ar for s in sent0] and w.calls["all_reduce"] == calls0 + 1, \
        (case, "column_parallel_backward: one all-reduce (f's backward)", sent0, w.sent, w.calls)
    z = row_parallel_forward(w, xs, b_s)
    check_ranks("row_parallel_forward", z, [sum(xr @ br for xr, br in zip(xs, b_s))] * t, case)
    assert w.sent == [s + 2 * ar for s in sent0] and w.calls["all_reduce"] == calls0 + 2, \
        (case, "row_parallel_forward: one all-reduce (g's forward)", sent0, w.sent, w.calls)
    gx, gb = row_parallel_backward(xs, b_s, gz)
    check_ranks("row_parallel_backward's grad_x", gx, [g @ br.t() for g, br in zip(gz, b_s)], case)
    check_ranks("row_parallel_backward's grad_b", gb, [xr.t() @ g for xr, g in zip(xs, gz)], case)
    assert w.sent == [s + 2 * ar for s in sent0] and w.calls["all_reduce"] == calls0 + 2 and w.calls["all_gather_rows"] == 1, \
        (case, "row_parallel_backward sends nothing", w.sent, w.calls)
    for what, now, before in zip(("x", "a_shards", "b_shards", "grad_y", "x_shards", "grad_z"), (x, a_s, b_s, gy, xs, gz), keep):
        check_unchanged(what, now, before, case)


for _ in range(3):
    _t = _rng.choice([2, 3, 4, 8])
    _tok, _din, _dout = _rng.randint(1, 6), _t * _rng.randint(1, 3), _t * _rng.randint(1, 3)
    _dt = _rng.choice([torch.float32, torch.float64])
    _sent = [_rng.randint(0, 999) for _ in range(_t)]
    _x = torch.randn(_tok, _din, generator=_g, dtype=_dt)
    _xs = [torch.randn(_tok, _dout // _t, generator=_g, dtype=_dt) for _ in range(_t)]
    for _layer in (1, 2, 3):
        if _layer < 3:
            _w = SimWorld(_t)
            _w.sent, _w.calls = list(_sent), {"all_gather_rows": 1}
        _A, _B = torch.randn(_din, _dout, generator=_g, dtype=_dt), torch.randn(_dout, _din, generator=_g, dtype=_dt)
        _one_layer(_w, _x.clone(), [c.clone() for c in _A.chunk(_t, dim=1)], [c.clone() for c in _B.chunk(_t, dim=0)],
                   [torch.randn(_tok, _dout // _t, generator=_g, dtype=_dt) for _ in range(_t)], [c.clone() for c in _xs],
                   [torch.randn(_tok, _din, generator=_g, dtype=_dt)] * _t,
                   f"call {_layer} (world {min(_layer, 2)}): t={_t}, {_tok} tokens, A {_din} x {_dout}, {_dt}")
### END HIDDEN TESTS

# %% [markdown] id="md-volume"
# ## 2. Communication per transformer layer (3 points)
#
# A transformer layer has two tensor-parallel blocks (attention, MLP), each one column-parallel
# and one row-parallel linear. For `tokens x hidden` activations let
# `u = (t-1) * tokens * hidden / t` elements: what one rank sends in a ring all-gather or
# reduce-scatter; an all-reduce sends `2u`. Per **block**:
#
# * tensor parallelism: forward `g` (all-reduce), backward `f` (all-reduce);
# * sequence parallelism (Korthikanti et al., MLSys'23, 4.2.2): forward an all-gather (into the
#   block) and a reduce-scatter (out of it); backward an all-gather of dZ, an all-gather of X
#   **again** (the column-parallel linear saved only its sequence shard of X, to save memory) and
#   a reduce-scatter of dX.
#
# With full recomputation the backward pass runs the layer's forward again, and its collectives,
# **all but the last one** (the layer's output is not needed by the backward pass): one all-reduce
# more under tensor parallelism; an all-gather, a reduce-scatter and an all-gather more under
# sequence parallelism. Count them in `"backward"`.
#
# `layer_comm_bytes(tokens, hidden, t, sequence_parallel, recompute, dtype_bytes)`: a dict
# `{"forward": int, "backward": int}` of bytes one rank sends for one layer (`t` divides
# `tokens * hidden`; `t = 1` sends nothing).

# %% kind="solution" id="volume"
def layer_comm_bytes(tokens, hidden, t, sequence_parallel=False, recompute=False, dtype_bytes=2):
    ### BEGIN SOLUTION
    u = (t - 1) * tokens * hidden // t
    forward = 2 * 2 * u
    backward = 2 * (3 * u if sequence_parallel else 2 * u)
    if recompute:
        backward += 3 * u if sequence_parallel else 2 * u
    return {"forward": forward * dtype_bytes, "backward": backward * dtype_bytes}
    ### END SOLUTION

# %% kind="test" id="test_volume" points=3
_v = layer_comm_bytes(2048, 4096, 8)
_case = "layer_comm_bytes(2048, 4096, t=8) (tensor parallelism, no recomputation, 2-byte values)"
assert type(_v) is dict and set(_v) == {"forward", "backward"}, f"{_case}: return a dict with forward and backward, got {_v!r}"
assert type(_v["forward"]) is int and type(_v["backward"]) is int, f"{_case}: the byte counts are ints, got {_v!r}"
_u = 7 * 2048 * 4096 // 8  # elements of one all-gather or reduce-scatter
_want = {"forward": 2 * 2 * _u * 2, "backward": 2 * 2 * _u * 2}  # two blocks, one all-reduce (2u) each way, 2 bytes
assert _v == _want, f"{_case} is {_v}, expected {_want}: per block one all-reduce (2u) forward (g) and one backward (f)"
_v = layer_comm_bytes(64, 16, 1)
assert _v == {"forward": 0, "backward": 0}, f"layer_comm_bytes(64, 16, t=1) is {_v}, expected nothing sent on one rank"
### BEGIN HIDDEN TESTS
from mlsys_kit.parallel.tensor import layer_comm_elements as _ref_layer


def _ref_bytes(tokens, hidden, t, sequence_parallel=False, recompute=False, dtype_bytes=2):
    e = _ref_layer(tokens, hidden, t, sequence_parallel, recompute)
    return {"forward": e["forward"] * dtype_bytes, "backward": e["backward"] * dtype_bytes}


_rng = student_rng("volume")
_sizes = [(64, 16, 2), (64, 16, 4), (2048, 4096, 8), (12, 6, 3), (4096, 12288, 16), (8, 8, 8), (5, 7, 1)]
_sizes += [(_t * _rng.randint(1, 300), _t * _rng.randint(1, 64), _t) for _t in (_rng.randint(2, 16) for _ in range(3))]
_cases = [(_s + (_sp, _rc, _db)) for _s in _sizes for _sp in (False, True) for _rc in (False, True) for _db in (1, 2, 4)]
same_as_reference(layer_comm_bytes, _ref_bytes, _cases)
# the defaults (no sequence parallelism, no recomputation, 2 bytes), and the options by keyword
same_as_reference(layer_comm_bytes, _ref_bytes, [_s for _s in _sizes] + [(_s, {"recompute": True}) for _s in _sizes[:4]] +
                  [(_s, {"dtype_bytes": 4, "sequence_parallel": True}) for _s in _sizes[4:]])
### END HIDDEN TESTS

# %% [markdown] id="md-cost"
# ## 3. The memory and the time of a plan (5 points)
#
# A **model** is a dict (GPT layout: LayerNorm, a GeLU MLP of 4 x hidden, 12 hidden^2 parameters
# per layer; embeddings ignored): `layers`, `hidden`, `heads`, `seq`. A **cluster**: `devices`,
# `per_node`, `memory` (bytes per device), `flops` (FLOP/s one device reaches), `nvlink` and
# `network` (bytes/s one device sends inside a node / to another node). A **plan**: `t`, `p`, `d`
# (t x p x d = devices), `b` (microbatch, sequences), `v` (model chunks per rank, interleaving),
# `sp` (sequence parallelism), `recompute` (`"none"`, `"selective"`, `"full"`), `zero` (0 or 1).
# `m = global_batch / (d b)` microbatches per step. Sizes divide evenly, as in every real plan (and
# in `candidate_plans` below): `t` divides `heads` (which divides `hidden`), `p` divides `layers`,
# `d b` divides `global_batch`. Every other quotient is a true division (`5as/h`, `12 psi / d`,
# ...): do not round it.
#
# `activation_bytes_per_layer(model, microbatch, t=1, sequence_parallel=False, recompute="none")`:
# bytes one layer keeps for the backward pass of one microbatch, Korthikanti et al. table 2, with
# `s b h` = seq x microbatch x hidden and `a` = heads:
# `sbh (10 + 24/t + 5as/(ht))` with tensor parallelism (t = 1: no parallelism), `sbh/t (34 + 5as/h)`
# with sequence parallelism; selective recomputation drops the `5as/h` term; full recomputation
# keeps only the layer's input, `2 sbh` (`/t` with sequence parallelism).
#
# `plan_cost(model, cluster, plan, global_batch)`: a dict with `memory_bytes`, `step_time`,
# `bubble` (floats) and `fits` (bool):
#
# * parameters per device `psi = 12 hidden^2 layers / (t p)`; weights `2 psi`, gradients
#   `2 psi`, Adam `12 psi` bytes (`/ d` with ZeRO-1);
# * activations: `in_flight x (layers / p) x activation_bytes_per_layer(model, b, t, sp, recompute)`,
#   where the 1F1B schedule keeps
#   `in_flight = p` microbatches on its first stage, the interleaved one `p + (p - 1) / v`
#   (Megatron-LM, SC'21, 2.2.2); `fits`: the sum is at most `cluster["memory"]`;
# * per microbatch on one stage: forward compute `(layers / p) x (24 b s h^2 + 4 b s^2 h) / (t flops)`,
#   backward twice that (three times with full recomputation), and the tensor-parallel traffic
#   `(layers / p) x` (forward + backward of `layer_comm_bytes(b s, h, t, sp, recompute == "full", 2)`)
#   over NVLink when `t <= per_node`, else over the network;
# * the pipeline: `m x (per microbatch) x (1 + bubble)` with `bubble = (p - 1) / (v m)`;
# * data parallelism: the fp16 gradients are all-reduced, `2 (d - 1) / d x 2 psi` bytes, over
#   NVLink when `t d <= per_node`, else the network (ZeRO-1 sends the same); `step_time` is the
#   pipeline plus this.
#
# Both functions read their arguments and leave them as they were (the planner below passes the
# same model and cluster dicts to every call).

# %% kind="solution" id="cost"
def activation_bytes_per_layer(model, microbatch, t=1, sequence_parallel=False, recompute="none"):
    ### BEGIN SOLUTION
    s, h, a = model["seq"], model["hidden"], model["heads"]
    sbh = s * microbatch * h
    if recompute == "full":
        return 2 * sbh / (t if sequence_parallel else 1)
    scores = 0.0 if recompute == "selective" else 5 * a * s / h
    if sequence_parallel:
        return sbh * (34 + scores) / t
    return sbh * (10 + (24 + scores) / t)
    ### END SOLUTION


def plan_cost(model, cluster, plan, global_batch):
    ### BEGIN SOLUTION
    L, h, s = model["layers"], model["hidden"], model["seq"]
    t, p, d, b, v = plan["t"], plan["p"], plan["d"], plan["b"], plan["v"]
    m = global_batch // (d * b)
    psi = 12 * h * h * L / (t * p)
    states = 2 * psi + 2 * psi + 12 * psi / (d if plan["zero"] == 1 else 1)
    in_flight = p if v == 1 else p + (p - 1) / v
    acts = in_flight * (L / p) * activation_bytes_per_layer(model, b, t, plan["sp"], plan["recompute"])
    memory = states + acts
    fwd = (L / p) * (24 * b * s * h * h + 4 * b * s * s * h) / (t * cluster["flops"])
    bwd = 3 * fwd if plan["recompute"] == "full" else 2 * fwd
    vol = layer_comm_bytes(b * s, h, t, plan["sp"], plan["recompute"] == "full", 2)
    tp_bw = cluster["nvlink"] if t <= cluster["per_node"] else cluster["network"]
    tp = (L / p) * (vol["forward"] + vol["backward"]) / tp_bw
    bubble = (p - 1) / (v * m)
    pipe = m * (fwd + bwd + tp) * (1 + bubble)
    dp_bw = cluster["nvlink"] if t * d <= cluster["per_node"] else cluster["network"]
    dp = 2 * (d - 1) / d * 2 * psi / dp_bw
    return {"memory_bytes": float(memory), "step_time": float(pipe + dp), "bubble": float(bubble),
            "fits": bool(memory <= cluster["memory"])}
    ### END SOLUTION

# %% kind="locked" id="examples"
GPT_13B = {"layers": 40, "hidden": 5120, "heads": 40, "seq": 2048}
GPT_175B = {"layers": 96, "hidden": 12288, "heads": 96, "seq": 2048}
A100_NODES = lambda n: {"devices": n, "per_node": 8, "memory": 80e9, "flops": 0.6 * 312e12,
                        "nvlink": 300e9, "network": 25e9}


def candidate_plans(model, cluster, global_batch):
    """Every plan that can run (as plain dicts), in a fixed order."""
    n, out = cluster["devices"], []
    for t in [k for k in range(1, n + 1) if n % k == 0 and model["heads"] % k == 0]:
        for p in [k for k in range(1, n // t + 1) if (n // t) % k == 0 and model["layers"] % k == 0]:
            d = n // (t * p)
            for b in (1, 2, 4):
                if global_batch % (d * b):
                    continue
                m = global_batch // (d * b)
                if m < p:
                    continue
                for v in (1, 2):
                    if v > 1 and (p == 1 or m % p or model["layers"] % (p * v)):
                        continue
                    for sp in ((False, True) if t > 1 else (False,)):
                        for rc in ("none", "selective", "full"):
                            for z in (0, 1):
                                out.append({"t": t, "p": p, "d": d, "b": b, "v": v, "sp": sp, "recompute": rc, "zero": z})
    return out


print(len(candidate_plans(GPT_13B, A100_NODES(32), 256)), "plans for a 13B model on 32 GPUs")

# %% kind="test" id="test_cost" points=5
import math

_a = activation_bytes_per_layer(GPT_175B, 1, 8)
_case = "activation_bytes_per_layer(GPT_175B, microbatch=1, t=8)"
assert type(_a) is float, f"{_case}: return a float, got a {type(_a).__name__} ({_a!r})"
_want = 2048 * 12288 * (10 + 24 / 8 + 5 * 96 * 2048 / (12288 * 8))
assert math.isclose(_a, _want), f"{_case} is {_a}, expected s b h (10 + 24/t + 5as/(ht)) = {_want}"
_a = activation_bytes_per_layer(GPT_175B, 1, 8, True, "selective")
_want = 2048 * 12288 * 34 / 8
assert math.isclose(_a, _want), \
    f"activation_bytes_per_layer(GPT_175B, 1, 8, sequence_parallel=True, recompute='selective') is {_a}, expected s b h 34 / t = {_want}"
_plan = {"t": 8, "p": 16, "d": 12, "b": 1, "v": 1, "sp": False, "recompute": "full", "zero": 0}
_case = f"plan_cost(GPT_175B, A100_NODES(1536), {_plan}, 1536)"
_c = plan_cost(GPT_175B, A100_NODES(1536), _plan, 1536)
assert type(_c) is dict and set(_c) == {"memory_bytes", "step_time", "bubble", "fits"}, \
    f"{_case}: return a dict with memory_bytes, step_time, bubble and fits, got {_c!r}"
assert [type(_c[k]) for k in ("memory_bytes", "step_time", "bubble", "fits")] == [float, float, float, bool], \
    f"{_case}: memory_bytes, step_time and bubble are floats and fits a bool, got {_c!r}"
assert math.isclose(_c["bubble"], 15 / 128), f"{_case}: bubble is {_c['bubble']}, expected (p - 1) / (v m) = 15 / 128"
assert _c["fits"], f"{_case}: {_c['memory_bytes'] / 1e9:.1f} GB should fit in 80 GB"
print(_c)
### BEGIN HIDDEN TESTS
from mlsys_kit.models.costs import TransformerConfig as _TC
from mlsys_kit.parallel.model import activation_bytes_per_layer as _ref_act, pipeline_shape as _shape
from mlsys_kit.parallel.tensor import layer_comm_elements as _ref_layer


def _ref_activations(model, microbatch, t=1, sequence_parallel=False, recompute="none"):
    cfg = _TC(layers=model["layers"], hidden=model["hidden"], heads=model["heads"], seq_len=model["seq"])
    return _ref_act(cfg, microbatch, t, sequence_parallel, recompute)


def _ref_cost(model, cluster, plan, global_batch):
    """The judge's own implementation of the cost above."""
    L, h, s = model["layers"], model["hidden"], model["seq"]
    t, p, d, b, v = plan["t"], plan["p"], plan["d"], plan["b"], plan["v"]
    m = global_batch // (d * b)
    psi = 12 * h * h * L / (t * p)
    opt = 12 * psi / d if plan["zero"] else 12 * psi
    flight = p if v == 1 else p + (p - 1) / v
    mem = 4 * psi + opt + flight * (L / p) * _ref_activations(model, b, t, plan["sp"], plan["recompute"])
    f = (L / p) * (24 * b * s * h * h + 4 * b * s * s * h) / (t * cluster["flops"])
    comm = _ref_layer(b * s, h, t, plan["sp"], plan["recompute"] == "full")
    link = cluster["nvlink"] if t <= cluster["per_node"] else cluster["network"]
    per_mb = f * (4 if plan["recompute"] == "full" else 3) + (L / p) * 2 * comm["total"] / link
    dlink = cluster["nvlink"] if t * d <= cluster["per_node"] else cluster["network"]
    step = m * per_mb * (1 + (p - 1) / (v * m)) + (4 * psi * (d - 1) / d) / dlink
    return {"memory_bytes": float(mem), "step_time": float(step), "bubble": (p - 1) / (v * m), "fits": mem <= cluster["memory"]}


_rng = student_rng("cost")
# every microbatch, degree, mask of sequence parallelism and recomputation, on the paper's models and on
# models where 5 a s / h = 31.25 and 20.833... are not whole numbers (with the second, s b h (34 + 5 a s / h)
# in floating point falls just below a multiple of t: round nothing)
_small = {"layers": 4, "hidden": 64, "heads": 4, "seq": 128}
_odd = {"layers": 6, "hidden": 64, "heads": 4, "seq": 100}
_cases = []
for _m in (GPT_13B, GPT_175B, _small, _odd, {"layers": 6, "hidden": 1152, "heads": 24, "seq": 200}):
    for _t in [_k for _k in (1, 2, 4, 8) if _m["heads"] % _k == 0]:
        for _sp in ((False, True) if _t > 1 else (False,)):
            for _rc in ("none", "selective", "full"):
                _cases.append((_m, _rng.choice([1, 2, 4, 8]), _t, _sp, _rc))
same_as_reference(activation_bytes_per_layer, _ref_activations, _cases, rel=1e-12)
# the defaults (t = 1, no sequence parallelism, no recomputation), and the options by keyword
same_as_reference(activation_bytes_per_layer, _ref_activations,
                  [(_m, _rng.randint(1, 8)) for _m in (GPT_13B, _odd)] + [(_m, 2, 4) for _m in (GPT_175B, _small)] +
                  [((_m, 3), {"recompute": "selective", "t": 2}) for _m in (GPT_13B, _odd)] +
                  [((_m, 1), {"sequence_parallel": True, "t": 4, "recompute": "full"}) for _m in (GPT_175B, _small)],
                  rel=1e-12)
# plans drawn from every cluster's candidates: A100 nodes, a slow network with little memory, and nodes of
# 2 devices, where tensor parallelism of 4 or 8 crosses the network and data parallelism stays inside
_clusters = [(GPT_13B, A100_NODES(32), 256), (GPT_175B, A100_NODES(256), 512),
             (GPT_13B, dict(A100_NODES(64), network=5e9, memory=40e9), 128),
             ({"layers": 8, "hidden": 256, "heads": 8, "seq": 512},
              {"devices": 16, "per_node": 2, "memory": 4e9, "flops": 1e14, "nvlink": 1e11, "network": 1e10}, 64)]
for _model, _cluster, _batch in _clusters:
    _plans = candidate_plans(_model, _cluster, _batch)
    _pick = _rng.sample(_plans, 40) + [_q for _q in _plans if _q["t"] > _cluster["per_node"]][:6] + \
        [_q for _q in _plans if _q["d"] > 1 and _q["t"] * _q["d"] <= _cluster["per_node"]][:6]
    same_as_reference(plan_cost, _ref_cost, [(_model, _cluster, _q, _batch) for _q in _pick], rel=1e-9,
                      label=f"{_cluster['devices']} devices, {_cluster['per_node']} per node")
    # a plan whose memory is exactly the device's memory fits
    for _q in _rng.sample(_plans, 3):
        _at = plan_cost(_model, dict(_cluster, memory=plan_cost(_model, _cluster, _q, _batch)["memory_bytes"]), _q, _batch)
        assert _at["fits"] is True, ("memory equal to the capacity fits", _q)
# fixed cases where the quotients are not whole: 5 a s / h = 31.25, 12 psi / d with d = 5 or 15 (ZeRO-1)
_odd_cluster = {"devices": 30, "per_node": 6, "memory": 1e9, "flops": 1e12, "nvlink": 1e11, "network": 1e10}
same_as_reference(plan_cost, _ref_cost, [(_odd, _odd_cluster, _q, 60) for _q in [
    {"t": 2, "p": 3, "d": 5, "b": 1, "v": 1, "sp": True, "recompute": "none", "zero": 1},
    {"t": 2, "p": 3, "d": 5, "b": 1, "v": 2, "sp": False, "recompute": "none", "zero": 1},
    {"t": 1, "p": 2, "d": 15, "b": 2, "v": 1, "sp": False, "recompute": "selective", "zero": 1},
    {"t": 2, "p": 1, "d": 15, "b": 4, "v": 1, "sp": True, "recompute": "full", "zero": 1},
    {"t": 1, "p": 1, "d": 30, "b": 1, "v": 1, "sp": False, "recompute": "none", "zero": 0},
    {"t": 1, "p": 6, "d": 5, "b": 2, "v": 1, "sp": False, "recompute": "selective", "zero": 1}]], rel=1e-12)
# the memory boundary, in exact numbers: 16 psi + p (layers / p) 2 s b h = 786432 + 76800 bytes
_edge = {"t": 2, "p": 3, "d": 5, "b": 1, "v": 1, "sp": False, "recompute": "full", "zero": 0}
_got = plan_cost(_odd, dict(_odd_cluster, memory=863232.0), _edge, 60)
assert _got["memory_bytes"] == 863232.0 and _got["fits"] is True, ("memory equal to the capacity fits", _got)
assert plan_cost(_odd, dict(_odd_cluster, memory=863231.0), _edge, 60)["fits"] is False, "one byte short does not fit"
# the bubble and the microbatches in flight are what the pipeline simulator measures
for _p, _m_, _v in [(4, 8, 1), (4, 8, 2), (8, 16, 2), (2, 6, 1)]:
    _sh = _shape(_p, _m_, _v, exact=True)
    assert math.isclose(_sh["bubble"], (_p - 1) / (_v * _m_), rel_tol=1e-9)
    assert math.isclose(_sh["in_flight"], _p if _v == 1 else _p + (_p - 1) / _v, rel_tol=1e-9)
### END HIDDEN TESTS

# %% [markdown] id="md-plan"
# ## 4. Design question: search, then pick a plan (5 points)
#
# `best_plan(model, cluster, global_batch)`: among `candidate_plans(model, cluster, global_batch)`
# (given, above), the plan with the smallest `step_time` among those that fit (the first one in
# the list's order on a tie: plans that differ only in `zero`, or in `"none"` against
# `"selective"`, take exactly the same time); `None` if none fits. (2 points.)

# %% kind="solution" id="plan"
def best_plan(model, cluster, global_batch):
    ### BEGIN SOLUTION
    best, best_time = None, float("inf")
    for plan in candidate_plans(model, cluster, global_batch):
        c = plan_cost(model, cluster, plan, global_batch)
        if c["fits"] and c["step_time"] < best_time:
            best, best_time = plan, c["step_time"]
    return best
    ### END SOLUTION

# %% kind="test" id="test_plan" points=2
_small = {"layers": 4, "hidden": 64, "heads": 4, "seq": 128}
_bp = best_plan(_small, A100_NODES(8), 16)
_case = "best_plan(_small, A100_NODES(8), 16)"
assert type(_bp) is dict and set(_bp) == {"t", "p", "d", "b", "v", "sp", "recompute", "zero"}, \
    f"{_case}: return one of candidate_plans' dicts, got {_bp!r}"
assert _bp in candidate_plans(_small, A100_NODES(8), 16), f"{_case}: {_bp} is not one of the candidate plans"
_none = best_plan(GPT_175B, dict(A100_NODES(8), memory=1e9), 8)
assert _none is None, f"best_plan(GPT_175B, 8 devices of 1 GB, 8): nothing fits, so None, got {_none!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.parallel.tensor import layer_comm_elements as _ref_layer
from mlsys_kit.models.costs import TransformerConfig as _TC
from mlsys_kit.parallel.model import activation_bytes_per_layer as _ref_act


def _plan_cost_ref(model, cluster, plan, global_batch):
    """The judge's own implementation of plan_cost: (memory, step time)."""
    L, h, s = model["layers"], model["hidden"], model["seq"]
    t, p, d, b, v = plan["t"], plan["p"], plan["d"], plan["b"], plan["v"]
    m = global_batch // (d * b)
    cfg = _TC(layers=L, hidden=h, heads=model["heads"], seq_len=s)
    psi = 12 * h * h * L / (t * p)
    flight = p if v == 1 else p + (p - 1) / v
    mem = 4 * psi + (12 * psi / d if plan["zero"] else 12 * psi) + flight * (L / p) * _ref_act(cfg, b, t, plan["sp"],
                                                                                              plan["recompute"])
    f = (L / p) * (24 * b * s * h * h + 4 * b * s * s * h) / (t * cluster["flops"])
    comm = _ref_layer(b * s, h, t, plan["sp"], plan["recompute"] == "full")
    link = cluster["nvlink"] if t <= cluster["per_node"] else cluster["network"]
    per_mb = f * (4 if plan["recompute"] == "full" else 3) + (L / p) * 2 * comm["total"] / link
    dlink = cluster["nvlink"] if t * d <= cluster["per_node"] else cluster["network"]
    return mem, m * per_mb * (1 + (p - 1) / (v * m)) + (4 * psi * (d - 1) / d) / dlink


def _ref_best(model, cluster, batch):
    """The first plan of least step time among those that fit (in candidate_plans' order)."""
    best, best_time = None, float("inf")
    for plan in candidate_plans(model, cluster, batch):
        _mem, _step = _plan_cost_ref(model, cluster, plan, batch)
        if _mem <= cluster["memory"] and _step < best_time:
            best, best_time = plan, _step
    return best


assert _bp == _ref_best(_small, A100_NODES(8), 16), _bp
_cases = [(GPT_13B, dict(A100_NODES(64), network=2e9), 128), (GPT_175B, dict(A100_NODES(8), memory=1e9), 8)]
# clusters drawn for this student: node sizes from 1 to 8, links and memory varied, the memory often below
# what the fastest plan needs (so that fitting decides); the best plans tie in fours (zero 0 or 1, no or
# selective recomputation take the same time), so the first in the list's order must win
_rng = student_rng("plan")
for _ in range(4):
    _m = {"layers": _rng.choice([4, 8, 12]), "hidden": 64 * _rng.choice([2, 4, 8]), "heads": _rng.choice([4, 8]),
          "seq": _rng.choice([128, 256, 1024])}
    _cl = {"devices": _rng.choice([4, 8, 16]), "per_node": _rng.choice([1, 2, 4, 8]), "memory": 80e9,
           "flops": _rng.uniform(1e13, 3e14), "nvlink": _rng.uniform(5e10, 3e11), "network": _rng.uniform(1e9, 5e10)}
    _batch = _cl["devices"] * _rng.choice([4, 8, 16])
    _fastest = _ref_best(_m, _cl, _batch)
    if _fastest is not None:
        _cl["memory"] = _plan_cost_ref(_m, _cl, _fastest, _batch)[0] * _rng.uniform(0.3, 1.0)
    _cases.append((_m, _cl, _batch))
same_as_reference(best_plan, _ref_best, _cases, rel=0.0)
### END HIDDEN TESTS

# %% [markdown] id="md-answer-plan"
# Now the question: **a 13B-parameter GPT (`GPT_13B`) is to be trained on 32 A100-80GB in 4
# nodes of 8 (`A100_NODES(32)`), global batch 256. Which plan?** Put your planner's answer in
# `ANSWER_PLAN` (1 point, autograded: the plan your `best_plan` picks).
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **does `ANSWER_PLAN` follow Megatron-LM's takeaway (tensor parallelism inside a node, pipeline
# across nodes, then data parallelism)? Why is its `t` small and inside a node rather than 8 (a
# whole node), and why not pure data parallelism (`t = p = 1`)?** Use numbers from your `plan_cost`
# (e.g. the tensor-parallel traffic and the compute of one microbatch at `t = 2` and `t = 8`).

# %% kind="solution" id="answer_plan"
### BEGIN SOLUTION
ANSWER_PLAN = best_plan(GPT_13B, A100_NODES(32), 256)
### END SOLUTION
print(ANSWER_PLAN)

# %% kind="test" id="test_answer_plan" points=1
try:
    _answer = ANSWER_PLAN
except NameError:
    raise AssertionError("ANSWER_PLAN is not set: run the cell above that sets it (with your best_plan) first") from None
assert type(_answer) is dict and set(_answer) == {"t", "p", "d", "b", "v", "sp", "recompute", "zero"}, \
    f"ANSWER_PLAN should be one of candidate_plans' dicts, got {_answer!r}"
assert _answer["t"] * _answer["p"] * _answer["d"] == 32, f"ANSWER_PLAN {_answer} does not use the 32 devices (t p d = 32)"
### BEGIN HIDDEN TESTS
# what best_plan picks (test_plan checks best_plan against the judge's own search)
_want = {"t": 2, "p": 4, "d": 4, "b": 1, "v": 2, "sp": False, "recompute": "none", "zero": 0}
assert _answer == _want, (_answer, _want)
assert 1 < _answer["t"] <= 8, "tensor parallelism within a node"
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_plan_why" points=2
# Yes. The planner picks `t = 2, p = 4, d = 4` (`b = 1`, interleaved `v = 2`, no recomputation,
# 7.41 s a step, 60.9 GB of 80 GB): tensor parallelism inside a node, one pipeline stage per node,
# and data parallelism with `t d = 8`, so the gradient all-reduce stays on NVLink too.
# Why `t` is small: tensor parallelism all-reduces activations in every layer of every
# microbatch, on the critical path, so it needs NVLink (300 GB/s against 25 GB/s between nodes),
# and even there its share grows with `t`: compute per rank falls as `1/t` while the bytes a rank
# sends grow as `(t - 1)/t`. One microbatch on one stage computes for 110 ms and all-reduces for
# 2.8 ms at `t = 2` (2.5 %), but 27.5 ms against 4.9 ms at `t = 8` (18 %): `t = 8` takes 8.35 s.
# The pipeline costs only its bubble, `(p - 1)/(v m) = 3/128` (2.3 %, `m = 64`), and sends one
# activation per microbatch between stages, which the slow inter-node link can carry.
# Why not pure data parallelism: every device would hold all 12.6 billion parameters (201 GB of
# model states), so it fits only with ZeRO-1 and recomputation (69 GB with selective), and every
# step all-reduces the whole model's fp16 gradients, 25 GB, across the 25 GB/s network: about
# 2 s of the 9.0 s step. Split by `t p = 8`, each device all-reduces 1/8 of them, inside a node.

# %% [markdown] kind="rubric" id="q_plan_why_rubric"
# Rubric (2 points):
#
# * 1 point: tensor parallelism inside a node, small: its all-reduces happen in every layer and
#   microbatch and need NVLink; its share of the time grows with `t` (compute `/ t`, traffic
#   `(t - 1)/t`), with numbers from `plan_cost` (e.g. 2.8 ms of 110 ms at `t = 2` against 4.9 ms
#   of 27.5 ms at `t = 8`, or the step times 7.41 s against 8.35 s). Half a point without numbers.
# * 1 point: the pipeline crosses the nodes because it only costs a small bubble (3/128 here) and
#   point-to-point activations; pure data parallelism replicates the model (it fits only with
#   ZeRO-1 and recomputation) and all-reduces all its gradients over the slow network (9.0 s a
#   step). Half a point for only one of the two.
# * Typical wrong answer: "more tensor parallelism is always faster because each GPU computes
#   less" (it ignores the growing all-reduce share), or "the pipeline has no cost" (the bubble).

# %% [markdown] id="md-reflect"
# ## Reflection (not graded)
#
# 1. Sequence parallelism sends one all-gather more per block than tensor parallelism. What does it
#    buy, and why does the planner often choose it anyway?
# 2. Lower `network` to 2e9 in `A100_NODES(32)` and run `best_plan` again. Does the plan change?
#    Which of its collectives cross the network at all?
# 3. The interleaved schedule halves the bubble at v = 2. What does it cost, in memory and in
#    point-to-point messages? (`mlsys-kit pipeline simulate --schedule interleaved-1f1b`)
