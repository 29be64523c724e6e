"""The input pipeline's figures (CoorDL VLDB'21 sections 3-4, FastFlow VLDB'23 section 4). Prints
one JSON object:

* ``caches``: the steady hit rate, bytes read per epoch and stall fraction of the OS page cache
  (LRU) and MinIO for ImageNet-1k-sized data (140 GB) with 65 % of it in memory, the ratio of
  storage reads (LRU / MinIO) and the epoch speedup;
* ``closed_form_vs_simulation``: LRU's hit rate from the per-access simulation (n items, a fresh
  permutation per epoch) against the exact expectation and the large-n limit f + (1-f) ln(1-f);
* ``hp_search``: coordinated prep for k concurrent single-GPU jobs (CoorDL section 4.3);
* ``offload``: FastFlow's offloading fraction and speedup on a prep-bound job, against the
  network bandwidth;
* ``speed``: accesses per second of the per-access simulation (teaching path);
* ``real``: the DataLoader's measured counts against the simulator (``matches_simulator``) and
  measured epoch times against the model's (``--files``, default 200).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    from mlsys_kit.feed.cache import epoch_orders, lru_hit_rate_exact, lru_hit_rate_limit, simulate_cache
    from mlsys_kit.feed.data import Pipeline, epoch_model, hp_search, offload
    from mlsys_kit.feed.data_real import real_data

    ap = argparse.ArgumentParser()
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--items", type=int, default=1000)
    args = ap.parse_args(argv)

    p = Pipeline()
    lru, minio = epoch_model(p, "lru"), epoch_model(p, "minio")
    caches = {"dataset_gb": p.dataset_gb, "memory_gb": p.memory_gb,
              "lru": {k: lru[k] for k in ("hit_rate", "bytes_read", "stall_fraction", "epoch_s", "bottleneck")},
              "minio": {k: minio[k] for k in ("hit_rate", "bytes_read", "stall_fraction", "epoch_s", "bottleneck")},
              "read_ratio": lru["bytes_read"] / minio["bytes_read"], "epoch_speedup": lru["epoch_s"] / minio["epoch_s"]}

    n, epochs, rows = args.items, 6, []
    for f in (0.2, 0.5, 0.65, 0.9):
        c = int(f * n)
        sim = simulate_cache("lru", epoch_orders(n, epochs, seed=1), [1] * n, c)
        steady = sum(e["hits"] for e in sim["epochs"][1:]) / (n * (epochs - 1))
        rows.append({"fraction": f, "simulated": steady, "exact": lru_hit_rate_exact(n, c), "limit": lru_hit_rate_limit(f),
                     "minio": c / n})

    one_gpu = Pipeline(batch=256, gpu_ms_per_batch=91.4)  # a job on one GPU, ResNet-18-like (2,800 samples/s); 24 cores
    hp = {k: hp_search(one_gpu, k)["speedup"] for k in (1, 2, 4, 8)}

    slow = Pipeline(prep_ms=12.0)  # a prep-bound job: 3x the CPU work per sample
    off = {gbps: {k: v for k, v in offload(slow, 24, gbps).items() if k in ("fraction", "speedup", "pays")}
           for gbps in (1.0, 10.0, 25.0, 100.0)}

    speed = {}
    orders = epoch_orders(20_000, 3, seed=0)
    for policy in ("lru", "minio"):
        t0 = time.perf_counter()
        simulate_cache(policy, orders, [110_000] * 20_000, 110_000 * 13_000)
        speed[policy] = 60_000 / (time.perf_counter() - t0)

    real = real_data(n_files=args.files)
    out = {"caches": caches, "closed_form_vs_simulation": rows, "hp_search_speedup": hp, "offload": off,
           "speed_accesses_per_s": speed,
           "real": {"matches_simulator": real["matches_simulator"], "files": real["files"],
                    **{pol: {k: real[pol][k] for k in ("hit_rate_measured", "hit_rate_predicted", "bytes_read_measured",
                                                       "bytes_read_predicted", "epoch_s_measured", "epoch_s_model")}
                       for pol in ("lru", "minio")}}}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
