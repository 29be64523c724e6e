"""Seeded synthetic workloads shaped like the published GPU-cluster traces.

Two specs, each parameter pinned in docs/cluster.md to the paper's table or figure it comes from:

* :data:`PHILLY`: Microsoft's Philly cluster (Jeon et al., ATC'19, section 2 and figures 2-3; the
  public ``philly-traces`` repository): mostly 1-GPU jobs with a tail of 8-, 16- and 32-GPU gangs;
  run times log-normal over minutes to days, larger jobs longer;
* :data:`PAI`: Alibaba PAI (Weng et al., "MLaaS in the Wild", NSDI'22, section 3): even more
  small jobs (most instances ask for at most one GPU) and shorter run times with a heavy tail.

A job's length is drawn as its run time on a V100 in seconds; it gets ``iterations = run time`` and
throughput 1 iteration/s on the V100, and on slower types the throughput of its model class
(:data:`MODEL_SPEEDUPS`: Gavel, OSDI'20, figure 1 shows V100/K80 ratios from ~1.2x to ~10x across
models). ``heterogeneity`` in [0, 1] scales those gaps (0: every type as fast as a V100).
Arrivals are Poisson, at the rate that makes the offered load ``load`` (GPU-seconds asked per
GPU-second available) on a cluster of ``gpus`` GPUs.

:func:`describe` computes the same statistics from any list of jobs (a generated one or one read
by :mod:`mlsys_kit.cluster.trace`), and :func:`fit_spec` fits a spec to a real trace.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from mlsys_kit.checks import nonneg_number, positive_int, positive_number
from mlsys_kit.cluster.core import GPU_TYPES, Job


@dataclass(frozen=True)
class WorkloadSpec:
    """Job sizes (``sizes`` with probabilities ``probs``), run time log-normal with median
    ``median_s`` seconds and shape ``sigma`` for a 1-GPU job, the median growing by
    ``size_growth`` per doubling of GPUs, capped at ``max_s``."""

    name: str
    sizes: tuple[int, ...]
    probs: tuple[float, ...]
    median_s: float
    sigma: float
    size_growth: float
    max_s: float

    def __post_init__(self) -> None:
        if len(self.sizes) != len(self.probs) or not self.sizes:
            raise ValueError("sizes and probs must be non-empty and of equal length")
        for s in self.sizes:
            positive_int("size", s)
        if any(p < 0 for p in self.probs) or abs(sum(self.probs) - 1) > 1e-6:
            raise ValueError(f"probs must be non-negative and sum to 1: got {self.probs}")
        positive_number("median_s", self.median_s)
        positive_number("sigma", self.sigma)
        positive_number("size_growth", self.size_growth)
        positive_number("max_s", self.max_s)


# Philly, ATC'19: job sizes from figure 2's legend and section 2.2 (most jobs use one GPU; gangs
# of up to 32+ GPUs exist); run times: figure 2's CDF (median tens of minutes, tail of days).
PHILLY = WorkloadSpec("philly", sizes=(1, 2, 4, 8, 16, 32), probs=(0.70, 0.10, 0.08, 0.08, 0.03, 0.01),
                      median_s=1200.0, sigma=1.8, size_growth=1.35, max_s=14 * 86400.0)
# PAI, NSDI'22: section 3.1 and figure 5 (instances mostly ask for <= 1 GPU; run times from seconds
# to days, median about ten minutes, heavier tail than Philly).
PAI = WorkloadSpec("pai", sizes=(1, 2, 4, 8), probs=(0.87, 0.06, 0.04, 0.03),
                   median_s=600.0, sigma=2.2, size_growth=1.2, max_s=7 * 86400.0)
SPECS = {"philly": PHILLY, "pai": PAI}

# Throughput of a model class on each type relative to a V100 (illustrative ratios spanning the
# range of Gavel, OSDI'20, figure 1 and table 2's models; not read off the figure digit by digit).
MODEL_SPEEDUPS: dict[str, dict[str, float]] = {
    "resnet50": {"v100": 1.0, "p100": 0.40, "k80": 0.10},
    "resnet18": {"v100": 1.0, "p100": 0.55, "k80": 0.20},
    "transformer": {"v100": 1.0, "p100": 0.45, "k80": 0.14},
    "lm": {"v100": 1.0, "p100": 0.60, "k80": 0.30},
    "recommendation": {"v100": 1.0, "p100": 0.80, "k80": 0.50},
    "cyclegan": {"v100": 1.0, "p100": 0.40, "k80": 0.12},
    "a3c": {"v100": 1.0, "p100": 0.90, "k80": 0.80},
}


def run_times(spec: WorkloadSpec, sizes: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Run times (s on a V100) for jobs of these GPU ``sizes``."""
    median = spec.median_s * spec.size_growth ** np.log2(sizes)
    return np.minimum(median * np.exp(spec.sigma * rng.standard_normal(len(sizes))), spec.max_s)


