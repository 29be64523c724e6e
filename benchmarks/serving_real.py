"""Real engine (paged KV cache, greedy): continuous vs static batching on the same mixed-length
workload. Prints one JSON object; progress goes to stderr.

    .venv/bin/python benchmarks/serving_real.py [--preset tiny|gpt2] [--requests 128] [--seats 16]
        [--sigma 0.8] [--static-seats 4 8 16 32 64] [--rates 10 20 ...] [--slo-scale 4] [--repeat 1]
        [--clock thread|wall] [--pool 2] [--search-steps 5] [--latency-static-seats 8 32]
        [--skip-saturation]

The issue #24 figures (docs/serving.md): ``--skip-saturation --pool 2 --sweep-requests 128
--rates 10 20 40 80 --search-steps 4``, about 4-5 minutes on 2 cores.

Two comparisons:

1. Saturation: every request queued at t=0; throughput is each engine's capacity. Static
   batching is FasterTransformer's (Orca section 2.2): every seat of a batch is computed until
   its longest request ends. So that it is not judged by one unlucky batch size, it is also run
   at every ``--static-seats`` and the best is compared too.
2. Equal latency (Orca section 6, DistServe's SLO scale): Poisson arrivals at each of
   ``--rates``; a scheduler's throughput "at" a latency budget is the best it sustains with
   p50 end-to-end latency within ``--slo-scale`` times an unloaded request's. Static batching
   can only keep latency low by keeping its batches small and short, so at a budget it serves
   far less than at saturation; ``equal_latency.ratio_by_slo_scale`` gives the ratio at 2, 4, 8x,
   and ``norm_latency_ratio_by_slo_scale`` the same with Orca's metric (the p50 of each request's
   end-to-end latency divided by its output tokens).

How the equal-latency figure is made robust, the same for both schedulers: the budget's unit is
the median of ``--unloaded-runs`` unloaded measurements (and one more at the end shows drift);
after the grid, each scheduler's crossing of the ``--slo-scale`` budget is narrowed by bisection
on the rate (:class:`~mlsys_kit.serving.metrics.RateSearch`; every point of both curves serves
the same seeded workloads, ``--pool`` runs pooled into each point, the two searches alternating);
the iteration clock is the serving thread's CPU time (``--clock thread``), so that other
processes' time slices on a shared machine are not counted as serving time. Static batching
keeps every advantage it had: its best seats at saturation (``--static-seats``), and with
``--latency-static-seats`` its best seats at the budget too.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

KEYS = ("throughput_tokens_per_s", "e2e_p50", "ttft_p50", "tpot_p50", "tpot_p99", "padding_fraction")


def main() -> dict:
    import torch

    from mlsys_kit.models.gpt import GPT
    from mlsys_kit.serving.engine import serve
    from mlsys_kit.serving.metrics import summarize
    from mlsys_kit.serving.workload import LengthDist, Request, make_workload

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--requests", type=int, default=128)
    ap.add_argument("--seats", type=int, default=16, help="max_num_seqs of every scheduler")
    ap.add_argument("--median", type=int, default=32, help="median prompt and output length")
    ap.add_argument("--sigma", type=float, default=0.8, help="lognormal shape of both lengths (CLI default 0.8)")
    ap.add_argument("--static-seats", type=int, nargs="*", default=[4, 8, 16, 32, 64])
    ap.add_argument("--repeat", type=int, default=1,
                    help="runs per configuration (sweep points: different seeds); the median is kept")
    ap.add_argument("--plot", help="PNG of p50 latency against throughput, per scheduler (equal-latency sweep)")
    ap.add_argument("--rates", type=float, nargs="*", default=[10, 15, 20, 25, 30, 40, 50, 60, 80, 100],
                    help="requests/s of the equal-latency sweep (none: skip it)")
    ap.add_argument("--sweep-requests", type=int, default=192)
    ap.add_argument("--slo-scale", type=float, default=4.0, help="latency budget / unloaded p50 latency")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--clock", choices=["thread", "wall"], default="thread",
                    help="an iteration's seconds: the serving thread's CPU time (default; other processes' time "
                         "slices on a shared machine do not count; needs --threads 1) or wall time")
    ap.add_argument("--unloaded-runs", type=int, default=3, help="measurements of the unloaded p50; the median is kept")
    ap.add_argument("--search-steps", type=int, default=5,
                    help="bisection points on the rate near each scheduler's budget crossing (0: the grid only)")
    ap.add_argument("--search-tol", type=float, default=0.03, help="stop bisecting at this relative rate bracket")
    ap.add_argument("--search-repeat", type=int,
                    help="runs (seeds) per bisection point, the run of median p50 kept (default: --repeat, so "
                         "that every point of a curve serves the same workloads)")
    ap.add_argument("--pool", type=int, default=1,
                    help="seeded runs pooled into each equal-latency point: p50 over all their requests, "
                         "throughput over all their spans (static batching's p50 near its crossing moves with "
                         "which requests happen to share a batch)")
    ap.add_argument("--latency-static-seats", type=int, nargs="*", default=[],
                    help="also search static batching at these seats; its best throughput at the budget is kept")
    ap.add_argument("--skip-saturation", action="store_true", help="only the equal-latency comparison")
    ap.add_argument("--cost", type=float, nargs=4, metavar=("A", "B", "C", "D"),
                    help="run the same comparisons on the simulator instead, priced by this cost model "
                         "(seconds = a + b*prefill_tokens + c*decode_rows + d*context_tokens; the tiny GPT fitted "
                         "by `mlsys-kit serve fit`: 0.00142 0.000164 0 1.17e-05): no timing noise")
    args = ap.parse_args()
    args.search_repeat = args.repeat if args.search_repeat is None else args.search_repeat
    for name in ("requests", "seats", "sweep_requests", "unloaded_runs", "search_repeat", "repeat", "threads", "pool"):
        if getattr(args, name) < 1:
            ap.error(f"--{name.replace('_', '-')} must be at least 1: got {getattr(args, name)}")
    if args.search_steps < 0 or not 0 < args.search_tol < 1 or args.slo_scale <= 0:
        ap.error("--search-steps must be >= 0, --search-tol in (0, 1) and --slo-scale > 0")
    if any(r <= 0 for r in args.rates) or any(k < 1 for k in args.static_seats + args.latency_static_seats):
        ap.error("--rates must be positive and every seats count at least 1")
    if args.clock == "thread" and args.threads != 1 and args.cost is None:
        ap.error("--clock thread counts one thread's CPU time: use it with --threads 1, or --clock wall")
    torch.set_num_threads(args.threads)
    model = GPT(args.preset, seed=0)
    args.backend = backend_factory(args, model)
    dist = LengthDist("lognormal", args.median, 1, 8 * args.median, args.sigma)
    reqs = make_workload(args.requests, 1.0, dist, dist, seed=0, vocab_size=model.config.vocab_size)
    reqs = [Request(r.rid, 0.0, r.prompt_len, r.output_len, r.prompt) for r in reqs]  # all queued at t=0

    def run(name: str, seats: int, **kw) -> dict:
        rows = []
        for _ in range(args.repeat):
            res = serve(reqs, name, args.backend(**kw),
                        max_num_seqs=seats, token_budget=256, check=False)
            s = summarize(res)
            rows.append({**{k: round(s[k], 4) for k in KEYS}, "iterations": s["iterations"]})
            print(f"{name:>10} seats {seats:>3}  {rows[-1]['throughput_tokens_per_s']:8.0f} tok/s  "
                  f"e2e p50 {rows[-1]['e2e_p50']:.3f} s", file=sys.stderr)
        rows.sort(key=lambda r: r["throughput_tokens_per_s"])
        return rows[len(rows) // 2]

    out: dict = {"backend": "real" if args.cost is None else f"simulator, cost {args.cost}", "preset": args.preset, "requests": args.requests, "max_num_seqs": args.seats,
                 "threads": args.threads, "clock": args.clock, "lengths": f"lognormal median {args.median} sigma {args.sigma}",
                 "output_tokens": sum(r.output_len for r in reqs)}
    if args.skip_saturation:
        if args.rates:
            out["equal_latency"] = equal_latency(args, model, dist)
        return out
    for name in ("static", "continuous", "vllm", "chunked"):
        out[name] = run(name, args.seats)
    out["continuous_split_mixed"] = run("continuous", args.seats, split_mixed=True)
    sweep = {seats: (out["static"] if seats == args.seats else run("static", seats)) for seats in args.static_seats}
    out["static_by_seats"] = {str(k): v for k, v in sweep.items()}
    best = max(sweep.items(), key=lambda kv: kv[1]["throughput_tokens_per_s"]) if sweep else (args.seats, out["static"])
    out["best_static_seats"] = best[0]
    tps = {k: out[k]["throughput_tokens_per_s"] for k in ("static", "continuous", "vllm", "chunked",
                                                         "continuous_split_mixed")}
    out["continuous_over_static_tokens_per_s"] = round(tps["continuous"] / tps["static"], 2)
    out["continuous_split_over_static_tokens_per_s"] = round(tps["continuous_split_mixed"] / tps["static"], 2)
    out["vllm_over_static_tokens_per_s"] = round(tps["vllm"] / tps["static"], 2)
    out["chunked_over_static_tokens_per_s"] = round(tps["chunked"] / tps["static"], 2)
    out["continuous_over_best_static_tokens_per_s"] = round(tps["continuous"] / best[1]["throughput_tokens_per_s"], 2)
    out["continuous_over_static_e2e_p50"] = round(out["continuous"]["e2e_p50"] / out["static"]["e2e_p50"], 2)
    out["continuous_over_best_static_e2e_p50"] = round(out["continuous"]["e2e_p50"] / best[1]["e2e_p50"], 2)
    out["median_of_repeats"] = args.repeat
    if args.rates:
        out["equal_latency"] = equal_latency(args, model, dist)
    return out


def backend_factory(args: argparse.Namespace, model):
    """A fresh back-end per run: the real engine (tiny GPT, paged cache), or with ``--cost`` the
    simulator priced by that cost model (same blocks; deterministic, so load cannot move it)."""
    from mlsys_kit.serving.real import RealBackend
    from mlsys_kit.serving.simulator import CostModel, SimBackend

    if args.cost is None:
        return lambda **kw: RealBackend(model, num_blocks=4096, block_size=16, clock=args.clock, **kw)
    cost = CostModel(*args.cost)
    return lambda **kw: SimBackend(cost, num_blocks=4096, block_size=16)


def equal_latency(args: argparse.Namespace, model, dist) -> dict:
    """Throughput vs p50 latency as the request rate grows; the best throughput within a budget,
    found by bisection on the rate (:class:`~mlsys_kit.serving.metrics.RateSearch`), the same
    search for every scheduler."""
    from mlsys_kit.serving.engine import serve
    from mlsys_kit.serving.metrics import RateSearch, summarize_pooled, throughput_at_latency
    from mlsys_kit.serving.workload import make_workload

    def point(name: str, rate: float, n: int, repeat: int, seats: int) -> dict:
        """One rate, ``repeat`` runs (each a different seed, the same seeds for every scheduler):
        the run of median p50 latency."""
        rows = []
        for rep in range(repeat):  # --pool seeded runs pooled into one point (seeds 1, 2, ... as before)
            s = summarize_pooled([serve(make_workload(n, rate, dist, dist, seed=1 + rep * args.pool + j,
                                                      vocab_size=model.config.vocab_size),
                                        name, args.backend(), max_num_seqs=seats, token_budget=256, check=False)
                                  for j in range(args.pool)])
            rows.append({"rate": round(rate, 3), "throughput_tokens_per_s": round(s["throughput_tokens_per_s"], 1),
                         "e2e_p50": round(s["e2e_p50"], 4), "ttft_p50": round(s["ttft_p50"], 4),
                         "norm_latency_p50": round(s["norm_latency_p50"], 6)})
        row = sorted(rows, key=lambda r: r["e2e_p50"])[len(rows) // 2]
        print(f"{name:>10} seats {seats:>3} rate {rate:6.1f}  {row['throughput_tokens_per_s']:8.0f} tok/s  "
              f"e2e p50 {row['e2e_p50']:.3f} s", file=sys.stderr)
        return row

    def unloaded_point() -> dict:
        # an unloaded request: arrivals 100x slower than the slowest rate, so each is served alone
        return point("continuous", min(args.rates) / 100, min(args.sweep_requests, 128), 1, args.seats)

    for name in ("static", "continuous"):  # warm-up (torch's first calls allocate), not measured
        serve(make_workload(16, 50.0, dist, dist, seed=0, vocab_size=model.config.vocab_size), name, args.backend(),
              max_num_seqs=args.seats, check=False)
    # the budget's unit: the median of --unloaded-runs measurements (one moment's load moves one)
    bases = [unloaded_point() for _ in range(args.unloaded_runs)]
    base = sorted(bases, key=lambda r: r["e2e_p50"])[len(bases) // 2]
    unloaded, unloaded_norm = base["e2e_p50"], base["norm_latency_p50"]
    # every scheduler: (name, seats); static also at --latency-static-seats, its best kept
    runs = [("static", args.seats)] + [("static", k) for k in dict.fromkeys(args.latency_static_seats)
                                        if k != args.seats]
    runs.append(("continuous", args.seats))
    key = {run: run[0] if run[1] == args.seats else f"{run[0]}_{run[1]}_seats" for run in runs}
    # the schedulers alternate at each rate (not one whole curve, then the other): a shared
    # machine's load drifts over minutes, and the ratio compares the curves point by point
    curves: dict = {key[run]: [] for run in runs}
    for rate in args.rates:
        for run in runs:
            curves[key[run]].append(point(run[0], rate, args.sweep_requests, args.repeat, run[1]))
    budget = args.slo_scale * unloaded
    searches = {}
    for run in runs:  # bisection on the rate near the budget's crossing, alternating again
        searches[run] = RateSearch(budget, args.rates, rel_tol=args.search_tol, max_steps=args.search_steps)
        for row in curves[key[run]]:
            searches[run].add(row)
    active = list(runs)
    while active:
        for run in list(active):
            rate = searches[run].next_rate()
            if rate is None:
                active.remove(run)
                continue
            row = point(run[0], rate, args.sweep_requests, args.search_repeat, run[1])
            searches[run].add(row)
            curves[key[run]].append(row)
    for name in curves:
        curves[name].sort(key=lambda r: r["rate"])
    after = unloaded_point()  # the same unloaded measurement at the end: did the machine drift?

    def at(name: str, limit: float, latency: str) -> float | None:
        return throughput_at_latency(curves[name], limit, latency)

    static_keys = [key[run] for run in runs if run[0] == "static"]

    def best_static(limit: float, latency: str) -> float | None:
        got = [t for t in (at(k, limit, latency) for k in static_keys) if t is not None]
        return max(got) if got else None

    def ratios(latency: str, unit: float) -> dict:
        out = {}
        for scale in sorted({2.0, 4.0, 8.0, args.slo_scale}):
            tp = [best_static(scale * unit, latency), at("continuous", scale * unit, latency)]
            out[f"{scale:g}"] = round(tp[1] / tp[0], 2) if None not in tp and tp[0] > 0 else None
        return out

    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.serving.viz import plot_latency_vs_throughput

        title = f"{args.preset} GPT, real engine, {args.seats} seats"
        shown = {"static": curves["static"], "continuous": curves["continuous"]}
        save_figure(plot_latency_vs_throughput(shown, budget, title), args.plot)
        path = Path(args.plot)
        save_figure(plot_latency_vs_throughput(shown, args.slo_scale * unloaded_norm, title, "norm_latency_p50"),
                    path.with_name(path.stem + "_normalized" + path.suffix))
    by_e2e = ratios("e2e_p50", unloaded)
    return {"seats": args.seats, "requests": args.sweep_requests, "unloaded_e2e_p50": unloaded,
            "unloaded_e2e_p50_runs": [r["e2e_p50"] for r in bases], "unloaded_e2e_p50_after": after["e2e_p50"],
            "slo_scale": args.slo_scale, "budget_e2e_p50": round(budget, 4),
            "static_tokens_per_s_at_budget": best_static(budget, "e2e_p50"),
            "continuous_tokens_per_s_at_budget": at("continuous", budget, "e2e_p50"),
            "static_tokens_per_s_at_budget_by_seats": {str(run[1]): at(key[run], budget, "e2e_p50")
                                                       for run in runs if run[0] == "static"},
            "continuous_over_static_tokens_per_s": by_e2e[f"{args.slo_scale:g}"], "ratio_by_slo_scale": by_e2e,
            "crossing_rate": {key[run]: searches[run].bracket() for run in runs},
            "search_points": {key[run]: searches[run].steps for run in runs},
            # the same with Orca's metric, p50 of end-to-end latency / output tokens
            "unloaded_norm_latency_p50": unloaded_norm,
            "norm_latency_ratio_by_slo_scale": ratios("norm_latency_p50", unloaded_norm),
            "curves": curves}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
