"""One serving loop, two back-ends: a simulator driven by a cost model, and the real tiny GPT.

The loop is Orca's (OSDI'22, section 3.1, Figure 4): every iteration it admits the requests that
have arrived, asks the scheduler for a batch, runs it, and retires finished requests at once.

* :class:`SimBackend` prices an iteration with a linear cost model in the spirit of Vidur
  (MLSys'24, section 4): ``a + b*prefill_tokens + c*decode_batch + d*context_tokens`` seconds.
  To simulate 100k requests in seconds the loop jumps over runs of identical all-decode
  iterations (the scheduler says how many, :meth:`Scheduler.steady_steps`), adding their
  times one by one so the result is bit-for-bit the one of stepping through them.
* :class:`RealBackend` runs each batch through :class:`~mlsys_kit.kvcache.runner.PagedModelRunner`
  (one forward pass for prefill chunks and decodes mixed) and greedy-samples; its clock is the
  measured wall time of each iteration. :func:`fit_cost_model` fits the simulator's
  coefficients to those timings by least squares.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Sequence

from mlsys_kit.checks import nonneg_number, positive_int
from mlsys_kit.serving.kv import RunnerKV, SimKV
from mlsys_kit.serving.scheduler import Batch, Scheduler, make_scheduler
from mlsys_kit.serving.sequence import Seq
from mlsys_kit.serving.workload import Request, validate_trace


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


class SimBackend:
    """Prices each iteration with a :class:`CostModel`; KV blocks from a real allocator."""

    real = False

    def __init__(self, cost: CostModel | None = None, num_blocks: int = 2048, block_size: int = 16) -> None:
        self.cost = cost or CostModel()
        self.kv = SimKV(num_blocks, block_size)

    def execute(self, batch: Batch, prefill: int, decode: int, context: int,
                swap_tokens: int = 0, padding: Sequence[Seq] = ()) -> tuple[float, dict[int, int]]:
        """Price one iteration. ``decode`` includes the ``padding`` rows (finished requests a
        static batch still computes in its dense layers; they attend to nothing)."""
        append = self.kv.append
        for seq, n in batch:
            append(seq.rid, n)
        return self.cost.time(prefill, decode, context) + self.cost.e * swap_tokens, {}

    def advance(self, batch: Batch, k: int) -> None:
        append = self.kv.append
        for seq, _ in batch:
            append(seq.rid, k)


class RealBackend:
    """Runs batches on the tiny GPT through the paged KV cache; greedy decoding; wall clock."""

    real = True

    def __init__(self, model: Any, num_blocks: int = 256, block_size: int = 16, split_mixed: bool = False) -> None:
        from mlsys_kit.kvcache.runner import PagedModelRunner

        self.model = model
        self.runner = PagedModelRunner(model, num_blocks, block_size)
        self.kv = RunnerKV(self.runner)
        # run a mixed iteration as two passes, prompts then decodes (the runner pads every
        # sequence of a pass to its longest query run, which makes mixed passes slow on CPU)
        self.split_mixed = split_mixed

    def execute(self, batch: Batch, prefill: int, decode: int, context: int,
                swap_tokens: int = 0, padding: Sequence[Seq] = ()) -> tuple[float, dict[int, int]]:
        """Run one iteration; returns (seconds, {rid: sampled token} for sequences that sample).
        ``padding`` rows (finished requests a static batch still computes) really go through the
        dense layers, as in FasterTransformer's GEMMs, but not through attention. The seconds
        include the K/V copies of any swap the scheduler did for this iteration."""
        entries = [(s.rid, s.tokens[s.num_computed:s.num_computed + n]) for s, n in batch]
        t0 = time.perf_counter()
        if self.split_mixed and prefill and decode - len(padding):
            logits = self.runner.step([e for (s, _), e in zip(batch, entries) if not s.is_decoding])
            logits.update(self.runner.step([e for (s, _), e in zip(batch, entries) if s.is_decoding], len(padding)))
        else:
            logits = self.runner.step(entries, len(padding))
        sampled = {s.rid: int(logits[s.rid].argmax()) for s, n in batch if s.num_computed + n == s.length}
        return time.perf_counter() - t0 + self.kv.take_swap_seconds(), sampled


@dataclass
class ServeResult:
    """What a run leaves: every request's state and times, and one record per run of
    iterations ``(start, end, iterations, prefill_tokens, decode_batch, context_tokens, kv_used,
    padding_rows)``; ``decode_batch`` counts the padding rows too (they are computed)."""

    scheduler: str
    seqs: list[Seq]
    records: list[tuple[float, float, int, int, int, int, int]] = field(default_factory=list)
    simulated_seconds: float = 0.0
    wall_seconds: float = 0.0
    num_blocks: int = 0
    real: bool = False

    @property
    def iterations(self) -> int:
        return sum(r[2] for r in self.records)


_VECTOR_STEPS = 32  # runs of at least this many identical iterations are timed with numpy


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


def _check_batch(batch: Batch, sched: Scheduler) -> None:
    seen = set()
    for seq, n in batch:
        if seq.rid in seen:
            raise RuntimeError(f"scheduler bug: request {seq.rid} appears twice in one batch")
        if not 1 <= n <= seq.num_uncomputed:
            raise RuntimeError(f"scheduler bug: request {seq.rid} given {n} tokens, "
                               f"allowed 1..{seq.num_uncomputed}")
        if seq.status != "running":
            raise RuntimeError(f"scheduler bug: request {seq.rid} is {seq.status}, not running")
        seen.add(seq.rid)


def serve(requests: Sequence[Request], scheduler: str | Callable[[Any], Scheduler], backend: Any,
          fast_forward: bool = True, check: bool = True, max_num_seqs: int = 64,
          max_num_batched_tokens: int = 2048, max_model_len: int | None = None,
          swap_blocks: int = 0) -> ServeResult:
    """Serve ``requests`` (sorted by arrival) with a scheduler on ``backend``; returns every
    request's times. ``scheduler`` is a name, or a factory taking the KV view and returning any
    object with ``add``, ``has_unfinished``, ``schedule`` and ``finish``. ``fast_forward`` lets
    the simulator skip identical iterations; ``check`` verifies every batch (cheap; off only for
    benchmarks). ``max_model_len`` makes static and continuous batching reserve KV for that many
    tokens per request, as Orca must without knowing output lengths (None: prompt + output, an
    oracle). ``swap_blocks`` > 0 lets vllm/chunked preempt by swapping to a host pool of that many
    blocks: priced by the cost model's ``e`` in the simulator, real K/V copies on the real engine."""
    if max_model_len is not None:
        positive_int("max_model_len", max_model_len)
    validate_trace(requests, backend.model.config.n_positions if backend.real else max_model_len)
    kv = backend.kv
    if max_model_len is not None and -(-max_model_len // kv.block_size) > kv.num_blocks:
        raise ValueError(f"max_model_len={max_model_len} tokens do not fit the KV cache "
                         f"({kv.num_blocks} blocks of {kv.block_size})")
    for line, r in enumerate(requests, 1):
        if (r.prompt_len + r.output_len + kv.block_size - 1) // kv.block_size > kv.num_blocks:
            raise ValueError(f"line {line}: request {r.rid} needs {r.prompt_len + r.output_len} tokens of KV, "
                             f"more than the whole cache ({kv.num_blocks} blocks of {kv.block_size})")
        if backend.real and r.prompt is None:
            raise ValueError(f"line {line}: the real engine needs prompt token ids (request {r.rid} has a length only)")
    if isinstance(scheduler, str):
        sched = make_scheduler(scheduler, kv, positive_int("max_num_seqs", max_num_seqs),
                               positive_int("max_num_batched_tokens", max_num_batched_tokens), max_model_len,
                               swap_blocks)
    else:
        sched = scheduler(kv)
    seqs = [Seq(r, i, with_tokens=backend.real) for i, r in enumerate(requests)]
    out = ServeResult(getattr(sched, "name", type(sched).__name__), seqs, num_blocks=kv.num_blocks, real=backend.real)
    fast_forward = fast_forward and not backend.real
    has_padding = hasattr(sched, "padding")
    now, nxt, total = 0.0, 0, len(seqs)
    records = out.records
    wall0 = time.perf_counter()
    while nxt < total or sched.has_unfinished():
        while nxt < total and seqs[nxt].arrival <= now:
            sched.add(seqs[nxt])
            nxt += 1
        if not sched.has_unfinished():
            now = seqs[nxt].arrival
            continue
        sched.now = now
        batch = sched.schedule()
        if not batch:
            if nxt < total:
                now = max(now, seqs[nxt].arrival)
                continue
            raise RuntimeError(f"scheduler bug: empty batch with {len(getattr(sched, 'waiting', ()))} waiting and "
                               f"{len(getattr(sched, 'running', ()))} running requests and none left to arrive")
        if check:
            _check_batch(batch, sched)
        padding = sched.padding if has_padding else ()
        prefill = context = 0
        decode = len(padding)  # finished rows a static batch still computes (dense layers only)
        for seq, n in batch:
            computed = seq.num_computed
            context += computed + n
            if seq.num_generated and seq.prompt_len + seq.num_generated - computed == 1:  # decoding
                decode += 1
            else:
                prefill += n
                if seq.events[-1][1] != "prefill":
                    seq.events.append((now, "prefill"))
        start, kv_used = now, kv.num_blocks - kv.num_free
        k = 1
        if fast_forward and prefill == 0 and hasattr(sched, "steady_steps"):
            limit = min(s.output_len - s.num_generated for s, _ in batch)
            k, arrivals_matter = sched.steady_steps(batch, limit) if limit > 1 else (1, True)
        finished = []
        if k == 1:
            dt, sampled = backend.execute(batch, prefill, decode, context, getattr(sched, "swap_tokens", 0), padding)
            now += dt
            records.append((start, now, 1, prefill, decode, context, kv_used, len(padding)))
            for seq, n in batch:
                seq.num_computed += n
                if seq.num_computed == seq.length:  # the step fed every known token: sample one
                    if seq.tokens is not None:
                        seq.tokens.append(sampled[seq.rid])
                    seq.num_generated += 1
                    if seq.first_token_time is None:
                        seq.first_token_time = now
                    elif now - seq.last_token_time > seq.max_gap:
                        seq.max_gap = now - seq.last_token_time
                    seq.last_token_time = now
                    if seq.events[-1][1] == "prefill":
                        seq.events.append((now, "decode"))
                    if seq.num_generated == seq.output_len:
                        finished.append(seq)
        else:  # k identical all-decode iterations, timed one by one
            cost, steps = backend.cost, 0
            grow = decode - len(padding)  # context tokens each iteration adds (padding rows add none)
            watch = arrivals_matter and nxt < total
            later_gap = 0.0  # the longest gap between iterations 2..k (as the stepped loop measures it)
            if k >= _VECTOR_STEPS and type(cost) is CostModel:
                now, steps, first_end, later_gap = _steps_vectorised(
                    now, cost, decode, context, grow, k, seqs[nxt].arrival if watch else None)
                context += grow * steps
                k = steps  # it stopped where the loop below would have (an arrival, or k)
            while steps < k:
                prev = now
                now += cost.time(0, decode, context)
                context += grow
                steps += 1
                if steps == 1:
                    first_end = now
                elif now - prev > later_gap:
                    later_gap = now - prev
                if watch and seqs[nxt].arrival <= now:
                    break  # the next iteration sees a new arrival: schedule it for real
            backend.advance(batch, steps)
            records.append((start, now, steps, 0, decode, context - grow * steps, kv_used, len(padding)))
            for seq, _ in batch:
                seq.num_computed += steps
                seq.num_generated += steps
                gap = max(first_end - seq.last_token_time, later_gap)
                if gap > seq.max_gap:
                    seq.max_gap = gap
                seq.last_token_time = now
                if seq.num_generated == seq.output_len:
                    finished.append(seq)
        for seq in finished:
            seq.finish_time = now
            seq.events.append((now, "finished"))
        for seq in finished:
            sched.finish(seq)
    out.simulated_seconds = now
    out.wall_seconds = time.perf_counter() - wall0
    return out
