"""Serving workloads: requests, arrival processes, length distributions, JSONL traces.

A request arrives at a time, carries a prompt (token ids, or just a length for the
simulator) and the number of tokens it will generate, and may state two service-level
objectives in the sense of DistServe (OSDI'24, section 2): a time to first token (TTFT)
and a time per output token (TPOT).

Arrivals are a Poisson process (exponential gaps) or a gamma renewal process whose
coefficient of variation ``cv > 1`` makes it bursty, the two processes the serving papers
sweep (Orca section 6, vLLM section 6, Sarathi-Serve section 5). Lengths are fixed, uniform,
or lognormal (heavy-tailed, like the ShareGPT chat traces those papers replay).
Everything is seeded: the same arguments always give the same trace.
"""

from __future__ import annotations

import json
import math
import numbers
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Sequence

from mlsys_kit.checks import nonneg_int, nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.common import ceil_div

ARRIVALS = ("poisson", "gamma")
LENGTHS = ("fixed", "uniform", "lognormal")


@dataclass(frozen=True)
class Request:
    """One request of a trace. ``prompt`` holds token ids when the real engine needs them."""

    rid: int
    arrival: float
    prompt_len: int
    output_len: int
    prompt: tuple[int, ...] | None = None
    ttft_slo: float | None = None
    tpot_slo: float | None = None

    def __post_init__(self) -> None:
        if (type(self.rid) is int and self.rid >= 0 and type(self.arrival) is float and 0.0 <= self.arrival < math.inf
                and type(self.prompt_len) is int and self.prompt_len >= 1 and type(self.output_len) is int
                and self.output_len >= 1 and self.prompt is None and self.ttft_slo is None and self.tpot_slo is None):
            return  # a simulator's request, plain types: the checks below would pass (a third of the time)
        nonneg_int("rid", self.rid)
        nonneg_number("arrival", self.arrival)
        positive_int("prompt_len", self.prompt_len)
        positive_int("output_len", self.output_len)
        if self.prompt is not None:
            if len(self.prompt) != self.prompt_len:
                raise ValueError(f"prompt has {len(self.prompt)} token ids but prompt_len is {self.prompt_len}")
            if any(isinstance(t, bool) or not isinstance(t, int) or t < 0 for t in self.prompt):
                raise ValueError("prompt token ids must be non-negative integers")
        for name in ("ttft_slo", "tpot_slo"):
            value = getattr(self, name)
            if value is not None:
                positive_number(name, value)

    def to_json(self) -> dict:
        d = {"rid": self.rid, "arrival": self.arrival, "prompt_len": self.prompt_len, "output_len": self.output_len}
        if self.prompt is not None:
            d["prompt"] = list(self.prompt)
        if self.ttft_slo is not None:
            d["ttft_slo"] = self.ttft_slo
        if self.tpot_slo is not None:
            d["tpot_slo"] = self.tpot_slo
        return d


@dataclass(frozen=True)
class LengthDist:
    """A length distribution: ``fixed`` (mean), ``uniform`` (low..high) or ``lognormal``
    (median ``mean`` and shape ``sigma``), clipped to ``[low, high]``."""

    kind: str = "fixed"
    mean: float = 64
    low: int = 1
    high: int = 1 << 20
    sigma: float = 1.0

    def __post_init__(self) -> None:
        one_of("length kind", self.kind, LENGTHS)
        positive_number("length mean", self.mean)
        positive_int("length low", self.low)
        positive_int("length high", self.high)
        nonneg_number("length sigma", self.sigma)
        if self.low > self.high:
            raise ValueError(f"length low must be <= high: got low={self.low}, high={self.high}")

    def sample(self, rng: random.Random) -> int:
        if self.kind == "fixed":
            x = round(self.mean)
        elif self.kind == "uniform":
            x = rng.randint(self.low, self.high)
        else:
            x = round(rng.lognormvariate(math.log(self.mean), self.sigma))
        return min(max(x, self.low), self.high)


def length_dist(kind: str, mean: int) -> LengthDist:
    """The course's length mixes (CLI, demo, widget): ``fixed`` at ``mean``, ``uniform`` on
    [1, 2*mean-1], or ``lognormal`` with median ``mean``, sigma 0.8, clipped to [1, 8*mean]."""
    one_of("lengths", kind, LENGTHS)
    positive_int("mean length", mean)
    if kind == "uniform":
        return LengthDist("uniform", mean, 1, max(2 * mean - 1, 1))
    return LengthDist(kind, mean, 1, 8 * mean, 0.8)


def arrival_times(n: int, rate: float, process: str = "poisson", cv: float = 1.0, seed: int = 0) -> list[float]:
    """``n`` sorted arrival times (seconds, the first at its gap from 0) at ``rate`` requests/s.

    ``gamma`` gaps have mean ``1/rate`` and coefficient of variation ``cv`` (shape ``1/cv^2``);
    ``cv=1`` is Poisson, ``cv>1`` is burstier."""
    n = nonneg_int("n", n)
    rate = positive_number("rate", rate)
    one_of("arrival process", process, ARRIVALS)
    cv = positive_number("cv", cv)
    rng = random.Random(seed)
    t, out = 0.0, []
    shape = 1.0 / (cv * cv)
    for _ in range(n):
        t += rng.expovariate(rate) if process == "poisson" else rng.gammavariate(shape, 1.0 / (shape * rate))
        out.append(t)
    return out


