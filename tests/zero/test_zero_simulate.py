"""Counted ring collectives and the N-rank ZeRO simulation, against plain Adam on the full
batch (a second implementation) and the analytic model (paper sections 5 and 7)."""

import copy

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.zero.collectives import SimWorld
from mlsys_kit.zero.model import comm_bytes_per_rank, memory_per_device
from mlsys_kit.zero.simulate import (ZeroSimulation, adam_update, pad_to_multiple, partition, simulate,
                                     small_model)


def _bufs(n, size, seed=0):
    g = torch.Generator().manual_seed(seed)
    return [torch.randn(size, generator=g) for _ in range(n)]


@settings(max_examples=40, deadline=None)
@given(n=st.integers(1, 7), chunk=st.integers(1, 9))
def test_ring_collectives_compute_and_count(n, chunk):
    w = SimWorld(n)
    xs = _bufs(n, n * chunk)
    total = torch.stack(xs).sum(0)
    rs = w.reduce_scatter(xs)
    for r in range(n):
        assert torch.allclose(rs[r], total[r * chunk:(r + 1) * chunk], atol=1e-5)
    # ring reduce-scatter: every rank sends and receives (N-1) chunks of 4-byte floats
    assert w.sent == w.received == [4 * (n - 1) * chunk] * n
    w.reset_counters()
    ag = w.all_gather(rs)
    assert all(torch.equal(a, torch.cat(rs)) for a in ag)
    assert w.sent == [4 * (n - 1) * chunk] * n
    w.reset_counters()
    ar = w.all_reduce(xs)
    assert all(torch.allclose(a, total, atol=1e-5) for a in ar)
    assert w.sent == w.received == [8 * (n - 1) * chunk] * n
    w.reset_counters()
    root = n - 1
    bc = w.broadcast(xs[root], root=root)
    assert all(torch.equal(b, xs[root]) for b in bc)
    assert sum(w.sent) == sum(w.received) == 4 * (n - 1) * n * chunk
    assert w.received[root] == 0
    # results are copies: changing one rank's result leaves the others alone
    ar[0].add_(1.0)
    assert n == 1 or not torch.equal(ar[0], ar[-1])


def test_collective_errors():
    w = SimWorld(3)
    with pytest.raises(ValueError, match="not a multiple of 3 ranks; pad it to 9"):
        w.reduce_scatter(_bufs(3, 7))
    with pytest.raises(ValueError, match="one tensor per rank"):
        w.all_gather(_bufs(2, 3))
    with pytest.raises(ValueError, match="same shape"):
        w.all_reduce([torch.zeros(3), torch.zeros(3), torch.zeros(6)])
    with pytest.raises(ValueError, match="root must be a rank 0..2"):
        w.broadcast(torch.zeros(3), root=3)
    with pytest.raises(ValueError, match="positive integer"):
        SimWorld(0)


