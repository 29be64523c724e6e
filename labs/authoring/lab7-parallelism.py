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
# collectives are given (`all_reduce`, `all_gather_rows`, `reduce_scatter_rows`): each takes one
# tensor per rank and `sent`, a list with one byte counter per rank, to which it adds what each
# rank sends with the ring algorithm. Fill in every cell that says `YOUR CODE HERE` (delete the
# `raise NotImplementedError()`), then run the test cell below it. Hidden tests check many more
# shapes, degrees and plans. Total: 19 points (17 autograded, 2 graded by hand).

# %% kind="locked" id="setup"
import math

import torch
import torch.nn.functional as F

torch.set_num_threads(1)


def _ring(numel, t, elem):
    """Bytes one rank sends in a ring all-gather or reduce-scatter of `numel` elements."""
    return (t - 1) * math.ceil(numel / t) * elem


def all_reduce(xs, sent):
    """Every rank gets the sum of all ranks' tensors (ring: 2 (t-1) ceil(n/t) elements sent)."""
    t, total = len(xs), sum(x.clone() for x in xs)
    for r in range(t):
        sent[r] += 2 * _ring(xs[0].numel(), t, xs[0].element_size())
    return [total.clone() for _ in range(t)]


def all_gather_rows(shards, sent):
    """Every rank gets the rows of all ranks stacked in rank order."""
    t, full = len(shards), torch.cat(shards)
    for r in range(t):
        sent[r] += _ring(full.numel(), t, full.element_size())
    return [full.clone() for _ in range(t)]


def reduce_scatter_rows(xs, sent):
    """Rank r gets row block r of the sum over ranks."""
    t, total = len(xs), sum(x.clone() for x in xs)
    for r in range(t):
        sent[r] += _ring(total.numel(), t, total.element_size())
    return [c.clone() for c in total.chunk(t)]


_sent = [0, 0]
print(all_reduce([torch.ones(4), 2 * torch.ones(4)], _sent), "sent per rank:", _sent)

# %% [markdown] id="md-linears"
# ## 1. Column- and row-parallel linears (6 points)
#
# Rank `r` of `t` holds `a_shards[r]`, columns `[r out/t, (r+1) out/t)` of `A` (column-parallel),
# or `b_shards[r]`, rows `[r in/t, (r+1) in/t)` of `B` (row-parallel).
#
# * `column_forward(x, a_shards, sent)`: every rank reads the same `x` (`f` is the identity
#   forward); returns `[x @ A_r for each rank]`.
# * `column_backward(x, a_shards, grad_y, sent)`: `grad_y[r]` is dL/dY_r. Returns
#   `(grad_x, grad_a)`: `grad_a[r] = x^T grad_y[r]` (local), and `grad_x`, one tensor per rank,
#   each the **full** dL/dX = sum over r of `grad_y[r] A_r^T`: `f`'s backward is an all-reduce.
# * `row_forward(x_shards, b_shards, sent)`: rank r multiplies its `x_shards[r]` (its columns of the
#   input, e.g. the output of a column-parallel layer) by `B_r`; `g` all-reduces the partial sums;
#   returns the full `Z` on every rank.
# * `row_backward(x_shards, b_shards, grad_z, sent)`: `grad_z[r]` is the full dL/dZ on rank r
#   (`g`'s backward is the identity). Returns `(grad_x, grad_b)`, both local.
#
# Communicate only with the given collectives and only where the operators say so: the tests count
# `sent`.

# %% kind="solution" id="linears"
def column_forward(x, a_shards, sent):
    ### BEGIN SOLUTION
    return [x @ a for a in a_shards]
    ### END SOLUTION


def column_backward(x, a_shards, grad_y, sent):
    ### BEGIN SOLUTION
    grad_a = [x.t() @ g for g in grad_y]
    partial = [g @ a.t() for g, a in zip(grad_y, a_shards)]
    return all_reduce(partial, sent), grad_a
    ### END SOLUTION


