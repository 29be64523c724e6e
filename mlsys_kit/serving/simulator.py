"""The simulator: a cost model instead of the model, and a fast-forward over identical iterations.

What it speeds up: the engine (:func:`mlsys_kit.serving.engine.serve`) on the real model takes
wall time per iteration; the papers' curves need 10^4-10^5 requests per point.

* :class:`CostModel` prices an iteration, in the spirit of Vidur (MLSys'24, section 4):
  ``a + b*prefill_tokens + c*decode_batch + d*context_tokens`` seconds (``e`` per swapped token);
  :func:`fit_cost_model` fits it to the real engine's timings (``mlsys-kit serve fit``).
* :class:`SimBackend` takes the engine's KV blocks from a real allocator
  (:class:`~mlsys_kit.serving.kv.SimKV`) and prices each iteration.
* :meth:`SimBackend.fast_forward`: in steady state (an all-decode batch, nobody arriving who
  could join, no block shortage ahead) the next iterations repeat the same batch, so the loop
  jumps over them: :func:`steady_steps` says how many (from what each scheduler class declares), and
  their times are added one by one, in numpy for long runs (:func:`_steps_vectorised`, the
  very same float operations in the same order), so the result is bit-for-bit the one of
  stepping through them.

Proof of equality with stepping: ``tests/serving/test_serving_scheduler.py::test_fast_forward_is_exact``
(random traces, every scheduler, swap on and off, the numpy path forced). Speed:
``benchmarks/serving_simulator.py`` (100k requests per scheduler).

:func:`simulate` and :func:`sweep` are what ``mlsys-kit serve simulate|sweep``, the demo and the
lecture widget call.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any, Sequence

from mlsys_kit.checks import nonneg_number
from mlsys_kit.common import ceil_div
from mlsys_kit.serving.config import SIMULATED, SIMULATED_WORKLOAD, ServingConfig, WorkloadConfig
from mlsys_kit.serving.engine import IterationRecord, ServeResult, serve
from mlsys_kit.serving.interface import Batch
from mlsys_kit.serving.kv import SimKV
from mlsys_kit.serving.metrics import summarize
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.workload import Request


@dataclass(frozen=True)
class CostModel:
    """Seconds per iteration = a + b*prefill_tokens + c*decode_batch + d*context_tokens.

    The defaults are illustrative (the order of a 7B model on one datacenter GPU), not a
    measurement; fit your own with ``mlsys-kit serve fit``. ``e`` prices each token swapped
    between device and host (about 0.5 MB of KV per token over a ~25 GB/s link)."""

    a: float = 0.008
    b: float = 1.5e-4
    c: float = 2.0e-4
    d: float = 1.0e-7
    e: float = 2.0e-5

    def __post_init__(self) -> None:
        for k, v in asdict(self).items():
            nonneg_number(f"cost coefficient {k}", v)

    def time(self, prefill_tokens: int, decode_batch: int, context_tokens: int) -> float:
        return self.a + self.b * prefill_tokens + self.c * decode_batch + self.d * context_tokens


def fit_cost_model(records: Sequence[tuple[int, int, int, float]]) -> CostModel:
    """Least-squares fit of :class:`CostModel` to (prefill_tokens, decode_batch, context_tokens,
    seconds) samples; negative coefficients are clipped to 0 and the rest refitted."""
    import numpy as np

    if len(records) < 4:
        raise ValueError(f"fitting 4 coefficients needs at least 4 timed iterations: got {len(records)}")
    X = np.array([[1.0, p, d, c] for p, d, c, _ in records], dtype=float)
    y = np.array([t for *_, t in records])
    keep = [0, 1, 2, 3]
    while True:
        coef, *_ = np.linalg.lstsq(X[:, keep], y, rcond=None)
        neg = [k for k, v in zip(keep, coef) if v < 0]
        if not neg:
            break
        keep = [k for k in keep if k not in neg]
        if not keep:
            coef = np.array([])
            break
    full = [0.0] * 4
    for k, v in zip(keep, coef):
        full[k] = float(v)
    return CostModel(*full)


def _kv_steady(kv: SimKV, batch: Batch, limit: int) -> int:
    """Largest k <= limit such that k more tokens for every sequence of ``batch`` fit in the
    free blocks (binary search; each probe is O(batch))."""
    free, bs = kv.num_free, kv.block_size
    if len(batch) * ceil_div(limit, bs) <= free:  # each needs at most ceil(k/bs) blocks
        return limit

    def fits(k: int) -> bool:
        return sum(kv.blocks_needed(s.rid, k) for s, _ in batch) <= free

    if fits(limit):
        return limit
    lo, hi = 1, limit  # fits(lo) holds: the scheduler checked one step
    while hi - lo > 1:
        mid = (lo + hi) // 2
        lo, hi = (mid, hi) if fits(mid) else (lo, mid)
    return lo


def steady_steps(sched: Any, batch: Batch, limit: int, changed: bool) -> tuple[int, bool]:
    """How many iterations (<= ``limit``) in a row would schedule this same all-decode batch if
    no request arrived, and whether an arrival could change that. ``changed``: the scheduler
    preempted or swapped in since the last look (its batches are then not steady). What a
    scheduler's class itself declares as ``steady_decodes`` (never inherited: see
    :mod:`~mlsys_kit.serving.interface`) says what is known; a scheduler that declares
    nothing gets ``(1, True)``, always correct.

    * ``"fixed_batch"`` (static): nothing joins a running batch;
    * ``"reserved"`` (continuous): the queue's head stays blocked (seats or reservation) until
      a request finishes;
    * ``"kv_blocks"`` (vllm, chunked): with every running request in the batch and nobody
      preempted or swapped in, the batch repeats while the free blocks last, and a blocked
      queue head stays blocked while blocks only get fewer. (A vllm decode batch always holds
      every running request when nobody was preempted: its prompts run whole.)"""
    kind = type(sched).__dict__.get("steady_decodes")
    if kind == "fixed_batch":
        return limit, False
    if kind == "reserved":
        return limit, not sched.waiting
    if kind == "kv_blocks" and len(batch) == len(sched.running):
        if changed:
            return 1, True
        return _kv_steady(sched.kv, batch, limit), not sched.waiting
    return 1, True


_VECTOR_STEPS = 48  # runs of at least this many identical iterations are timed with numpy (break-even: numpy's fixed cost)


def _steps_vectorised(now: float, cost: CostModel, decode: int, context: int, grow: int, k: int,
                      arrival: float | None) -> tuple[float, int, float, float]:
    """The stepped loop's clock over up to ``k`` identical decode iterations, in numpy with the
    very same float operations in the same order (an accumulate adds left to right), stopping
    after the first iteration that ends at or past ``arrival``. Returns (now, steps, end of the
    first iteration, longest gap between later iterations)."""
    import numpy as np

    base = cost.a + cost.b * 0 + cost.c * decode  # CostModel.time's first three terms, same order
    ends = np.empty(k + 1)
    ends[0] = now
    ends[1:] = base + cost.d * (context + grow * np.arange(k, dtype=np.int64)).astype(np.float64)
    np.add.accumulate(ends, out=ends)
    steps = k
    if arrival is not None:
        steps = min(k, int(np.searchsorted(ends[1:], arrival, side="left")) + 1)
    later_gap = float(np.diff(ends[1:steps + 1]).max()) if steps > 1 else 0.0
    return float(ends[steps]), steps, float(ends[1]), later_gap


def _steps_before(now: float, cost: CostModel, decode: int, arrival: float) -> int:
    """At least as many decode iterations as the clock runs from ``now`` until one ends at or
    past ``arrival`` (a huge number where that is not known): each iteration takes at least
    ``a + b*0 + c*decode`` (``CostModel.time`` adds ``d*context >= 0`` to it, and a float add of
    a non-negative number never rounds below), so after ``m`` of them the clock is at least
    ``m`` such steps on. Two spare iterations cover the rounding of the sum. The clock then
    computes no iteration it would throw away (an arrival a few iterations away while many
    identical ones are left: numpy's fixed cost for most of a widget's jumps)."""
    base = cost.a + cost.b * 0 + cost.c * decode
    span = arrival - now
    if span <= 0:
        return 1  # the arrival is here already: the first iteration ends at or past it
    # no floor on an iteration, or too far (or too late) to count safely: the rounding of m adds
    # is under m * |arrival| * 2**-53, a tenth of one iteration within these limits
    if not base > 0 or not span < 1e6 * base or not abs(arrival) < 1e9 * base:
        return 1 << 62
    return max(1, math.ceil(span / base)) + 2


def decode_clock(cost: CostModel, now: float, decode: int, context: int, grow: int, k: int,
                 arrival: float | None) -> tuple[float, int, float, float]:
    """The engine loop's clock over up to ``k`` identical all-decode iterations (``context``
    grows by ``grow`` each; both >= 0, as a batch's are), stopping after the first that ends at
    or past ``arrival`` (None: never): the same float operations as stepping them one by one
    (numpy for long runs).
    Returns (now, steps, end of the first iteration, longest gap between later iterations)."""
    if arrival is not None and type(cost) is CostModel and context >= 0 and grow >= 0:  # each step >= the floor
        k = min(k, _steps_before(now, cost, decode, arrival))
    if k >= _VECTOR_STEPS and type(cost) is CostModel:
        return _steps_vectorised(now, cost, decode, context, grow, k, arrival)
    steps, first_end, later_gap = 0, now, 0.0
    while steps < k:
        prev = now
        now += cost.time(0, decode, context)
        context += grow
        steps += 1
        if steps == 1:
            first_end = now
        elif now - prev > later_gap:
            later_gap = now - prev
        if arrival is not None and arrival <= now:
            break  # the next iteration sees a new arrival: schedule it for real
    return now, steps, first_end, later_gap


class SimBackend:
    """Prices each iteration with a :class:`CostModel`; KV blocks from a real allocator."""

    real = False

    def __init__(self, cost: CostModel | None = None, num_blocks: int = 2048, block_size: int = 16) -> None:
        self.cost = cost or CostModel()
        self.kv = SimKV(num_blocks, block_size)
        self._changes_seen = 0  # the scheduler's preemptions + swap-ins at the last fast_forward

    def execute(self, batch: Batch, prefill: int, decode: int, context: int,
                swap_tokens: int = 0, padding: Sequence[Seq] = ()) -> tuple[float, dict[int, int]]:
        """Price one iteration. ``decode`` includes the ``padding`` rows (finished requests a
        static batch still computes in its dense layers; they attend to nothing)."""
        append = self.kv.append
        for seq, n in batch:
            append(seq.rid, n)
        return self.cost.time(prefill, decode, context) + self.cost.e * swap_tokens, {}

    def fast_forward(self, sched: Any, batch: Batch, now: float, decode: int, context: int, padding_rows: int,
                     next_arrival: float | None) -> tuple[float, IterationRecord, list[Seq]] | None:
        """Run the all-decode ``batch`` for as many identical iterations as :func:`steady_steps`
        allows (stopping at the first that sees ``next_arrival``, if it matters), exactly as the
        engine's loop would; None if fewer than 2. Returns (now, the run's record, finished)."""
        swap = getattr(sched, "swap", None)
        changes = getattr(sched, "num_preemptions", 0) + (swap.swap_ins if swap is not None else 0)
        changed, self._changes_seen = changes != self._changes_seen, changes
        limit = min(s.output_len - s.num_generated for s, _ in batch)
        if limit <= 1:
            return None
        k, arrivals_matter = steady_steps(sched, batch, limit, changed)
        if k == 1:
            return None
        kv_used = self.kv.num_blocks - self.kv.num_free
        start = now
        grow = decode - padding_rows  # context tokens each iteration adds (padding rows add none)
        watch = arrivals_matter and next_arrival is not None
        now, steps, first_end, later_gap = decode_clock(self.cost, now, decode, context, grow, k,
                                                        next_arrival if watch else None)
        append = self.kv.append
        for seq, _ in batch:
            append(seq.rid, steps)
        finished = []
        for seq, _ in batch:
            seq.num_computed += steps
            seq.num_generated += steps
            gap = max(first_end - seq.last_token_time, later_gap)
            if gap > seq.max_gap:
                seq.max_gap = gap
            seq.last_token_time = now
            if seq.num_generated == seq.output_len:
                finished.append(seq)
        record = IterationRecord(start, now, steps, 0, decode, context, kv_used, padding_rows)
        return now, record, finished


def simulate(requests: Sequence[Request], scheduler: str, config: ServingConfig = SIMULATED,
             cost: CostModel | None = None, fast_forward: bool = True, check: bool = True) -> ServeResult:
    """Serve ``requests`` with ``scheduler`` on the simulator under ``config`` (`serve simulate`);
    ``check=False`` skips the per-batch sanity checks (the lecture widget's redraw budget)."""
    backend = SimBackend(cost, config.num_blocks, config.block_size)
    return serve(requests, scheduler, backend, fast_forward=fast_forward, check=check,
                 max_num_seqs=config.max_num_seqs,
                 token_budget=config.token_budget, max_model_len=config.max_model_len, swap_blocks=config.swap_blocks)


def sweep(schedulers: Sequence[str], rates: Sequence[float], workload: WorkloadConfig = SIMULATED_WORKLOAD,
          config: ServingConfig = SIMULATED, cost: CostModel | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every scheduler at every request rate on the same workload otherwise (same seed, same
    lengths): ``{scheduler: [summary with a "rate" key, one per rate]}`` (`serve sweep`; the
    curves of Orca Figure 9, vLLM Figure 12, Sarathi-Serve Figure 10)."""
    if not schedulers or not rates:
        raise ValueError("sweep needs at least one scheduler and one rate")
    out: dict[str, list[dict[str, Any]]] = {}
    for name in schedulers:
        for rate in rates:
            res = simulate(workload.replace(rate=rate).make(), name, config, cost)
            d = summarize(res, config.ttft_slo, config.tpot_slo)
            d["wall_seconds"] = res.wall_seconds
            d["rate"] = rate
            out.setdefault(name, []).append(d)
    return out
