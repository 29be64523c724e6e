"""Every default of the serving topic, in one place (as nano-vllm's ``config.py``).

The CLI (``mlsys-kit serve``), the demo, the lecture widget, the benchmarks and the labs read
their defaults from here; nothing else restates them.

* :class:`ServingConfig`: the engine: KV cache size, seats, token budget, swap space.
  The token budget is per scheduler when not given: Sarathi-Serve's chunked prefill uses a
  small budget (512 tokens, section 5's setting of the same order), vLLM's prefill cap is its
  ``max_num_batched_tokens`` default (2048); static and continuous batching do not use one.
* :class:`WorkloadConfig`: the generated workload: requests, rate, length mix.
* ``SIMULATED`` and ``REAL``: the two setups the CLI and the demo use (the real tiny GPT gets
  a smaller cache, fewer seats and tighter SLOs than the simulated 7B-class model).

Disaggregated serving's defaults are :mod:`mlsys_kit.disagg.config`'s.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from mlsys_kit.checks import nonneg_int, one_of, positive_int, positive_number
from mlsys_kit.serving.workload import ARRIVALS, LENGTHS, Request, length_dist, make_workload

CHUNKED_TOKEN_BUDGET = 512  # Sarathi-Serve: tokens per iteration, decodes first, prompts chunked
PREFILL_TOKEN_BUDGET = 2048  # vLLM: the most prompt tokens one prefill iteration takes
NO_BUDGET = 1 << 30  # a budget that never binds (lab 3's chunked scheduler without chunking)
SCHEDULER_NAMES = ("static", "continuous", "vllm", "chunked")  # the order of the CLI, the tables, the figures


def default_token_budget(scheduler: str) -> int:
    """The token budget of ``scheduler`` when none is given."""
    return CHUNKED_TOKEN_BUDGET if scheduler == "chunked" else PREFILL_TOKEN_BUDGET


@dataclass(frozen=True)
class ServingConfig:
    """The engine's knobs. ``token_budget`` None: :func:`default_token_budget` of the scheduler."""

    num_blocks: int = 2048
    block_size: int = 16
    max_num_seqs: int = 64
    token_budget: int | None = None
    max_model_len: int | None = None  # KV reserved per request by static/continuous (None: prompt + output)
    swap_blocks: int = 0  # host blocks for swap preemption (vllm, chunked); 0: recompute
    ttft_slo: float = 1.0  # seconds
    tpot_slo: float = 0.1  # seconds per output token

    def __post_init__(self) -> None:
        positive_int("num_blocks", self.num_blocks)
        positive_int("block_size", self.block_size)
        positive_int("max_num_seqs", self.max_num_seqs)
        if self.token_budget is not None:
            positive_int("token_budget", self.token_budget)
        if self.max_model_len is not None:
            positive_int("max_model_len", self.max_model_len)
        nonneg_int("swap_blocks", self.swap_blocks)
        positive_number("ttft_slo", self.ttft_slo)
        positive_number("tpot_slo", self.tpot_slo)

    def budget_for(self, scheduler: str) -> int:
        """The token budget ``scheduler`` runs with under this configuration."""
        return self.token_budget if self.token_budget is not None else default_token_budget(scheduler)

    def replace(self, **changes) -> "ServingConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class WorkloadConfig:
    """A generated workload: ``requests`` arriving at ``rate`` per second (Poisson, or gamma with
    burstiness ``cv``), prompt and output lengths from the ``lengths`` mix around their medians."""

    requests: int = 1000
    rate: float = 10.0
    prompt_len: int = 128
    output_len: int = 64
    lengths: str = "lognormal"
    arrival: str = "poisson"
    cv: float = 1.0
    seed: int = 0

    def __post_init__(self) -> None:
        positive_int("requests", self.requests)
        positive_number("rate", self.rate)
        positive_int("prompt_len", self.prompt_len)
        positive_int("output_len", self.output_len)
        one_of("lengths", self.lengths, LENGTHS)
        one_of("arrival", self.arrival, ARRIVALS)
        positive_number("cv", self.cv)
        nonneg_int("seed", self.seed)

    def make(self, vocab_size: int | None = None) -> list[Request]:
        """The trace (with prompt token ids below ``vocab_size`` when given, for the real engine)."""
        return make_workload(self.requests, self.rate, length_dist(self.lengths, self.prompt_len),
                             length_dist(self.lengths, self.output_len), self.arrival, self.cv, self.seed, vocab_size)

    def replace(self, **changes) -> "WorkloadConfig":
        return replace(self, **changes)


SIMULATED = ServingConfig()  # `serve simulate` and `serve sweep`: a 7B-class model priced by the cost model
SIMULATED_WORKLOAD = WorkloadConfig()
REAL = ServingConfig(num_blocks=256, max_num_seqs=16, ttft_slo=0.5, tpot_slo=0.05)  # `serve run`: the tiny GPT
REAL_WORKLOAD = WorkloadConfig(requests=32, rate=100.0, prompt_len=32, output_len=16)
