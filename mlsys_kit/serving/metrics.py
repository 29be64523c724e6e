"""Serving metrics: TTFT, TPOT, end-to-end latency, percentiles, throughput, goodput.

Definitions follow DistServe (Zhong et al., OSDI'24), section 2.1: the *time to first token*
(TTFT) runs from arrival to the first generated token; the *time per output token* (TPOT) is
the mean gap between the later tokens, ``(last token - first token) / (output_len - 1)``; the
*end-to-end* latency runs to the response's return (``finish_time``: for static batching the
end of the whole batch, later than the request's last token); and
*goodput* is the number of requests per second that meet both their TTFT and TPOT objectives
(``slo_attainment`` is the same as a fraction of all requests). The *normalized latency* of a
request is its end-to-end latency divided by its output length (seconds per token): Orca
(section 6) compares engines by its median, vLLM (section 6) by its mean
(``norm_latency_p50``, ``norm_latency_mean``). ``itl_max`` is each request's
longest gap between two consecutive tokens, the stall that Sarathi-Serve (OSDI'24, section 3)
measures as tail time-between-tokens: chunked prefill bounds it, averaging TPOT hides it. Percentiles interpolate
linearly between order statistics (numpy's default), so p50 of [1, 2] is 1.5.
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

from mlsys_kit.checks import positive_number


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) of ``values`` by linear interpolation; nan if empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"percentile q must be in [0, 100]: got {q!r}")
    return _interpolate(sorted(values), q)


def _interpolate(xs: Sequence[float], q: float) -> float:
    """:func:`percentile` of values already sorted (several percentiles, one sort)."""
    if len(xs) == 0:
        return float("nan")
    pos = (len(xs) - 1) * q / 100.0
    lo = math.floor(pos)
    hi = min(lo + 1, len(xs) - 1)
    return xs[lo] + (xs[hi] - xs[lo]) * (pos - lo)


def request_latencies(seqs: Sequence[Any]) -> tuple[list[float], list[float], list[float]]:
    """(TTFT, TPOT, end-to-end) lists over finished requests; TPOT skips 1-token outputs."""
    ttft, tpot, e2e = [], [], []
    for s in seqs:
        if s.finish_time is None:
            raise ValueError(f"request {s.rid} did not finish: metrics need a completed run")
        ttft.append(s.first_token_time - s.arrival)
        e2e.append(s.finish_time - s.arrival)
        if s.output_len > 1:
            tpot.append((s.last_token_time - s.first_token_time) / (s.output_len - 1))
    return ttft, tpot, e2e


def meets_slo(seq: Any, ttft_slo: float | None, tpot_slo: float | None) -> bool:
    """Does a finished request meet its own SLOs (or the given defaults)? A missing SLO holds."""
    ttft_slo = seq.req.ttft_slo if seq.req.ttft_slo is not None else ttft_slo
    tpot_slo = seq.req.tpot_slo if seq.req.tpot_slo is not None else tpot_slo
    if ttft_slo is not None and seq.first_token_time - seq.arrival > ttft_slo:
        return False
    if tpot_slo is not None and seq.output_len > 1:
        if (seq.last_token_time - seq.first_token_time) / (seq.output_len - 1) > tpot_slo:
            return False
    return True


def summarize(result: Any, ttft_slo: float | None = None, tpot_slo: float | None = None) -> dict[str, Any]:
    """The headline numbers of a :class:`~mlsys_kit.serving.engine.ServeResult`."""
    if ttft_slo is not None:
        positive_number("ttft_slo", ttft_slo)
    if tpot_slo is not None:
        positive_number("tpot_slo", tpot_slo)
    seqs = result.seqs
    ttft, tpot, e2e = request_latencies(seqs)
    span = result.simulated_seconds
    out_tokens = sum(s.output_len for s in seqs)
    ok = sum(meets_slo(s, ttft_slo, tpot_slo) for s in seqs)
    iters = result.iterations
    busy = sum(r.iterations * (r.prefill_tokens > 0 or r.decode_batch > 0) for r in result.records)
    batch_tokens = sum(r.iterations * r.decode_batch + r.prefill_tokens for r in result.records)
    kv_util = (sum((r.end - r.start) * r.kv_used for r in result.records) / (span * result.num_blocks)
               if span > 0 and result.num_blocks else 0.0)
    d: dict[str, Any] = {"scheduler": result.scheduler, "requests": len(seqs), "output_tokens": out_tokens,
                         "simulated_seconds": span, "iterations": iters,
                         "throughput_tokens_per_s": out_tokens / span if span > 0 else 0.0,
                         "throughput_requests_per_s": len(seqs) / span if span > 0 else 0.0,
                         "goodput": ok / span if span > 0 else 0.0,
                         "slo_attainment": ok / len(seqs) if seqs else 0.0,
                         "mean_batch_tokens": batch_tokens / busy if busy else 0.0,
                         "mean_kv_utilization": kv_util,
                         "padding_fraction": (sum(r.iterations * r.padding_rows for r in result.records) / max(1, sum(
                             r.iterations * r.decode_batch for r in result.records))),
                         "preemptions": sum(s.num_preemptions for s in seqs)}
    itl = [s.max_gap for s in seqs if s.output_len > 1]
    norm = [lat / s.output_len for lat, s in zip(e2e, seqs)]  # seconds per output token
    d["norm_latency_mean"] = sum(norm) / len(norm) if norm else float("nan")
    for name, xs in (("ttft", ttft), ("tpot", tpot), ("e2e", e2e), ("itl_max", itl), ("norm_latency", norm)):
        xs = sorted(xs)
        for q in (50, 90, 99):
            d[f"{name}_p{q}"] = _interpolate(xs, q)
    return d


def summarize_pooled(results: Sequence[Any]) -> dict[str, float]:
    """Latency percentiles (DistServe section 2.1's TTFT and end-to-end latency; Orca section 6's
    normalized latency) over the requests of several runs pooled (independent seeds of one
    configuration: a longer experiment, with restarts), and throughput as all their output
    tokens over all their spans. One run gives :func:`summarize`'s numbers."""
    if not results:
        raise ValueError("summarize_pooled needs at least one run")
    e2e, ttft, norm, tokens, span = [], [], [], 0, 0.0
    for res in results:
        t, _, e = request_latencies(res.seqs)
        ttft += t
        e2e += e
        norm += [lat / s.output_len for lat, s in zip(e, res.seqs)]
        tokens += sum(s.output_len for s in res.seqs)
        span += res.simulated_seconds
    return {"requests": len(e2e), "throughput_tokens_per_s": tokens / span if span > 0 else 0.0,
            "e2e_p50": percentile(e2e, 50), "ttft_p50": percentile(ttft, 50), "norm_latency_p50": percentile(norm, 50)}


