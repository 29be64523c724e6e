"""LRU and MinIO caches (CoorDL, VLDB'21, section 4.1): the per-access simulation against a
second, plainly written implementation, and against the closed forms of the steady hit rates."""

import math
import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.feed.cache import (LRUCache, MinIOCache, epoch_orders, lru_hit_rate_exact, lru_hit_rate_limit,
                                  make_cache, minio_hit_rate, simulate_cache, steady_hit_rate)


def plain_lru(order, sizes, cap):
    """A second LRU: a list in recency order (most recent last), scanned; counts hits and bytes read."""
    stack, hits, read = [], 0, 0
    for k in order:
        if k in stack:
            stack.remove(k)
            stack.append(k)
            hits += 1
            continue
        read += sizes[k]
        if sizes[k] <= cap:
            while sum(sizes[x] for x in stack) + sizes[k] > cap:
                stack.pop(0)
            stack.append(k)
    return hits, read


def plain_minio(order, sizes, cap):
    kept, hits, read = set(), 0, 0
    for k in order:
        if k in kept:
            hits += 1
            continue
        read += sizes[k]
        if sum(sizes[x] for x in kept) + sizes[k] <= cap:
            kept.add(k)
    return hits, read


accesses = st.lists(st.integers(0, 11), min_size=1, max_size=60)
sizes_st = st.lists(st.integers(0, 9), min_size=12, max_size=12)


@settings(max_examples=60)
@given(accesses, sizes_st, st.integers(0, 40))
def test_simulation_equals_a_second_implementation(order, sizes, cap):
    for policy, plain in (("lru", plain_lru), ("minio", plain_minio)):
        r = simulate_cache(policy, [order], sizes, cap)
        assert (r["hits"], r["bytes_read"]) == plain(order, sizes, cap), policy
        assert r["hits"] + r["misses"] == len(order) and r["epochs"][0]["hits"] == r["hits"]


@settings(max_examples=40)
@given(accesses, sizes_st, st.integers(0, 40))
def test_cache_invariants(order, sizes, cap):
    for policy in ("lru", "minio"):
        c = make_cache(policy, cap)
        for k in order:
            before = dict(c.entries)
            hit = c.access(k, sizes[k])
            assert hit == (k in before)
            assert c.used == sum(c.entries.values()) <= cap
            if policy == "minio":  # never evicts
                assert set(before) <= set(c.entries)
        assert c.bytes_read == sum(sizes[k] for k in order) - sum(sizes[k] for k, h in zip(order, _hits(policy, order, sizes, cap)) if h)


def _hits(policy, order, sizes, cap):
    c = make_cache(policy, cap)
    return [c.access(k, sizes[k]) for k in order]


def test_hand_case():
    # capacity 2 items of 1 byte: A B C A -> LRU evicts A for C, so A misses again; MinIO keeps A, B
    orders = [[0, 1, 2, 0]]
    assert simulate_cache("lru", orders, [1, 1, 1], 2)["hits"] == 0
    r = simulate_cache("minio", orders, [1, 1, 1], 2)
    assert r["hits"] == 1 and r["bytes_read"] == 3 and r["evictions"] == 0
    lru = LRUCache(2)
    for k in (0, 1, 2, 0):
        lru.access(k, 1)
    assert lru.evictions == 2 and list(lru.entries) == [2, 0]
    # a sample larger than the whole cache is read and not kept
    m = MinIOCache(3)
    assert not m.access("big", 4) and not m.access("big", 4) and m.bytes_read == 8 and m.used == 0


def test_minio_steady_hit_rate_is_exact():
    n, c = 300, 117
    orders = epoch_orders(n, 4, seed=3)
    r = simulate_cache("minio", orders, [1000] * n, c * 1000 + 999)
    assert r["epochs"][0]["hits"] == 0
    assert all(e["hits"] == c and e["bytes_read"] == (n - c) * 1000 for e in r["epochs"][1:])
    assert minio_hit_rate(n, c) == c / n == r["epochs"][2]["hit_rate"]


