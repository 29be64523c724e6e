"""The vocabulary of offloaded inference: tiers, hardware, placements, policies, models.

FlexGen (Sheng et al., *FlexGen: High-Throughput Generative Inference of Large Language Models
with a Single GPU*, ICML'23) runs a model that does not fit on the device by keeping each kind
of tensor (weights, activations, KV cache) split across three tiers, device / host / disk, in
percentages (section 4.2, "policy search": the nine numbers wg, wc, wd, hg, hc, hd, cg, cc, cd)
and by choosing a batch size and a number of batches per block (section 4.1's zig-zag block
schedule; appendix A's cost model). This module names those things; ``cost.py`` prices them,
``schedule.py`` orders the work and ``search.py`` picks the best policy.

* :class:`Tier`: a level of the memory hierarchy: capacity in bytes, ``read_bw`` (bytes/s from
  this tier up to the tier above it: host -> device over PCIe, disk -> host) and ``write_bw``
  (bytes/s from the tier above down into it). The device tier's two bandwidths are its own
  memory bandwidth (what the compute roofline reads).
* :class:`Hardware`: the three tiers and the device's FLOP/s; presets ``t4-16gb`` (FlexGen's
  section 6 setup: one 16 GB T4, 208 GB of host DRAM, 1.5 TB of NVMe SSD) and ``cpu-tiny`` (a
  small byte-budgeted setting for the real run of the tiny GPT on a CPU).
* :class:`Placement`: percentages of each tensor kind on (device, host, disk); each triple sums
  to 100. :func:`split` turns a percentage triple into whole element counts, the one rounding
  rule the cost model and the real run share.
* :class:`Policy`: batch size (FlexGen's GPU batch size), batches per block (its "number of GPU
  batches"), the placement, whether load, compute and store overlap, and 4-bit compression.
* :class:`Workload`: prompt and generation lengths (FlexGen's 512 and 32, section 6).
* ``MODELS``: OPT-6.7B, OPT-30B, OPT-175B as :class:`~mlsys_kit.models.costs.TransformerConfig`
  (Zhang et al., *OPT*, 2022, table 1), plus the shared cost-model presets; :func:`from_gpt`
  describes a :class:`mlsys_kit.models.gpt.GPTConfig` the same way.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from typing import Any

from mlsys_kit import checks
from mlsys_kit.models.costs import PRESETS, TransformerConfig

TIERS = ("device", "host", "disk")
KINDS = ("weights", "activations", "kv_cache")
COLUMNS = ("skewed", "random", "oracle")  # InfiniGen's prefetch columns (infinigen.py): skewed by SVD, random, exact
GB = 1e9


@dataclass(frozen=True)
class Tier:
    """One memory tier: ``capacity_bytes``; ``read_bw`` bytes/s up to the tier above (for the
    device: its memory bandwidth); ``write_bw`` bytes/s from the tier above into it."""

    name: str
    capacity_bytes: float
    read_bw: float
    write_bw: float

    def __post_init__(self) -> None:
        checks.one_of("tier name", self.name, TIERS)
        checks.nonneg_number(f"{self.name} capacity_bytes", self.capacity_bytes)
        checks.positive_number(f"{self.name} read_bw", self.read_bw)
        checks.positive_number(f"{self.name} write_bw", self.write_bw)


@dataclass(frozen=True)
class Hardware:
    """A device with a host and a disk behind it: the three tiers and the device's FLOP/s at
    the working precision. ``mem_bw`` is the device tier's memory bandwidth."""

    name: str
    device: Tier
    host: Tier
    disk: Tier
    flops: float

    def __post_init__(self) -> None:
        for want, tier in zip(TIERS, (self.device, self.host, self.disk)):
            if not isinstance(tier, Tier) or tier.name != want:
                raise ValueError(f"Hardware.{want} must be a Tier named {want!r}: got {tier!r}")
        checks.positive_number("flops", self.flops)

    @property
    def tiers(self) -> tuple[Tier, Tier, Tier]:
        return (self.device, self.host, self.disk)

    @property
    def mem_bw(self) -> float:
        return self.device.read_bw

    def with_capacity(self, tier: str, capacity_bytes: float) -> "Hardware":
        """A copy with one tier's capacity changed (``--host-gb``, ``--disk-gb``)."""
        checks.one_of("tier", tier, TIERS)
        return replace(self, **{tier: replace(getattr(self, tier), capacity_bytes=capacity_bytes)})


