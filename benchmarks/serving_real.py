"""Real engine (paged KV cache, greedy): continuous vs static batching on the same mixed-length
workload, every request queued at t=0 (saturation: throughput is the engine's capacity, and
p50 latency is how long half the requests wait for it). Prints one JSON object.

    .venv/bin/python benchmarks/serving_real.py [--preset tiny|gpt2] [--requests 128] [--seats 16]
        [--sigma 0.8] [--static-seats 4 8 16 32 64] [--repeat 1]

Static batching is FasterTransformer's (Orca section 2.2): every seat of a batch is computed
until its longest request ends. So that static batching is not judged by one unlucky batch
size, it is also run at every ``--static-seats`` and the best of them is compared too.
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
    from mlsys_kit.serving import LengthDist, RealBackend, make_workload, serve, summarize
    from mlsys_kit.serving.workload import Request

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--requests", type=int, default=128)
    ap.add_argument("--seats", type=int, default=16, help="max_num_seqs of every scheduler")
    ap.add_argument("--median", type=int, default=32, help="median prompt and output length")
    ap.add_argument("--sigma", type=float, default=0.8, help="lognormal shape of both lengths (CLI default 0.8)")
    ap.add_argument("--static-seats", type=int, nargs="*", default=[4, 8, 16, 32, 64])
    ap.add_argument("--repeat", type=int, default=1, help="runs per configuration; the median is kept")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = GPT(args.preset, seed=0)
    dist = LengthDist("lognormal", args.median, 1, 8 * args.median, args.sigma)
    reqs = make_workload(args.requests, 1.0, dist, dist, seed=0, vocab_size=model.config.vocab_size)
    reqs = [Request(r.rid, 0.0, r.prompt_len, r.output_len, r.prompt) for r in reqs]  # all queued at t=0
    blocks = 4096

    def run(name: str, seats: int, **kw) -> dict:
        rows = []
        for _ in range(args.repeat):
            res = serve(reqs, name, RealBackend(model, num_blocks=blocks, block_size=16, **kw),
                        max_num_seqs=seats, max_num_batched_tokens=256, check=False)
            s = summarize(res)
            rows.append({**{k: round(s[k], 4) for k in KEYS}, "iterations": s["iterations"]})
            print(f"{name:>10} seats {seats:>3}  {rows[-1]['throughput_tokens_per_s']:8.0f} tok/s  "
                  f"e2e p50 {rows[-1]['e2e_p50']:.3f} s", file=sys.stderr)
        rows.sort(key=lambda r: r["throughput_tokens_per_s"])
        return rows[len(rows) // 2]

    out: dict = {"preset": args.preset, "requests": args.requests, "max_num_seqs": args.seats,
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
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
