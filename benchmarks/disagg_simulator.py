"""Speed of the disaggregated simulator: 100k chatbot requests (OPT-13B roofline on A100) on 2
prefill + 1 decode instances and, beside it, colocated vLLM-style serving on the same 3
devices. Prints one JSON object (wall seconds, requests per wall second, attainment)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    from mlsys_kit.disagg.config import DISAGG
    from mlsys_kit.disagg.simulate import Pool, pools_and_link, simulate_colocated, simulate_disagg, summarize_disagg
    from mlsys_kit.disagg.placement import chatbot_workload, roofline_hardware

    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=100_000)
    p.add_argument("--rate", type=float, default=DISAGG.rate, help=f"requests/s (default {DISAGG.rate:g}: below saturation)")
    args = p.parse_args(argv)
    hw = roofline_hardware(DISAGG.model, DISAGG.device)
    prefill, decode, link = pools_and_link(DISAGG)
    t = time.perf_counter()
    reqs = chatbot_workload(args.requests, args.rate, seed=0)
    gen = time.perf_counter() - t
    out = {"requests": args.requests, "rate": args.rate, "workload_seconds": gen}
    for name, run in (("disaggregated_2p1d", lambda: simulate_disagg(reqs, prefill, decode, link, hw)),
                      ("colocated_vllm_3", lambda: simulate_colocated(reqs, Pool(prefill.devices + decode.devices), hw))):
        t = time.perf_counter()
        res = run()
        wall = time.perf_counter() - t
        s = summarize_disagg(res, DISAGG.ttft_slo, DISAGG.tpot_slo)
        out[name] = {"wall_seconds": wall, "requests_per_wall_second": args.requests / wall,
                     "simulated_seconds": s["simulated_seconds"], "attainment": s["attainment"],
                     "kv_bytes_moved": s["kv_bytes_moved"]}
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