# FlexGen section 6 ("Hardware"): a GCP instance with one NVIDIA T4 (16 GB), 208 GB of CPU
# DRAM and a 1.5 TB SSD. Bandwidths: T4 data sheet (65 TFLOP/s FP16 tensor-core peak, 320 GB/s
# GDDR6); PCIe 3.0 x16 at the ~12 GB/s a pinned copy attains (16 GB/s nominal); NVMe at
# ~2 GB/s read, ~1 GB/s write, the order FlexGen reports for its SSD.
HARDWARE: dict[str, Hardware] = {
    "t4-16gb": Hardware(
        "t4-16gb",
        device=Tier("device", 16 * GB, 320 * GB, 320 * GB),
        host=Tier("host", 208 * GB, 12 * GB, 12 * GB),
        disk=Tier("disk", 1500 * GB, 2 * GB, 1 * GB),
        flops=65e12),
    # The real run's setting: the tiny GPT (mlsys_kit.models.gpt "tiny", ~4.4 MB in fp32) on a
    # laptop CPU, with a "device" budget far below the model and a memory-mapped disk tier.
    "cpu-tiny": Hardware(
        "cpu-tiny",
        device=Tier("device", 2e6, 20 * GB, 20 * GB),
        host=Tier("host", 64e6, 10 * GB, 10 * GB),
        disk=Tier("disk", 1 * GB, 2 * GB, 1 * GB),
        flops=50e9),
}


def hardware(name: str, host_gb: float | None = None, disk_gb: float | None = None) -> Hardware:
    """The preset ``name`` (see ``HARDWARE``), optionally with another host or disk size in GB."""
    hw = HARDWARE[checks.one_of("hardware", name, HARDWARE)]
    if host_gb is not None:
        hw = hw.with_capacity("host", checks.nonneg_number("host_gb", host_gb) * GB)
    if disk_gb is not None:
        hw = hw.with_capacity("disk", checks.nonneg_number("disk_gb", disk_gb) * GB)
    return hw


