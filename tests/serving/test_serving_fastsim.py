"""The simulator's fast path (mlsys_kit/serving/fastsim.py) equals the teaching path
(engine.serve on SimBackend) bit for bit: every request's times, events and preemptions, and
every iteration record, on random traces for every scheduler (block shortages, swap,
reservations, the numpy clock of long runs on and off)."""

from unittest import mock

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.serving import simulator
from mlsys_kit.serving.config import SIMULATED, SIMULATED_WORKLOAD
from mlsys_kit.serving.fastsim import CountKV, simulate_fast
from mlsys_kit.serving.kv import SimKV
from mlsys_kit.serving.registry import SCHEDULERS
from mlsys_kit.serving.simulator import CostModel, simulate
from mlsys_kit.serving.workload import LengthDist, make_workload


def facts(res):
    return ([(s.rid, s.first_token_time, s.finish_time, s.last_token_time, s.max_gap, s.num_preemptions,
              s.num_generated, s.events) for s in res.seqs],
            res.records, res.simulated_seconds, res.scheduler, res.num_blocks)


traces = st.builds(
    lambda n, rate, seed, pmax, omax, cv: make_workload(
        n, rate, LengthDist("uniform", 8, 1, pmax), LengthDist("uniform", 8, 1, omax), "gamma", cv, seed),
    st.integers(1, 40), st.floats(0.5, 200), st.integers(0, 10**6), st.integers(1, 60), st.integers(1, 80),
    st.floats(0.5, 3))


@settings(max_examples=120, deadline=None)
@given(trace=traces, name=st.sampled_from(list(SCHEDULERS)), blocks=st.integers(30, 80),
       block_size=st.sampled_from([1, 4, 16]), seats=st.integers(1, 16), budget=st.integers(16, 96),
       swap=st.sampled_from([0, 0, 3, 1000]),
       reserve=st.sampled_from([None, None, 140]),  # a reservation of the longest request (60 + 80): every one fits
       vector_steps=st.sampled_from([2, 5, 32, 10**9]),
       cost=st.sampled_from([CostModel(), CostModel(0.01, 2e-4, 3e-4, 3e-7, 5e-5), CostModel(1.0, 0.0, 0.0, 0.0, 0.0)]))
def test_fast_path_equals_the_teaching_path(trace, name, blocks, block_size, seats, budget, swap, reserve,
                                             vector_steps, cost):
    blocks = max(blocks, -(-140 // block_size))  # every request (and a reservation) fits the cache alone
    config = SIMULATED.replace(num_blocks=blocks, block_size=block_size, max_num_seqs=seats,
                               token_budget=max(budget, seats),
                               swap_blocks=swap if name in ("vllm", "chunked") else 0,
                               max_model_len=reserve if name in ("static", "continuous") else None)
    with mock.patch.object(simulator, "_VECTOR_STEPS", vector_steps):  # one clock (decode_clock) for all three
        teach = simulate(trace, name, config, cost, check=True)
        fast = simulate_fast(trace, name, config, cost)
    assert facts(fast) == facts(teach)


@pytest.mark.parametrize("name", list(SCHEDULERS))
@pytest.mark.parametrize("blocks", [256, 2048])
def test_fast_path_equals_the_teaching_path_at_the_widget_defaults(name, blocks):
    """The lecture widget's workload (1000 requests) and its smallest and default KV cache."""
    reqs = SIMULATED_WORKLOAD.replace(requests=1000, rate=12.0).make()
    config = SIMULATED.replace(num_blocks=blocks)
    assert facts(simulate_fast(reqs, name, config)) == facts(simulate(reqs, name, config, check=False))


@settings(max_examples=60, deadline=None)
@given(appends=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 20)), max_size=30),
       block_size=st.sampled_from([1, 3, 16]))
def test_countkv_counts_the_blocks_simkv_allocates(appends, block_size):
    a, b = CountKV(1000, block_size), SimKV(1000, block_size)
    for sid, n in appends:
        assert a.blocks_needed(sid, n) == b.blocks_needed(sid, n)
        a.append(sid, n)
        b.append(sid, n)
        assert a.num_free == b.num_free and a.num_tokens(sid) == b.num_tokens(sid)
    for sid in {s for s, _ in appends}:
        a.free(sid)
        b.free(sid)
        assert a.num_free == b.num_free
    assert a.num_free == 1000


def test_countkv_rejects_bad_sizes_and_overdraft():
    with pytest.raises(ValueError, match="num_blocks"):
        CountKV(0, 16)
    with pytest.raises(ValueError, match="block_size"):
        CountKV(4, True)
    kv = CountKV(2, 4)
    with pytest.raises(RuntimeError, match="needs 3 blocks"):
        kv.append("a", 9)
    assert kv.num_free == 2


def test_simulate_fast_rejects_bad_input_as_the_teaching_path_does():
    with pytest.raises(ValueError, match="scheduler"):
        simulate_fast(make_workload(3, 1.0, seed=0), "fifo")
    with pytest.raises(ValueError, match="more than the whole cache"):
        simulate_fast(make_workload(3, 1.0, LengthDist("fixed", 64), LengthDist("fixed", 8), seed=0), "vllm",
                      SIMULATED.replace(num_blocks=2, block_size=16))
