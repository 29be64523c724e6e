"""The real offloaded run's overhead: the tiny GPT generating 6 x 8 tokens from 32-token prompts
with everything on the "device" (no traffic), with the LP's policy for the 2 MB cpu-tiny budget
(zig-zag, with and without the prefetch thread; row-by-row), against the plain run (full
recomputation, ``GPT.generate_reference``). Prints one JSON object: seconds (median of 3),
bytes per link and the cost model's time for each.

    .venv/bin/python benchmarks/offload_real.py
"""

from __future__ import annotations

import json
import os
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(repeats: int = 3) -> dict:
    from mlsys_kit.models.gpt import GPT
    from mlsys_kit.offload.config import Policy, Workload, hardware
    from mlsys_kit.offload.real import real_policy, run_offloaded

    gpt, wl = GPT("tiny"), Workload(32, 8)
    lp = real_policy(gpt, wl)
    roomy = hardware("cpu-tiny").with_capacity("device", 1e9)
    cases = {
        "all_on_device": (Policy(lp.batch_size, lp.num_batches), "zigzag", roomy),
        "lp_policy_zigzag": (lp, "zigzag", None),
        "lp_policy_zigzag_no_prefetch": (Policy(lp.batch_size, lp.num_batches, lp.placement, overlap=False), "zigzag", None),
        "lp_policy_row": (lp, "row", None),
    }
    out: dict = {"sequences": lp.block_size, "prompt_len": wl.prompt_len, "gen_len": wl.gen_len}
    for name, (policy, schedule, hw) in cases.items():
        runs = [run_offloaded(gpt, policy, wl, schedule, hw, check_reference=False) for _ in range(repeats)]
        r = runs[0]
        out[name] = {"seconds": round(statistics.median(x["time_s_measured"] for x in runs), 4),
                     "model_seconds": round(r["time_s_predicted"], 5), "bytes": r["bytes_moved_measured"],
                     "bytes_match": r["bytes_match"], "device_peak_bytes": r["device_peak_bytes"]}
    prompts = [[(7 * i + j) % gpt.config.vocab_size for j in range(wl.prompt_len)] for i in range(lp.block_size)]
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for p in prompts:
            gpt.generate_reference(p, wl.gen_len)
        times.append(time.perf_counter() - t0)
    out["plain_reference_seconds"] = round(statistics.median(times), 4)
    out["load_average_1min"] = round(os.getloadavg()[0], 2)
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