def row_forward(x_shards, b_shards, sent):
    ### BEGIN SOLUTION
    return all_reduce([x @ b for x, b in zip(x_shards, b_shards)], sent)
    ### END SOLUTION


def row_backward(x_shards, b_shards, grad_z, sent):
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


def mlp_check(column_forward, column_backward, row_forward, row_backward, t, tokens, hidden, seed):
    """Run the Megatron MLP GeLU(X A) B forward and backward with the four functions on t ranks,
    compare with autograd on the unsplit MLP (float64), and return the bytes sent per rank
    after the forward pass and after the backward pass."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(tokens, hidden, generator=gen, dtype=torch.float64)
    a = torch.randn(hidden, 4 * hidden, generator=gen, dtype=torch.float64) / hidden ** 0.5
    b = torch.randn(4 * hidden, hidden, generator=gen, dtype=torch.float64) / (4 * hidden) ** 0.5
    gz = torch.randn(tokens, hidden, generator=gen, dtype=torch.float64)
    xr, ar, br = (v.clone().requires_grad_(True) for v in (x, a, b))
    z_ref = F.gelu(xr @ ar, approximate="tanh") @ br
    z_ref.backward(gz)
    a_s, b_s = [c.clone() for c in a.chunk(t, dim=1)], [c.clone() for c in b.chunk(t, dim=0)]
    sent = [0] * t
    u = column_forward(x, a_s, sent)
    assert type(u) is list and len(u) == t, "column_forward returns one tensor per rank"
    h = [F.gelu(ur, approximate="tanh") for ur in u]
    z = row_forward(h, b_s, sent)
    assert type(z) is list and len(z) == t, "row_forward returns one tensor per rank"
    for r in range(t):
        assert torch.allclose(z[r], z_ref.detach(), atol=1e-9), f"rank {r}: Z differs from the unsplit MLP"
    after_forward = [int(s) for s in sent]
    gh, gb = row_backward(h, b_s, [gz.clone() for _ in range(t)], sent)
    gu = [g * gelu_grad(ur) for g, ur in zip(gh, u)]
    gx, ga = column_backward(x, a_s, gu, sent)
    assert type(gx) is list and len(gx) == t and type(ga) is list and len(ga) == t
    for r in range(t):
        assert torch.allclose(gx[r], xr.grad, atol=1e-9), f"rank {r}: dL/dX differs from autograd"
    assert torch.allclose(torch.cat(ga, dim=1), ar.grad, atol=1e-9), "dL/dA differs from autograd"
    assert torch.allclose(torch.cat(gb, dim=0), br.grad, atol=1e-9), "dL/dB differs from autograd"
    return after_forward, [int(s) for s in sent]

# %% kind="test" id="test_linears" points=6
import math

_fwd, _total = mlp_check(column_forward, column_backward, row_forward, row_backward, 2, 4, 8, 0)
print("bytes sent per rank after forward:", _fwd, "after backward:", _total)
assert _fwd == [2 * 1 * 16 * 8] * 2, "one all-reduce of 4 x 8 float64 values in the forward pass (g)"
assert _total == [2 * 2 * 1 * 16 * 8] * 2, "and one in the backward pass (f)"
### BEGIN HIDDEN TESTS
for _t, _tok, _h, _seed in [(1, 3, 4, 1), (2, 6, 4, 2), (4, 4, 8, 3), (4, 5, 4, 4), (8, 2, 8, 5), (3, 7, 6, 6)]:
    _fwd, _total = mlp_check(column_forward, column_backward, row_forward, row_backward, _t, _tok, _h, _seed)
    _u = 2 * (_t - 1) * math.ceil(_tok * _h / _t) * 8
    assert _fwd == [_u] * _t and _total == [2 * _u] * _t, (_t, _tok, _h, _fwd, _total)
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
assert type(_v) is dict and type(_v["forward"]) is int and type(_v["backward"]) is int, "a dict of ints"
assert _v == {"forward": 4 * 7 * 2048 * 512 * 2, "backward": 4 * 7 * 2048 * 512 * 2}, _v
assert layer_comm_bytes(64, 16, 1) == {"forward": 0, "backward": 0}
### BEGIN HIDDEN TESTS
from mlsys_kit.parallel.tensor import layer_comm_elements as _ref_layer
for _tok, _h, _t in [(64, 16, 2), (64, 16, 4), (2048, 4096, 8), (12, 6, 3), (4096, 12288, 16), (8, 8, 8)]:
    for _sp in (False, True):
        for _rc in (False, True):
            for _db in (2, 4):
                _want = _ref_layer(_tok, _h, _t, _sp, _rc)
                _got = layer_comm_bytes(_tok, _h, _t, _sp, _rc, _db)
                assert type(_got["forward"]) is int and type(_got["backward"]) is int
                assert _got == {"forward": _want["forward"] * _db, "backward": _want["backward"] * _db}, \
                    (_tok, _h, _t, _sp, _rc, _db, _got)
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
# `activation_bytes(model, b, t, sp, recompute)`: bytes one layer keeps for the backward pass of
# one microbatch, Korthikanti et al. table 2, with `s b h` = seq x b x hidden and `a` = heads:
# `sbh (10 + 24/t + 5as/(ht))` with tensor parallelism (t = 1: no parallelism), `sbh/t (34 + 5as/h)`
# with sequence parallelism; selective recomputation drops the `5as/h` term; full recomputation
# keeps only the layer's input, `2 sbh` (`/t` with sequence parallelism).
#
# `plan_cost(model, cluster, plan, global_batch)`: a dict with `memory_bytes`, `step_time`,
# `bubble` (floats) and `fits` (bool):
#
# * parameters per device `psi = 12 hidden^2 layers / (t p)`; weights `2 psi`, gradients
#   `2 psi`, Adam `12 psi` bytes (`/ d` with ZeRO-1);
# * activations: `in_flight x (layers / p) x activation_bytes(...)`, where the 1F1B schedule keeps
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

# %% kind="solution" id="cost"
def activation_bytes(model, b, t, sp=False, recompute="none"):
    ### BEGIN SOLUTION
    s, h, a = model["seq"], model["hidden"], model["heads"]
    sbh = s * b * h
    if recompute == "full":
        return 2 * sbh / (t if sp else 1)
    scores = 0.0 if recompute == "selective" else 5 * a * s / h
    if sp:
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
    acts = in_flight * (L / p) * activation_bytes(model, b, t, plan["sp"], plan["recompute"])
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

_a = activation_bytes(GPT_175B, 1, 8)
assert type(_a) is float, "return a float"
assert math.isclose(_a, 2048 * 12288 * (10 + 24 / 8 + 5 * 96 * 2048 / (12288 * 8)))
assert math.isclose(activation_bytes(GPT_175B, 1, 8, True, "selective"), 2048 * 12288 * 34 / 8)
_c = plan_cost(GPT_175B, A100_NODES(1536), {"t": 8, "p": 16, "d": 12, "b": 1, "v": 1, "sp": False,
                                             "recompute": "full", "zero": 0}, 1536)
assert set(_c) == {"memory_bytes", "step_time", "bubble", "fits"}
assert type(_c["step_time"]) is float and type(_c["fits"]) is bool
assert math.isclose(_c["bubble"], 15 / 128) and _c["fits"]
print(_c)
### BEGIN HIDDEN TESTS
import random as _random

from mlsys_kit.models.costs import TransformerConfig as _TC
from mlsys_kit.parallel.model import activation_bytes_per_layer as _ref_act, pipeline_shape as _shape
from mlsys_kit.parallel.tensor import layer_comm_elements as _ref_layer


def _ref_cost(model, cluster, plan, global_batch):
    """The judge's own implementation of the cost above."""
    L, h, s = model["layers"], model["hidden"], model["seq"]
    t, p, d, b, v = plan["t"], plan["p"], plan["d"], plan["b"], plan["v"]
    m = global_batch // (d * b)
    cfg = _TC(layers=L, hidden=h, heads=model["heads"], seq_len=s)
    psi = 12 * h * h * L / (t * p)
    opt = 12 * psi / d if plan["zero"] else 12 * psi
    flight = p if v == 1 else p + (p - 1) / v
    mem = 4 * psi + opt + flight * (L / p) * _ref_act(cfg, b, t, plan["sp"], plan["recompute"])
    f = (L / p) * (24 * b * s * h * h + 4 * b * s * s * h) / (t * cluster["flops"])
    comm = _ref_layer(b * s, h, t, plan["sp"], plan["recompute"] == "full")
    link = cluster["nvlink"] if t <= cluster["per_node"] else cluster["network"]
    per_mb = f * (4 if plan["recompute"] == "full" else 3) + (L / p) * 2 * comm["total"] / link
    dlink = cluster["nvlink"] if t * d <= cluster["per_node"] else cluster["network"]
    step = m * per_mb * (1 + (p - 1) / (v * m)) + (4 * psi * (d - 1) / d) / dlink
    return mem, step, (p - 1) / (v * m), mem <= cluster["memory"]


