"""Gradient communication scheduling (ByteScheduler, SOSP'19) and BytePS (OSDI'20): the figures
docs/feed.md quotes, and the simulator's speed. Prints one JSON object.

* per model and bandwidth (8 workers, 50 us latency): iteration time (ms) of FIFO, DDP buckets
  (25 MiB), ByteScheduler at its default sizes and at the searched ones, and the speedup;
* BytePS for n = 8 GPU machines and k = 0..16 CPU machines (VGG16's gradients, 100 Gbit/s):
  times and speedups over all-reduce and PS;
* the simulator's time per call (ms) and the search's time.

    .venv/bin/python benchmarks/feed_comm.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main() -> dict:
    from mlsys_kit.feed.byteps import compare
    from mlsys_kit.feed.comm import POLICIES, Network, iteration_time, model_layers
    from mlsys_kit.feed.comm_search import search

    out: dict = {"setting": "8 workers, 50 us latency, batch 32 (vgg16) / 8 x 1024 tokens (gpt2) at 50 TFLOP/s",
                 "models": {}}
    for model, batch in (("vgg16", 32), ("gpt2", 8)):
        layers = model_layers(model, batch)
        rows = {}
        for gbps in (10, 25, 100, 400):
            net = Network(gbps * 1e9 / 8, 50e-6, 8)
            times = {p: iteration_time(layers, net, p).iteration_time * 1e3 for p in POLICIES}
            found = search(layers, net, min_partition=2**18)
            rows[f"{gbps} Gbit/s"] = {**{f"{p}_ms": round(t, 3) for p, t in times.items()},
                                      "searched_ms": round(found["iteration_time"] * 1e3, 3),
                                      "searched_partition": found["partition"], "searched_credit": found["credit"],
                                      "speedup_over_fifo": round(found["speedup_over_fifo"], 3)}
        out["models"][model] = rows
    m = sum(x.grad_bytes for x in model_layers("vgg16"))
    out["byteps_n8_vgg16_100gbps"] = {
        f"k={k}": {key: (round(v * 1e3, 3) if key.endswith("_time") and v is not None else
                         round(v, 3) if isinstance(v, float) and key.startswith("speedup") else v)
                   for key, v in compare(8, k, m, 100e9 / 8).items()
                   if key in ("allreduce_time", "ps_time", "byteps_time", "lower_bound_time", "speedup_over_allreduce",
                              "speedup_over_ps")}
        for k in (0, 1, 2, 4, 8, 16)}
    layers, net = model_layers("vgg16"), Network(100e9 / 8, 50e-6, 8)
    speed = {}
    for label, kw in (("fifo", {}), ("bytescheduler_4MiB", {"partition": 2**22, "credit": 2**24}),
                      ("bytescheduler_256KiB", {"partition": 2**18, "credit": 2**20})):
        policy = label.split("_")[0]
        ts = []
        for _ in range(7):
            t0 = time.perf_counter()
            iteration_time(layers, net, policy, **kw)
            ts.append(time.perf_counter() - t0)
        speed[f"{label}_ms"] = round(1e3 * statistics.median(ts), 2)
    t0 = time.perf_counter()
    found = search(layers, net)
    speed["search_s"] = round(time.perf_counter() - t0, 2)
    speed["search_points"] = found["evaluations"]
    out["simulator_speed_vgg16"] = speed
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
