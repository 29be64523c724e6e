# lab0-costs: the source of labs/source/lab0-costs/lab0-costs.ipynb (jupytext percent format).
# Build the notebook with `mlsys-grade build lab0-costs`; docs/labs.md says how a lab is written.
# mlsys_grade: {"reference": ["mlsys_kit.models.costs"]}

# %% [markdown] id="intro"
# # Lab 0: what a transformer costs
#
# Before we split models across devices or pack requests into a KV cache, we need to know what a
# model *costs*: how many parameters it has, how many FLOPs a token takes, how many bytes each
# token's keys and values occupy, and whether a kernel is limited by arithmetic or by memory.
#
# Reading: Kaplan et al. 2020 (section 2.1, table 1); PagedAttention (SOSP'23, section 2.3);
# ZeRO (SC'20, section 3.1); the Roofline paper (CACM 2009).
#
# Fill in every cell that says `YOUR CODE HERE` (delete the `raise NotImplementedError()`), then run
# the test cell below it. The visible tests are a start; hidden tests check more models and many
# random configurations. Total: 16 points: 14 autograded, and 2 for the closing "why" answer,
# which your instructor grades by hand.

# %% kind="locked" id="setup"
import random
from dataclasses import dataclass


@dataclass(frozen=True)
class TransformerConfig:
    """A decoder-only transformer (the fields and names of `mlsys_kit.models.costs.TransformerConfig`).

    GPT-2 / OPT style: mlp="gelu" (two matrices hidden x ffn), norm="layernorm" (weight and
    bias), bias=True on every linear layer, learned position table with `learned_positions` rows.
    LLaMA style: mlp="swiglu" (three matrices: gate, up, down), norm="rmsnorm" (weight only),
    bias=False, rotary positions (learned_positions=0), untied LM head.
    """
    layers: int
    hidden: int
    heads: int
    vocab: int = 50257
    kv_heads: int | None = None      # None: same as heads (multi-head attention); a divisor of heads
    ffn_hidden: int | None = None    # None: 4 * hidden
    seq_len: int = 2048
    dtype_bytes: int = 2
    mlp: str = "gelu"
    norm: str = "layernorm"
    bias: bool = True
    learned_positions: int = 0
    tied_embeddings: bool = True
    name: str = "custom"

    @property
    def n_kv_heads(self):
        return self.heads if self.kv_heads is None else self.kv_heads

    @property
    def ffn(self):
        return 4 * self.hidden if self.ffn_hidden is None else self.ffn_hidden

    @property
    def head_dim(self):
        return self.hidden // self.heads


GPT2 = TransformerConfig(layers=12, hidden=768, heads=12, vocab=50257, seq_len=1024, learned_positions=1024,
                         name="gpt2")
OPT_13B = TransformerConfig(layers=40, hidden=5120, heads=40, vocab=50272, learned_positions=2050, name="opt-13b")
LLAMA2_7B = TransformerConfig(layers=32, hidden=4096, heads=32, vocab=32000, ffn_hidden=11008, seq_len=4096,
                              mlp="swiglu", norm="rmsnorm", bias=False, tied_embeddings=False, name="llama2-7b")
LLAMA2_70B = TransformerConfig(layers=80, hidden=8192, heads=64, kv_heads=8, vocab=32000, ffn_hidden=28672,
                               seq_len=4096, mlp="swiglu", norm="rmsnorm", bias=False, tied_embeddings=False,
                               name="llama2-70b")

# (peak dense fp16/bf16 tensor-core FLOP/s, memory bandwidth in bytes/s): NVIDIA data sheets
A100_40GB = (312e12, 1.555e12)
H100_SXM = (989e12, 3.35e12)


