"""The serving loop: every iteration ``schedule``, ``run``, ``postprocess``.

The loop is Orca's (OSDI'22, section 3.1, Figure 4): every iteration it admits the requests that
have arrived, asks the scheduler for a batch (:mod:`~mlsys_kit.serving.interface`), runs it on
a back-end, and retires finished requests at once. Two back-ends:

* :class:`~mlsys_kit.serving.real.RealBackend` runs each batch through
  :class:`~mlsys_kit.kvcache.runner.PagedModelRunner` (one forward pass for prefill chunks and
  decodes mixed) and greedy-samples; its clock is the measured wall time of each iteration;
* :class:`~mlsys_kit.serving.simulator.SimBackend` prices an iteration with a cost model instead
  and, to simulate 100k requests in seconds, jumps over runs of identical decode iterations
  (its ``fast_forward``); see :mod:`mlsys_kit.serving.simulator`.

What a run leaves (:class:`ServeResult`): every request's times and one :class:`IterationRecord`
per iteration (or per run of identical iterations the simulator jumped over).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Callable, NamedTuple, Protocol, Sequence

from mlsys_kit.checks import positive_int
from mlsys_kit.serving.config import ServingConfig
from mlsys_kit.serving.interface import Batch, BaseScheduler
from mlsys_kit.serving.kv import KVSpace
from mlsys_kit.serving.registry import make_scheduler
from mlsys_kit.serving.sequence import RUNNING, Seq
from mlsys_kit.serving.workload import Request, validate_for_engine


class IterationRecord(NamedTuple):
    """One iteration, or ``iterations`` identical ones in a row: times, batch shape, KV use.
    ``decode_batch`` counts the padding rows too (a static batch still computes them)."""

    start: float
    end: float
    iterations: int
    prefill_tokens: int
    decode_batch: int
    context_tokens: int
    kv_used: int  # blocks in use when it started
    padding_rows: int


@dataclass
class ServeResult:
    """What a run leaves: every request's state and times, and its iteration records."""

    scheduler: str
    seqs: list[Seq]
    records: list[IterationRecord] = field(default_factory=list)
    simulated_seconds: float = 0.0
    wall_seconds: float = 0.0
    num_blocks: int = 0
    real: bool = False

    @property
    def iterations(self) -> int:
        return sum(r.iterations for r in self.records)


class Backend(Protocol):
    """What the loop needs of a back-end: the KV view its scheduler sees, whether it runs a real
    model (``real``: then requests need prompt token ids), and ``execute``, which runs one
    iteration and returns (seconds it took, {rid: sampled token} for sequences that sample).
    The two: :class:`~mlsys_kit.serving.real.RealBackend` and
    :class:`~mlsys_kit.serving.simulator.SimBackend` (which may also offer ``fast_forward``)."""

    kv: KVSpace
    real: bool

    def execute(self, batch: Batch, prefill: int, decode: int, context: int,
                swap_tokens: int = 0, padding: Sequence[Seq] = ()) -> tuple[float, dict[int, int]]: ...


def check_batch(batch: Batch) -> None:
    """A scheduler's batch must feed each running sequence at most once, 1..uncomputed tokens."""
    seen = set()
    for seq, n in batch:
        if seq.rid in seen:
            raise RuntimeError(f"scheduler bug: request {seq.rid} appears twice in one batch")
        if not 1 <= n <= seq.num_uncomputed:
            raise RuntimeError(f"scheduler bug: request {seq.rid} given {n} tokens, "
                               f"allowed 1..{seq.num_uncomputed}")
        if seq.status != RUNNING:
            raise RuntimeError(f"scheduler bug: request {seq.rid} is {seq.status}, not running")
        seen.add(seq.rid)


def batch_shape(batch: Batch, padding_rows: int, now: float) -> tuple[int, int, int]:
    """(prefill tokens, decode rows, context tokens) of a batch, as the cost model prices it;
    marks the requests whose prefill (or re-prefill) starts now."""
    prefill, decode, context = 0, padding_rows, 0
    for seq, n in batch:
        context += seq.num_computed + n
        if seq.is_decoding:
            decode += 1
        else:
            prefill += n
            if seq.events[-1][1] != "prefill":
                seq.events.append((now, "prefill"))
    return prefill, decode, context