@pytest.mark.parametrize("n,c", [(120, 60), (200, 130), (150, 30)])
def test_lru_simulation_within_binomial_tolerance_of_the_exact_expectation(n, c):
    epochs = 30
    r = simulate_cache("lru", epoch_orders(n, epochs + 1, seed=n + c), [1] * n, c)
    hits = sum(e["hits"] for e in r["epochs"][1:])
    p = lru_hit_rate_exact(n, c)
    sd = math.sqrt(p * (1 - p) / (n * epochs))
    assert abs(hits / (n * epochs) - p) < 5 * sd + 2e-3, (hits / (n * epochs), p)
    assert p < c / n  # LRU below MinIO


def test_lru_exact_tends_to_the_limit_and_hand_values():
    assert lru_hit_rate_exact(10, 10) == 1.0 and lru_hit_rate_exact(10, 0) == 0.0
    # n = 2, c = 1: x hits only if nothing was read between its two reads: a = b = 0 (1 of 4 cases)
    assert math.isclose(lru_hit_rate_exact(2, 1), 0.25)
    for f in (0.2, 0.5, 0.65, 0.9):
        assert abs(lru_hit_rate_exact(400, int(f * 400)) - lru_hit_rate_limit(f)) < 3e-3
    assert math.isclose(lru_hit_rate_limit(0.5), 0.5 + 0.5 * math.log(0.5))
    assert lru_hit_rate_limit(1.0) == 1.0 == lru_hit_rate_limit(3.0) and lru_hit_rate_limit(0.0) == 0.0


@settings(max_examples=30)
@given(st.floats(0.0, 1.0))
def test_lru_never_beats_minio_and_collapses_quadratically(f):
    lru = steady_hit_rate("lru", f)
    assert 0.0 <= lru <= steady_hit_rate("minio", f) + 1e-12
    if f < 0.2:
        assert f * f / 2 - 1e-12 <= lru <= f * f / 2 + f ** 3 / 3  # f + (1-f) ln(1-f) = f^2/2 + f^3/6 + ...


def test_sequential_scan_thrashes():
    n, c = 100, 90
    r = simulate_cache("lru", epoch_orders(n, 3, shuffle=False), [1] * n, c)
    assert r["hits"] == 0 and steady_hit_rate("lru", 0.9, shuffle=False) == 0.0
    assert simulate_cache("minio", epoch_orders(n, 3, shuffle=False), [1] * n, c)["hits"] == 2 * c


def test_epoch_orders_are_permutations_and_seeded():
    o = epoch_orders(50, 3, seed=7)
    assert all(sorted(e) == list(range(50)) for e in o) and o[0] != o[1]
    assert o == epoch_orders(50, 3, seed=7) and o != epoch_orders(50, 3, seed=8)
    rng = random.Random(7)
    first = list(range(50))
    rng.shuffle(first)
    assert o[0] == first


@pytest.mark.parametrize("call,match", [
    (lambda: make_cache("fifo", 10), "policy must be one of lru, minio"),
    (lambda: LRUCache(-1), "capacity_bytes must be a non-negative integer"),
    (lambda: epoch_orders(0, 1), "n_items must be a positive integer"),
    (lambda: simulate_cache("lru", [], [1], 1), "at least one epoch"),
    (lambda: simulate_cache("lru", [[3]], [1], 1), r"sample id must be in \[0, 1\)"),
    (lambda: simulate_cache("lru", [[0]], [-1], 1), "sample size must be a non-negative integer"),
    (lambda: lru_hit_rate_exact(5000, 10), "n_items must be <= 4000"),
    (lambda: lru_hit_rate_limit(-0.1), "cache_fraction must be a number >= 0"),
    (lambda: steady_hit_rate("minio", -1.0), "cache_fraction must be a number >= 0"),
])
def test_bad_input(call, match):
    with pytest.raises(ValueError, match=match):
        call()
