"""A training job's input pipeline against its GPUs: data stalls, caches, shared prep, offloading.

Mohan et al., "Analyzing and Mitigating Data Stalls in DNN Training" (CoorDL), VLDB'21:
section 3 (DS-Analyzer's differential measurement: the GPU's ingestion rate, then the prep
stall with the data in memory, then the fetch stall), section 4.1 (the MinIO cache) and section
4.3 (coordinated prep for hyper-parameter search). Um et al., "FastFlow: Accelerating Deep
Learning Model Training with Smart Offloading of Input Data Pipeline", VLDB'23, sections 3-4
(offloading prep to remote CPUs, and when it pays).

The model, per epoch of ``n`` samples (steady state, the second epoch on): three stages run as
a pipeline (prefetching overlaps them), so the epoch takes as long as the slowest:

    fetch = misses x sample_bytes / storage bandwidth    (the cache decides the misses)
    prep  = n x prep seconds per sample / CPU workers    (decode and augment)
    gpu   = n / batch x GPU seconds per batch
    epoch = max(fetch, prep, gpu)

and, as DS-Analyzer measures them, prep stall = max(prep, gpu) - gpu (what remains with every
sample in memory) and fetch stall = epoch - max(prep, gpu) (what the storage adds on top).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from mlsys_kit.checks import nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.feed.cache import POLICIES, steady_hit_rate

GB = 1e9


@dataclass(frozen=True)
class Pipeline:
    """One training server's input pipeline (defaults: an ImageNet-like job on one 8-GPU server,
    ResNet-18-like GPU speed; CoorDL's section 3 setting in spirit, not its exact numbers)."""

    dataset_gb: float = 140.0         # the training set on storage (ImageNet-1k's size)
    memory_gb: float = 91.0           # DRAM the cache may use: 65 % of the dataset
    sample_kb: float = 110.0          # average compressed sample (an ImageNet JPEG is ~110 KB)
    storage_mb_s: float = 250.0       # storage read bandwidth (a cloud disk or an HDD array)
    prep_ms: float = 4.0              # CPU time to decode and augment one sample, per core
    cpu_workers: int = 24             # cores doing prep (3 per GPU)
    batch: int = 2048                 # samples per iteration, all GPUs together
    gpu_ms_per_batch: float = 350.0   # GPU time per iteration (ingestion: ~5,850 samples/s)

    def __post_init__(self):
        for name in ("dataset_gb", "sample_kb", "storage_mb_s", "prep_ms", "gpu_ms_per_batch"):
            positive_number(name, getattr(self, name))
        nonneg_number("memory_gb", self.memory_gb)
        positive_int("cpu_workers", self.cpu_workers)
        positive_int("batch", self.batch)

    @property
    def samples(self) -> float:
        return self.dataset_gb * GB / (self.sample_kb * 1e3)


def stall_breakdown(fetch_s: float, prep_s: float, gpu_s: float) -> dict:
    """An epoch of pipelined stages: its time, and the stalls as DS-Analyzer splits them."""
    bound = max(prep_s, gpu_s)
    epoch = max(fetch_s, bound)
    return {"epoch_s": epoch, "gpu_s": gpu_s, "fetch_s": fetch_s, "prep_s": prep_s,
            "prep_stall_s": bound - gpu_s, "fetch_stall_s": epoch - bound,
            "stall_fraction": (epoch - gpu_s) / epoch,
            "bottleneck": "gpu" if epoch == gpu_s else ("prep" if epoch == prep_s else "fetch")}


def epoch_model(p: Pipeline, cache: str = "minio", shuffle: bool = True, first_epoch: bool = False) -> dict:
    """One epoch of ``p`` with a ``cache`` ("lru": the OS page cache, or "minio"): the hit rate
    (0 in the first epoch: the cache starts empty), bytes read from storage, stage times and stalls."""
    one_of("cache", cache, POLICIES)
    hit = 0.0 if first_epoch else steady_hit_rate(cache, p.memory_gb / p.dataset_gb, shuffle)
    n = p.samples
    bytes_read = (1 - hit) * p.dataset_gb * GB
    out = stall_breakdown(fetch_s=bytes_read / (p.storage_mb_s * 1e6), prep_s=n * p.prep_ms / 1e3 / p.cpu_workers,
                          gpu_s=n / p.batch * p.gpu_ms_per_batch / 1e3)
    return {"cache": cache, "hit_rate": hit, "bytes_read": bytes_read, **out}