def random_config(rng: random.Random) -> TransformerConfig:
    """A small random config, every field drawn over the values it may take: for your own checks
    (`random_config(random.Random(0))`); the hidden tests draw theirs the same way."""
    heads = rng.choice([1, 2, 3, 4, 6, 8, 12])
    return TransformerConfig(
        layers=rng.randint(1, 6), hidden=heads * rng.randint(1, 16), heads=heads, vocab=rng.randint(5, 999),
        kv_heads=rng.choice([None] + [d for d in range(1, heads + 1) if heads % d == 0]),
        ffn_hidden=rng.choice([None, rng.randint(1, 99)]), seq_len=rng.randint(1, 4096),
        dtype_bytes=rng.choice([1, 2, 4]), mlp=rng.choice(["gelu", "swiglu"]), norm=rng.choice(["layernorm", "rmsnorm"]),
        bias=rng.random() < 0.5, learned_positions=rng.choice([0, rng.randint(1, 99)]),
        tied_embeddings=rng.random() < 0.5)

# %% [markdown] id="md-params"
# ## 1. Parameters (3 points)
#
# Count every parameter: token embedding (`vocab x hidden`), the learned position table if any,
# per layer the Q, K, V and output projections (K and V have `n_kv_heads * head_dim` outputs),
# the MLP, two norms and the biases, then the final norm and the LM head (which shares the token
# embedding's weights when `tied_embeddings`). GPT-2 small has 124,439,808 parameters.

# %% kind="solution" id="param_count"
def param_count(cfg: TransformerConfig) -> int:
    ### BEGIN SOLUTION
    h, kv = cfg.hidden, cfg.n_kv_heads * cfg.head_dim
    attn = 2 * h * h + 2 * h * kv
    mlp = (3 if cfg.mlp == "swiglu" else 2) * h * cfg.ffn
    norm = 2 * h if cfg.norm == "layernorm" else h
    bias = 0
    if cfg.bias:
        bias = 2 * h + 2 * kv + (2 if cfg.mlp == "swiglu" else 1) * cfg.ffn + h
    layer = attn + mlp + 2 * norm + bias
    embed = cfg.vocab * h + cfg.learned_positions * h
    head = 0 if cfg.tied_embeddings else cfg.vocab * h
    return embed + cfg.layers * layer + norm + head
    ### END SOLUTION

# %% kind="test" id="test_param_count" points=3
for _cfg, _want in ((GPT2, 124_439_808), (LLAMA2_7B, 6_738_415_616)):
    _got = param_count(_cfg)
    assert type(_got) is int, f"param_count({_cfg.name}) should return an int, got a {type(_got).__name__}"
    assert _got == _want, f"param_count({_cfg.name}) = {_got:,}, expected {_want:,} (off by {_got - _want:+,})"
### BEGIN HIDDEN TESTS
import dataclasses
from mlsys_kit.models import costs as _ref


def _as_ref(cfg):
    return _ref.TransformerConfig(**dataclasses.asdict(cfg))


same_as_reference(param_count, lambda c: _ref.param_count(_as_ref(c)), [(OPT_13B,), (LLAMA2_70B,)], label="presets")
assert param_count(OPT_13B) == 12_853_473_280 and param_count(LLAMA2_70B) == 68_976_648_192
_rng = student_rng("configs")
same_as_reference(param_count, lambda c: _ref.param_count(_as_ref(c)), [(random_config(_rng),) for _ in range(200)])
### END HIDDEN TESTS

# %% [markdown] id="md-kv"
# ## 2. KV cache bytes per token (2 points)
#
# Each token stores one key and one value vector per layer per **KV** head (grouped-query attention
# stores fewer than there are query heads), each element `dtype_bytes` wide. The PagedAttention
# paper quotes 800 KB per token for OPT-13B in fp16.

# %% kind="solution" id="kv_bytes"
def kv_bytes_per_token(cfg: TransformerConfig) -> int:
    ### BEGIN SOLUTION
    return 2 * cfg.layers * cfg.n_kv_heads * cfg.head_dim * cfg.dtype_bytes
    ### END SOLUTION

# %% kind="test" id="test_kv_bytes" points=2
_got = kv_bytes_per_token(OPT_13B)
assert type(_got) is int, f"kv_bytes_per_token(opt-13b) should return an int, got a {type(_got).__name__}"
assert _got == 819_200, f"kv_bytes_per_token(opt-13b) = {_got:,}, expected 819,200 (2 x 40 layers x 5120 x 2 bytes)"
### BEGIN HIDDEN TESTS
import dataclasses
from mlsys_kit.models import costs as _ref


