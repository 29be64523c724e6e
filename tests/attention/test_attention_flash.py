"""The tiled attention (FlashAttention forward with the online softmax, FA2-order backward) and
the three-pass reference, against torch's scaled_dot_product_attention and autograd.

Tolerances (max absolute error, relative to max(1, max |truth|)); truth = fp64 SDPA + autograd:
fp32 inputs 1e-5 (the tiles run in fp32; observed ~1e-6), bf16 inputs 1e-2 (about 2.5 bf16
ulps: the result is rounded to bf16; torch's own bf16 SDPA errs as much), fp64 inputs 1e-10.
"""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.attention.check import TOLERANCE
from mlsys_kit.attention.flash import (HBM, FlashAttentionFunction, flash_attention, flash_backward,
                                       flash_forward, standard_attention, standard_attention_backward)

shapes = st.fixed_dictionaries({
    "batch": st.integers(1, 2), "heads": st.integers(1, 3), "n": st.integers(1, 40), "nk": st.integers(1, 40),
    "d": st.integers(1, 20), "bq": st.integers(1, 48), "bk": st.integers(1, 48), "causal": st.booleans(),
    "seed": st.integers(0, 2 ** 16)})


def _inputs(s, dtype):
    gen = torch.Generator().manual_seed(s["seed"])
    q = torch.randn(s["batch"], s["heads"], s["n"], s["d"], generator=gen)
    k = torch.randn(s["batch"], s["heads"], s["nk"], s["d"], generator=gen)
    v = torch.randn(s["batch"], s["heads"], s["nk"], s["d"], generator=gen)
    do = torch.randn(s["batch"], s["heads"], s["n"], s["d"], generator=gen)
    return [t.to(dtype) for t in (q, k, v, do)]


def _truth(q, k, v, do, causal):
    q, k, v = (t.detach().double().requires_grad_() for t in (q, k, v))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    return out.detach(), torch.autograd.grad(out, (q, k, v), do.double())


def _err(a, b):
    return float((a.detach().double() - b.double()).abs().max())


def _tol(dtype_name, ref):
    return TOLERANCE[dtype_name] * max(1.0, float(ref.abs().max()))


@pytest.mark.parametrize("dtype, name", [(torch.float32, "fp32"), (torch.bfloat16, "bf16")])
@settings(max_examples=30, deadline=None)
@given(s=shapes)
def test_output_and_gradients_match_sdpa(dtype, name, s):
    q, k, v, do = _inputs(s, dtype)
    q.requires_grad_(), k.requires_grad_(), v.requires_grad_()
    out = flash_attention(q, k, v, s["causal"], s["bq"], s["bk"])
    grads = torch.autograd.grad(out, (q, k, v), do)
    ref, ref_grads = _truth(q, k, v, do, s["causal"])
    assert out.dtype == dtype and out.shape == q.shape
    assert _err(out, ref) <= _tol(name, ref)
    for g, r, t in zip(grads, ref_grads, (q, k, v)):
        assert g.dtype == dtype and g.shape == t.shape
        assert _err(g, r) <= _tol(name, r)


@settings(max_examples=20, deadline=None)
@given(s=shapes)
def test_fp64_is_exact_and_lse_is_the_log_normaliser(s):
    q, k, v, do = _inputs(s, torch.float64)
    O, L = flash_forward(q, k, v, s["causal"], s["bq"], s["bk"])
    ref, ref_grads = _truth(q, k, v, do, s["causal"])
    assert _err(O, ref) < 1e-10
    scores = q @ k.transpose(-1, -2) / math.sqrt(s["d"])
    if s["causal"]:
        scores = scores.masked_fill(torch.ones(s["n"], s["nk"], dtype=torch.bool).triu(1), float("-inf"))
    assert L.shape == q.shape[:-1] and _err(L, torch.logsumexp(scores, -1)) < 1e-10
    grads = flash_backward(q, k, v, O, L, do, s["causal"], s["bq"], s["bk"])
    assert max(_err(g, r) for g, r in zip(grads, ref_grads)) < 1e-10


