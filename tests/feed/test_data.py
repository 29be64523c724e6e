"""The input-pipeline model (CoorDL VLDB'21 sections 3-4, FastFlow VLDB'23 section 4): stalls as
DS-Analyzer splits them, hit rates against the per-access simulation, coordinated prep, and
FastFlow's offloading fraction against an LP solved by scipy's HiGHS."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import linprog

from mlsys_kit.feed.cache import epoch_orders, simulate_cache
from mlsys_kit.feed.data import Pipeline, epoch_model, hp_search, offload, simulate_data, stall_breakdown, sweep_memory

times = st.floats(0.01, 1000.0)


@given(times, times, times)
def test_stalls_add_up(fetch, prep, gpu):
    s = stall_breakdown(fetch, prep, gpu)
    assert s["epoch_s"] == max(fetch, prep, gpu)
    assert s["prep_stall_s"] >= 0 and s["fetch_stall_s"] >= 0
    assert math.isclose(gpu + s["prep_stall_s"] + s["fetch_stall_s"], s["epoch_s"], rel_tol=1e-12)
    assert 0 <= s["stall_fraction"] < 1
    assert s[{"gpu": "gpu_s", "prep": "prep_s", "fetch": "fetch_s"}[s["bottleneck"]]] == s["epoch_s"]


def test_hand_case():
    # 100 GB, 40 GB cached by MinIO: 60 GB read at 100 MB/s = 600 s; prep 1e6 samples x 2 ms / 10 = 200 s;
    # gpu 1e6 / 1000 x 0.3 s = 300 s -> fetch-bound: 300 s of fetch stall, no prep stall
    p = Pipeline(dataset_gb=100, memory_gb=40, sample_kb=100, storage_mb_s=100, prep_ms=2, cpu_workers=10,
                 batch=1000, gpu_ms_per_batch=300)
    e = epoch_model(p, "minio")
    assert math.isclose(e["hit_rate"], 0.4) and math.isclose(e["bytes_read"], 60e9)
    assert math.isclose(e["fetch_s"], 600) and math.isclose(e["prep_s"], 200) and math.isclose(e["gpu_s"], 300)
    assert math.isclose(e["fetch_stall_s"], 300) and e["prep_stall_s"] == 0 and e["bottleneck"] == "fetch"
    assert math.isclose(e["stall_fraction"], 0.5)
    cold = epoch_model(p, "minio", first_epoch=True)
    assert cold["hit_rate"] == 0 and math.isclose(cold["bytes_read"], 100e9)


@settings(max_examples=30)
@given(st.floats(0.05, 0.95), st.floats(10.0, 2000.0))
def test_minio_never_slower_and_fetch_bound_speedup_is_the_miss_ratio(f, storage):
    p = Pipeline(memory_gb=140.0 * f, storage_mb_s=storage)
    lru, minio = epoch_model(p, "lru"), epoch_model(p, "minio")
    assert minio["epoch_s"] <= lru["epoch_s"] and minio["bytes_read"] <= lru["bytes_read"]
    if minio["bottleneck"] == "fetch":  # both fetch-bound: the epoch ratio is the ratio of misses
        assert math.isclose(lru["epoch_s"] / minio["epoch_s"], (1 - lru["hit_rate"]) / (1 - f), rel_tol=1e-9)


def test_model_hit_rate_matches_the_per_access_simulation():
    # 2,000 equal samples, 65 % cached: the model (large-n closed form) against 3 simulated epochs
    n, c = 2000, 1300
    orders = epoch_orders(n, 3, seed=11)
    p = Pipeline(dataset_gb=n * 110e3 / 1e9, memory_gb=c * 110e3 / 1e9)
    for cache in ("lru", "minio"):
        sim = simulate_cache(cache, orders, [110_000] * n, c * 110_000)
        steady = sum(e["hits"] for e in sim["epochs"][1:]) / (2 * n)
        assert abs(steady - epoch_model(p, cache)["hit_rate"]) < 0.02, cache
        assert sim["epochs"][0]["hits"] == 0 == epoch_model(p, cache, first_epoch=True)["hit_rate"]


def test_simulate_data_keys_and_comparison():
    d = simulate_data("lru", 140.0, 91.0)
    assert {"hit_rate", "stall_fraction", "bytes_read", "epoch_s", "first_epoch", "compare"} <= set(d)
    assert d["compare"]["minio"]["hit_rate"] == pytest.approx(0.65)
    assert d["hit_rate"] == pytest.approx(0.65 + 0.35 * math.log(0.35))
    assert d["bytes_read"] > d["compare"]["minio"]["bytes_read"]
    assert simulate_data("minio", 10.0, 20.0)["hit_rate"] == 1.0  # the dataset fits: no reads after the first epoch
    s = sweep_memory(Pipeline(), [0.1, 0.5, 0.9])
    assert s["lru"]["hit_rate"] == sorted(s["lru"]["hit_rate"]) and all(
        a <= b for a, b in zip(s["lru"]["hit_rate"], s["minio"]["hit_rate"]))


@settings(max_examples=30)
@given(st.integers(1, 16), st.floats(0.5, 20.0), st.floats(50.0, 2000.0))
def test_coordinated_prep(jobs, prep_ms, storage):
    p = Pipeline(prep_ms=prep_ms, storage_mb_s=storage)
    r = hp_search(p, jobs)
    assert 1.0 - 1e-12 <= r["speedup"] <= jobs + 1e-9
    assert math.isclose(r["coordinated"]["epoch_s"], epoch_model(p, "minio")["epoch_s"])
    one = epoch_model(p, "minio")
    if max(one["fetch_s"], one["prep_s"]) >= one["gpu_s"]:  # already input-bound alone: k jobs take k times as long
        assert math.isclose(r["speedup"], jobs, rel_tol=1e-9)
    assert hp_search(p, 1)["speedup"] == 1.0


def lp_prep_time(n, local, remote):
    """min T over (f, T): T >= (1 - f) n / local, T >= f n / remote, 0 <= f <= 1 (HiGHS)."""
    res = linprog(c=[0, 1], A_ub=[[-n / local, -1], [n / remote, -1]], b_ub=[-n / local, 0],
                  bounds=[(0, 1), (0, None)], method="highs")
    assert res.status == 0
    return res.fun


@settings(max_examples=30)
@given(st.integers(1, 64), st.floats(1.0, 400.0), st.floats(20.0, 600.0), st.floats(0.5, 20.0))
def test_offload_fraction_is_the_lp_optimum(remote_workers, gbps, prepped_kb, prep_ms):
    p = Pipeline(prep_ms=prep_ms)
    r = offload(p, remote_workers, gbps, prepped_kb)
    assert math.isclose(r["with"]["prep_s"], lp_prep_time(p.samples, r["local_samples_s"], r["remote_samples_s"]),
                        rel_tol=1e-6)
    assert r["remote_samples_s"] == min(remote_workers / (prep_ms / 1e3), gbps * 1e9 / 8 / (prepped_kb * 1e3))
    assert r["with"]["epoch_s"] <= r["without"]["epoch_s"] + 1e-9
    assert r["pays"] == (r["without"]["bottleneck"] == "prep" and r["with"]["epoch_s"] < r["without"]["epoch_s"])


def test_offload_pays_only_when_prep_bound():
    slow_prep = Pipeline(prep_ms=12.0)  # prep-bound: 636 s of prep against 218 s of GPU
    r = offload(slow_prep, 24, 100.0)
    assert r["pays"] and r["fraction"] == 0.5 and math.isclose(r["speedup"], 2.0)
    thin = offload(slow_prep, 24, 0.1)  # a 0.1 Gbit/s network carries ~114 samples/s against 2,000 local
    assert math.isclose(thin["speedup"], (2000 + 0.1e9 / 8 / 110e3) / 2000) and thin["fraction"] < 0.06
    assert not offload(Pipeline(), 64, 400.0)["pays"]  # default: the GPU is the bottleneck, nothing to gain
    assert offload(slow_prep, 0, 100.0)["fraction"] == 0.0


@pytest.mark.parametrize("call,match", [
    (lambda: Pipeline(dataset_gb=0), "dataset_gb must be a positive finite number"),
    (lambda: Pipeline(memory_gb=-1), "memory_gb must be a non-negative finite number"),
    (lambda: Pipeline(cpu_workers=0), "cpu_workers must be a positive integer"),
    (lambda: simulate_data("fifo"), "cache must be one of lru, minio"),
    (lambda: hp_search(Pipeline(), 0), "jobs must be a positive integer"),
    (lambda: offload(Pipeline(), 4, 0.0), "network_gbps must be a positive finite number"),
    (lambda: offload(Pipeline(), -1, 1.0), "remote_workers must be a non-negative"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
