# lab4-zero: the source of labs/source/lab4-zero/lab4-zero.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab4-zero`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.zero.simulate", "mlsys_kit.zero.model"]}

# %% [markdown] id="intro"
# # Lab 4: ZeRO, partitioned data parallelism
#
# Plain data parallelism keeps a full copy of the parameters, the gradients and the optimizer
# states on every rank. ZeRO (Rajbhandari et al., SC'20) partitions them across the $N_d$ ranks:
# stage 1 the optimizer states, stage 2 also the gradients, stage 3 also the parameters
# (section 5), for the same communication volume as data parallelism in stages 1 and 2 and 1.5x
# in stage 3 (section 7).
#
# You will build ZeRO-2 in a *simulated* world of $N$ ranks living in one Python process. The
# world (`SimWorld`, given) runs real ring collectives step by step and counts every byte each
# rank sends (`world.sent[r]`). You write:
#
# 1. flat-buffer partitioning with padding (when $N$ does not divide the number of parameters);
# 2. the Adam update on one slice;
# 3. the ZeRO-2 step: reduce-scatter the gradients, average them, Adam on the own slice only,
#    all-gather the parameters;
# 4. a prediction of the bytes each rank holds and sends, which you then measure.
#
# Everything is fp32 here: 4 bytes per parameter, 4 per gradient, and Adam's two moments,
# $K = 8$ bytes per parameter. Fill in every cell that says `YOUR CODE HERE` (delete the
# `raise NotImplementedError()`), then run the test cell below it. The visible tests are a
# start; hidden tests check many more world sizes and model sizes, including ones $N$ does not
# divide.

# %% kind="locked" id="setup"
import math

import torch
from torch import nn

from mlsys_kit.zero.collectives import SimWorld  # ring collectives that count bytes (given)

torch.set_num_threads(1)

_w = SimWorld(3)
_out = _w.reduce_scatter([torch.arange(6.0), torch.ones(6), torch.zeros(6)])
print("reduce_scatter ->", [t.tolist() for t in _out], "bytes sent per rank:", _w.sent)
del _w, _out


# The design question's model and clusters (section 5 of this lab): the paper's 7.5B-parameter model
PSI_7B5 = 7_500_000_000
CLUSTER_64x40GB = (64, 40e9)   # (ranks, bytes per device): 64 GPUs of 40 GB
CLUSTER_8x80GB = (8, 80e9)     # 8 GPUs of 80 GB


def fresh_partition_probe(numel, n):
    """Partition a buffer of ones, write 7 into every slice returned, partition ones again: returns
    (the input buffer, the second call's slices). Slices must be new tensors, so neither changes."""
    flat = torch.ones(numel)
    for part in partition(flat, n):
        part.fill_(7.0)
    return flat, partition(torch.ones(numel), n)


def fresh_init_probe(numel, n):
    """``init_zero2`` on a buffer of ones, then 7 written into rank 0's parameters: returns (the input
    buffer, every rank's parameters). Each rank holds its own copy, so only rank 0's change."""
    flat = torch.ones(numel)
    states = init_zero2(flat, n)
    states[0]["params"].fill_(7.0)
    return flat, [st["params"] for st in states]


def adam_on_slice(p, g, m, v, lo, hi, step, **kw):
    """Your ``adam_update`` on the slices ``p[lo:hi]``, ``m[lo:hi]``, ``v[lo:hi]`` (views: an update
    in place reaches ``p``, ``m`` and ``v``)."""
    adam_update(p[lo:hi], g, m[lo:hi], v[lo:hi], step, **kw)

# %% kind="checker" id="models"
import torch
from torch import nn


def small_model(sizes=(4, 6, 2), seed=0):
    """An MLP: Linear, Tanh, ..., Linear."""
    torch.manual_seed(seed)
    layers = []
    for i, (a, b) in enumerate(zip(sizes, sizes[1:])):
        layers += [nn.Linear(a, b)] + ([nn.Tanh()] if i < len(sizes) - 2 else [])
    return nn.Sequential(*layers)


def flat_params(model):
    return torch.cat([p.detach().reshape(-1) for p in model.parameters()])


def local_grad(model, flat, x, y):
    """The gradient of this rank's MSE loss at the parameters `flat` (a padded flat buffer),
    returned as a flat buffer of the same (padded) length, zeros in the padding."""
    tensors, i = {}, 0
    for name, p in model.named_parameters():
        tensors[name] = flat[i:i + p.numel()].view_as(p).clone().requires_grad_(True)
        i += p.numel()
    loss = nn.functional.mse_loss(torch.func.functional_call(model, tensors, (x,)), y)
    grads = torch.autograd.grad(loss, list(tensors.values()))
    out = torch.zeros_like(flat)
    out[:i] = torch.cat([g.reshape(-1) for g in grads])
    return out


