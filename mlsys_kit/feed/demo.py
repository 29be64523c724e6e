"""The "keeping devices fed" section of ``mlsys-kit demo``: VGG16's data-parallel step under FIFO,
DDP buckets and ByteScheduler (SOSP'19), the partition/credit search, BytePS's communication
time against its lower bound (OSDI'20 section 3.2), the real gloo run against DDP, and the input
pipeline's caches (CoorDL, VLDB'21 section 4.1) simulated and measured on a real DataLoader."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.feed.byteps import compare
from mlsys_kit.feed.comm import POLICIES, Network, iteration_time, model_layers
from mlsys_kit.feed.comm_search import search
from mlsys_kit.feed.data import simulate_data
from mlsys_kit.feed.viz import byteps_figure, real_figure, search_figure, timeline_figure
from mlsys_kit.feed.viz_data import plot_cache
from mlsys_kit.viz.figure import figure_png

WORKERS, GBPS, LATENCY_US = 8, 100.0, 50.0
REAL = {"ranks": 2, "steps": 4, "sizes": (64, 256, 256, 512, 32), "per_rank_batch": 16,
        "partition": 64 * 1024, "credit": 256 * 1024, "bucket_bytes": 512 * 1024}


def section(progress: Callable[[str], None]) -> Section:
    from mlsys_kit.feed.comm_real import run_real
    from mlsys_kit.feed.data_real import real_data

    layers, net = model_layers("vgg16"), Network(GBPS * 1e9 / 8, LATENCY_US * 1e-6, WORKERS)
    setting = f"VGG16, batch 32 at 50 TFLOP/s, {WORKERS} workers, {GBPS:g} Gbit/s"
    progress(f"timelines and the partition/credit grid for {setting}")
    timelines = [iteration_time(layers, net, p) for p in POLICIES]
    found = search(layers, net)
    rows: list[tuple[str, object]] = [(f"{setting}: {t.policy} iteration (ms)", round(t.iteration_time * 1e3, 3))
                                      for t in timelines]
    rows += [(f"{t.policy}: communication hidden under compute", f"{100 * t.overlap_fraction:.1f}%") for t in timelines]
    rows += [("best partition / credit (bytes)", f"{found['partition']:,} / {found['credit']:,}"),
             ("ByteScheduler (searched) speedup over FIFO", round(found["speedup_over_fifo"], 3))]
    base = "mlsys-kit feed comm --model vgg16 --workers 8 --bandwidth-gbps 100"
    figures = [Figure(f"One data-parallel step of {setting}: compute (backward orange, next forward blue) and the "
                      "link, each all-reduce coloured by its layer (dark = layer 0), under each policy",
                      figure_png(timeline_figure(timelines, setting)), f"{base} --plot feed_timeline.png"),
               Figure("ByteScheduler's partition and credit grid (SOSP'19 section 5): iteration time per partition "
                      "size and credit window, FIFO dashed", figure_png(search_figure(found, setting)),
                      f"{base} --search --plot feed_search.png")]

    progress("BytePS: all-reduce, PS and BytePS for 8 GPU machines")
    m, bw = sum(x.grad_bytes for x in layers), GBPS * 1e9 / 8
    bps = [compare(8, k, m, bw) for k in (0, 2, 4, 8)]
    rows += [(f"BytePS n=8, k={r['cpus']}: time (ms), speedup over all-reduce",
              f"{r['byteps_time'] * 1e3:.2f}, {r['speedup_over_allreduce']:.3f}x") for r in bps]
    rows.append(("BytePS equals the placement LP's optimum (k = 0, 2, 4, 8)",
                 all(abs(r["byteps_time"] - r["lower_bound_time"]) <= 1e-9 * r["byteps_time"] for r in bps)))
    figures.append(Figure("BytePS (OSDI'20 section 3.2): communication time of VGG16's gradients for 8 GPU machines "
                          "against spare CPU machines k; all-reduce at k = 0 and PS at k = n are its special cases",
                          figure_png(byteps_figure(8, m, bw, 4)),
                          f"mlsys-kit feed byteps --gpus 8 --cpus 4 --model-mb {m / 1e6:.1f} --plot feed_byteps.png"))

    progress(f"real gloo run on {REAL['ranks']} ranks against DDP")
    real = run_real(**REAL)
    rows += [("real gloo run: gradients equal DDP's (bitwise)", f"{real['matches_ddp']} ({real['bitwise']})"),
             ("real run: measured order (simulated order)",
              f"{', '.join(real['measured_order'])} ({', '.join(real['simulated_order'])})")]
    figures.append(Figure(f"Real run on {real['ranks']} gloo ranks: measured iteration per policy beside the "
                          "simulator's prediction from measured layer and network times (reported, not asserted)",
                          figure_png(real_figure(real)), "mlsys-kit feed comm --real --plot feed_real.png"))

    progress("input pipeline: LRU vs MinIO, simulated and on a real DataLoader")
    sims = {c: simulate_data(c) for c in ("lru", "minio")}
    rows += [(f"140 GB dataset, 91 GB memory: {c} hit rate, stall", f"{r['hit_rate']:.3f}, {100 * r['stall_fraction']:.1f}%")
             for c, r in sims.items()]
    data = real_data()
    rows.append(("real DataLoader (200 files): hit rates and bytes read equal the simulator's", data["matches_simulator"]))
    figures.append(Figure("Steady hit rate and data-stall fraction of the OS page cache (LRU) and MinIO against "
                          "memory / dataset (CoorDL section 4.1)", figure_png(plot_cache()),
                          "mlsys-kit feed data --cache minio --dataset-gb 140 --memory-gb 91 --plot feed_data.png"))
    return Section(
        topic="feed", title="Keeping devices fed: ByteScheduler, BytePS, CoorDL",
        summary="Gradient all-reduces scheduled by priority with partitioning and credit (ByteScheduler, SOSP'19) "
                "against FIFO and DDP buckets, BytePS's optimal use of spare CPU machines (OSDI'20), a real gloo "
                "run matching DDP, and the input pipeline's page cache against CoorDL's MinIO (VLDB'21).",
        rows=rows, figures=figures,
        data={"timelines": [t.to_dict() for t in timelines], "search": {k: v for k, v in found.items()},
              "byteps": bps, "real": real, "data": sims, "data_real": data})