def simulate_data(cache: str = "minio", dataset_gb: float = 140.0, memory_gb: float = 91.0, **pipeline) -> dict:
    """What ``mlsys-kit feed data --cache C --dataset-gb D --memory-gb M --json`` prints: the steady
    epoch (``hit_rate``, ``stall_fraction``, ``bytes_read`` and the stage times) under ``cache``,
    the other cache's figures beside it (``compare``), and the first, cold epoch."""
    p = Pipeline(dataset_gb=dataset_gb, memory_gb=memory_gb, **pipeline)
    steady = epoch_model(p, cache)
    other = "lru" if cache == "minio" else "minio"
    return {**steady, "dataset_gb": p.dataset_gb, "memory_gb": p.memory_gb, "samples": p.samples,
            "pipeline": asdict(p), "first_epoch": epoch_model(p, cache, first_epoch=True),
            "compare": {other: epoch_model(p, other)}}


def sweep_memory(p: Pipeline, fractions) -> dict:
    """Hit rate and stall fraction of both caches as the memory varies over ``fractions`` of the
    dataset (the picture of section 4.1): {"fractions": [...], "lru": {...}, "minio": {...}}."""
    out = {"fractions": [float(f) for f in fractions]}
    for cache in POLICIES:
        rows = [epoch_model(Pipeline(**{**asdict(p), "memory_gb": f * p.dataset_gb}), cache) for f in fractions]
        out[cache] = {k: [r[k] for r in rows] for k in ("hit_rate", "stall_fraction", "bytes_read", "epoch_s")}
    return out


def hp_search(p: Pipeline, jobs: int, cache: str = "minio") -> dict:
    """CoorDL section 4.3: ``jobs`` hyper-parameter trials of the same model on one server, each
    on its own GPUs (every job's GPU time is ``p``'s), sharing its CPUs, storage and cache.
    Uncoordinated, every job reads and preps every sample itself (``jobs`` x the fetch and prep
    work; each job's stream sees the single-job hit rate, which is exact for a shared MinIO cache
    and optimistic for the page cache). Coordinated, each minibatch is fetched and prepped once
    and handed to all jobs. Returns both epochs and the speedup (at most ``jobs``)."""
    positive_int("jobs", jobs)
    one = epoch_model(p, cache)
    alone = stall_breakdown(one["fetch_s"] * jobs, one["prep_s"] * jobs, one["gpu_s"])
    shared = stall_breakdown(one["fetch_s"], one["prep_s"], one["gpu_s"])
    return {"jobs": jobs, "cache": cache, "uncoordinated": alone, "coordinated": shared,
            "speedup": alone["epoch_s"] / shared["epoch_s"]}


def offload(p: Pipeline, remote_workers: int, network_gbps: float, prepped_kb: float | None = None,
            cache: str = "minio") -> dict:
    """FastFlow (VLDB'23, section 4): send a fraction ``f`` of the samples' prep to
    ``remote_workers`` remote cores (same per-sample cost; they read the raw sample from the shared
    storage themselves) and receive the prepped samples (``prepped_kb`` each, default the raw
    size) over ``network_gbps``. Local prep runs at L = workers / prep s, the remote side at
    R = min(remote workers / prep s, network bytes/s / prepped bytes); prep of n samples then takes
    max((1 - f) n / L, f n / R), least at f = R / (L + R) (n / (L + R)). Offloading pays only when
    prep is the bottleneck: it cannot speed up a GPU- or fetch-bound epoch."""
    nonneg_number("remote_workers", remote_workers)
    positive_number("network_gbps", network_gbps)
    out_bytes = positive_number("prepped_kb", p.sample_kb if prepped_kb is None else prepped_kb) * 1e3
    base = epoch_model(p, cache)
    local = p.cpu_workers / (p.prep_ms / 1e3)
    remote = min(remote_workers / (p.prep_ms / 1e3), network_gbps * 1e9 / 8 / out_bytes)
    fraction = remote / (local + remote)
    off = stall_breakdown(base["fetch_s"], p.samples / (local + remote), base["gpu_s"])
    return {"fraction": fraction, "local_samples_s": local, "remote_samples_s": remote,
            "without": base, "with": off, "speedup": base["epoch_s"] / off["epoch_s"],
            "pays": off["epoch_s"] < base["epoch_s"]}
