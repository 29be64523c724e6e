"""The real engine on the tiny GPT: greedy outputs token-identical to generating each request
alone, under every scheduler, with preemption and chunked prefill included."""

import functools

import pytest
import torch
from hypothesis import given, settings, strategies as st

from mlsys_kit.models.gpt import GPT
from mlsys_kit.serving.engine import serve
from mlsys_kit.serving.metrics import summarize
from mlsys_kit.serving.real import RealBackend, greedy
from mlsys_kit.serving.registry import SCHEDULERS
from mlsys_kit.serving.simulator import CostModel, fit_cost_model
from mlsys_kit.serving.workload import LengthDist, make_workload
from serving_helpers import NoPreemption, static_batches

torch.set_num_threads(1)
MODEL = GPT("tiny", seed=0)


@functools.lru_cache(maxsize=None)
def reference(prompt: tuple, n: int) -> list:
    return MODEL.generate_reference(list(prompt), n)


@settings(max_examples=100, deadline=None)
@given(n=st.integers(1, 8), rate=st.floats(5, 500), seed=st.integers(0, 10**6), name=st.sampled_from(list(SCHEDULERS)),
       block_size=st.sampled_from([2, 4, 8]), spare=st.integers(0, 12), seats=st.integers(1, 6),
       budget=st.integers(6, 24), split=st.booleans(), swap=st.sampled_from([0, 3, 64]))
