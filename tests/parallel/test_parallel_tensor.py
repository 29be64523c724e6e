"""The teaching path (simulated ranks, backward by hand) against autograd on the unsplit
model, and its counted ring traffic against the per-block volume."""

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.parallel import tensor as tp
from mlsys_kit.zero.collectives import SimWorld


def _mlp_reference(x, a, b, grad_z):
    x, a, b = (v.clone().requires_grad_(True) for v in (x, a, b))
    z = F.gelu(x @ a, approximate="tanh") @ b
    z.backward(grad_z)
    return z.detach(), x.grad, a.grad, b.grad


def _problem(t, tokens_per_rank, h, seed):
    g = torch.Generator().manual_seed(seed)
    tokens, ffn = tokens_per_rank * t, 4 * h
    x = torch.randn(tokens, h, generator=g, dtype=torch.float64)
    a = torch.randn(h, ffn, generator=g, dtype=torch.float64) / h ** 0.5
    b = torch.randn(ffn, h, generator=g, dtype=torch.float64) / ffn ** 0.5
    gz = torch.randn(tokens, h, generator=g, dtype=torch.float64)
    return x, a, b, gz


@settings(max_examples=12, deadline=None)
@given(t=st.sampled_from([1, 2, 4]), rows=st.integers(1, 3), h=st.sampled_from([4, 8]), seed=st.integers(0, 99))
def test_tensor_parallel_mlp_forward_and_backward_equal_autograd(t, rows, h, seed):
    x, a, b, gz = _problem(t, rows, h, seed)
    z_ref, gx_ref, ga_ref, gb_ref = _mlp_reference(x, a, b, gz)
    world = SimWorld(t)
    a_s, b_s = tp.split_columns(a, t), tp.split_rows(b, t)
    z, saved = tp.mlp_forward(world, x, a_s, b_s)
    gx, ga, gb = tp.mlp_backward(world, saved, a_s, b_s, [gz] * t)
    for r in range(t):
        torch.testing.assert_close(z[r], z_ref)
        torch.testing.assert_close(gx[r], gx_ref)
    torch.testing.assert_close(torch.cat(ga, dim=1), ga_ref)
    torch.testing.assert_close(torch.cat(gb, dim=0), gb_ref)
    counted = world.sent[0] // 8  # float64 elements rank 0 sent
    assert counted == tp.block_comm_elements(x.shape[0], h, t)["total"]
    assert all(s == world.sent[0] for s in world.sent)


@settings(max_examples=12, deadline=None)
@given(t=st.sampled_from([2, 4]), rows=st.integers(1, 3), h=st.sampled_from([4, 8]), seed=st.integers(0, 99))
def test_sequence_parallel_mlp_equals_autograd_and_sends_one_gather_more(t, rows, h, seed):
    x, a, b, gz = _problem(t, rows, h, seed)
    z_ref, gx_ref, ga_ref, gb_ref = _mlp_reference(x, a, b, gz)
    world = SimWorld(t)
    a_s, b_s = tp.split_columns(a, t), tp.split_rows(b, t)
    z, saved = tp.sp_mlp_forward(world, list(x.chunk(t)), a_s, b_s)
    assert [tuple(s.shape) for s in saved["x_shards"]] == [(rows, h)] * t  # only the shard is kept
    gx, ga, gb = tp.sp_mlp_backward(world, saved, a_s, b_s, list(gz.chunk(t)))
    torch.testing.assert_close(torch.cat(z), z_ref)
    torch.testing.assert_close(torch.cat(gx), gx_ref)
    torch.testing.assert_close(torch.cat(ga, dim=1), ga_ref)
    torch.testing.assert_close(torch.cat(gb, dim=0), gb_ref)
    sp = tp.block_comm_elements(x.shape[0], h, t, sequence_parallel=True)
    plain = tp.block_comm_elements(x.shape[0], h, t)
    assert world.sent[0] // 8 == sp["total"]
    assert sp["forward"] == plain["forward"] and sp["backward"] == plain["backward"] + (t - 1) * x.numel() // t


def test_row_parallel_needs_no_communication_backward():
    t, x, _, b, gz = 2, *_problem(2, 2, 4, 0)
    world = SimWorld(t)
    shards = tp.split_rows(b, t)
    hid = [torch.randn(4, 8, dtype=torch.float64) for _ in range(t)]
    tp.row_parallel_forward(world, hid, shards)
    sent = list(world.sent)
    tp.row_parallel_backward(hid, shards, [gz] * t)
    assert world.sent == sent  # g's backward is the identity


def test_layer_volume_with_recompute_adds_the_layer_forward_but_its_last_collective():
    u = 3 * 64 * 16 // 4
    assert tp.layer_comm_elements(64, 16, 4)["total"] == 8 * u
    assert tp.layer_comm_elements(64, 16, 4, recompute=True)["backward"] == 4 * u + 2 * u
    assert tp.layer_comm_elements(64, 16, 4, True, True)["backward"] == 6 * u + 3 * u
    assert tp.layer_comm_elements(64, 16, 1)["total"] == 0


@pytest.mark.parametrize("call, match", [
    (lambda: tp.split_columns(torch.zeros(4, 6), 4), "output dimension of size 6"),
    (lambda: tp.split_rows(torch.zeros(6, 4), 4), "input dimension of size 6"),
    (lambda: tp.block_comm_elements(6, 4, 4, sequence_parallel=True), "tokens"),
    (lambda: tp.block_comm_elements(0, 4, 2), "tokens must be a positive integer"),
])
def test_bad_input_says_what_is_allowed(call, match):
    with pytest.raises(ValueError, match=match):
        call()
