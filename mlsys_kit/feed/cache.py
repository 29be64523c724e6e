"""Byte-budgeted caches for a training job's samples: the OS page cache (LRU) against CoorDL's
MinIO cache (fill once, never evict).

Mohan et al., "Analyzing and Mitigating Data Stalls in DNN Training" (CoorDL), VLDB'21:
section 3.3 (fetch stalls: the OS page cache thrashes when the dataset exceeds memory) and
section 4.1 (the MinIO cache). Every epoch reads every sample once, in a fresh random order.
An LRU cache evicts exactly the samples the next epoch will want soonest after the ones it has
just read, so its hit rate falls far below memory/dataset; MinIO keeps the first samples it
sees and never evicts, so from the second epoch on its hits are exactly the cached share:
hit rate = cached items / dataset items (with equal sizes: memory/dataset).

Read top to bottom: the two caches (one ``access`` each), the access order (``epoch_orders``),
the exact per-access simulation (``simulate_cache``), then the closed forms of the steady
(second and later epoch) hit rates and the test they pass (the simulation within binomial
tolerance of them).
"""

from __future__ import annotations

import math
import random
from collections import OrderedDict
from typing import Sequence

import numpy as np

from mlsys_kit.checks import nonneg_int, one_of, positive_int

POLICIES = ("lru", "minio")


class LRUCache:
    """The OS page cache, reduced to its policy: on a miss read the sample and keep it, evicting
    the least recently used samples until it fits in ``capacity_bytes``; a hit makes the sample
    the most recently used. A sample larger than the whole cache is read and not kept."""

    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = nonneg_int("capacity_bytes", capacity_bytes)
        self.entries: OrderedDict = OrderedDict()  # key -> bytes, least recently used first
        self.used = 0
        self.hits = self.misses = self.bytes_read = self.evictions = 0

    def access(self, key, nbytes: int) -> bool:
        """Read sample ``key`` of ``nbytes`` bytes; True on a hit (no storage read)."""
        if key in self.entries:
            self.entries.move_to_end(key)
            self.hits += 1
            return True
        self.misses += 1
        self.bytes_read += nbytes
        if nbytes <= self.capacity_bytes:
            while self.used + nbytes > self.capacity_bytes:
                _, old = self.entries.popitem(last=False)
                self.used -= old
                self.evictions += 1
            self.entries[key] = nbytes
            self.used += nbytes
        return False


class MinIOCache:
    """CoorDL's MinIO cache (section 4.1): a miss is kept only while the budget has room for it;
    once full, the cache never changes. Items are never evicted, so every epoch hits the same
    cached samples and the cache can be no worse than any other policy's steady state."""

    def __init__(self, capacity_bytes: int):
        self.capacity_bytes = nonneg_int("capacity_bytes", capacity_bytes)
        self.entries: dict = {}
        self.used = 0
        self.hits = self.misses = self.bytes_read = self.evictions = 0

    def access(self, key, nbytes: int) -> bool:
        """Read sample ``key`` of ``nbytes`` bytes; True on a hit (no storage read)."""
        if key in self.entries:
            self.hits += 1
            return True
        self.misses += 1
        self.bytes_read += nbytes
        if self.used + nbytes <= self.capacity_bytes:
            self.entries[key] = nbytes
            self.used += nbytes
        return False


def make_cache(policy: str, capacity_bytes: int):
    """An empty cache of ``policy`` ("lru" or "minio") holding at most ``capacity_bytes``."""
    one_of("policy", policy, POLICIES)
    return LRUCache(capacity_bytes) if policy == "lru" else MinIOCache(capacity_bytes)


def epoch_orders(n_items: int, epochs: int, seed: int = 0, shuffle: bool = True) -> list[list[int]]:
    """The sample order of each epoch: a fresh random permutation of ``range(n_items)`` per epoch
    (``random.Random(seed)``), or the same sequential scan every epoch with ``shuffle=False``."""
    positive_int("n_items", n_items)
    positive_int("epochs", epochs)
    rng = random.Random(seed)
    out = []
    for _ in range(epochs):
        order = list(range(n_items))
        if shuffle:
            rng.shuffle(order)
        out.append(order)
    return out