# the last two models make 5 a s / h = 31.25 and 5 a s / h = 20.833...: not whole numbers (with the
# second, s b h (34 + 5 a s / h) in floating point falls just below a multiple of t: round nothing)
for _m in (GPT_13B, GPT_175B, {"layers": 4, "hidden": 64, "heads": 4, "seq": 128}, {"layers": 6, "hidden": 64, "heads": 4, "seq": 100},
           {"layers": 6, "hidden": 1152, "heads": 24, "seq": 200}):
    for _b in (1, 2, 4):
        for _t in [_k for _k in (1, 2, 4, 8) if _m["heads"] % _k == 0]:
            for _sp in ((False, True) if _t > 1 else (False,)):
                for _rc in ("none", "selective", "full"):
                    _cfg = _TC(layers=_m["layers"], hidden=_m["hidden"], heads=_m["heads"], seq_len=_m["seq"])
                    _got = activation_bytes(_m, _b, _t, _sp, _rc)
                    assert type(_got) is float and math.isclose(_got, _ref_act(_cfg, _b, _t, _sp, _rc), rel_tol=1e-12), \
                        (_m, _b, _t, _sp, _rc)
_rng = _random.Random(7)
for _model, _cluster, _batch in [(GPT_13B, A100_NODES(32), 256), (GPT_175B, A100_NODES(256), 512),
                                 (GPT_13B, dict(A100_NODES(64), network=5e9, memory=40e9), 128)]:
    _plans = candidate_plans(_model, _cluster, _batch)
    for _plan in _rng.sample(_plans, 120):
        _got = plan_cost(_model, _cluster, _plan, _batch)
        _mem, _step, _bub, _fits = _ref_cost(_model, _cluster, _plan, _batch)
        assert type(_got["fits"]) is bool and type(_got["memory_bytes"]) is float, _plan
        assert math.isclose(_got["memory_bytes"], _mem, rel_tol=1e-9), (_plan, _got["memory_bytes"], _mem)
        assert math.isclose(_got["step_time"], _step, rel_tol=1e-9), (_plan, _got["step_time"], _step)
        assert math.isclose(_got["bubble"], _bub, rel_tol=1e-12) and _got["fits"] == _fits, _plan
    # a plan whose memory is exactly the device's memory fits
    for _plan in _plans[:3]:
        _at = plan_cost(_model, dict(_cluster, memory=plan_cost(_model, _cluster, _plan, _batch)["memory_bytes"]), _plan, _batch)
        assert _at["fits"] is True, ("memory equal to the capacity fits", _plan)
