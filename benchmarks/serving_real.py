"""Real engine (paged KV cache, greedy): continuous vs static batching on the same mixed-length
workload, every request queued at once (saturation). Prints one JSON object.

    .venv/bin/python benchmarks/serving_real.py [--preset tiny|gpt2] [--requests 64] [--seats 16]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    import torch

    from mlsys_kit.models.gpt import GPT
    from mlsys_kit.serving import RealBackend, make_workload, serve, summarize
    from mlsys_kit.serving.cli import length_dist

    ap = argparse.ArgumentParser()
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--requests", type=int, default=64)
    ap.add_argument("--seats", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    model = GPT(args.preset, seed=0)
    reqs = make_workload(args.requests, 10_000.0, length_dist("lognormal", 32), length_dist("lognormal", 32), seed=0,
                         vocab_size=model.config.vocab_size)
    out = {"preset": args.preset, "requests": args.requests, "max_num_seqs": args.seats, "threads": args.threads}
    for name in ("static", "continuous", "vllm", "chunked"):
        res = serve(reqs, name, RealBackend(model, num_blocks=1024, block_size=16), max_num_seqs=args.seats,
                    max_num_batched_tokens=256)
        s = summarize(res)
        out[name] = {k: round(s[k], 4) for k in ("throughput_tokens_per_s", "e2e_p50", "ttft_p50", "tpot_p50", "tpot_p99")}
        out[name]["iterations"] = s["iterations"]
    res = serve(reqs, "continuous", RealBackend(model, num_blocks=1024, block_size=16, split_mixed=True),
                max_num_seqs=args.seats)
    s = summarize(res)
    out["continuous_split_mixed"] = {k: round(s[k], 4) for k in ("throughput_tokens_per_s", "e2e_p50", "ttft_p50",
                                                                 "tpot_p50", "tpot_p99")}
    out["continuous_split_over_static_tokens_per_s"] = round(
        out["continuous_split_mixed"]["throughput_tokens_per_s"] / out["static"]["throughput_tokens_per_s"], 2)
    out["continuous_over_static_tokens_per_s"] = round(
        out["continuous"]["throughput_tokens_per_s"] / out["static"]["throughput_tokens_per_s"], 2)
    out["vllm_over_static_tokens_per_s"] = round(
        out["vllm"]["throughput_tokens_per_s"] / out["static"]["throughput_tokens_per_s"], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