def generate(n: int, spec: WorkloadSpec | str = PHILLY, *, gpus: int = 64, load: float = 0.8,
             gpu_types: Sequence[str] = ("v100",), heterogeneity: float = 1.0, seed: int = 0,
             max_size: int | None = None) -> list[Job]:
    """``n`` jobs drawn from ``spec`` (seeded: the same arguments give the same jobs), arriving as
    a Poisson process that offers ``load`` of a ``gpus``-GPU cluster; jobs larger than ``max_size``
    (default ``gpus``) are cut to it. Each job can run on every type in ``gpu_types``."""
    positive_int("n", n)
    positive_int("gpus", gpus)
    positive_number("load", load)
    if isinstance(spec, str):
        if spec not in SPECS:
            raise ValueError(f"spec must be one of {', '.join(SPECS)}: got {spec!r}")
        spec = SPECS[spec]
    h = nonneg_number("heterogeneity", heterogeneity)
    if h > 1:
        raise ValueError(f"heterogeneity must be in [0, 1]: got {heterogeneity!r}")
    types = list(dict.fromkeys(gpu_types))
    bad = [t for t in types if t not in GPU_TYPES]
    if not types or bad:
        raise ValueError(f"gpu_types must be a non-empty subset of {', '.join(GPU_TYPES)}: got {list(gpu_types)}")
    rng = np.random.default_rng(seed)
    cap = gpus if max_size is None else positive_int("max_size", max_size)
    sizes = np.minimum(rng.choice(np.array(spec.sizes), size=n, p=np.array(spec.probs)), cap)
    dur = run_times(spec, sizes, rng)
    models = rng.choice(sorted(MODEL_SPEEDUPS), size=n)
    rate = load * gpus / float(np.mean(sizes * dur))  # jobs per second
    arrivals = np.cumsum(rng.exponential(1.0 / rate, size=n))
    arrivals -= arrivals[0]
    jobs = []
    for i in range(n):
        ratio = MODEL_SPEEDUPS[str(models[i])]
        tp = {t: 1.0 - h * (1.0 - ratio[t]) for t in types}
        jobs.append(Job(i, float(arrivals[i]), int(sizes[i]), float(dur[i]), tp))
    return jobs


def describe(jobs: Sequence[Job]) -> dict:
    """The statistics the specs are pinned to: share of jobs per GPU count, run-time quantiles
    (s, on the job's fastest type), the mean inter-arrival time and the GPU-seconds asked."""
    if not jobs:
        raise ValueError("describe needs at least one job")
    sizes = np.array([j.gpus for j in jobs])
    dur = np.array([j.ideal_runtime() for j in jobs])
    arr = np.sort([j.arrival for j in jobs])
    share = {int(s): float(np.mean(sizes == s)) for s in np.unique(sizes)}
    q = np.percentile(dur, [50, 90, 99])
    return {"jobs": len(jobs), "gpu_share": share, "median_s": float(q[0]), "p90_s": float(q[1]),
            "p99_s": float(q[2]), "mean_interarrival_s": float(np.mean(np.diff(arr))) if len(jobs) > 1 else 0.0,
            "gpu_seconds": float(np.sum(sizes * dur))}


def fit_spec(jobs: Sequence[Job], name: str = "fitted") -> WorkloadSpec:
    """A spec fitted to ``jobs`` (a real trace): the empirical size shares, and the log-normal
    median, shape and size growth by least squares of log run time on log2 size."""
    if len(jobs) < 2:
        raise ValueError("fit_spec needs at least two jobs")
    sizes = np.array([j.gpus for j in jobs], dtype=float)
    logd = np.log([j.ideal_runtime() for j in jobs])
    x = np.log2(sizes)
    if np.ptp(x) > 0:
        slope, icpt = np.polyfit(x, logd, 1)
    else:
        slope, icpt = 0.0, float(np.mean(logd))
    resid = logd - (icpt + slope * x)
    uniq, counts = np.unique(sizes.astype(int), return_counts=True)
    probs = counts / counts.sum()
    return WorkloadSpec(name, tuple(int(u) for u in uniq), tuple(float(p) for p in probs / probs.sum()),
                        float(np.exp(icpt)), float(max(np.std(resid), 1e-6)), float(np.exp(slope)),
                        float(np.exp(logd.max())))