# fixed cases where the quotients are not whole: 5 a s / h = 31.25, 12 psi / d with d = 5 or 15 (ZeRO-1)
_odd = {"layers": 6, "hidden": 64, "heads": 4, "seq": 100}
_odd_cluster = {"devices": 30, "per_node": 6, "memory": 1e9, "flops": 1e12, "nvlink": 1e11, "network": 1e10}
for _plan in [{"t": 2, "p": 3, "d": 5, "b": 1, "v": 1, "sp": True, "recompute": "none", "zero": 1},
              {"t": 2, "p": 3, "d": 5, "b": 1, "v": 2, "sp": False, "recompute": "none", "zero": 1},
              {"t": 1, "p": 2, "d": 15, "b": 2, "v": 1, "sp": False, "recompute": "selective", "zero": 1},
              {"t": 2, "p": 1, "d": 15, "b": 4, "v": 1, "sp": True, "recompute": "full", "zero": 1},
              {"t": 1, "p": 1, "d": 30, "b": 1, "v": 1, "sp": False, "recompute": "none", "zero": 0}]:
    _got = plan_cost(_odd, _odd_cluster, _plan, 60)
    _mem, _step, _bub, _fits = _ref_cost(_odd, _odd_cluster, _plan, 60)
    assert type(_got["memory_bytes"]) is float and type(_got["step_time"]) is float and type(_got["bubble"]) is float
    assert math.isclose(_got["memory_bytes"], _mem, rel_tol=1e-12), (_plan, _got["memory_bytes"], _mem)
    assert math.isclose(_got["step_time"], _step, rel_tol=1e-12), (_plan, _got["step_time"], _step)
    assert math.isclose(_got["bubble"], _bub, rel_tol=1e-12) and _got["fits"] is True, _plan
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
# the list's order on a tie); `None` if none fits.
#
# Then the question: **a 13B-parameter GPT (`GPT_13B`) is to be trained on 32 A100-80GB in 4
# nodes of 8 (`A100_NODES(32)`), global batch 256. Which plan?** Put your planner's answer in
# `ANSWER_PLAN` (3 points, autograded with `best_plan`).
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **does `ANSWER_PLAN` follow Megatron-LM's takeaway (tensor parallelism inside a node, pipeline
# across nodes, then data parallelism)? Why is its `t` small and inside a node rather than 8 (a
# whole node), and why not pure data parallelism (`t = p = 1`)?** Use numbers from your `plan_cost`
# (e.g. the tensor-parallel traffic and the compute of one microbatch at `t = 2` and `t = 8`).

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


