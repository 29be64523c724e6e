"""Workloads: seeded generators, length bounds, JSONL round trip, bad traces rejected by line."""

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.serving.workload import (LengthDist, Request, arrival_times, load_trace, make_workload,
                                        save_trace, validate_trace)

dists = st.builds(lambda kind, mean, low, span, sigma: LengthDist(kind, mean, low, low + span, sigma),
                  st.sampled_from(["fixed", "uniform", "lognormal"]), st.floats(1, 500), st.integers(1, 50),
                  st.integers(0, 500), st.floats(0, 2))


@settings(max_examples=40, deadline=None)
@given(n=st.integers(0, 60), rate=st.floats(0.1, 100), process=st.sampled_from(["poisson", "gamma"]),
       cv=st.floats(0.3, 4), seed=st.integers(0, 10**6), prompt=dists, output=dists)
def test_workload_is_seeded_sorted_and_within_bounds(n, rate, process, cv, seed, prompt, output):
    a = make_workload(n, rate, prompt, output, process, cv, seed)
    assert a == make_workload(n, rate, prompt, output, process, cv, seed)
    assert len(a) == n
    validate_trace(a)
    for r in a:
        assert prompt.low <= r.prompt_len <= prompt.high
        assert output.low <= r.output_len <= output.high
        if prompt.kind == "fixed":
            assert r.prompt_len == min(max(round(prompt.mean), prompt.low), prompt.high)


@pytest.mark.parametrize("process,cv", [("poisson", 1.0), ("gamma", 1.0), ("gamma", 3.0)])
def test_mean_gap_is_one_over_rate_and_gamma_cv(process, cv):
    t = arrival_times(20000, 5.0, process, cv, seed=1)
    gaps = [b - a for a, b in zip([0.0] + t, t)]
    mean = sum(gaps) / len(gaps)
    sd = math.sqrt(sum((g - mean) ** 2 for g in gaps) / len(gaps))
    assert mean == pytest.approx(0.2, rel=0.05)
    assert sd / mean == pytest.approx(cv, rel=0.1)


@settings(max_examples=20, deadline=None)
@given(n=st.integers(1, 30), seed=st.integers(0, 1000), vocab=st.sampled_from([None, 50]),
       slo=st.sampled_from([None, 0.5]))
def test_jsonl_round_trip(tmp_path_factory, n, seed, vocab, slo):
    reqs = make_workload(n, 3.0, seed=seed, vocab_size=vocab, ttft_slo=slo, tpot_slo=slo)
    path = save_trace(reqs, tmp_path_factory.mktemp("t") / "trace.jsonl")
    assert load_trace(path) == reqs


@pytest.mark.parametrize("bad_line,expect", [
    ({"arrival": 0.5, "prompt_len": -3, "output_len": 4}, "prompt_len must be a positive integer"),
    ({"arrival": 0.05, "prompt_len": 3, "output_len": 4}, "arrivals must be sorted"),
    ({"arrival": 0.5, "prompt_len": 3000, "output_len": 4}, "exceeds the model's context"),
    ({"arrival": 0.5, "prompt_len": 3, "output_len": 0}, "output_len must be a positive integer"),
    ({"arrival": 0.5, "prompt_len": 3}, "missing keys ['output_len']"),
    ({"arrival": 0.5, "prompt_len": 3, "output_len": 2, "colour": 1}, "unknown keys"),
    ({"rid": 0, "arrival": 0.5, "prompt_len": 3, "output_len": 2}, "duplicate request id 0"),
])
def test_bad_trace_names_the_offending_line(tmp_path, bad_line, expect):
    good = [Request(i, 0.1 * (i + 1), 5, 5).to_json() for i in range(3)]
    lines = good[:2] + [bad_line] + good[2:]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(json.dumps(x) for x in lines) + "\n")
    with pytest.raises(ValueError) as err:
        load_trace(path, max_context=2048)
    assert "bad.jsonl line 3:" in str(err.value)
    assert expect in str(err.value)


def test_not_json_and_missing_file(tmp_path):
    path = tmp_path / "x.jsonl"
    path.write_text('{"arrival": 0, "prompt_len": 1, "output_len": 1}\n{oops\n')
    with pytest.raises(ValueError, match="x.jsonl line 2"):
        load_trace(path)
    with pytest.raises(ValueError, match="does not exist"):
        load_trace(tmp_path / "nope.jsonl")


def test_bad_arguments_raise_value_errors():
    with pytest.raises(ValueError, match="rate must be a positive"):
        make_workload(3, 0)
    with pytest.raises(ValueError, match="arrival process must be one of"):
        arrival_times(3, 1.0, "weibull")
    with pytest.raises(ValueError, match="low must be <= high"):
        LengthDist("uniform", 5, 10, 2)
    with pytest.raises(ValueError, match="prompt has 2 token ids"):
        Request(0, 0.0, 3, 1, (1, 2))


def test_validate_for_engine_checks_what_serve_needs():
    """The engine's input checks (workload.validate_for_engine) name what is wrong and what is allowed."""
    from mlsys_kit.serving.kv import SimKV
    from mlsys_kit.serving.workload import validate_for_engine

    kv = SimKV(4, 16)  # 64 tokens of KV in all
    fits = [Request(0, 0.0, 30, 34), Request(1, 1.0, 10, 10)]
    validate_for_engine(fits, kv, None, None)
    with pytest.raises(ValueError, match="line 2: request 1 needs 65 tokens of KV, more than the whole cache"):
        validate_for_engine([fits[0], Request(1, 1.0, 60, 5)], kv, None, None)
    with pytest.raises(ValueError, match="max_model_len=65 tokens do not fit the KV cache"):
        validate_for_engine(fits, kv, None, 65)
    with pytest.raises(ValueError, match="exceeds the model's context of 40"):
        validate_for_engine(fits, kv, 40, None)
    with pytest.raises(ValueError, match="line 1: the real engine needs prompt token ids"):
        validate_for_engine(fits, kv, None, None, need_prompts=True)
    with pytest.raises(TypeError, match="kv must be a KV view"):
        validate_for_engine(fits, None, None, None)
    with pytest.raises(ValueError, match="max_context must be a positive integer"):
        validate_for_engine(fits, kv, 0, None)


values = st.one_of(st.integers(-3, 10**6), st.floats(allow_nan=True, allow_infinity=True), st.booleans(),
                   st.none(), st.just(2.0), st.just("3"))


def _checked(rid, arrival, prompt_len, output_len, ttft_slo, tpot_slo):
    """The verdict of the checks alone (what Request promised before its plain-type short cut)."""
    from mlsys_kit.checks import nonneg_int, nonneg_number, positive_int, positive_number

    try:
        nonneg_int("rid", rid)
        nonneg_number("arrival", arrival)
        positive_int("prompt_len", prompt_len)
        positive_int("output_len", output_len)
        for v in (ttft_slo, tpot_slo):
            if v is not None:
                positive_number("slo", v)
    except (ValueError, TypeError):
        return False
    return True


@settings(max_examples=400, deadline=None)
@given(rid=values, arrival=values, prompt_len=values, output_len=values,
       ttft_slo=st.one_of(st.none(), values), tpot_slo=st.one_of(st.none(), values))
def test_request_accepts_exactly_what_its_checks_accept(rid, arrival, prompt_len, output_len, ttft_slo, tpot_slo):
    try:
        Request(rid, arrival, prompt_len, output_len, None, ttft_slo, tpot_slo)
        made = True
    except (ValueError, TypeError):
        made = False
    assert made == _checked(rid, arrival, prompt_len, output_len, ttft_slo, tpot_slo)
