"""Every default of disaggregated serving, in one place (as nano-vllm's ``config.py``).

``mlsys-kit serve disagg|place``, the disaggregation demo, the lecture widget and the benchmarks
read their defaults from here; nothing else restates them.

* :class:`DisaggConfig`: the two pools, their schedulers, the SLOs, the KV link, the roofline
  model (a :mod:`mlsys_kit.models.costs` preset on a device), the trace and the placement search.
  ``DISAGG`` is DistServe's chatbot setting, ``FIGURE1`` its motivating example, ``MOONCAKE`` the
  long-shared-prefix setting, ``OVERLOAD_RATE`` early rejection's rate;
* :class:`PairConfig` (``REAL_PAIR``): the real prefill/decode process pair on gloo.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlsys_kit.checks import fraction, nonneg_int, nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.models.costs import DEVICES, PRESETS
from mlsys_kit.serving.config import SCHEDULER_NAMES


@dataclass(frozen=True)
class DisaggConfig:
    """Disaggregated serving's knobs (DistServe, OSDI'24): ``prefill`` instances of
    ``prefill_tp`` devices each running ``prefill_scheduler``, ``decode`` instances likewise, a
    KV link of ``link_gbps`` Gbit/s (None: infinitely fast) plus ``link_latency`` seconds per
    transfer, the SLOs a request must meet (``ttft_slo``, ``tpot_slo``) and the attainment
    ``target`` that defines goodput, the cost-model ``model`` on ``device``, and the trace
    (``requests`` at ``rate`` per second, ``seed``). ``search_tps`` and ``search_requests`` are
    the placement search's tensor-parallel degrees and requests per simulated run.

    The defaults are DistServe's chatbot setting as we read section 6.1 / Table 1: OPT-13B on
    A100-80GB, TTFT 0.25 s and TPOT 0.1 s at 90 % attainment; 2 prefill + 1 decode instances
    (the paper's Figure 1 split of 3 devices), vLLM-style prefill, continuous decode, 100 Gbit/s."""

    prefill: int = 2
    decode: int = 1
    prefill_tp: int = 1
    decode_tp: int = 1
    prefill_scheduler: str = "vllm"
    decode_scheduler: str = "continuous"
    ttft_slo: float = 0.25  # seconds
    tpot_slo: float = 0.1  # seconds per output token
    target: float = 0.9  # fraction of requests within both SLOs
    link_gbps: float | None = 100.0
    link_latency: float = 0.0  # seconds per transfer
    model: str = "opt-13b"
    device: str = "a100-80gb"
    rate: float = 6.0  # requests per second
    requests: int = 400
    seed: int = 0
    search_tps: tuple[int, ...] = (1, 2, 4)
    search_requests: int = 300

    def __post_init__(self) -> None:
        for name in ("prefill", "decode", "prefill_tp", "decode_tp", "requests", "search_requests"):
            positive_int(name, getattr(self, name))
        one_of("prefill_scheduler", self.prefill_scheduler, SCHEDULER_NAMES)
        one_of("decode_scheduler", self.decode_scheduler, SCHEDULER_NAMES)
        positive_number("ttft_slo", self.ttft_slo)
        positive_number("tpot_slo", self.tpot_slo)
        fraction("target", self.target)
        if self.link_gbps is not None:
            positive_number("link_gbps", self.link_gbps)
        nonneg_number("link_latency", self.link_latency)
        one_of("model", self.model, PRESETS)
        one_of("device", self.device, DEVICES)
        positive_number("rate", self.rate)
        nonneg_int("seed", self.seed)
        if not (isinstance(self.search_tps, tuple) and self.search_tps):
            raise ValueError(f"search_tps must be a non-empty tuple of positive ints: got {self.search_tps!r}")
        for tp in self.search_tps:
            positive_int("search_tps", tp)

    def replace(self, **changes) -> "DisaggConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class PairConfig:
    """The real prefill/decode process pair on gloo (``serve disagg --real``): ``requests`` at
    ``rate`` per second, prompts up to ``prompt_len`` and outputs up to ``output_len`` tokens
    (at least 2: token 1 comes from the prefill side) on the tiny GPT ``preset``, KV blocks of
    ``block_size`` tokens."""

    requests: int = 4
    rate: float = 50.0
    prompt_len: int = 24
    output_len: int = 8
    preset: str = "micro"
    seed: int = 0
    block_size: int = 16

    def __post_init__(self) -> None:
        for name in ("requests", "prompt_len", "output_len", "block_size"):
            positive_int(name, getattr(self, name))
        if self.output_len < 2:
            raise ValueError(f"output_len must be >= 2 (token 1 comes from the prefill side): got {self.output_len}")
        positive_number("rate", self.rate)
        if not (isinstance(self.preset, str) and self.preset):
            raise ValueError(f"preset must be a model preset's name: got {self.preset!r}")
        nonneg_int("seed", self.seed)

    def replace(self, **changes) -> "PairConfig":
        return replace(self, **changes)


DISAGG = DisaggConfig()  # the chatbot setting: CLI, demo, widget, benchmarks
FIGURE1 = DISAGG.replace(ttft_slo=0.4, tpot_slo=0.04, link_gbps=None, requests=150)  # DistServe section 2.3: 512/64 tokens
MOONCAKE = DISAGG.replace(prefill=4, decode=2, ttft_slo=2.0, requests=300)  # 1024-token shared prefixes: long prefills
OVERLOAD_RATE = 14.0  # requests/s where 2P1D cannot keep up: early rejection's setting (Mooncake section 7)
REAL_PAIR = PairConfig()