def time_series(result: Any) -> dict[str, list[float]]:
    """Per run of iterations: start time, decode batch size, prefill tokens, KV utilisation."""
    recs = result.records
    nb = max(result.num_blocks, 1)
    return {"time": [r.start for r in recs], "decode_batch": [r.decode_batch for r in recs],
            "prefill_tokens": [r.prefill_tokens for r in recs], "kv_utilization": [r.kv_used / nb for r in recs]}


def throughput_at_latency(points: Sequence[Mapping[str, float]], budget: float, latency: str = "e2e_p50",
                          throughput: str = "throughput_tokens_per_s") -> float | None:
    """The throughput a scheduler sustains within a latency budget, from a sweep over request
    rates (Orca section 6 compares engines "at the same latency"; DistServe section 2.1 states
    the budget as an SLO). ``points`` are one dict per rate with a ``rate`` key; walking up the
    rates, the answer is the best throughput seen before the latency first exceeds ``budget``,
    interpolated linearly to where the budget is crossed. None if even the lowest rate is over."""
    positive_number("budget", budget)
    for r in points:
        if not isinstance(r, Mapping) or not {"rate", latency, throughput} <= set(r):
            raise ValueError(f"each point must be a dict with 'rate', {latency!r} and {throughput!r}: got {r!r}")
    rows = sorted(points, key=lambda r: r["rate"])
    best, prev = None, None
    for r in rows:
        if r[latency] > budget:
            if prev is not None and r[throughput] > prev[throughput]:  # cross the budget between prev and r
                share = (budget - prev[latency]) / (r[latency] - prev[latency])
                best = max(best, prev[throughput] + share * (r[throughput] - prev[throughput]))
            break
        best = r[throughput] if best is None else max(best, r[throughput])
        prev = r
    return best


