"""Split-KV decoding (flash-decoding): chunks attended to separately and combined through their
log-sum-exp equal one-pass attention (torch SDPA)."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.attention.decode import attend_with_lse, combine_splits, split_kv_decode


@settings(max_examples=30, deadline=None)
@given(b=st.integers(1, 3), h=st.integers(1, 4), nq=st.integers(1, 3), n=st.integers(1, 200), d=st.integers(1, 32),
       splits=st.integers(1, 200), seed=st.integers(0, 2 ** 16))
def test_split_kv_equals_one_pass_attention(b, h, nq, n, d, splits, seed):
    splits = min(splits, n)
    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(b, h, m, d, generator=gen, dtype=torch.float64) for m in (nq, n, n))
    out, lse = split_kv_decode(q, k, v, splits)
    ref = F.scaled_dot_product_attention(q, k, v)
    assert out.shape == ref.shape and float((out - ref).abs().max()) < 1e-12
    scores = q @ k.transpose(-1, -2) / d ** 0.5
    assert float((lse - torch.logsumexp(scores, -1)).abs().max()) < 1e-12


def test_combine_weights_chunks_by_their_share_of_the_softmax():
    # two chunks, one key each: softmax weights e^1 / (e^1 + e^3) and e^3 / (e^1 + e^3)
    outs = torch.tensor([[[10.0]], [[20.0]]])
    lses = torch.tensor([[1.0], [3.0]])
    out, lse = combine_splits(outs, lses)
    w = torch.softmax(torch.tensor([1.0, 3.0]), 0)
    assert torch.allclose(out, (w[0] * 10 + w[1] * 20).reshape(1, 1))
    assert torch.allclose(lse, torch.logsumexp(torch.tensor([1.0, 3.0]), 0).reshape(1))


def test_empty_chunks_contribute_nothing_and_a_row_with_no_keys_is_zero():
    q, k, v = torch.randn(2, 1, 4), torch.randn(2, 6, 4), torch.randn(2, 6, 4)
    bias = torch.zeros(2, 1, 6)
    bias[:, :, 3:] = float("-inf")  # chunk 2 (keys 3..5) masked out entirely
    o1, l1 = attend_with_lse(q, k[:, :3], v[:, :3])
    o2, l2 = attend_with_lse(q, k[:, 3:], v[:, 3:], bias=bias[:, :, 3:])
    assert torch.isneginf(l2).all() and (o2 == 0).all()
    out, lse = combine_splits(torch.stack([o1, o2]), torch.stack([l1, l2]))
    assert torch.allclose(out, F.scaled_dot_product_attention(q, k[:, :3], v[:, :3]), atol=1e-6)
    out, lse = combine_splits(torch.stack([o2, o2]), torch.stack([l2, l2]))
    assert (out == 0).all() and torch.isneginf(lse).all() and not out.isnan().any()


def test_bad_input():
    q, k = torch.randn(1, 1, 4), torch.randn(1, 5, 4)
    with pytest.raises(ValueError, match="num_splits must be at most"):
        split_kv_decode(q, k, k, 6)
    with pytest.raises(ValueError, match="num_splits must be a positive integer"):
        split_kv_decode(q, k, k, 0)
    with pytest.raises(ValueError, match="same leading dims and d"):
        split_kv_decode(q, torch.randn(1, 5, 3), torch.randn(1, 5, 3), 2)
    with pytest.raises(ValueError, match="outs must be"):
        combine_splits(torch.randn(3, 2, 4), torch.randn(3, 3))