@settings(max_examples=20, deadline=None)
@given(s=shapes)
def test_standard_three_pass_matches_sdpa_and_autograd(s):
    q, k, v, do = _inputs(s, torch.float64)
    O, P = standard_attention(q, k, v, s["causal"])
    ref, ref_grads = _truth(q, k, v, do, s["causal"])
    assert _err(O, ref) < 1e-10 and torch.allclose(P.sum(-1), torch.ones(()).double())
    grads = standard_attention_backward(q, k, v, P, do)
    assert max(_err(g, r) for g, r in zip(grads, ref_grads)) < 1e-10


def test_gradcheck_of_the_autograd_function():
    gen = torch.Generator().manual_seed(1)
    q, k, v = (torch.randn(1, 1, 5, 3, generator=gen, dtype=torch.float64, requires_grad=True) for _ in range(3))
    for causal in (False, True):
        assert torch.autograd.gradcheck(lambda a, b, c: FlashAttentionFunction.apply(a, b, c, causal, 2, 3, None),
                                        (q, k, v))


def test_block_sizes_do_not_change_the_result():
    gen = torch.Generator().manual_seed(2)
    q, k, v = (torch.randn(2, 33, 8, generator=gen) for _ in range(3))
    base = flash_forward(q, k, v, True, 33, 33)[0]
    for bq, bk in ((1, 1), (4, 7), (16, 64), (100, 3)):
        assert _err(flash_forward(q, k, v, True, bq, bk)[0], base) < 2e-6


def test_online_softmax_trace_running_max_grows_and_sum_is_rescaled():
    """After each tile the running (m, l) of a row equal the max and sum of exp(s - m) over the
    keys seen so far (the invariant of section 3.1)."""
    gen = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(1, 12, 4, generator=gen, dtype=torch.float64) for _ in range(3))
    trace = []
    flash_forward(q, k, v, False, 4, 5, trace=trace)
    assert [(r["q_rows"], r["kv_rows"]) for r in trace] == [((i, i + 4), j) for i in (0, 4, 8)
                                                           for j in ((0, 5), (5, 10), (10, 12))]
    s = q @ k.transpose(-1, -2) / 2.0
    for r in trace:
        (i0, i1), (_, j1) = r["q_rows"], r["kv_rows"]
        seen = s[..., i0:i1, :j1]
        m = seen.amax(-1)
        assert torch.allclose(r["m"], m) and torch.allclose(r["l"], torch.exp(seen - m[..., None]).sum(-1))


def test_causal_forward_skips_future_tiles_and_reads_fewer_bytes():
    q, k, v = (torch.randn(64, 8) for _ in range(3))
    full, causal = HBM(), HBM()
    flash_forward(q, k, v, False, 16, 16, hbm=full)
    flash_forward(q, k, v, True, 16, 16, hbm=causal)
    # 4 Q tiles; without the mask each reads all 64 K rows, with it 16, 32, 48, 64
    assert full.reads["K"] == 4 * 64 * 8 * 4 and causal.reads["K"] == (16 + 32 + 48 + 64) * 8 * 4
    assert full.writes["O"] == causal.writes["O"] == 64 * 8 * 4  # O written once, whatever the mask


def test_bad_input_is_rejected_with_a_clear_message():
    q = torch.randn(2, 8, 4)
    with pytest.raises(ValueError, match="same leading dims and d"):
        flash_attention(q, torch.randn(2, 8, 5), torch.randn(2, 8, 5))
    with pytest.raises(ValueError, match="block_q must be a positive integer"):
        flash_forward(q, q, q, block_q=0)
    with pytest.raises(ValueError, match="floating-point"):
        flash_attention(q, q, q.long())
    with pytest.raises(ValueError, match="one dtype"):
        flash_attention(q, q, q.double())
    with pytest.raises(ValueError, match="causal must be True or False"):
        flash_attention(q, q, q, causal="yes")
    with pytest.raises(ValueError, match="O and dO must have q's shape"):
        flash_backward(q, q, q, q, torch.zeros(2, 8), torch.zeros(2, 7, 4))