def test_outputs_match_reference_under_every_scheduler(n, rate, seed, name, block_size, spare, seats, budget, split,
                                                       swap):
    reqs = make_workload(n, rate, LengthDist("uniform", 10, 1, 24), LengthDist("uniform", 6, 1, 12),
                         seed=seed, vocab_size=MODEL.config.vocab_size)
    blocks = -(-36 // block_size) + spare  # the longest request fits alone; often little more
    res = serve(reqs, name, RealBackend(MODEL, num_blocks=blocks, block_size=block_size, split_mixed=split),
                max_num_seqs=seats, token_budget=max(budget, seats),
                swap_blocks=swap if name in ("vllm", "chunked") else 0)
    for s in res.seqs:
        assert s.outputs == reference(s.req.prompt, s.output_len), (name, s)
    assert res.real and res.simulated_seconds > 0


def test_preemption_and_chunking_really_happen_and_still_match():
    reqs = make_workload(10, 1000.0, LengthDist("uniform", 16, 8, 30), LengthDist("uniform", 10, 6, 16),
                         seed=5, vocab_size=MODEL.config.vocab_size)
    for name in ("vllm", "chunked"):
        res = serve(reqs, name, RealBackend(MODEL, num_blocks=14, block_size=4), max_num_seqs=8,
                    token_budget=8)
        assert sum(s.num_preemptions for s in res.seqs) > 0
        if name == "chunked":
            assert all(r.prefill_tokens <= 8 for r in res.records)  # no iteration over the token budget
            assert any(0 < r.prefill_tokens and r.decode_batch > 0 for r in res.records)  # prefill chunks mixed with decodes
        for s in res.seqs:
            assert s.outputs == reference(s.req.prompt, s.output_len)


def test_fit_recovers_known_coefficients_and_fits_real_timings():
    truth = CostModel(0.002, 3e-5, 1e-4, 2e-7)
    recs = [(p, d, c, truth.time(p, d, c)) for p, d, c in [(0, 4, 100), (64, 0, 64), (16, 8, 300), (128, 2, 500),
                                                            (0, 16, 900), (32, 1, 40)]]
    fit = fit_cost_model(recs)
    for k in "abcd":
        assert getattr(fit, k) == pytest.approx(getattr(truth, k), rel=1e-6, abs=1e-12)
    reqs = make_workload(12, 200.0, LengthDist("uniform", 20, 4, 60), LengthDist("uniform", 8, 2, 16), seed=1,
                         vocab_size=MODEL.config.vocab_size)
    res = serve(reqs, "chunked", RealBackend(MODEL, num_blocks=64, block_size=8), max_num_seqs=8,
                token_budget=32)
    model = fit_cost_model([(r.prefill_tokens, r.decode_batch, r.context_tokens, r.end - r.start) for r in res.records])
    assert model.a >= 0 and model.b >= 0 and model.c >= 0 and model.d >= 0
    assert summarize(res)["throughput_tokens_per_s"] > 0


def test_real_engine_needs_token_ids_and_fitting_context():
    with pytest.raises(ValueError, match="needs prompt token ids"):
        serve(make_workload(2, 1.0, seed=0), "vllm", RealBackend(MODEL, num_blocks=256))
    with pytest.raises(ValueError, match="exceeds the model's context"):
        serve(make_workload(1, 1.0, LengthDist("fixed", 2040), LengthDist("fixed", 20), vocab_size=8), "vllm",
              RealBackend(MODEL, num_blocks=256))
    with pytest.raises(ValueError, match="at least 4 timed iterations"):
        fit_cost_model([(1, 1, 1, 0.1)])


def _at_once(n, seed):
    """``n`` requests all arriving at t=0: the schedule then does not depend on measured times."""
    from mlsys_kit.serving.workload import Request

    reqs = make_workload(n, 1.0, LengthDist("lognormal", 16, 2, 64, 0.8), LengthDist("lognormal", 12, 1, 64, 0.8),
                         seed=seed, vocab_size=MODEL.config.vocab_size)
    return [Request(r.rid, 0.0, r.prompt_len, r.output_len, r.prompt) for r in reqs]


def test_real_static_batching_computes_padding_rows_fastertransformer_style():
    """Orca section 2.2: a request-level batch computes every seat until its longest request
    ends, and early finishers return only then. Counted in tokens the model really computed."""
    reqs = _at_once(24, 7)
    runs = {}
    for name in ("static", "continuous"):
        backend = RealBackend(MODEL, num_blocks=256, block_size=8)
        runs[name] = res = serve(reqs, name, backend, max_num_seqs=8)
        for s in res.seqs:
            assert s.outputs == reference(s.req.prompt, s.output_len)
        assert backend.kv.num_free == 256  # every block came back
        useful = sum(r.iterations * (r.decode_batch - r.padding_rows) for r in res.records)
        assert useful == sum(r.output_len - 1 for r in reqs)  # each later token fed once
        rows = sum(r.iterations * r.decode_batch for r in res.records)
        assert backend.runner.tokens_computed == sum(r.prompt_len for r in reqs) + useful
        assert backend.runner.padding_rows_computed == rows - useful  # padding rows really computed
        runs[name] = (res, rows)
    static, rows = runs["static"]
    batches = static_batches(static)
    assert [len(b) for b in batches] == [8, 8, 8]
    # FasterTransformer's work: |batch| rows for (longest output - 1) decode steps
    assert rows == sum(len(b) * (max(s.output_len for s in b) - 1) for b in batches)
    for b in batches:
        end = max(s.last_token_time for s in b)
        assert all(s.finish_time == end for s in b)  # responses return together
        held = [s for s in b if s.last_token_time < end]
        assert held and all(s.events[-2][1] == "padding" for s in held)
    cont, cont_rows = runs["continuous"]
    assert cont_rows == sum(r.output_len - 1 for r in reqs)  # no padding at all
    assert summarize(cont)["padding_fraction"] == 0 < summarize(static)["padding_fraction"]
    assert static.iterations > 1.3 * cont.iterations
    assert rows > 2 * cont_rows


def test_real_swap_moves_kv_to_host_and_back():
    """vLLM section 4.5: preemption by swapping copies the K/V to host memory and back; nothing
    is recomputed, and outputs stay token-identical."""
    reqs = _at_once(16, 3)
    blocks = max(-(-(r.prompt_len + r.output_len) // 4) for r in reqs) + 2
    computed = {}
    for swap in (0, 512):
        backend = RealBackend(MODEL, num_blocks=blocks, block_size=4)
        res = serve(reqs, "vllm", backend, max_num_seqs=16, swap_blocks=swap)
        assert sum(s.num_preemptions for s in res.seqs) > 0
        for s in res.seqs:
            assert s.outputs == reference(s.req.prompt, s.output_len)
        assert backend.kv.num_free == blocks
        computed[swap] = backend.runner.tokens_computed
    once = sum(r.prompt_len + r.output_len - 1 for r in reqs)
    assert computed[512] == once < computed[0]  # recompute prefills again what swap copies back


def test_real_preemption_keeps_a_full_cache_from_stalling():
    reqs = _at_once(16, 3)
    blocks = max(-(-(r.prompt_len + r.output_len) // 4) for r in reqs) + 2
    with pytest.raises(RuntimeError, match="empty batch"):
        serve(reqs, lambda kv: NoPreemption(kv, 16, 2048), RealBackend(MODEL, num_blocks=blocks, block_size=4))
    res = serve(reqs, "vllm", RealBackend(MODEL, num_blocks=blocks, block_size=4), max_num_seqs=16)
    assert sum(s.num_preemptions for s in res.seqs) > 0
    for s in res.seqs:
        assert s.outputs == reference(s.req.prompt, s.output_len)


@settings(max_examples=100, deadline=None)
@given(rows=st.lists(st.lists(st.integers(-3, 3), min_size=5, max_size=5), min_size=0, max_size=12),
       keep=st.lists(st.booleans(), min_size=12, max_size=12))
def test_greedy_sampling_equals_each_row_s_own_argmax(rows, keep):
    """The stacked argmax of RealBackend's sampling against the per-row ``int(row.argmax())``
    it replaced: the same token for every sampled row, ties (small ints) included."""
    logits = {rid: torch.tensor(row, dtype=torch.float32) for rid, row in enumerate(rows)}
    rids = [rid for rid in logits if keep[rid]]
    assert greedy(logits, rids) == {rid: int(logits[rid].argmax()) for rid in rids}


def test_thread_clock_serves_the_same_tokens_and_counts_its_own_cpu_time():
    """``clock='thread'`` changes only what an iteration's seconds are (the serving thread's CPU
    time): the same schedule with requests queued at once, the same tokens, positive times."""
    reqs = _at_once(10, 11)
    res = {clock: serve(reqs, "continuous", RealBackend(MODEL, num_blocks=128, block_size=8, clock=clock),
                        max_num_seqs=4) for clock in ("wall", "thread")}
    for s, t in zip(res["wall"].seqs, res["thread"].seqs):
        assert s.outputs == t.outputs == reference(s.req.prompt, s.output_len)
    assert [r[2:] for r in res["wall"].records] == [r[2:] for r in res["thread"].records]
    assert all(r.end > r.start for r in res["thread"].records)
    with pytest.raises(ValueError, match="clock must be one of"):
        RealBackend(MODEL, clock="cpu")
    torch.set_num_threads(2)
    try:
        with pytest.raises(ValueError, match="needs torch.set_num_threads"):
            RealBackend(MODEL, clock="thread")
    finally:
        torch.set_num_threads(1)