def _as_ref(cfg):
    return _ref.TransformerConfig(**dataclasses.asdict(cfg))


for _cfg, _want in ((LLAMA2_70B, 2 * 80 * 8 * 128 * 2), (LLAMA2_7B, 524_288),
                    (TransformerConfig(layers=3, hidden=64, heads=8, kv_heads=2, dtype_bytes=4), 2 * 3 * 2 * 8 * 4)):
    _got = kv_bytes_per_token(_cfg)
    assert type(_got) is int and _got == _want, (_cfg, _got)
_rng = student_rng("configs")
_cases = [(dataclasses.replace(_c, dtype_bytes=_d, kv_heads=_kv),) for _c in (OPT_13B, LLAMA2_70B)
          for _d in (1, 2, 4) for _kv in (1, _c.heads // 8, None)] + [(random_config(_rng),) for _ in range(80)]
same_as_reference(kv_bytes_per_token, lambda c: _ref.kv_bytes_per_token(_as_ref(c)), _cases)
### END HIDDEN TESTS

# %% [markdown] id="md-flops"
# ## 3. Forward FLOPs per token (2 points)
#
# Count 2 FLOPs per multiply-add. A token multiplies its activations by every weight matrix of
# every block and by the LM head (`vocab x hidden`; the embedding lookup costs nothing). Attention
# adds, per layer, `2 * context * hidden` for $QK^T$ and the same for the weighted sum of $V$.

# %% kind="solution" id="flops"
def forward_flops_per_token(cfg: TransformerConfig, context: int) -> int:
    ### BEGIN SOLUTION
    h, kv = cfg.hidden, cfg.n_kv_heads * cfg.head_dim
    per_layer = 2 * h * h + 2 * h * kv + (3 if cfg.mlp == "swiglu" else 2) * h * cfg.ffn
    matmul = cfg.layers * per_layer + cfg.vocab * h
    return 2 * matmul + 4 * cfg.layers * context * h
    ### END SOLUTION

# %% kind="test" id="test_flops" points=2
_got, _want = forward_flops_per_token(GPT2, 1024), 2 * (12 * 12 * 768 * 768 + 50257 * 768) + 4 * 12 * 1024 * 768
assert type(_got) is int, f"forward_flops_per_token(gpt2, 1024) should return an int, got a {type(_got).__name__}"
assert _got == _want, f"forward_flops_per_token(gpt2, 1024) = {_got:,}, expected {_want:,} (off by {_got - _want:+,})"
### BEGIN HIDDEN TESTS
import dataclasses
from mlsys_kit.models import costs as _ref


def _as_ref(cfg):
    return _ref.TransformerConfig(**dataclasses.asdict(cfg))


def _ref_flops(cfg, context):
    return _ref.forward_flops_per_token(_as_ref(cfg), context)


_rng = student_rng("flops")
_cases = [(_c, _ctx) for _c in (OPT_13B, LLAMA2_7B, LLAMA2_70B) for _ctx in (1, 100, _c.seq_len, _rng.randint(2, 8192))]
_cases += [(random_config(_rng), _rng.choice([1, _rng.randint(2, 4096)])) for _ in range(80)]
same_as_reference(forward_flops_per_token, _ref_flops, _cases)
### END HIDDEN TESTS

# %% [markdown] id="md-roofline"
# ## 4. Arithmetic intensity and the roofline (2 points)
#
# `gemm_intensity(m, n, k, dtype_bytes)`: FLOPs of `C[m,n] = A[m,k] @ B[k,n]` divided by the bytes
# moved when A and B are read once and C written once, each element `dtype_bytes` wide.
# `bound(intensity, peak_flops, bandwidth)` returns `"memory"` below the ridge point
# `peak_flops / bandwidth` and `"compute"` at or above it.

# %% kind="solution" id="roofline"
def gemm_intensity(m: int, n: int, k: int, dtype_bytes: int = 2) -> float:
    ### BEGIN SOLUTION
    return 2 * m * n * k / (dtype_bytes * (m * k + k * n + m * n))
    ### END SOLUTION


def bound(intensity: float, peak_flops: float, bandwidth: float) -> str:
    ### BEGIN SOLUTION
    return "compute" if intensity >= peak_flops / bandwidth else "memory"
    ### END SOLUTION

# %% kind="test" id="test_roofline" points=2
import math
_got, _want = gemm_intensity(1, 4096, 4096), 2 * 4096 * 4096 / (2 * (4096 + 4096 * 4096 + 4096))
assert type(_got) is float, f"gemm_intensity(1, 4096, 4096) should return a float, got a {type(_got).__name__}"
assert math.isclose(_got, _want), f"gemm_intensity(1, 4096, 4096) = {_got!r}, expected {_want!r} (fp16: dtype_bytes=2)"
_got = bound(1.0, 2.0, 1.0)
assert type(_got) is str, f"bound(1.0, 2.0, 1.0) should return a str, got a {type(_got).__name__}"
assert _got == "memory", f"bound(1.0, 2.0, 1.0) = {_got!r}: intensity 1.0 is below the ridge 2.0 / 1.0 = 2.0"
_got = bound(2.0, 2.0, 1.0)
assert _got == "compute", f"bound(2.0, 2.0, 1.0) = {_got!r}: an intensity AT the ridge point is compute-bound"
### BEGIN HIDDEN TESTS
import math
from mlsys_kit.models import costs as _ref


def _ref_bound(intensity, peak_flops, bandwidth):
    return _ref.roofline(intensity, _ref.Device("d", peak_flops, bandwidth, 1.0))["bound"]


_rng = student_rng("roofline")
_cases = [(2048, 4096, 4096, 2), (7, 3, 5, 4), (1, 1, 1, 1), (512, 64, 8192, 2), (3, 5, 7)]
_cases += [tuple(_rng.randint(1, 9000) for _ in range(3)) + (_rng.choice([1, 2, 4]),) for _ in range(40)]
same_as_reference(gemm_intensity, _ref.gemm_intensity, _cases, rel=1e-12)
for _args, _want in (((gemm_intensity(2048, 4096, 4096), 312e12, 1.555e12), "compute"),
                     ((200.0, 200.0, 1.0), "compute"), ((199.9, 200.0, 1.0), "memory"),
                     ((200.2, 200.5, 1.0), "memory"), ((100.1, 200.5, 2.0), "memory")):  # a ridge that is no integer
    _got = bound(*_args)
    assert type(_got) is str and _got == _want, (_args, _got)
# ties built exactly (the ridge and the intensity are the same float, every product exact), and the
# float just below each ridge: every way of comparing with the ridge agrees on them
_ties = []
for _ in range(30):
    _bw = 2.0 ** _rng.randint(-3, 42)
    _ridge = _rng.randint(1, 4000) / 2 ** _rng.randint(0, 6)
    _ties += [(_ridge, _ridge * _bw, _bw), (math.nextafter(_ridge, 0.0), _ridge * _bw, _bw),
              (_rng.uniform(0.01, 2 * _ridge), _ridge * _bw, _bw)]
same_as_reference(bound, _ref_bound, _ties)
### END HIDDEN TESTS

# %% [markdown] id="md-fit"
# ## 5. How many requests fit? (3 points)
#
# `max_concurrent_requests(cfg, memory_bytes, tokens_per_request)`: the weights take
# `params * dtype_bytes`; every request needs the KV cache of all its tokens. How many whole
# requests fit in what is left (0 if none)?
#
# Then, in the cell below your function, answer: **how many concurrent 2,048-token requests fit
# next to OPT-13B (fp16) on a 40 GB card** (40e9 bytes)? Put the number in `ANSWER_OPT13B_40GB`,
# computed with your function.

# %% kind="solution" id="fit"
def max_concurrent_requests(cfg: TransformerConfig, memory_bytes: float, tokens_per_request: int) -> int:
    ### BEGIN SOLUTION
    free = memory_bytes - param_count(cfg) * cfg.dtype_bytes
    return max(0, int(free // (kv_bytes_per_token(cfg) * tokens_per_request)))
    ### END SOLUTION

# %% kind="solution" id="fit_answer"
### BEGIN SOLUTION
ANSWER_OPT13B_40GB = max_concurrent_requests(OPT_13B, 40e9, 2048)
### END SOLUTION
print(ANSWER_OPT13B_40GB)

# %% kind="test" id="test_fit" points=3
_got = max_concurrent_requests(GPT2, 1e9, 1024)
assert type(_got) is int, f"max_concurrent_requests(gpt2, 1e9, 1024) should return an int, got a {type(_got).__name__}"
assert 0 < _got < 10_000, f"max_concurrent_requests(gpt2, 1e9, 1024) = {_got}: GPT-2 leaves room for some 1024-token requests"
### BEGIN HIDDEN TESTS
import dataclasses
from mlsys_kit.models import costs as _ref


def _as_ref(cfg):
    return _ref.TransformerConfig(**dataclasses.asdict(cfg))


def _ref_fit(cfg, memory_bytes, tokens_per_request):
    return _ref.max_concurrent_requests(_as_ref(cfg), memory_bytes, tokens_per_request)


assert type(ANSWER_OPT13B_40GB) is int and ANSWER_OPT13B_40GB == 8, ANSWER_OPT13B_40GB
for _args, _want in (((LLAMA2_70B, 80e9, 4096), 0), ((LLAMA2_7B, 80e9, 4096), 30),
                     ((GPT2, 124_439_808 * 2 + 36_864 * 10 - 1, 1), 9)):
    _got = max_concurrent_requests(*_args)
    assert type(_got) is int and _got == _want, (_args, _got)
# every argument varied: the element width (weights and KV cache both), grouped-query heads, the request
# length; memory exactly at a boundary (n requests fit to the byte), one byte short of it, below the
# weights, and as a float or an int
_rng = student_rng("fit")
_cases = []
for _c in (GPT2, OPT_13B, LLAMA2_7B, LLAMA2_70B):
    for _d in (1, 2, 4):
        _cfg = dataclasses.replace(_c, dtype_bytes=_d, kv_heads=_rng.choice([None, _c.heads // 4]))
        _tokens = _rng.choice([1, 2048, _rng.randint(2, 8192)])
        _weights = _ref.param_count(_as_ref(_cfg)) * _d
        _per_request = _ref.kv_bytes_per_token(_as_ref(_cfg)) * _tokens
        _n = _rng.randint(1, 60)
        _cases += [(_cfg, _weights + _n * _per_request, _tokens), (_cfg, _weights + _n * _per_request - 1, _tokens),
                   (_cfg, float(_weights + _n * _per_request), _tokens), (_cfg, _weights // 2 + 1, _tokens),
                   (_cfg, _rng.choice([40e9, 80e9, 141e9]), _tokens)]
same_as_reference(max_concurrent_requests, _ref_fit, _cases)
### END HIDDEN TESTS

# %% [markdown] id="md-design"
# ## 6. Design question: when does decode stop being memory-bound? (4 points)
#
# In a **decode** step every request in the batch contributes one token, so each weight matrix
# `W[k, n]` of the model multiplies a `[b, k]` activation for a batch of `b` requests: a GEMM with
# `m = b`. In **prefill** the prompt's tokens go through together (`m` = the prompt length).
#
# Write `compute_bound_batch(n, k, peak_flops, bandwidth, dtype_bytes=2, max_batch=4096)`: the
# smallest batch `b` in `1 .. max_batch` at which the decode GEMM `[b, k] @ [k, n]` is compute-bound
# by your `gemm_intensity` and `bound` (all arguments positive), or `None` if no batch in that
# range is. Then, in the cell below your function, set with it the decode batch at which
# LLaMA-2-7B's `hidden x hidden` projections (fp16) become compute-bound on an A100 (`A100_40GB`) in
# `ANSWER_A100_BATCH` and on an H100 (`H100_SXM`) in `ANSWER_H100_BATCH` (2 points, autograded).
#
# Then answer in the cell at the end of this section, in a few sentences (2 points, graded by hand):
# **why is decode memory-bound while prefill is compute-bound, what do your two batch sizes say
# about batching many requests' decode steps together, and what stops you from batching that many?**

# %% kind="solution" id="decode_batch"
def compute_bound_batch(n: int, k: int, peak_flops: float, bandwidth: float, dtype_bytes: int = 2,
                        max_batch: int = 4096) -> int | None:
    ### BEGIN SOLUTION
    for b in range(1, max_batch + 1):
        if bound(gemm_intensity(b, n, k, dtype_bytes), peak_flops, bandwidth) == "compute":
            return b
    return None
    ### END SOLUTION

# %% kind="solution" id="decode_batch_answers"
### BEGIN SOLUTION
ANSWER_A100_BATCH = compute_bound_batch(LLAMA2_7B.hidden, LLAMA2_7B.hidden, *A100_40GB)
ANSWER_H100_BATCH = compute_bound_batch(LLAMA2_7B.hidden, LLAMA2_7B.hidden, *H100_SXM)
### END SOLUTION
print(ANSWER_A100_BATCH, ANSWER_H100_BATCH)

# %% kind="test" id="test_decode_batch" points=2
_got = compute_bound_batch(2, 2, 1.0, 1.0, 1)
assert type(_got) is int, ("compute_bound_batch(2, 2, 1.0, 1.0, 1) should return an int (or None when no batch is "
                           f"compute-bound), got {_got!r}")
assert _got == 1, (f"compute_bound_batch(2, 2, 1.0, 1.0, 1) = {_got}, expected 1: intensity 2*1*2*2 / (1*2 + 2*2 + 1*2) "
                   "= 1.0 is AT the ridge 1.0 / 1.0")
_got = compute_bound_batch(256, 256, *A100_40GB)
assert _got is None, (f"compute_bound_batch(256, 256, *A100_40GB) = {_got!r}, expected None: the fp16 intensity of a "
                      "[b, 256] @ [256, 256] GEMM never reaches 256/2 = 128, under the A100's ridge of about 200")
try:
    _answers = (ANSWER_A100_BATCH, ANSWER_H100_BATCH)
except NameError as _e:
    raise AssertionError(f"run the answer cell below your function first ({_e})") from None
assert type(_answers[0]) is int and type(_answers[1]) is int, \
    f"set both answers with your function: got ANSWER_A100_BATCH = {_answers[0]!r}, ANSWER_H100_BATCH = {_answers[1]!r}"
### BEGIN HIDDEN TESTS
from mlsys_kit.models import costs as _ref


def _ref_batch(n, k, peak_flops, bandwidth, dtype_bytes=2, max_batch=4096):
    _ridge = _ref.roofline(1.0, _ref.Device("gpu", peak_flops, bandwidth, 1.0))["ridge_intensity"]
    for _b in range(1, max_batch + 1):
        if _ref.gemm_intensity(_b, n, k, dtype_bytes) >= _ridge:  # the reference's roofline rule
            return _b
    return None


assert ANSWER_A100_BATCH == _ref_batch(4096, 4096, 312e12, 1.555e12) == 223, ANSWER_A100_BATCH
assert ANSWER_H100_BATCH == _ref_batch(4096, 4096, 989e12, 3.35e12) == 345, ANSWER_H100_BATCH
# fixed cases at the boundaries (intensity of [b, 2b] @ [2b, 2b] in 1-byte types is exactly b):
# the ridge itself, the last batch allowed, one past it, and a max_batch that is not the default
for _args, _kw, _want in (((2, 2, 3.0, 2.0, 1), {}, 3), ((8192, 8192, 4096.0, 1.0, 1), {}, 4096),
                          ((8194, 8194, 4097.0, 1.0, 1), {}, None), ((8194, 8194, 4097.0, 1.0, 1), {"max_batch": 4097}, 4097),
                          ((64, 64, 32.0, 1.0, 1), {"max_batch": 31}, None), ((64, 64, 32.0, 1.0, 1), {"max_batch": 32}, 32),
                          ((4096, 11008, 312e12, 1.555e12, 4), {}, _ref_batch(4096, 11008, 312e12, 1.555e12, 4)),
                          ((768, 768, 312e12, 1.555e12, 2), {}, _ref_batch(768, 768, 312e12, 1.555e12, 2)),
                          ((768, 768, 312e12, 1.555e12, 4), {}, None)):  # fp32: intensity stays under 768/4 = 192
    _got = compute_bound_batch(*_args, **_kw)
    assert (_got is None if _want is None else type(_got) is int and _got == _want), (_args, _kw, _got, _want)
# every argument varied over its domain, the defaults of dtype_bytes and max_batch left out too; ridges
# at an exact batch (2b-wide square matrices in 1-byte types have intensity exactly b)
_rng = student_rng("decode")
_cases = []
for _ in range(30):
    _n, _k = _rng.choice([16, 64, 768, 4096, 11008]), _rng.choice([16, 64, 768, 4096, 8192])
    _dev = _rng.choice([(312e12, 1.555e12), (989e12, 3.35e12), (312e12, 2.039e12), (_rng.uniform(1, 300), 1.0)])
    _d, _mx = _rng.choice([1, 2, 4]), _rng.choice([1, 7, 300, 4096])
    _cases += [((_n, _k) + _dev + (_d,), {"max_batch": _mx}), ((_n, _k) + _dev, {})]
for _ in range(10):
    _b = _rng.randint(1, 600)
    _cases += [((2 * _b, 2 * _b, 2.0 * _b, 2.0, 1), {"max_batch": _rng.choice([_b - 1, _b, _b + 1, 4096]) or 1})]
same_as_reference(compute_bound_batch, _ref_batch, _cases)
### END HIDDEN TESTS

# %% [markdown] kind="answer" id="q_decode_why" points=2
# Each weight byte read from memory is used by one multiply-add per token in the GEMM. Prefill runs
# thousands of prompt tokens through each matrix at once, so its intensity is far above the ridge
# (about 200 FLOP/byte on an A100) and it is compute-bound. A decode step of one request reads every
# weight for a single token: about 1 FLOP per byte, so it waits on memory. Batching `b` requests'
# decode steps reuses each weight read `b` times and raises the intensity almost linearly in `b`:
# throughput grows nearly for free until about 223 requests on an A100 (345 on an H100, whose
# FLOP/s grew faster than its bandwidth), after which decode is compute-bound and more batching only
# adds latency. What stops you is memory: every request keeps its own KV cache (section 5: only 8
# 2,048-token requests fit beside OPT-13B on 40 GB), and attention's reads of that cache are per
# request and do not get cheaper with batching. Hence paging the KV cache (lab 2) and continuous
# batching (lab 3).

# %% [markdown] kind="rubric" id="q_decode_why_rubric"
# Rubric (2 points):
#
# * 1 point: the intensity argument: decode (batch 1) reads all the weights for one token, about
#   1 FLOP per byte, far below the ridge (~200 FLOP/byte); prefill reuses each weight across all
#   the prompt's tokens, so it sits above the ridge. Half a point for "few FLOPs per byte" without
#   relating it to the ridge or to the weights read per token.
# * 1 point: batching decode steps shares each weight read across the batch, so intensity (and
#   throughput) grows with the batch up to the computed size (~223 on an A100, ~345 on an H100);
#   AND it names the limit: KV-cache memory per request (section 5) or per-request attention reads.
#   Half a point for only one of the two.
# * Typical wrong answer (0 points for that part): "decode is memory-bound because the KV cache is
#   big" or "prefill has more FLOPs": a size, not bytes moved per FLOP; or "batching makes each
#   request faster" (it raises throughput, not one request's speed).