def make_batches(sizes, n, steps, per_rank=3, seed=1):
    gen = torch.Generator().manual_seed(seed)
    return [(torch.randn(n * per_rank, sizes[0], generator=gen), torch.randn(n * per_rank, sizes[-1], generator=gen))
            for _ in range(steps)]


def reference_adam(model, batches, lr):
    """Plain single-process torch.optim.Adam on the full batches: what ZeRO must reproduce."""
    import copy
    model = copy.deepcopy(model)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for x, y in batches:
        opt.zero_grad()
        nn.functional.mse_loss(model(x), y).backward()
        opt.step()
    return flat_params(model)


def reference_run(n, sizes=(4, 6, 2), steps=3, lr=1e-2, seed=0):
    """The parameters plain Adam reaches on the batches ``run_zero2`` trains on (same arguments)."""
    return reference_adam(small_model(sizes, seed), make_batches(sizes, n, steps), lr)


def held_bytes(state):
    """Bytes of model states one rank holds: its dict of tensors (None counts 0)."""
    nb = lambda t: 0 if t is None else t.numel() * t.element_size()
    return {"params_bytes": nb(state["params"]), "grads_bytes": nb(state["grad"]),
            "optimizer_bytes": nb(state["m"]) + nb(state["v"])}

# %% [markdown] id="md-partition"
# ## 1. Flat buffers, padded partitions (3 points)
#
# ZeRO keeps each state in one flat buffer and gives rank $r$ the contiguous slice
# $[r\cdot s, (r+1)\cdot s)$ with $s = \lceil \Psi / N \rceil$. When $N$ does not divide $\Psi$,
# the buffer is padded with zeros to $N \cdot s$ elements, so that every slice has the same size
# (collectives need equal chunks).
#
# * `shard_range(numel, n, rank)`: the `(start, stop)` of rank `rank`'s slice of a buffer of
#   `numel` elements over `n` ranks (in the padded buffer);
# * `partition(flat, n)`: the `n` slices (new tensors of `flat`'s dtype, each `s` elements, the last
#   ones ending in zeros); `flat` itself is left as it is.

# %% kind="solution" id="partition"
def shard_range(numel: int, n: int, rank: int) -> tuple[int, int]:
    ### BEGIN SOLUTION
    s = math.ceil(numel / n)
    return rank * s, (rank + 1) * s
    ### END SOLUTION


def partition(flat: torch.Tensor, n: int) -> list[torch.Tensor]:
    ### BEGIN SOLUTION
    s = math.ceil(flat.numel() / n)
    padded = torch.zeros(n * s, dtype=flat.dtype)
    padded[: flat.numel()] = flat
    return [padded[slice(*shard_range(flat.numel(), n, r))].clone() for r in range(n)]
    ### END SOLUTION

# %% kind="test" id="test_partition" points=3
parts = partition(torch.arange(10.0), 4)
assert type(parts) is list and all(type(p) is torch.Tensor for p in parts), \
    f"partition(torch.arange(10.0), 4) returns a list of tensors: got {type(parts).__name__} {parts!r}"
_want = [[0.0, 1.0, 2.0], [3.0, 4.0, 5.0], [6.0, 7.0, 8.0], [9.0, 0.0, 0.0]]
assert [p.tolist() for p in parts] == _want, \
    f"partition(torch.arange(10.0), 4): expected the slices {_want}, got {[p.tolist() for p in parts]}"
_r = shard_range(10, 4, 3)
assert type(_r) is tuple and _r == (9, 12), \
    f"shard_range(10, 4, 3): expected (9, 12) (slices of ceil(10 / 4) = 3 in a buffer padded to 12), got {_r!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.zero.simulate import partition as _ref_partition
_rng = student_rng("partition")
_gen = torch.Generator().manual_seed(_rng.randrange(2**31))
_cases = [(torch.randn(numel, generator=_gen), n) for numel, n in [(1, 1), (1, 5), (3, 5), (12, 4), (13, 4), (40, 9)]]
for _ in range(50):  # every size, world size and dtype; flat is left as it is
    _dtype = _rng.choice([torch.float32, torch.float32, torch.float64, torch.float16, torch.bfloat16, torch.int64])
    _cases.append(((torch.randn(_rng.randint(1, 60), generator=_gen) * 100).to(_dtype), _rng.randint(1, 12)))
