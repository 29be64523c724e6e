"""The communication timeline (ByteScheduler, SOSP'19 sections 2-4): hand-computed cases and
properties any correct schedule satisfies."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.feed.comm import Layer, Network, iteration_time, partition_chunks, priority_order

LAYERS = [Layer(1.0, 2.0, 100), Layer(1.0, 2.0, 100), Layer(1.0, 2.0, 400)]
NET = Network(bandwidth=100.0, latency=0.0, workers=2)  # 2(n-1)/n = 1: b bytes take b/100 s


def test_hand_case_fifo():
    # backward: layer 2 in [0,2], 1 in [2,4], 0 in [4,6]; all-reduces in that order:
    # layer 2 [2,6], layer 1 [6,7], layer 0 [7,8]; forward from 8: 8-9, 9-10, 10-11.
    t = iteration_time(LAYERS, NET, "fifo")
    assert t.comm_done == [8.0, 7.0, 6.0]
    assert t.forward_start == [8.0, 9.0, 10.0]
    assert t.iteration_time == 11.0
    assert t.compute_time == 9.0 and t.comm_time == 6.0
    assert t.overlap_fraction == pytest.approx(4 / 6)  # [2,6] under backward, [6,7] and [7,8] idle


def test_hand_case_bytescheduler():
    # 50-byte chunks (0.5 s), one in flight: layer 2's chunks from 2; at 4 layer 1 overtakes (4-5),
    # layer 2 again 5-6, at 6 layer 0 overtakes (6-7), layer 2's last two chunks 7-8.
    t = iteration_time(LAYERS, NET, "bytescheduler", partition=50, credit=50)
    assert t.comm_done == [7.0, 5.0, 8.0]
    assert t.forward_start == [7.0, 8.0, 9.0]
    assert t.iteration_time == 10.0
    assert len(t.messages) == 12


def test_hand_case_bucket_and_latency():
    # buckets of >= 200 bytes in reverse order: {2} ready at 2, {1, 0} ready at 6;
    # latency 0.5: [2.5, 6.5], then [6.5, 8.5]; forward from 8.5.
    t = iteration_time(LAYERS, Network(100.0, 0.5, 2), "bucket", bucket_bytes=200)
    assert [m.pieces for m in t.messages] == [((2, 0, 400),), ((1, 0, 100), (0, 0, 100))]
    assert [(m.start, m.end) for m in t.messages] == [(2.5, 6.5), (6.5, 8.5)]
    assert t.iteration_time == 11.5


def test_credit_hides_latency_but_delays_preemption():
    net = Network(100.0, 0.1, 2)
    one_layer = [Layer(1.0, 2.0, 400)]
    # one 50-byte chunk in flight pays the 0.1 s latency before each of the 8 chunks: 2 + 8 * 0.6;
    # four in flight hide all but the first behind the link: 2 + 0.1 + 4
    one = iteration_time(one_layer, net, "bytescheduler", partition=50, credit=50)
    four = iteration_time(one_layer, net, "bytescheduler", partition=50, credit=200)
    assert one.comm_done == [pytest.approx(2 + 8 * 0.6)] and four.comm_done == [pytest.approx(6.1)]
    # ... but with three layers the committed chunks of layer 2 hold back layers 1 and 0
    one = iteration_time(LAYERS, net, "bytescheduler", partition=50, credit=50)
    four = iteration_time(LAYERS, net, "bytescheduler", partition=50, credit=200)
    assert four.comm_done[0] > one.comm_done[0] and four.iteration_time > one.iteration_time


def test_priority_order_and_partition():
    assert partition_chunks(250, 100) == [100, 100, 50]
    assert partition_chunks(0, 100) == []
    assert priority_order([30, 0, 250], 100) == [(0, 0, 30), (2, 0, 100), (2, 1, 100), (2, 2, 50)]


layer = st.builds(Layer, st.floats(0, 5), st.floats(0, 5), st.integers(0, 1000))
layers_st = st.lists(layer, min_size=1, max_size=7)
net_st = st.builds(Network, st.floats(10, 1000), st.floats(0, 0.5), st.integers(2, 16))


@settings(max_examples=60, deadline=None)
@given(layers_st, net_st, st.sampled_from(["fifo", "bucket", "bytescheduler"]), st.integers(1, 400),
       st.integers(1, 4))
def test_lower_bounds_and_consistency(layers, net, policy, size, window):
    kw = {"bucket": {"bucket_bytes": size}, "bytescheduler": {"partition": size, "credit": size * window}}.get(policy, {})
    t = iteration_time(layers, net, policy, **kw)
    total = sum(x.grad_bytes for x in layers)
    assert t.iteration_time >= t.compute_time - 1e-9
    assert t.iteration_time >= net.transfer_time(total) - 1e-9
    assert t.comm_time == pytest.approx(sum(net.transfer_time(m.nbytes) for m in t.messages))
    assert sum(m.nbytes for m in t.messages) == total  # every byte sent once
    links = sorted((m.start, m.end) for m in t.messages)
    assert all(a[1] <= b[0] + 1e-9 for a, b in zip(links, links[1:]))  # one message on the link at a time
    assert all(m.start >= m.dispatch + net.latency - 1e-9 for m in t.messages)
    for m in t.messages:  # nothing sent before its gradient exists
        assert all(m.dispatch >= t.grad_ready[i] - 1e-9 for i, _, _ in m.pieces)
    for i, (s, _) in enumerate(t.forward):
        assert s >= t.comm_done[i] - 1e-9
    assert 0.0 <= t.overlap_fraction <= 1.0 + 1e-9
    busy = [(0.0, t.backward[0][1])] + t.forward  # the overlap, counted the slow way
    hidden = sum(max(0.0, min(e, be) - max(s, bs)) for s, e in links for bs, be in busy)
    assert t.overlap_fraction == pytest.approx(hidden / t.comm_time if t.comm_time > 0 else 1.0)


@settings(max_examples=60, deadline=None)
@given(layers_st, st.floats(10, 1000), st.integers(2, 16), st.integers(1, 8), st.integers(1, 4))
def test_bytescheduler_never_slower_than_fifo(layers, bw, workers, unit, window):
    # no latency, chunks that divide every tensor: priority with preemption at chunk edges
    # finishes every prefix {0..i} of layers no later than FIFO does.
    layers = [Layer(x.forward, x.backward, x.grad_bytes * unit) for x in layers]
    net = Network(bw, 0.0, workers)
    fifo = iteration_time(layers, net, "fifo")
    bs = iteration_time(layers, net, "bytescheduler", partition=unit, credit=unit * window)
    assert bs.iteration_time <= fifo.iteration_time + 1e-9


def test_bad_input_is_a_clear_value_error():
    with pytest.raises(ValueError, match="policy must be one of"):
        iteration_time(LAYERS, NET, "lifo")
    with pytest.raises(ValueError, match="credit must be at least one partition"):
        iteration_time(LAYERS, NET, "bytescheduler", partition=100, credit=10)
    with pytest.raises(ValueError, match="takes bucket_bytes"):
        iteration_time(LAYERS, NET, "bucket", partition=3)
    with pytest.raises(ValueError, match="workers must be at least 2"):
        Network(1.0, 0.0, 1)
    with pytest.raises(ValueError, match="grad_bytes must be"):
        Layer(1.0, 1.0, -1)
    with pytest.raises(ValueError, match="at least one Layer"):
        iteration_time([], NET, "fifo")