class RateSearch:
    """Find the request rate at which a scheduler's p50 latency crosses a budget, by bisection.

    Orca (OSDI'22, section 6) compares engines "at the same latency" and DistServe (OSDI'24,
    section 2.1) states the latency as an SLO; :func:`throughput_at_latency` reads the answer off
    a sweep by interpolating between the last rate within the budget and the first over it, so
    on a coarse grid the answer is only as good as the grid near the crossing. This search asks
    for the rates to measure (:meth:`next_rate`, measured by the caller, given back with
    :meth:`add`):

    1. ``grid`` in increasing order, up to the first rate over the budget (more grid points
       given to :meth:`add` up front count too: a sweep measured already);
    2. if even the lowest rate is over, halving below it (at most ``expand`` times); if none is
       over, doubling above the highest (at most ``expand`` times);
    3. bisection between the last rate within and the first over until they are within
       ``rel_tol`` of each other or ``max_steps`` bisection points were measured.

    :meth:`result` is :func:`throughput_at_latency` over every point measured: the added points
    all lie between the bracket's ends, so the walk up the rates still stops at the first rate
    over the budget and interpolates across the final, narrow bracket. Two schedulers given the
    same grid and settings get the same search."""

    def __init__(self, budget: float, grid: Sequence[float], latency: str = "e2e_p50",
                 rel_tol: float = 0.03, max_steps: int = 6, expand: int = 4) -> None:
        self.budget = positive_number("budget", budget)
        if not grid or any(isinstance(r, bool) or not isinstance(r, (int, float)) or not r > 0 for r in grid):
            raise ValueError(f"grid must be a non-empty list of positive request rates: got {grid!r}")
        self.grid = sorted(float(r) for r in grid)
        if not 0 < rel_tol < 1:
            raise ValueError(f"rel_tol must be in (0, 1): got {rel_tol!r}")
        for name, v in (("max_steps", max_steps), ("expand", expand)):
            if isinstance(v, bool) or not isinstance(v, int) or v < 0:
                raise ValueError(f"{name} must be a non-negative int: got {v!r}")
        self.latency, self.rel_tol, self.max_steps, self.expand = latency, rel_tol, max_steps, expand
        self.points: list[Mapping[str, float]] = []
        self.steps = 0  # bisection points measured
        self._expanded = 0

    def add(self, point: Mapping[str, float]) -> None:
        """A measured point: a dict with ``rate``, the latency key and the throughput."""
        if not isinstance(point, Mapping) or "rate" not in point or self.latency not in point:
            raise ValueError(f"a point must be a dict with 'rate' and {self.latency!r}: got {point!r}")
        phase = self._phase(point["rate"])
        self.steps += phase == "bisect"
        self._expanded += phase == "expand"
        self.points.append(point)

    def bracket(self) -> tuple[float | None, float | None]:
        """(last rate within the budget, first rate over it), walking up the measured rates."""
        lo = None
        for r in sorted(self.points, key=lambda p: p["rate"]):
            if r[self.latency] > self.budget:
                return lo, r["rate"]
            lo = r["rate"]
        return lo, None

    def _phase(self, rate: float) -> str:
        lo, hi = self.bracket()
        if rate in self.grid:
            return "grid"
        if lo is not None and hi is not None and lo < rate < hi:
            return "bisect"
        return "expand"

    def next_rate(self) -> float | None:
        """The next rate to measure, or None when the search is done."""
        lo, hi = self.bracket()
        seen = {p["rate"] for p in self.points}
        if hi is None:  # nothing over the budget yet: the grid upwards, then doubling
            rest = [r for r in self.grid if r not in seen and (lo is None or r > lo)]
            if rest:
                return rest[0]
            return 2 * lo if self._expanded < self.expand else None
        if lo is None:  # the lowest rate measured is over the budget: halve below it
            return hi / 2 if self._expanded < self.expand else None
        if (hi - lo) <= self.rel_tol * hi or self.steps >= self.max_steps:
            return None
        return (lo + hi) / 2

    def result(self, throughput: str = "throughput_tokens_per_s") -> float | None:
        """The throughput within the budget (see :func:`throughput_at_latency`); None if no
        rate measured met it."""
        return throughput_at_latency(self.points, self.budget, self.latency, throughput) if self.points else None
