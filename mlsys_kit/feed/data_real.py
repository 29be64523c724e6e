"""The real check of the cache model: a torch ``DataLoader`` over a dataset of files on disk, with a
byte-budgeted cache of each kind inside the ``Dataset`` (CoorDL, VLDB'21, section 4.1: MinIO is a
user-space cache inside the data loader; the LRU stands for the OS page cache).

The dataset is generated: ``n_files`` files of a few KB (sizes drawn from a seed) in a temporary
directory. Each epoch a ``RandomSampler`` with a seeded generator draws a fresh permutation; the
``Dataset`` serves sample i from its cache or reads the file (counting the bytes it really read)
and then preps it (decode the bytes into a tensor and summarise them: a histogram).

``num_workers=0``, for exactness: with worker processes each worker holds its own copy of the
``Dataset`` (and of its cache, filled independently), its counters live in that process, and
which worker reads which batch depends on timing; with one process the accesses are exactly the
sampler's order and the counters are the loader's. The same order, taken from a second sampler
with the same seed, goes through :func:`mlsys_kit.feed.cache.simulate_cache`: hits, misses and
bytes read must be equal, epoch by epoch. The cache here is written apart from ``cache.py``
(recency stamps instead of an ordered dict), so the check compares two implementations.

The epoch time is measured and set beside the model's, ``misses x read time per file + samples x
time to serve a sample from memory`` (one process: nothing overlaps; serving is prep, collation
and the loader's own work), both costs timed on a calibration pass; reported, never asserted.
Note the files were just written, so the "storage" reads come from the OS page cache: the bytes
counted are what the loader asked the file system for.
"""

from __future__ import annotations

import random
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from mlsys_kit.checks import fraction, one_of, positive_int
from mlsys_kit.feed.cache import POLICIES, lru_hit_rate_limit, simulate_cache


def make_files(root: Path, n_files: int = 200, min_bytes: int = 1_000, max_bytes: int = 8_000, seed: int = 0) -> list[int]:
    """Write ``n_files`` files of random bytes, sizes uniform in [min_bytes, max_bytes]; their sizes."""
    positive_int("n_files", n_files)
    if positive_int("min_bytes", min_bytes) > positive_int("max_bytes", max_bytes):
        raise ValueError(f"min_bytes must be <= max_bytes: got {min_bytes} > {max_bytes}")
    rng = random.Random(seed)
    sizes = [rng.randint(min_bytes, max_bytes) for _ in range(n_files)]
    for i, s in enumerate(sizes):
        (Path(root) / f"{i:05d}.bin").write_bytes(rng.randbytes(s))
    return sizes


class CachedFiles(Dataset):
    """Files ``root/00000.bin`` ... served through a cache of ``capacity_bytes`` (``policy`` "lru":
    evict the least recently used until the file fits; "minio": keep while there is room, never
    evict). Counters: ``hits``, ``misses``, ``bytes_read`` and ``accesses`` (the keys, in order)."""

    def __init__(self, root: Path, n_files: int, policy: str, capacity_bytes: int):
        self.paths = [Path(root) / f"{i:05d}.bin" for i in range(positive_int("n_files", n_files))]
        self.policy = one_of("policy", policy, POLICIES)
        self.capacity_bytes = capacity_bytes
        self.store: dict[int, bytes] = {}
        self.last_use: dict[int, int] = {}
        self.clock = self.used = self.hits = self.misses = self.bytes_read = 0
        self.accesses: list[int] = []

    def __len__(self) -> int:
        return len(self.paths)

    def _fetch(self, i: int) -> bytes:
        self.clock += 1
        self.accesses.append(i)
        if i in self.store:
            self.hits += 1
            self.last_use[i] = self.clock
            return self.store[i]
        self.misses += 1
        data = self.paths[i].read_bytes()
        self.bytes_read += len(data)
        if self.policy == "lru" and len(data) <= self.capacity_bytes:
            while self.used + len(data) > self.capacity_bytes:
                victim = min(self.last_use, key=self.last_use.get)
                self.used -= len(self.store.pop(victim))
                del self.last_use[victim]
        if self.used + len(data) <= self.capacity_bytes:
            self.store[i] = data
            self.last_use[i] = self.clock
            self.used += len(data)
        return data

    def __getitem__(self, i: int) -> torch.Tensor:
        return prep(self._fetch(int(i)))


def prep(data: bytes) -> torch.Tensor:
    """Decode and "augment": the bytes as pixels in [0, 1], a 16-bin histogram of them."""
    x = torch.frombuffer(bytearray(data), dtype=torch.uint8).float() / 255.0
    return torch.histc(x, bins=16, min=0.0, max=1.0) / x.numel()