def simulate_cache(policy: str, orders: Sequence[Sequence[int]], sizes: Sequence[int], capacity_bytes: int) -> dict:
    """Run every access of ``orders`` (one list of sample ids per epoch) through a fresh cache of
    ``policy``; ``sizes[i]`` is sample i's bytes. Returns the totals (``hits``, ``misses``,
    ``bytes_read``, ``hit_rate``) and per epoch (``epochs``: a dict per epoch with the same keys)."""
    cache = make_cache(policy, capacity_bytes)
    if not orders:
        raise ValueError("orders must hold at least one epoch: got none")
    for s in sizes:
        nonneg_int("each sample size", s)
    per_epoch = []
    for order in orders:
        h0, m0, b0 = cache.hits, cache.misses, cache.bytes_read
        for key in order:
            if not 0 <= key < len(sizes):
                raise ValueError(f"sample id must be in [0, {len(sizes)}): got {key!r}")
            cache.access(key, sizes[key])
        hits, misses = cache.hits - h0, cache.misses - m0
        per_epoch.append({"hits": hits, "misses": misses, "bytes_read": cache.bytes_read - b0,
                          "hit_rate": hits / (hits + misses) if hits + misses else 0.0})
    total = cache.hits + cache.misses
    return {"policy": policy, "hits": cache.hits, "misses": cache.misses, "bytes_read": cache.bytes_read,
            "hit_rate": cache.hits / total if total else 0.0, "evictions": cache.evictions, "epochs": per_epoch}


# ---------------------------------------------------------------------------------------------
# Closed forms: n equal-sized items, a cache that holds c of them, a fresh permutation per epoch.
# ---------------------------------------------------------------------------------------------

def minio_hit_rate(n_items: int, cached_items: int) -> float:
    """MinIO's hit rate in every epoch after the first: exactly min(c, n) / n (it keeps the first c
    items it meets and each epoch reads each item once). The first epoch has no hits."""
    positive_int("n_items", n_items)
    nonneg_int("cached_items", cached_items)
    return min(cached_items, n_items) / n_items


def lru_hit_rate_exact(n_items: int, cached_items: int) -> float:
    """LRU's expected hit rate in an epoch after the first, exactly, for c of n equal items.

    Item x sits at position j of the previous epoch and i of this one (independent, uniform). It
    is still cached iff fewer than c distinct other items were read in between: the a = n-1-j read
    after it last epoch and the b = i read before it this epoch, of which a hypergeometric number
    H ~ Hyp(n-1, a, b) are the same items. Hit iff a + b - H <= c - 1; average over all (a, b)."""
    n, c = positive_int("n_items", n_items), nonneg_int("cached_items", cached_items)
    if c >= n:
        return 1.0
    if c == 0:
        return 0.0
    if n > 4000:
        raise ValueError(f"lru_hit_rate_exact sums n^2 terms: n_items must be <= 4000, got {n}; use lru_hit_rate_limit")
    from scipy.stats import hypergeom  # only when it runs: the CLI and the widgets start without scipy

    a, b = np.meshgrid(np.arange(n), np.arange(n), indexing="ij")
    need = a + b - c + 1  # H must be at least this for a hit
    p = hypergeom.sf(need - 1, n - 1, a, b)  # P(H >= need)
    return float(np.mean(p))


def lru_hit_rate_limit(cache_fraction: float) -> float:
    """LRU's hit rate after the first epoch as n -> infinity with c = f n. The overlap H concentrates
    at its mean a b / n: with alpha = a/n and beta = b/n, x hits iff alpha + beta - alpha beta < f,
    i.e. iff u v > 1 - f for u = 1 - alpha, v = 1 - beta uniform on [0, 1], and
    P(u v > 1 - f) = f + (1 - f) ln(1 - f). Small f: about f^2 / 2 (the page cache's thrashing,
    CoorDL section 3.3); f -> 1: 1. MinIO gets f."""
    if isinstance(cache_fraction, bool) or not isinstance(cache_fraction, (int, float)) or not 0 <= cache_fraction:
        raise ValueError(f"cache_fraction must be a number >= 0 (memory / dataset): got {cache_fraction!r}")
    f = float(cache_fraction)
    if f >= 1:
        return 1.0
    return f + (1 - f) * math.log1p(-f)


def steady_hit_rate(policy: str, cache_fraction: float, shuffle: bool = True) -> float:
    """The hit rate of an epoch after the first for a cache holding ``cache_fraction`` of the
    dataset (large datasets): MinIO f, LRU f + (1-f) ln(1-f) with shuffling, and with the same
    sequential scan every epoch LRU gets 0 below f = 1 (each item is evicted just before its turn)."""
    one_of("policy", policy, POLICIES)
    lru = lru_hit_rate_limit(cache_fraction)  # also checks the argument
    if policy == "minio":
        return min(float(cache_fraction), 1.0)
    if not shuffle:
        return 1.0 if cache_fraction >= 1 else 0.0
    return lru
