"""Schedulers on the simulator: invariants on random traces, fast-forward exactness, papers' effects."""

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.kvcache.allocator import BlockAllocator
from mlsys_kit.kvcache.block_table import BlockManager
from mlsys_kit.serving import simulator
from mlsys_kit.serving.engine import serve
from mlsys_kit.serving.kv import SimKV
from mlsys_kit.serving.metrics import summarize
from mlsys_kit.serving.registry import SCHEDULERS, make_scheduler
from mlsys_kit.serving.simulator import SimBackend
from mlsys_kit.serving.workload import LengthDist, Request, make_workload
from serving_helpers import NoPreemption, static_batches

NAMES = list(SCHEDULERS)


def recording(name, log, **kw):
    """A factory for scheduler ``name`` whose every batch is checked against the KV pool,
    the seat limit and the token budget before the engine runs it."""

    def factory(kv):
        sched = make_scheduler(name, kv, **kw)
        inner = sched.schedule

        def schedule():
            batch = inner()
            need = sum(kv.blocks_needed(s.rid, n) for s, n in batch)
            assert need <= kv.num_free, "batch needs more KV blocks than are free"
            assert len(sched.running) <= sched.max_num_seqs
            if name == "chunked":
                assert sum(n for _, n in batch) <= sched.token_budget
            log.append([(s.rid, n) for s, n in batch])
            return batch

        sched.schedule = schedule
        return sched

    return factory


traces = st.builds(
    lambda n, rate, seed, pmax, omax, cv: make_workload(
        n, rate, LengthDist("uniform", 8, 1, pmax), LengthDist("uniform", 8, 1, omax), "gamma", cv, seed),
    st.integers(1, 40), st.floats(0.5, 200), st.integers(0, 10**6), st.integers(1, 60), st.integers(1, 40),
    st.floats(0.5, 3))


@settings(max_examples=80, deadline=None)
@given(trace=traces, name=st.sampled_from(NAMES), blocks=st.integers(26, 60), block_size=st.sampled_from([1, 4, 16]),
       seats=st.integers(1, 8), budget=st.integers(8, 64), swap=st.sampled_from([0, 0, 3, 1000]))