def sampler_orders(n: int, epochs: int, seed: int) -> list[list[int]]:
    """The order a seeded ``RandomSampler`` yields in each of ``epochs`` epochs (a second sampler)."""
    s = RandomSampler(range(n), generator=torch.Generator().manual_seed(seed))
    return [[int(i) for i in s] for _ in range(epochs)]


def _calibrate(root: Path, n: int, batch: int) -> tuple[float, float]:
    """Seconds to read one file (median over the dataset) and to serve one sample through the
    DataLoader from memory (prep, collation and the loader's own work: an epoch in which every
    sample hits a cache that holds them all, divided by the samples)."""
    paths = [Path(root) / f"{i:05d}.bin" for i in range(n)]
    reads = []
    for p in paths:
        t0 = time.perf_counter()
        p.read_bytes()
        reads.append(time.perf_counter() - t0)
    ds = CachedFiles(root, n, "minio", 1 << 62)
    loader = DataLoader(ds, batch_size=batch, num_workers=0)
    for _batch in loader:  # fill the cache (and warm up torch's kernels)
        pass
    t0 = time.perf_counter()
    for _batch in loader:
        pass
    return statistics.median(reads), (time.perf_counter() - t0) / n


def run_policy(root: Path, sizes: list[int], policy: str, capacity: int, epochs: int, batch: int, seed: int,
               costs: tuple[float, float]) -> dict:
    """One policy: the DataLoader's measured counters per epoch against the simulator's."""
    ds = CachedFiles(root, len(sizes), policy, capacity)
    loader = DataLoader(ds, batch_size=batch, num_workers=0,
                        sampler=RandomSampler(ds, generator=torch.Generator().manual_seed(seed)))
    measured, seconds = [], []
    for _ in range(epochs):
        h0, m0, b0 = ds.hits, ds.misses, ds.bytes_read
        t0 = time.perf_counter()
        for _batch in loader:
            pass
        seconds.append(time.perf_counter() - t0)
        measured.append({"hits": ds.hits - h0, "misses": ds.misses - m0, "bytes_read": ds.bytes_read - b0})
    orders = sampler_orders(len(sizes), epochs, seed)
    sim = simulate_cache(policy, orders, sizes, capacity)
    predicted = [{k: e[k] for k in ("hits", "misses", "bytes_read")} for e in sim["epochs"]]
    read_s, serve_s = costs
    n = len(sizes)
    steady = lambda rows: sum(r["hits"] for r in rows[1:]) / (n * (epochs - 1)) if epochs > 1 else 0.0  # noqa: E731
    return {"matches": measured == predicted and ds.accesses == [i for o in orders for i in o],
            "hit_rate_measured": steady(measured), "hit_rate_predicted": steady(predicted),
            "bytes_read_measured": ds.bytes_read, "bytes_read_predicted": sim["bytes_read"],
            "epochs_measured": measured, "epochs_predicted": predicted, "epoch_s_measured": seconds,
            "epoch_s_model": [e["misses"] * read_s + n * serve_s for e in predicted]}


def real_data(n_files: int = 200, memory_fraction: float = 0.5, epochs: int = 3, batch: int = 16, seed: int = 0,
              root: str | Path | None = None) -> dict:
    """What ``mlsys-kit feed data --real --json`` prints: for both caches (a budget of
    ``memory_fraction`` of the dataset's bytes), hit rates (epochs after the first) and bytes read,
    measured by the DataLoader and predicted by the simulator, ``matches_simulator`` (every epoch's
    hits, misses and bytes equal, and the access order the sampler's), and the epoch times."""
    positive_int("n_files", n_files)
    fraction("memory_fraction", memory_fraction)
    positive_int("epochs", epochs)
    positive_int("batch", batch)
    with tempfile.TemporaryDirectory(prefix="mlsys-feed-") as tmp:
        where = Path(root) if root is not None else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        sizes = make_files(where, n_files, seed=seed)
        capacity = int(memory_fraction * sum(sizes))
        costs = _calibrate(where, n_files, batch)
        out = {p: run_policy(where, sizes, p, capacity, epochs, batch, seed, costs) for p in POLICIES}
    return {"matches_simulator": all(out[p]["matches"] for p in POLICIES), "files": n_files,
            "dataset_bytes": sum(sizes), "capacity_bytes": capacity, "epochs": epochs, "num_workers": 0,
            "read_s_per_file": costs[0], "serve_s_per_sample": costs[1],
            "closed_form_hit_rate": {"lru": lru_hit_rate_limit(memory_fraction), "minio": memory_fraction}, **out}