def postprocess(batch: Batch, sampled: dict[int, int], now: float) -> list[Seq]:
    """After an iteration: each sequence has ``n`` more tokens computed; a sequence whose every
    known token is computed samples one new token. Returns the requests that completed."""
    finished = []
    for seq, n in batch:
        seq.num_computed += n
        if seq.num_computed < seq.length:  # a prefill chunk: nothing to sample yet
            continue
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
    return finished


def serve(requests: Sequence[Request], scheduler: str | Callable[[Any], BaseScheduler], backend: Backend,
          fast_forward: bool = True, check: bool = True, max_num_seqs: int = ServingConfig.max_num_seqs,
          token_budget: int | None = None, max_model_len: int | None = None,
          swap_blocks: int = 0) -> ServeResult:
    """Serve ``requests`` (sorted by arrival) with a scheduler on ``backend``; returns every
    request's times. ``scheduler`` is a name, or a factory taking the KV view and returning any
    object with ``add``, ``has_unfinished``, ``schedule`` and ``finish``. ``fast_forward`` lets
    the simulator skip identical iterations; ``check`` verifies every batch (cheap; off only for
    benchmarks). ``token_budget`` None: the scheduler's default (512 for chunked, else 2048).
    ``max_model_len`` makes static and continuous batching reserve KV for that many tokens per
    request, as Orca must without knowing output lengths (None: prompt + output, an oracle).
    ``swap_blocks`` > 0 lets vllm/chunked preempt by swapping to a host pool of that many
    blocks: priced by the cost model's ``e`` in the simulator, real K/V copies on the real engine."""
    validate_for_engine(requests, backend.kv, backend.model.config.n_positions if backend.real else None,
                        max_model_len, need_prompts=backend.real)
    kv = backend.kv
    if isinstance(scheduler, str):
        sched = make_scheduler(scheduler, kv, positive_int("max_num_seqs", max_num_seqs),
                               None if token_budget is None else positive_int("token_budget", token_budget),
                               max_model_len, swap_blocks)
    else:
        sched = scheduler(kv)
    seqs = [Seq(r, i, with_tokens=backend.real) for i, r in enumerate(requests)]
    out = ServeResult(getattr(sched, "name", type(sched).__name__), seqs, num_blocks=kv.num_blocks, real=backend.real)
    jump = getattr(backend, "fast_forward", None) if fast_forward else None
    now, nxt, total = 0.0, 0, len(seqs)
    wall0 = time.perf_counter()
    while nxt < total or sched.has_unfinished():
        while nxt < total and seqs[nxt].arrival <= now:
            sched.add(seqs[nxt])
            nxt += 1
        if not sched.has_unfinished():
            now = seqs[nxt].arrival
            continue
        sched.now = now
        batch = sched.schedule()  # 1. schedule
        if not batch:
            if nxt < total:
                now = max(now, seqs[nxt].arrival)
                continue
            raise RuntimeError(f"scheduler bug: empty batch with {len(getattr(sched, 'waiting', ()))} waiting and "
                               f"{len(getattr(sched, 'running', ()))} running requests and none left to arrive")
        if check:
            check_batch(batch)
        padding = getattr(sched, "padding", ())  # finished rows a static batch still computes
        prefill, decode, context = batch_shape(batch, len(padding), now)
        start, kv_used = now, kv.num_blocks - kv.num_free
        skipped = jump(sched, batch, now, decode, context, len(padding),
                       seqs[nxt].arrival if nxt < total else None) if jump and prefill == 0 else None
        if skipped is None:
            dt, sampled = backend.execute(batch, prefill, decode, context,  # 2. run
                                          getattr(sched, "swap_tokens", 0), padding)
            now += dt
            out.records.append(IterationRecord(start, now, 1, prefill, decode, context, kv_used, len(padding)))
            finished = postprocess(batch, sampled, now)  # 3. postprocess
        else:  # the simulator jumped over identical decode iterations
            now, record, finished = skipped
            out.records.append(record)
        for seq in finished:
            seq.finish_time = now
            seq.events.append((now, "finished"))
        for seq in finished:
            sched.finish(seq)
    out.simulated_seconds = now
    out.wall_seconds = time.perf_counter() - wall0
    return out