def _triple(name: str, value: Any) -> tuple[float, float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 3:
        raise ValueError(f"{name} must be three percentages (device, host, disk) summing to 100: got {value!r}")
    t = tuple(checks.nonneg_number(f"{name} percentage", v) for v in value)
    if not math.isclose(sum(t), 100.0, abs_tol=1e-6):
        raise ValueError(f"{name} percentages (device, host, disk) must sum to 100: got {value!r} (sum {sum(t)})")
    return t  # type: ignore[return-value]


@dataclass(frozen=True)
class Placement:
    """Where each kind of tensor lives, as percentages on (device, host, disk) that sum to 100
    (FlexGen 4.2: weights wg/wc/wd, activations hg/hc/hd, KV cache cg/cc/cd). The default keeps
    everything on the device."""

    weights: tuple[float, float, float] = (100.0, 0.0, 0.0)
    activations: tuple[float, float, float] = (100.0, 0.0, 0.0)
    kv_cache: tuple[float, float, float] = (100.0, 0.0, 0.0)

    def __post_init__(self) -> None:
        for kind in KINDS:
            object.__setattr__(self, kind, _triple(kind, getattr(self, kind)))

    def of(self, kind: str) -> tuple[float, float, float]:
        """The (device, host, disk) percentages of ``kind`` (one of ``KINDS``)."""
        return getattr(self, checks.one_of("kind", kind, KINDS))

    def fraction(self, kind: str, tier: str) -> float:
        """The share in [0, 1] of ``kind`` kept on ``tier``."""
        return self.of(kind)[TIERS.index(checks.one_of("tier", tier, TIERS))] / 100.0

    def as_dict(self) -> dict[str, dict[str, float]]:
        return {k: dict(zip(TIERS, self.of(k))) for k in KINDS}


def split(n: int, percents: tuple[float, float, float]) -> tuple[int, int, int]:
    """Split ``n`` elements over (device, host, disk) by ``percents``: device and host get the
    floor of their share, disk the rest, so the three always add up to ``n``. The cost model
    and the real run both split every tensor with this rule, so their byte counts agree."""
    n = checks.nonneg_int("n", n)
    p = _triple("percents", percents)
    dev = min(n, math.floor(n * p[0] / 100.0 + 1e-9))
    host = min(n - dev, math.floor(n * p[1] / 100.0 + 1e-9))
    return dev, host, n - dev - host


@dataclass(frozen=True)
class Policy:
    """FlexGen's policy (section 4): ``batch_size`` sequences per batch (the GPU batch),
    ``num_batches`` batches per block (the zig-zag block; ``batch_size * num_batches`` is the
    effective batch size), the ``placement``, whether load, compute and store ``overlap``, and
    whether weights and KV cache are ``compress``-ed to 4 bits (FlexGen section 5)."""

    batch_size: int
    num_batches: int = 1
    placement: Placement = Placement()
    overlap: bool = True
    compress: bool = False

    def __post_init__(self) -> None:
        checks.positive_int("batch_size", self.batch_size)
        checks.positive_int("num_batches", self.num_batches)
        if not isinstance(self.placement, Placement):
            raise ValueError(f"placement must be a Placement: got {type(self.placement).__name__}")
        for flag in ("overlap", "compress"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be True or False: got {getattr(self, flag)!r}")

    @property
    def block_size(self) -> int:
        """The effective batch size: sequences in one block."""
        return self.batch_size * self.num_batches


@dataclass(frozen=True)
class Workload:
    """A generation: every sequence has ``prompt_len`` prompt tokens and generates ``gen_len``
    tokens (FlexGen section 6: 512 and 32)."""

    prompt_len: int = 512
    gen_len: int = 32

    def __post_init__(self) -> None:
        checks.positive_int("prompt_len", self.prompt_len)
        checks.positive_int("gen_len", self.gen_len)


# OPT (Zhang et al. 2022), table 1, and the Hugging Face facebook/opt-* config.json files:
# FFN 4 x d_model, vocab 50272, 2048 positions (+2 offset rows), fp16.
MODELS: dict[str, TransformerConfig] = {
    "opt-6.7b": TransformerConfig(name="opt-6.7b", layers=32, hidden=4096, heads=32, vocab=50272,
                                  seq_len=2048, learned_positions=2050),
    "opt-30b": TransformerConfig(name="opt-30b", layers=48, hidden=7168, heads=56, vocab=50272,
                                 seq_len=2048, learned_positions=2050),
    "opt-175b": TransformerConfig(name="opt-175b", layers=96, hidden=12288, heads=96, vocab=50272,
                                  seq_len=2048, learned_positions=2050),
} | {k: v for k, v in PRESETS.items() if k not in ("opt-6.7b", "opt-30b", "opt-175b")}


def model(name: str) -> TransformerConfig:
    """The model called ``name`` (see ``MODELS``)."""
    return MODELS[checks.one_of("model", name, MODELS)]


def from_gpt(cfg: Any, dtype_bytes: int = 4) -> TransformerConfig:
    """The :class:`TransformerConfig` of a :class:`mlsys_kit.models.gpt.GPTConfig` (GPT-2
    layout: biases, LayerNorm, GELU MLP of 4 x n_embd, learned positions, tied head) at
    ``dtype_bytes`` per element (4: float32, what the tiny GPT runs in)."""
    try:
        fields = (cfg.n_layer, cfg.n_embd, cfg.n_head, cfg.vocab_size, cfg.n_positions)
    except AttributeError:
        raise ValueError(f"expected a GPTConfig (n_layer, n_embd, n_head, vocab_size, n_positions): "
                         f"got {type(cfg).__name__}") from None
    layers, hidden, heads, vocab, positions = fields
    return TransformerConfig(name="gpt", layers=layers, hidden=hidden, heads=heads, vocab=vocab,
                             seq_len=positions, learned_positions=positions,
                             dtype_bytes=checks.positive_int("dtype_bytes", dtype_bytes))