same_as_reference(partition, _ref_partition, _cases, rel=0.0, label="partition(flat, n)")
for _ in range(40):
    numel, n = _rng.choice([_rng.randint(1, 60), _rng.randint(1, 10**9)]), _rng.randint(1, 64)
    rank = _rng.choice([0, n - 1, _rng.randrange(n)])
    s = -(-numel // n)
    _got = shard_range(numel, n, rank)
    assert type(_got) is tuple and [type(i) for i in _got] == [int, int] and _got == (rank * s, (rank + 1) * s), \
        f"shard_range({numel}, {n}, {rank}): expected {(rank * s, (rank + 1) * s)}, got {_got!r}"
for numel, n in [(5, 2), (4, 2), (6, 3), (1, 1)]:   # slices are new tensors: writing to them changes nothing else
    flat, again = fresh_partition_probe(numel, n)
    assert torch.equal(flat, torch.ones(numel)), ("writing to a slice changed the input", numel, n)
    assert all(torch.equal(a, b) for a, b in zip(again, _ref_partition(torch.ones(numel), n))), (numel, n)
### END HIDDEN TESTS

# %% [markdown] id="md-adam"
# ## 2. Adam on a slice (2 points)
#
# Adam is elementwise, which is what makes partitioning its states possible: each rank can run it
# on its own slice of parameters, gradients and moments. Implement one step **in place** on the
# tensors given (they may be slices of bigger buffers), the form `torch.optim.Adam` uses:
#
# $m \leftarrow \beta_1 m + (1-\beta_1) g$, $\;v \leftarrow \beta_2 v + (1-\beta_2) g^2$,
# $\;p \leftarrow p - \frac{\text{lr}}{1-\beta_1^t} \cdot \frac{m}{\sqrt{v}/\sqrt{1-\beta_2^t} + \epsilon}$
# with $t$ = `step` (1 for the first step), and `lr`, `betas` $= (\beta_1, \beta_2)$ and `eps` $= \epsilon$
# as given. Only `p`, `m` and `v` change: the gradient `g` is left as it is.

# %% kind="solution" id="adam"
def adam_update(p, g, m, v, step, lr=1e-3, betas=(0.9, 0.999), eps=1e-8):
    ### BEGIN SOLUTION
    b1, b2 = betas
    m.mul_(b1).add_(g, alpha=1 - b1)
    v.mul_(b2).addcmul_(g, g, value=1 - b2)
    denom = v.sqrt() / math.sqrt(1 - b2 ** step) + eps
    p.sub_(lr / (1 - b1 ** step) * m / denom)
    ### END SOLUTION

# %% kind="test" id="test_adam" points=2
_ref = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
_opt = torch.optim.Adam([_ref], lr=0.1)
_p, _m, _v = torch.tensor([1.0, -2.0, 3.0]), torch.zeros(3), torch.zeros(3)
for _t in range(1, 4):
    _g = torch.tensor([0.5, -1.0, 0.25]) * _t
    _ref.grad = _g.clone(); _opt.step()
    adam_update(_p, _g, _m, _v, _t, lr=0.1)
    assert torch.equal(_g, torch.tensor([0.5, -1.0, 0.25]) * _t), f"step {_t}: adam_update changed the gradient g: {_g}"
    _diff = (_p - _ref.detach()).abs().max().item()
    assert _diff <= 1e-6, f"after step {_t} (lr=0.1): p = {_p.tolist()}, torch.optim.Adam has {_ref.detach().tolist()} " \
        f"(off by up to {_diff:.3g})"
### BEGIN HIDDEN TESTS
from mlsys_kit.zero.simulate import adam_update as _ref_adam
_rng = student_rng("adam")
for _k in range(40):  # every argument over its range (dtype, step, lr, betas, eps); p, m, v may be slices
    _dtype, _size = _rng.choice([torch.float32, torch.float64]), _rng.randint(1, 30)
    _gen = torch.Generator().manual_seed(_rng.randrange(2**31))
    _step = _rng.choice([1, 2, _rng.randint(1, 10), _rng.randint(10, 10000)])
    _kw = {}
    if _rng.random() < 0.8:
        _kw["lr"] = 10 ** _rng.uniform(-4, 0)
    if _rng.random() < 0.8:
        _kw["betas"] = (_rng.choice([0.0, 0.5, 0.8, 0.9]), _rng.choice([0.9, 0.99, 0.999, 0.9999]))
    if _rng.random() < 0.8:
        _kw["eps"] = _rng.choice([1e-8, 1e-6, 1e-3, 0.1, 1.0])
    _big = [torch.randn(_size + 6, generator=_gen, dtype=_dtype) for _ in range(3)]
    _big[2] = _big[2].abs() * _rng.choice([1e-6, 1e-2, 1.0])  # v >= 0
    _g = torch.randn(_size, generator=_gen, dtype=_dtype) * _rng.choice([1e-3, 1.0, 100.0])
    _before = [t.clone() for t in _big] + [_g.clone()]
    _lo = _rng.choice([0, 3])  # a slice of a bigger buffer, or the start of one
    _p, _m, _v = (t[_lo:_lo + _size] for t in _big)
    _want = [t[_lo:_lo + _size].clone() for t in _before[:3]]
    _ref_adam(*_want[:1], _g.clone(), *_want[1:], _step, **_kw)
    _pos = _rng.random() < 0.5 and len(_kw) == 3  # lr, betas, eps given by position, as zero2_step may
    if _pos:
        adam_update(_p, _g, _m, _v, _step, _kw["lr"], _kw["betas"], _kw["eps"])
    else:
        adam_update(_p, _g, _m, _v, _step, **_kw)
    _case = f"adam_update on {_size} {_dtype} elements, step {_step}, {_kw or 'the default lr, betas and eps'}"
    assert torch.equal(_g, _before[3]), f"{_case}: the gradient g was changed"
    _tol = dict(rtol=1e-5, atol=1e-6) if _dtype == torch.float32 else dict(rtol=1e-10, atol=1e-12)
    for _name, _t, _w, _b in zip(("p", "m", "v"), _big, _want, _before):
        _got = _t[_lo:_lo + _size]
        assert _got.dtype == _dtype and torch.allclose(_got, _w, **_tol), \
            f"{_case}: {_name} should be {_w.tolist()[:4]}..., got {_got.tolist()[:4]}... " \
            f"(off by up to {(_got - _w).abs().max().item():.3g})"
        assert torch.equal(_t[:_lo], _b[:_lo]) and torch.equal(_t[_lo + _size:], _b[_lo + _size:]), \
            f"{_case}: {_name} is a slice of a bigger buffer: only the slice may change"
### END HIDDEN TESTS

# %% [markdown] id="md-zero2"
# ## 3. The ZeRO-2 step (5 points)
#
# Every rank `r` holds a dict: `"params"` the **full** padded parameter buffer (ZeRO-2 keeps the
# parameters replicated), `"grad"` only **its slice** of the averaged gradient, `"m"`, `"v"` only
# **its slice** of Adam's moments.
#
# * `init_zero2(flat, n)`: the `n` rank states at the start (grad `None`, moments zero; every rank
#   its own tensors, and `flat` left as it is);
# * `zero2_step(world, states, local_grads, step, lr)`: `local_grads[r]` is rank `r`'s full padded
#   gradient of its own micro-batch's loss (a mean over its samples). Reduce-scatter them,
#   average (the global batch is the union of the equal micro-batches), keep the gradient slice,
#   run `adam_update` (at this `step`, with this `lr`) on the own slice of the parameters, then
#   all-gather the updated slices so that every rank has all parameters again. Use
#   `world.reduce_scatter` and `world.all_gather` (each takes and returns one tensor per rank), and
#   leave `local_grads` as they are.
#
# `run_zero2` (given, below) trains with your functions; the result must equal plain Adam on the
# full batch.

# %% kind="solution" id="zero2"
def init_zero2(flat: torch.Tensor, n: int) -> list[dict]:
    ### BEGIN SOLUTION
    full = torch.cat(partition(flat, n))
    s = full.numel() // n
    return [{"params": full.clone(), "grad": None, "m": torch.zeros(s), "v": torch.zeros(s)} for _ in range(n)]
    ### END SOLUTION


def zero2_step(world, states: list[dict], local_grads: list[torch.Tensor], step: int, lr: float) -> None:
    ### BEGIN SOLUTION
    n = world.n
    reduced = world.reduce_scatter(local_grads)
    shards = []
    for r, st in enumerate(states):
        lo, hi = shard_range(st["params"].numel(), n, r)
        st["grad"] = reduced[r] / n
        own = st["params"][lo:hi]
        adam_update(own, st["grad"], st["m"], st["v"], step, lr)
        shards.append(own)
    for st, full in zip(states, world.all_gather(shards)):
        st["params"] = full
    ### END SOLUTION

# %% kind="locked" id="run_zero2"
def run_zero2(n, sizes=(4, 6, 2), steps=3, lr=1e-2, seed=0):
    """Train `small_model(sizes)` on n simulated ranks with your ZeRO-2; returns the world,
    the rank states, the final parameters (Ψ of them) and Ψ (`reference_run` with the same
    arguments gives what plain Adam reaches)."""
    model = small_model(sizes, seed)
    flat = flat_params(model)
    batches = make_batches(sizes, n, steps)
    world, states = SimWorld(n), init_zero2(flat, n)
    for t, (x, y) in enumerate(batches, 1):
        xs, ys = x.chunk(n), y.chunk(n)
        grads = [local_grad(model, states[r]["params"], xs[r], ys[r]) for r in range(n)]
        zero2_step(world, states, grads, t, lr)
    return world, states, states[0]["params"][: flat.numel()], flat.numel()

# %% kind="test" id="test_zero2" points=5
world, states, got, psi = run_zero2(2)
ref = reference_run(2)
assert type(states) is list and all(type(st) is dict for st in states) and type(got) is torch.Tensor, \
    "init_zero2 returns a list of dicts, one per rank, whose 'params' are tensors"
_diff = (got - ref).abs().max().item()
assert _diff <= 1e-6, f"run_zero2(2) (2 ranks, psi = {psi}, 3 steps): the parameters differ from plain Adam's by up to {_diff:.3g}"
_sizes = [(st["m"].numel(), st["v"].numel()) for st in states]
assert _sizes == [(math.ceil(psi / 2),) * 2] * 2, \
    f"each rank keeps only its slice of Adam's moments, ceil({psi} / 2) = {math.ceil(psi / 2)} elements: got {_sizes}"
### BEGIN HIDDEN TESTS
from mlsys_kit.zero.collectives import SimWorld as _World
from mlsys_kit.zero.model import comm_bytes_per_rank as _comm, memory_per_device as _mem
from mlsys_kit.zero.simulate import adam_update as _ref_adam, pad_to_multiple as _pad
_rng = student_rng("zero2")
# whole runs (each step through the judge: few and small), lr drawn
for n, sizes, steps in [(1, (3, 4, 2), 2), (3, (4, 6, 2), 1), (_rng.randint(4, 7), _rng.choice([(3, 5, 3), (2, 3, 1), (2, 9, 4, 1)]), 3)]:
    _lr = _rng.choice([1e-3, 1e-2, 0.1])
    world, states, got, psi = run_zero2(n, sizes, steps=steps, lr=_lr)
    ref = reference_run(n, sizes, steps=steps, lr=_lr)
    _case = f"run_zero2({n}, {sizes}, steps={steps}, lr={_lr}) (psi = {psi})"
    assert type(got) is torch.Tensor and type(psi) is int and got.shape == ref.shape, _case
    assert torch.allclose(got, ref, atol=1e-6), f"{_case}: the parameters differ from plain Adam's by {(got - ref).abs().max()}"
    assert all(torch.equal(st["params"], states[0]["params"]) for st in states), f"{_case}: ranks disagree on the parameters"
    want = _mem(psi, n, 2, 8, param_bytes=4, grad_bytes=4, padded=True)
    for st in states:
        hb = held_bytes(st)
        assert hb == {"params_bytes": want.params_bytes, "grads_bytes": want.grads_bytes,
                      "optimizer_bytes": want.optimizer_bytes}, f"{_case}: a rank holds {hb}"
    assert world.sent == [steps * _comm(psi, n, 2, 4)] * n, f"{_case}: bytes sent per rank {world.sent}"
# every rank holds its own parameter buffer (a write to one rank's leaves the others' alone)
for numel, n in [(5, 2), (6, 3), (4, 4), (3, 1)]:
    flat, params = fresh_init_probe(numel, n)
    assert type(params) is list and len(params) == n and all(type(p) is torch.Tensor for p in params), (numel, n)
    assert torch.equal(flat, torch.ones(numel)), ("init_zero2 wrote into its input", numel, n)
    assert torch.equal(params[0], torch.full((n * -(-numel // n),), 7.0)), (numel, n)
    assert all(torch.equal(p, _pad(torch.ones(numel), n)) for p in params[1:]), ("ranks share one params tensor", numel, n)
# init_zero2 on drawn sizes: every rank the whole padded buffer (float32, its own), no gradient yet,
# zero moments of one slice; the input left as it is
_gen = torch.Generator().manual_seed(_rng.randrange(2**31))
for _k in range(12):
    n, psi = _rng.choice([1, _rng.randint(2, 9)]), _rng.randint(1, 50)
    s = -(-psi // n)
    _flat = torch.randn(psi, generator=_gen)
    _flat0 = _flat.clone()
    _init = init_zero2(_flat, n)
    _case = f"init_zero2(a buffer of {psi} elements, {n})"
    assert torch.equal(_flat, _flat0), f"{_case}: the input buffer was changed"
    assert type(_init) is list and len(_init) == n and all(type(st) is dict for st in _init), \
        f"{_case}: expected a list of {n} dicts, got {_init!r}"
    for r, st in enumerate(_init):
        assert {"params", "grad", "m", "v"} <= set(st), f"{_case}: rank {r}'s state has the keys {sorted(st)}"
        assert st["grad"] is None, f"{_case}: rank {r} has no gradient slice before the first step (None), got {st['grad']!r}"
        for _key, _want in (("params", _pad(_flat0, n)), ("m", torch.zeros(s)), ("v", torch.zeros(s))):
            _got = st[_key]
            assert type(_got) is torch.Tensor and _got.dtype == torch.float32 and _got.shape == _want.shape \
                and torch.equal(_got, _want), \
                f"{_case}: rank {r}'s {_key!r} should be {_want.tolist()} (float32), got {_got!r}"
# one step on drawn states (your own): ranks, sizes, moments, gradients, step and lr, against the
# reference's Adam on the averaged gradient slices
for _k in range(24):
    n, psi = _rng.randint(1, 8), _rng.randint(1, 40)
    s = -(-psi // n)
    _gen = torch.Generator().manual_seed(_rng.randrange(2**31))
    _pad0 = lambda t: torch.cat([t[:psi], torch.zeros(n * s - psi)])  # zeros in the padding
    params = _pad0(torch.randn(n * s, generator=_gen))
    m_full, v_full = _pad0(torch.randn(n * s, generator=_gen) * 0.1), _pad0(torch.rand(n * s, generator=_gen) * 0.1)
    states = [{"params": params.clone(), "grad": _rng.choice([None, torch.zeros(s)]), "m": m_full[r * s:(r + 1) * s].clone(),
               "v": v_full[r * s:(r + 1) * s].clone()} for r in range(n)]
    grads = [_pad0(torch.randn(n * s, generator=_gen)) for _ in range(n)]
    _grads0 = [g.clone() for g in grads]
    step, lr = _rng.randint(1, 50), 10 ** _rng.uniform(-4, -1)
    _mean = torch.stack(grads).sum(0) / n
    _want_p, _want_m, _want_v = params.clone(), m_full.clone(), v_full.clone()
    for r in range(n):
        _sl = slice(r * s, (r + 1) * s)
        _ref_adam(_want_p[_sl], _mean[_sl], _want_m[_sl], _want_v[_sl], step, lr)
    world = _World(n)
    _case = f"zero2_step on {n} ranks, psi = {psi} (slices of {s}), step {step}, lr {lr:.3g}"
    zero2_step(world, states, grads, step, lr)
    assert all(torch.equal(g, g0) for g, g0 in zip(grads, _grads0)), f"{_case}: local_grads were changed"
    assert type(states) is list and len(states) == n, f"{_case}: states should still hold {n} ranks"
    for r, st in enumerate(states):
        _sl = slice(r * s, (r + 1) * s)
        for _key, _want in (("params", _want_p), ("grad", _mean[_sl]), ("m", _want_m[_sl]), ("v", _want_v[_sl])):
            _got = st[_key]
            assert type(_got) is torch.Tensor and _got.shape == _want.shape and _got.dtype == torch.float32, \
                f"{_case}: rank {r}'s {_key!r} should be a float32 tensor of {_want.numel()} elements, got {_got!r}"
            assert torch.allclose(_got, _want, rtol=1e-5, atol=1e-6), \
                f"{_case}: rank {r}'s {_key!r} is off by up to {(_got - _want).abs().max().item():.3g}"
    _bytes = 2 * (n - 1) * s * 4
    assert world.sent == [_bytes] * n and world.received == [_bytes] * n, \
        f"{_case}: one reduce-scatter and one all-gather send {_bytes} bytes per rank: sent {world.sent}"
### END HIDDEN TESTS

# %% [markdown] id="md-predict"
# ## 4. Predict, then measure (3 points)
#
# Before measuring, predict. For $\Psi$ parameters (`psi`) on $N_d$ ranks (`ranks`) in fp32 (4 bytes
# per parameter, 4 per gradient, $K = 8$ for Adam's moments) with padded flat buffers:
#
# * `memory_per_device(psi, ranks, stage)`: a dict with `params_bytes`, `grads_bytes`,
#   `optimizer_bytes` (ints): what one rank holds under ZeRO `stage` 0-3 (section 5). A replicated
#   state is the whole padded buffer; a partitioned one is one slice.
# * `comm_bytes_per_rank(psi, ranks, stage)`: bytes one rank sends per step with ring collectives
#   (section 7), an int: a ring reduce-scatter or all-gather over the padded buffer sends
#   $N_d - 1$ slices, an all-reduce is both. Stage 0 all-reduces the gradients; stages 1 and 2
#   reduce-scatter the gradients and all-gather the parameters; stage 3 all-gathers the parameters
#   twice (forward and backward) and reduce-scatters the gradients.

# %% kind="solution" id="predict"
def memory_per_device(psi: int, ranks: int, stage: int) -> dict:
    ### BEGIN SOLUTION
    s = math.ceil(psi / ranks)
    full = ranks * s
    return {"params_bytes": 4 * (s if stage >= 3 else full),
            "grads_bytes": 4 * (s if stage >= 2 else full),
            "optimizer_bytes": 8 * (s if stage >= 1 else full)}
    ### END SOLUTION


def comm_bytes_per_rank(psi: int, ranks: int, stage: int) -> int:
    ### BEGIN SOLUTION
    per_collective = 4 * (ranks - 1) * math.ceil(psi / ranks)
    return (3 if stage == 3 else 2) * per_collective
    ### END SOLUTION

# %% kind="test" id="test_predict" points=3
world, states, got, psi = run_zero2(3, (4, 6, 2), steps=1)   # psi = 44: 3 does not divide it
print("predicted:", memory_per_device(psi, 3, 2), "measured:", held_bytes(states[0]))
print("predicted sent:", comm_bytes_per_rank(psi, 3, 2), "measured:", world.sent[0])
_pb, _ps = memory_per_device(psi, 3, 2), comm_bytes_per_rank(psi, 3, 2)
assert type(_pb) is dict and all(type(b) is int for b in _pb.values()) and type(_ps) is int, \
    f"memory_per_device returns a dict of ints and comm_bytes_per_rank an int: got {_pb!r} and {_ps!r}"
assert _pb == held_bytes(states[0]), \
    f"memory_per_device({psi}, 3, 2) = {_pb}, but rank 0 of run_zero2(3) holds {held_bytes(states[0])}"
assert _ps == world.sent[0], f"comm_bytes_per_rank({psi}, 3, 2) = {_ps}, but rank 0 of run_zero2(3) sent {world.sent[0]} bytes"
### BEGIN HIDDEN TESTS
from mlsys_kit.zero.model import comm_bytes_per_rank as _comm, memory_per_device as _mem
_rng = student_rng("predict")
_cases = [(psi, ranks, stage) for psi, ranks in [(1, 1), (1, 64), (7, 7), (44, 3), (45, 3), (7_500_000_001, 64)]
          for stage in range(4)]
for _ in range(60):  # sizes N_d divides and does not, more ranks than parameters, every stage
    ranks = _rng.choice([1, 2, 3, 7, 64, 1024, _rng.randint(1, 4096)])
    psi = _rng.choice([1, ranks - 1 or 1, ranks, ranks + 1, _rng.randint(1, 1000), _rng.randint(1, 10**12)])
    _cases.append((psi, ranks, _rng.randrange(4)))
same_as_reference(memory_per_device, lambda psi, ranks, stage: _mem(psi, ranks, stage, 8, param_bytes=4, grad_bytes=4, padded=True),
                  _cases, convert=lambda m: {"params_bytes": m.params_bytes, "grads_bytes": m.grads_bytes,
                                             "optimizer_bytes": m.optimizer_bytes}, label="memory_per_device(psi, ranks, stage)")
same_as_reference(comm_bytes_per_rank, lambda psi, ranks, stage: _comm(psi, ranks, stage, 4), _cases,
                  label="comm_bytes_per_rank(psi, ranks, stage)")
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 5. Design question: the smallest ZeRO stage that fits (4 points)
#
# A higher stage saves memory but stage 3 sends 1.5x the bytes of stages 0-2 (your
# `comm_bytes_per_rank`), so one picks the smallest stage whose model states fit.
#
# Write `smallest_stage(psi, ranks, device_bytes)` (1 point, autograded): the smallest ZeRO stage
# 0-3 at which the model states one rank holds by your `memory_per_device` (fp32 Adam, padded
# buffers; parameters, gradients and moments added up, activations left out) fit in `device_bytes`
# (an int or a float: at most that many bytes), or `None` if not even stage 3 fits.
#
# Then, in the cell after its test, set with your function the stage that the paper's 7.5B model
# (`PSI_7B5`) needs on 64 GPUs of 40 GB (`CLUSTER_64x40GB`, a tuple `(ranks, device_bytes)`) in
# `ANSWER_STAGE_64x40GB`, and on 8 GPUs of 80 GB (`CLUSTER_8x80GB`) in `ANSWER_STAGE_8x80GB`
# (1 point, autograded).
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **why does going from stage 1 to stage 2 save less than going from stage 0 to stage 1 did, and
# why not simply always run stage 3, which needs the least memory of all?**

# %% kind="solution" id="design"
def smallest_stage(psi: int, ranks: int, device_bytes: float) -> int | None:
    ### BEGIN SOLUTION
    for stage in range(4):
        if sum(memory_per_device(psi, ranks, stage).values()) <= device_bytes:
            return stage
    return None
    ### END SOLUTION

# %% kind="test" id="test_design" points=1
_got = smallest_stage(44, 3, 1e6)
assert type(_got) is int and _got == 0, f"smallest_stage(44, 3, 1e6): everything fits in 1 MB: stage 0, got {_got!r}"
_got = smallest_stage(10**12, 2, 80e9)
assert _got is None, f"smallest_stage(10**12, 2, 80e9): 16 bytes per parameter over 2 ranks is 8 TB each, no stage fits: " \
    f"None, got {_got!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.zero.model import memory_per_device as _mem


def _ref_stage(psi, ranks, device_bytes):
    for _s in range(4):
        if _mem(psi, ranks, _s, 8, param_bytes=4, grad_bytes=4, padded=True).total_bytes <= device_bytes:
            return _s
    return None


# fixed cases at every boundary: psi = 44 on 3 ranks (padded to 45, 15 per rank) holds
# 720, 480, 360 and 240 bytes at stages 0-3; exactly that many bytes fits, one byte less does not;
# on 1 rank every stage holds the same: the smallest is 0
_cases = [((44, 3, 720), 0), ((44, 3, 719), 1), ((44, 3, 480), 1), ((44, 3, 479.5), 2), ((44, 3, 360.0), 2),
          ((44, 3, 359), 3), ((44, 3, 240), 3), ((44, 3, 239), None), ((1, 1, 16), 0), ((1, 1, 15), None),
          ((7, 2, 100), 1), ((7, 2, 64), 3), ((7_500_000_000, 64, 16e9), 3), ((10**12, 1024, 80e9), 3),
          ((10, 1, 160), 0), ((10, 1, 159.5), None)]
for _args, _want in _cases:
    assert _ref_stage(*_args) == _want, (_args, _want)
_rng = student_rng("design")
for _ in range(50):  # drawn: device_bytes at a stage's total, one byte either side, or anywhere
    _psi, _ranks = _rng.choice([1, 2, 7, 44, 1001, 10**6, 7_500_000_000]), _rng.choice([1, 2, 3, 8, 64, 1024])
    _dev = _rng.choice([_rng.uniform(0, 20) * _psi, _mem(_psi, _ranks, _rng.randrange(4), 8, param_bytes=4, grad_bytes=4,
                                                          padded=True).total_bytes + _rng.choice([-1, 0, 1, -0.5])])
    _cases.append(((_psi, _ranks, _dev), _ref_stage(_psi, _ranks, _dev)))
for _args, _want in _cases:
    _got = smallest_stage(*_args)
    assert (_got is None if _want is None else type(_got) is int and _got == _want), \
        f"smallest_stage{_args}: expected {_want}, got {_got!r}"
### END HIDDEN TESTS

# %% [markdown] id="md-design-answer"
# Your answers, with your function: the smallest stage for `PSI_7B5` on each cluster.

# %% kind="solution" id="design_answer"
### BEGIN SOLUTION
ANSWER_STAGE_64x40GB = smallest_stage(PSI_7B5, *CLUSTER_64x40GB)
ANSWER_STAGE_8x80GB = smallest_stage(PSI_7B5, *CLUSTER_8x80GB)
### END SOLUTION
print(ANSWER_STAGE_64x40GB, ANSWER_STAGE_8x80GB)

# %% kind="test" id="test_design_answer" points=1
try:
    _answers = (ANSWER_STAGE_64x40GB, ANSWER_STAGE_8x80GB)
except NameError as _e:
    raise AssertionError(f"run the answer cell above this test first ({_e})") from None
assert type(_answers[0]) is int and type(_answers[1]) is int, \
    f"set both answers with your function (ints 0-3): got ANSWER_STAGE_64x40GB = {_answers[0]!r}, " \
    f"ANSWER_STAGE_8x80GB = {_answers[1]!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.zero.model import memory_per_device as _mem


def _ref_stage(psi, ranks, device_bytes):
    for _s in range(4):
        if _mem(psi, ranks, _s, 8, param_bytes=4, grad_bytes=4, padded=True).total_bytes <= device_bytes:
            return _s
    return None


assert ANSWER_STAGE_64x40GB == _ref_stage(7_500_000_000, 64, 40e9) == 2, ANSWER_STAGE_64x40GB
assert ANSWER_STAGE_8x80GB == _ref_stage(7_500_000_000, 8, 80e9) == 1, ANSWER_STAGE_8x80GB
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_design_why" points=2
# Stage 1 partitions the optimizer states, the biggest term: $K = 8$ of the 16 bytes per parameter
# here (12 of 16 in the paper's mixed precision), so almost all of it disappears on 64 ranks (7.5B:
# 120 GB to 61 GB in fp32). Stage 2 partitions only the gradients, 4 of the 16 bytes (2 of 16 in
# the paper), so it saves less (61 GB to 31 GB); the replicated parameters are then what is left
# (30 GB), and only stage 3 removes them. But stage 3 pays for that in communication: the
# parameters are no longer on every rank, so they must be all-gathered before the forward and
# again before the backward pass, 3 collectives of the model size per step instead of 2 (1.5x the
# bytes, the gather on the critical path of every layer). Stages 1 and 2 save memory for free (the
# same bytes as data parallelism), so one picks the smallest stage that fits and keeps the memory
# it leaves for activations and a bigger batch; stage 3 is worth it only when the model does not fit
# otherwise (the 7.5B model on 16 GB devices) or the network is fast enough to hide the gathers.

# %% [markdown] kind="rubric" id="q_design_why_rubric"
# Rubric (2 points):
#
# * 1 point: the sizes of the terms: the optimizer states are the biggest part of the model states
#   ($K$ = 8 of 16 bytes per parameter here, 12 of 16 in the paper), so partitioning them (stage 1)
#   saves the most; the gradients are a smaller term (4 or 2 bytes), so stage 2 saves less. Half a
#   point for "stage 2 partitions less" without saying which term is bigger.
# * 1 point: stage 3 costs communication: the parameters must be all-gathered for the forward and
#   the backward pass, 1.5x the bytes of stages 0-2 (which cost nothing extra); AND so one uses the
#   smallest stage that fits (stage 3 only when needed or when the network hides it). Half a point
#   for only one of the two.
# * Typical wrong answer (0 points for that part): "stage 3 is slower because it computes more"
#   (the computation is the same; the bytes sent are not), or "stage 2 saves less because there are
#   fewer ranks" (the ranks are the same at every stage).
