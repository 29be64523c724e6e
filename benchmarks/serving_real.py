"""Real engine (paged KV cache, greedy): continuous vs static batching on the same mixed-length
workload. Prints one JSON object; progress goes to stderr.

    .venv/bin/python benchmarks/serving_real.py [--preset tiny|gpt2] [--requests 128] [--seats 16]
        [--sigma 0.8] [--static-seats 4 8 16 32 64] [--rates 10 20 ...] [--slo-scale 4] [--repeat 1]

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
    ap.add_argument("--cost", type=float, nargs=4, metavar=("A", "B", "C", "D"),
                    help="run the same comparisons on the simulator instead, priced by this cost model "
                         "(seconds = a + b*prefill_tokens + c*decode_rows + d*context_tokens; the tiny GPT fitted "
                         "by `mlsys-kit serve fit`: 0.00142 0.000164 0 1.17e-05): no timing noise")
    args = ap.parse_args()
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
                 "threads": args.threads, "lengths": f"lognormal median {args.median} sigma {args.sigma}",
                 "output_tokens": sum(r.output_len for r in reqs)}
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
        return lambda **kw: RealBackend(model, num_blocks=4096, block_size=16, **kw)
    cost = CostModel(*args.cost)
    return lambda **kw: SimBackend(cost, num_blocks=4096, block_size=16)


def equal_latency(args: argparse.Namespace, model, dist) -> dict:
    """Throughput vs p50 latency as the request rate grows; the best throughput within a budget."""
    from mlsys_kit.serving.engine import serve
    from mlsys_kit.serving.metrics import summarize, throughput_at_latency
    from mlsys_kit.serving.workload import make_workload

    def point(name: str, rate: float, n: int) -> dict:
        """One rate, ``--repeat`` runs (each a different seed): the run of median p50 latency."""
        rows = []
        for rep in range(args.repeat):
            reqs = make_workload(n, rate, dist, dist, seed=1 + rep, vocab_size=model.config.vocab_size)
            res = serve(reqs, name, args.backend(), max_num_seqs=args.seats,
                        token_budget=256, check=False)
            s = summarize(res)
            rows.append({"rate": rate, "throughput_tokens_per_s": round(s["throughput_tokens_per_s"], 1),
                         "e2e_p50": round(s["e2e_p50"], 4), "ttft_p50": round(s["ttft_p50"], 4),
                         "norm_latency_p50": round(s["norm_latency_p50"], 6)})
        row = sorted(rows, key=lambda r: r["e2e_p50"])[len(rows) // 2]
        print(f"{name:>10} rate {rate:6.1f}  {row['throughput_tokens_per_s']:8.0f} tok/s  "
              f"e2e p50 {row['e2e_p50']:.3f} s", file=sys.stderr)
        return row

    # an unloaded request: arrivals 100x slower than the slowest rate, so each is served alone
    base = point("continuous", min(args.rates) / 100, min(args.sweep_requests, 128))
    unloaded, unloaded_norm = base["e2e_p50"], base["norm_latency_p50"]
    # the two schedulers alternate at each rate (not one whole curve, then the other): a shared
    # machine's load drifts over minutes, and the ratio compares the curves point by point
    curves: dict = {"static": [], "continuous": []}
    for rate in args.rates:
        for name in curves:
            curves[name].append(point(name, rate, args.sweep_requests))

    def ratios(latency: str, unit: float) -> dict:
        out = {}
        for scale in sorted({2.0, 4.0, 8.0, args.slo_scale}):
            tp = [throughput_at_latency(curves[name], scale * unit, latency) for name in ("static", "continuous")]
            out[f"{scale:g}"] = round(tp[1] / tp[0], 2) if None not in tp and tp[0] > 0 else None
        return out

    budget = args.slo_scale * unloaded
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.serving.viz import plot_latency_vs_throughput

        title = f"{args.preset} GPT, real engine, {args.seats} seats"
        save_figure(plot_latency_vs_throughput(curves, budget, title), args.plot)
        path = Path(args.plot)
        save_figure(plot_latency_vs_throughput(curves, args.slo_scale * unloaded_norm, title, "norm_latency_p50"),
                    path.with_name(path.stem + "_normalized" + path.suffix))
    at = {name: throughput_at_latency(curves[name], budget) for name in curves}
    by_e2e = ratios("e2e_p50", unloaded)
    return {"seats": args.seats, "requests": args.sweep_requests, "unloaded_e2e_p50": unloaded,
            "slo_scale": args.slo_scale, "budget_e2e_p50": round(budget, 4),
            "static_tokens_per_s_at_budget": at["static"], "continuous_tokens_per_s_at_budget": at["continuous"],
            "continuous_over_static_tokens_per_s": by_e2e[f"{args.slo_scale:g}"], "ratio_by_slo_scale": by_e2e,
            # the same with Orca's metric, p50 of end-to-end latency / output tokens
            "unloaded_norm_latency_p50": unloaded_norm,
            "norm_latency_ratio_by_slo_scale": ratios("norm_latency_p50", unloaded_norm),
            "curves": curves}


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