def test_invariants_on_random_traces(trace, name, blocks, block_size, seats, budget, swap):
    blocks = max(blocks, -(-100 // block_size))  # every request fits the cache alone
    swap = swap if name in ("vllm", "chunked") else 0
    log = []
    res = serve(trace, recording(name, log, max_num_seqs=seats, token_budget=budget, swap_blocks=swap),
                SimBackend(num_blocks=blocks, block_size=block_size), fast_forward=False)
    for s in res.seqs:  # every request finishes with all its tokens, after it arrived
        assert s.num_generated == s.output_len and s.finish_time >= s.first_token_time > s.arrival
    assert res.seqs and res.iterations == len(log)
    # FCFS: requests start in arrival order
    starts = [next(t for t, e in s.events if e == "prefill") for s in res.seqs]
    assert starts == sorted(starts)
    if name in ("static", "continuous"):
        assert all(s.num_preemptions == 0 for s in res.seqs)
    if name == "static":  # FasterTransformer: every seat computed until the longest request ends
        batches = static_batches(res)
        assert sum(r.decode_batch for r in res.records) == sum(len(b) * (max(s.output_len for s in b) - 1) for b in batches)
        for b in batches:  # ... and all its responses return together at its end
            assert len({s.finish_time for s in b}) == 1 and b[0].finish_time == max(s.last_token_time for s in b)
    else:
        assert all(s.finish_time == s.last_token_time for s in res.seqs)
        assert all(r.padding_rows == 0 for r in res.records)
    fed = {}
    for batch in log:
        for rid, n in batch:
            fed[rid] = fed.get(rid, 0) + n
    for s in res.seqs:  # fed tokens = prompt + output - 1, plus what preemption recomputed
        assert fed[s.rid] >= s.prompt_len + s.output_len - 1
        if s.num_preemptions == 0:
            assert fed[s.rid] == s.prompt_len + s.output_len - 1


@settings(max_examples=80, deadline=None)
@given(trace=traces, name=st.sampled_from(NAMES), blocks=st.integers(25, 60), seats=st.integers(1, 16),
       swap=st.sampled_from([0, 3, 1000]), vector_steps=st.sampled_from([2, 5, 32, 10**9]))
def test_fast_forward_is_exact(trace, name, blocks, seats, swap, vector_steps):
    """Jumping over identical iterations (in Python, or in numpy for long runs) gives
    bit-for-bit the times of stepping through every one."""
    from unittest import mock

    kw = dict(max_num_seqs=seats, token_budget=max(seats, 16),
              swap_blocks=swap if name in ("vllm", "chunked") else 0)
    with mock.patch.object(simulator, "_VECTOR_STEPS", vector_steps):
        a = serve(trace, name, SimBackend(num_blocks=blocks, block_size=4), fast_forward=True, **kw)
    b = serve(trace, name, SimBackend(num_blocks=blocks, block_size=4), fast_forward=False, **kw)
    assert [(s.first_token_time, s.finish_time, s.max_gap, s.num_preemptions, s.events) for s in a.seqs] == \
           [(s.first_token_time, s.finish_time, s.max_gap, s.num_preemptions, s.events) for s in b.seqs]
    assert a.iterations == b.iterations and a.simulated_seconds == b.simulated_seconds


@settings(max_examples=50, deadline=None)
@given(appends=st.lists(st.tuples(st.integers(0, 3), st.integers(1, 20)), max_size=30),
       block_size=st.sampled_from([1, 3, 16]))
def test_simkv_takes_the_blocks_the_block_manager_takes(appends, block_size):
    sim = SimKV(1000, block_size)
    mgr = BlockManager(BlockAllocator(1000, block_size))
    for sid, n in appends:
        assert sim.blocks_needed(sid, n) == mgr.blocks_needed(sid, n)
        sim.append(sid, n)
        mgr.append(sid, [1] * n)
        assert sim.num_free == mgr.allocator.num_free
        assert len(sim.block_table(sid)) == len(mgr.block_table(sid))
    for sid in {s for s, _ in appends}:
        sim.free(sid)
    assert sim.num_free == 1000


def test_continuous_beats_static_throughput_and_latency():
    """Orca section 6: iteration-level scheduling serves more at lower latency."""
    reqs = make_workload(1500, 30.0, seed=2)
    st_, co = (summarize(serve(reqs, n, SimBackend(num_blocks=2048))) for n in ("static", "continuous"))
    assert co["throughput_tokens_per_s"] > 1.4 * st_["throughput_tokens_per_s"]
    assert co["e2e_p50"] < st_["e2e_p50"]


def test_chunked_prefill_bounds_the_stall_behind_long_prompts():
    """Sarathi-Serve section 5: with long prompts, prefill-first (vLLM) and whole-prompt (Orca)
    iterations stall decodes; chunking bounds every token gap and lowers the TPOT tail."""
    reqs = make_workload(500, 3.0, LengthDist("lognormal", 1024, 64, 4096, 1.0), LengthDist("fixed", 128), seed=2)
    res = {n: summarize(serve(reqs, n, SimBackend(num_blocks=8192), token_budget=512 if n == "chunked" else 4096))
           for n in ("continuous", "vllm", "chunked")}
    for other in ("continuous", "vllm"):
        assert res["chunked"]["itl_max_p99"] < 0.5 * res[other]["itl_max_p99"]
        assert res["chunked"]["tpot_p99"] < res[other]["tpot_p99"]
    assert res["chunked"]["throughput_tokens_per_s"] == pytest.approx(res["vllm"]["throughput_tokens_per_s"], rel=0.02)


def test_preemption_keeps_a_full_cache_from_stalling():
    """vLLM section 4.5: admitting by free blocks fills the cache; without preemption the running
    requests all wait for a block that never frees (deadlock); with it everything finishes, and
    far faster than reserving a whole context per request as Orca must."""
    reqs = make_workload(400, 12.0, seed=2)
    with pytest.raises(RuntimeError, match="empty batch"):
        serve(reqs, lambda kv: NoPreemption(kv), SimBackend(num_blocks=120))
    vl = summarize(serve(reqs, "vllm", SimBackend(num_blocks=120)))
    co = summarize(serve(reqs, "continuous", SimBackend(num_blocks=120), max_model_len=1536))
    assert vl["preemptions"] > 0
    assert vl["throughput_tokens_per_s"] > 1.5 * co["throughput_tokens_per_s"]


def test_bad_configurations_are_rejected():
    with pytest.raises(ValueError, match="scheduler must be one of"):
        make_scheduler("fifo", SimKV(4, 4))
    with pytest.raises(ValueError, match="token budget must cover one decode"):
        make_scheduler("chunked", SimKV(4, 4), max_num_seqs=64, token_budget=8)
    with pytest.raises(ValueError, match="more than the whole cache"):
        serve(make_workload(2, 1.0, LengthDist("fixed", 100), seed=0), "vllm", SimBackend(num_blocks=2, block_size=16))


def test_swap_preemption_moves_kv_instead_of_recomputing():
    """vLLM section 4.5 / 7.3: swapping keeps the computed K/V on the host; nothing is prefilled
    twice when the host pool is large enough, so fewer prompt tokens go through the model."""
    reqs = make_workload(400, 12.0, seed=2)
    out = {}
    for swap in (0, 10_000):
        backend = SimBackend(num_blocks=120)
        res = serve(reqs, "vllm", backend, swap_blocks=swap)
        assert all(s.num_generated == s.output_len for s in res.seqs)
        assert backend.kv.num_free == 120  # every block came back
        out[swap] = (sum(r.prefill_tokens for r in res.records), summarize(res))
    assert out[0][1]["preemptions"] > 0 and out[10_000][1]["preemptions"] > 0
    prompts = sum(r.prompt_len for r in reqs)
    assert out[10_000][0] == prompts < out[0][0]  # recompute prefills some prompts again
    assert out[10_000][1]["throughput_tokens_per_s"] > out[0][1]["throughput_tokens_per_s"]


def test_swap_is_rejected_where_it_cannot_work():
    with pytest.raises(ValueError, match="never preempts"):
        make_scheduler("continuous", SimKV(8, 4), swap_blocks=4)
    with pytest.raises(ValueError, match="host_blocks must be a positive integer"):
        make_scheduler("vllm", SimKV(8, 4)).enable_swap(0)


@settings(max_examples=20, deadline=None)
@given(trace=traces, name=st.sampled_from(NAMES))
def test_simulator_ignores_token_ids(trace, name):
    """A trace with prompt token ids (for the real engine) simulates exactly like its lengths."""
    with_ids = [Request(r.rid, r.arrival, r.prompt_len, r.output_len, [1] * r.prompt_len) for r in trace]
    a, b = (serve(t, name, SimBackend(num_blocks=64, block_size=4), max_num_seqs=4) for t in (trace, with_ids))
    assert [(s.first_token_time, s.finish_time) for s in a.seqs] == [(s.first_token_time, s.finish_time) for s in b.seqs]
    assert all(s.tokens is None for s in b.seqs)


@settings(max_examples=300, deadline=None)
@given(a=st.floats(0, 0.05), c=st.floats(0, 1e-3), d=st.floats(0, 1e-6), decode=st.integers(0, 300),
       context=st.integers(0, 10**6), grow=st.integers(0, 300),
       now=st.one_of(st.floats(0, 1e4), st.just(float("inf"))), ahead=st.floats(-1, 50),
       k=st.integers(1, 3000), vector_steps=st.sampled_from([2, 48, 10**9]))
def test_decode_clock_stops_at_the_arrival_as_stepping_one_by_one(a, c, d, decode, context, grow, now, ahead, k,
                                                                   vector_steps):
    """The clock's cap on the iterations before an arrival (_steps_before) is never below the
    iterations stepping takes, so the clock (capped, in Python or numpy) equals stepping them
    one by one, bit for bit; also on a clock already at infinity."""
    from unittest import mock

    cost = simulator.CostModel(a, 1.5e-4, c, d, 0.0)
    arrival = now + ahead
    t, ctx, steps, first_end, later_gap = now, context, 0, now, 0.0
    while steps < k:  # the engine loop's clock, one iteration at a time
        prev = t
        t += cost.time(0, decode, ctx)
        ctx += grow
        steps += 1
        if steps == 1:
            first_end = t
        elif t - prev > later_gap:
            later_gap = t - prev
        if arrival <= t:
            break
    assert steps <= simulator._steps_before(now, cost, decode, arrival)
    with mock.patch.object(simulator, "_VECTOR_STEPS", vector_steps):
        assert simulator.decode_clock(cost, now, decode, context, grow, k, arrival) == (t, steps, first_end, later_gap)