### BEGIN SOLUTION
ANSWER_PLAN = best_plan(GPT_13B, A100_NODES(32), 256)
### END SOLUTION
print(ANSWER_PLAN)

# %% kind="test" id="test_plan" points=3
_small = {"layers": 4, "hidden": 64, "heads": 4, "seq": 128}
_bp = best_plan(_small, A100_NODES(8), 16)
assert type(_bp) is dict and set(_bp) == {"t", "p", "d", "b", "v", "sp", "recompute", "zero"}, _bp
assert type(ANSWER_PLAN) is dict
assert ANSWER_PLAN["t"] * ANSWER_PLAN["p"] * ANSWER_PLAN["d"] == 32
### BEGIN HIDDEN TESTS
def _ref_best(model, cluster, batch):
    best, best_time = None, float("inf")
    for plan in candidate_plans(model, cluster, batch):
        _mem, _step, _b, _fits = _ref_cost(model, cluster, plan, batch)
        if _fits and _step < best_time:
            best, best_time = plan, _step
    return best


assert ANSWER_PLAN == _ref_best(GPT_13B, A100_NODES(32), 256), ANSWER_PLAN
assert 1 < ANSWER_PLAN["t"] <= 8, "tensor parallelism within a node"
assert _bp == _ref_best(_small, A100_NODES(8), 16), _bp
assert best_plan(GPT_175B, dict(A100_NODES(8), memory=1e9), 8) is None
assert best_plan(GPT_13B, dict(A100_NODES(64), network=2e9), 128) == _ref_best(GPT_13B, dict(A100_NODES(64), network=2e9), 128)
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