@settings(max_examples=60, deadline=None)
@given(numel=st.integers(1, 200), n=st.integers(1, 16))
def test_partition_pads_and_covers(numel, n):
    flat = torch.arange(1, numel + 1, dtype=torch.float32)
    parts = partition(flat, n)
    size = -(-numel // n)
    assert len(parts) == n and all(p.numel() == size for p in parts)
    whole = torch.cat(parts)
    assert torch.equal(whole[:numel], flat) and not whole[numel:].any()
    assert pad_to_multiple(flat, n).numel() == n * size


def test_adam_update_matches_torch_adam():
    torch.manual_seed(0)
    p = torch.randn(50)
    ref = p.clone().requires_grad_(True)
    opt = torch.optim.Adam([ref], lr=1e-2)
    m, v = torch.zeros(50), torch.zeros(50)
    for step in range(1, 6):
        g = torch.randn(50)
        ref.grad = g.clone()
        opt.step()
        adam_update(p, g, m, v, step, lr=1e-2)
    assert torch.allclose(p, ref.detach(), atol=1e-7)


@settings(max_examples=25, deadline=None)
@given(stage=st.sampled_from([0, 1, 2, 3]), n=st.integers(1, 6),
       hidden=st.integers(1, 9), d_in=st.integers(1, 6), d_out=st.integers(1, 4))
def test_simulation_equals_adam_memory_and_traffic_equal_model(stage, n, hidden, d_in, d_out):
    steps = 3
    r = simulate(stage, n, steps=steps, sizes=(d_in, hidden, d_out), per_rank_batch=3)
    psi = r["params"]
    assert r["max_abs_diff"] <= 1e-6
    # the bytes every rank holds are the analytic model's, fp32 states, padded flat buffers
    model = memory_per_device(psi, n, stage, 8, param_bytes=4, grad_bytes=4, padded=True)
    for held in r["held_bytes"]:
        for key in ("params_bytes", "grads_bytes", "optimizer_bytes", "total_bytes"):
            assert held[key] == getattr(model, key), (key, held, model)
    # and the bytes moved are the analytic ring volume (per step)
    assert r["sent_bytes"] == r["received_bytes"] == [steps * comm_bytes_per_rank(psi, n, stage, 4)] * n
    # "up to padding": exact model without padding differs by less than N-1 elements per buffer
    exact = memory_per_device(psi, n, stage, 8, param_bytes=4, grad_bytes=4).total_bytes
    assert exact - 1e-9 <= r["held_bytes"][0]["total_bytes"] <= exact + 16 * n


def test_stages_hold_less_and_stage3_sends_more():
    r = [simulate(s, 4, steps=1, sizes=(10, 20, 5)) for s in range(4)]
    totals = [x["held_bytes"][0]["total_bytes"] for x in r]
    assert totals[0] > totals[1] > totals[2] > totals[3]
    assert r[0]["sent_bytes"] == r[1]["sent_bytes"] == r[2]["sent_bytes"]
    assert r[3]["sent_bytes"][0] * 2 == r[0]["sent_bytes"][0] * 3


@pytest.mark.parametrize("stage", [0, 1, 2, 3])
def test_held_gradients_are_the_full_batch_average(stage):
    # Adam is almost blind to a constant gradient scale, so check the gradients themselves:
    # a missing 1/N would leave parameters nearly right but these gradients N times too big.
    n, model = 3, small_model((5, 7, 2), seed=3)
    x, y = torch.randn(6, 5), torch.randn(6, 2)
    sim = ZeroSimulation(copy.deepcopy(model), n, stage)
    sim.step(list(x.chunk(n)), list(y.chunk(n)))
    torch.nn.functional.mse_loss(model(x), y).backward()
    ref = pad_to_multiple(torch.cat([p.grad.reshape(-1) for p in model.parameters()]), n)
    for r, st in enumerate(sim.ranks):
        own = slice(r * sim.shard, (r + 1) * sim.shard)
        g = st.grads if stage >= 2 else st.grads[own]
        assert torch.allclose(g, ref[own], atol=1e-6)
        if stage == 0:
            assert torch.allclose(st.grads, ref, atol=1e-6)


def test_simulation_errors():
    with pytest.raises(ValueError, match="stage must be one of"):
        ZeroSimulation(small_model(), 2, 4)
    with pytest.raises(ValueError, match="one micro-batch per rank"):
        ZeroSimulation(small_model(), 2, 1).step([torch.zeros(1, 8)], [torch.zeros(1, 4)])
    with pytest.raises(ValueError, match="positive integer"):
        ZeroSimulation(small_model(), 0, 1)


def test_small_model_and_helpers_reject_bad_input():
    with pytest.raises(ValueError, match="at least two layer widths"):
        small_model((4,))
    with pytest.raises(ValueError, match="layer width must be a positive integer"):
        small_model((4, 0, 2))
    with pytest.raises(ValueError, match="flat"):
        pad_to_multiple(torch.zeros(2, 2), 2)
    with pytest.raises(ValueError, match="not a multiple of 3 ranks"):
        from mlsys_kit.zero.simulate import split_batch
        split_batch(torch.zeros(4, 1), torch.zeros(4, 1), 3)