def make_workload(
    n: int,
    rate: float,
    prompt: LengthDist = LengthDist("lognormal", 128, 4, 1024, 0.8),
    output: LengthDist = LengthDist("lognormal", 64, 2, 512, 0.8),
    process: str = "poisson",
    cv: float = 1.0,
    seed: int = 0,
    vocab_size: int | None = None,
    ttft_slo: float | None = None,
    tpot_slo: float | None = None,
) -> list[Request]:
    """A seeded synthetic trace of ``n`` requests. With ``vocab_size`` every prompt also gets
    random token ids (for the real engine); without it only lengths (enough to simulate)."""
    times = arrival_times(n, rate, process, cv, seed)
    rng = random.Random(seed + 1_000_003)
    if vocab_size is not None:
        positive_int("vocab_size", vocab_size)
    reqs = []
    for i, t in enumerate(times):
        p, o = prompt.sample(rng), output.sample(rng)
        ids = tuple(rng.randrange(vocab_size) for _ in range(p)) if vocab_size else None
        reqs.append(Request(i, t, p, o, ids, ttft_slo, tpot_slo))
    return reqs


def validate_trace(requests: Sequence[Request], max_context: int | None = None) -> None:
    """Raise ValueError naming the first bad request (1-based line): arrivals must not decrease,
    ids must be unique, and prompt + output must fit ``max_context`` when given."""
    seen: set[int] = set()
    last = 0.0
    for line, r in enumerate(requests, 1):
        if r.arrival < last:
            raise ValueError(f"line {line}: arrivals must be sorted, got {r.arrival} after {last}")
        if r.rid in seen:
            raise ValueError(f"line {line}: duplicate request id {r.rid}")
        if max_context is not None and r.prompt_len + r.output_len > max_context:
            raise ValueError(f"line {line}: prompt_len + output_len = {r.prompt_len + r.output_len} "
                             f"exceeds the model's context of {max_context} tokens")
        seen.add(r.rid)
        last = r.arrival


def validate_for_engine(requests: Sequence[Request], kv: Any, max_context: int | None, max_model_len: int | None,
                        need_prompts: bool = False) -> None:
    """What :func:`~mlsys_kit.serving.engine.serve` checks before it starts: the trace itself
    (:func:`validate_trace`; against ``max_context``, else ``max_model_len``), that one request's
    ``max_model_len`` reservation and every request's prompt + output fit the whole KV cache
    ``kv`` (its ``num_blocks`` blocks of ``block_size``), and that requests carry prompt token
    ids where a real model needs them (``need_prompts``)."""
    if not all(isinstance(getattr(kv, name, None), numbers.Integral) for name in ("block_size", "num_blocks")):
        raise TypeError(f"kv must be a KV view with int block_size and num_blocks (SimKV, RunnerKV): "
                        f"got {type(kv).__name__}")
    if max_context is not None:
        positive_int("max_context", max_context)
    if max_model_len is not None:
        positive_int("max_model_len", max_model_len)
    validate_trace(requests, max_context if max_context is not None else max_model_len)
    if max_model_len is not None and ceil_div(max_model_len, kv.block_size) > kv.num_blocks:
        raise ValueError(f"max_model_len={max_model_len} tokens do not fit the KV cache "
                         f"({kv.num_blocks} blocks of {kv.block_size})")
    for line, r in enumerate(requests, 1):
        if (r.prompt_len + r.output_len + kv.block_size - 1) // kv.block_size > kv.num_blocks:
            raise ValueError(f"line {line}: request {r.rid} needs {r.prompt_len + r.output_len} tokens of KV, "
                             f"more than the whole cache ({kv.num_blocks} blocks of {kv.block_size})")
        if need_prompts and r.prompt is None:
            raise ValueError(f"line {line}: the real engine needs prompt token ids (request {r.rid} has a length only)")


def save_trace(requests: Iterable[Request], path: str | Path) -> Path:
    """Write one JSON object per line."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w") as f:
        for r in requests:
            f.write(json.dumps(r.to_json()) + "\n")
    return path


_KEYS = {"rid", "arrival", "prompt_len", "output_len", "prompt", "ttft_slo", "tpot_slo"}


def load_trace(path: str | Path, max_context: int | None = None) -> list[Request]:
    """Read a JSONL trace; a bad line raises ValueError ``"<file> line N: <what is wrong>"``."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"trace file {str(path)!r} does not exist")
    out: list[Request] = []
    seen: set[int] = set()
    with path.open() as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                d = json.loads(line)
                if not isinstance(d, dict):
                    raise ValueError("each line must be a JSON object")
                unknown = set(d) - _KEYS
                if unknown:
                    raise ValueError(f"unknown keys {sorted(unknown)}; allowed: {sorted(_KEYS)}")
                prompt = d.get("prompt")
                if "prompt_len" not in d and prompt is not None:
                    d["prompt_len"] = len(prompt)
                missing = {"arrival", "prompt_len", "output_len"} - set(d)
                if missing:
                    raise ValueError(f"missing keys {sorted(missing)}")
                r = Request(d.get("rid", len(out)), d["arrival"], d["prompt_len"], d["output_len"],
                            tuple(prompt) if prompt is not None else None, d.get("ttft_slo"), d.get("tpot_slo"))
                validate_trace(out[-1:] + [r], max_context)
                if r.rid in seen:
                    raise ValueError(f"duplicate request id {r.rid}")
            except (ValueError, TypeError) as exc:
                msg = str(exc).split(": ", 1)[1] if str(exc).startswith("line ") else str(exc)
                raise ValueError(f"{path.name} line {line_no}: {msg}") from None
            seen.add(r.rid)
            out.append(r)
    return out
