"""``mlsys-kit feed comm|byteps|data``: gradient communication scheduling (ByteScheduler,
SOSP'19, sections 2-5, and its real gloo run), BytePS's communication analysis (OSDI'20, section
3.2) and the input pipeline with its caches (CoorDL, VLDB'21, sections 3-4, and a real DataLoader)."""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, count_arg, nonneg_int, nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.feed.byteps import compare
from mlsys_kit.feed.comm import DEFAULTS, MODELS, POLICIES, Layer, Network, iteration_time, model_layers
from mlsys_kit.feed.comm_search import search
from mlsys_kit.feed.data import simulate_data

_bytes = count_arg("4M or 4194304")


def _layer(text: str) -> Layer:
    """``F,B,BYTES``: forward ms, backward ms, gradient bytes."""
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(f"a layer is FORWARD_MS,BACKWARD_MS,GRAD_BYTES (e.g. 1.5,3,4M): got {text!r}")
    return Layer(float(parts[0]) / 1e3, float(parts[1]) / 1e3, _bytes(parts[2]))


_layer.__name__ = "FORWARD_MS,BACKWARD_MS,GRAD_BYTES"


def _at_least_two(name: str, value: int) -> int:
    if positive_int(name, value) < 2:
        raise ValueError(f"{name} must be at least 2 machines for an all-reduce: got {value}")
    return value


def _check_plot(path: str | None) -> None:
    """Refuse a bad --plot name before any work (a real run takes seconds)."""
    if path and not path.lower().endswith((".png", ".svg", ".pdf", ".jpg", ".jpeg")):
        raise ValueError(f"--plot file must end in .png, .svg, .pdf or .jpg: got {path!r}")


def _pos_int(name: str) -> Any:
    return arg(positive_int, int, name)


def _pos_num(name: str) -> Any:
    return arg(positive_number, float, name)


def register(subparsers: Any) -> None:
    feed = subparsers.add_parser("feed", help="keeping devices fed: gradient communication scheduling "
                                              "(ByteScheduler, BytePS) and input pipelines (CoorDL)")
    sub = feed.add_subparsers(dest="feed_command", metavar="SUBCOMMAND", required=True)

    comm = sub.add_parser("comm", help="one data-parallel step as a timeline under FIFO, DDP buckets or "
                                       "ByteScheduler (--real: a gloo run checked against DDP)")
    comm.add_argument("--policy", default="bytescheduler", type=arg(lambda n, v: one_of(n, v, POLICIES), str, "--policy"),
                      help=f"one of {', '.join(POLICIES)} (default bytescheduler)")
    comm.add_argument("--model", default="vgg16", type=arg(lambda n, v: one_of(n, v, MODELS), str, "--model"),
                      help=f"example model, one of {', '.join(MODELS)} (default vgg16)")
    comm.add_argument("--layers", nargs="+", type=arg(lambda n, v: v, _layer, "--layers"), metavar="F,B,BYTES",
                      help="your own layers instead of --model: forward ms, backward ms, gradient bytes each")
    comm.add_argument("--batch", type=_pos_int("--batch"), default=32, help="batch per GPU for --model (default 32)")
    comm.add_argument("--tflops", type=_pos_num("--tflops"), default=50.0, help="device TFLOP/s for --model (default 50)")
    comm.add_argument("--workers", type=arg(_at_least_two, int, "--workers"), default=8,
                      help="data-parallel machines, 2 or more (default 8)")
    comm.add_argument("--bandwidth-gbps", type=_pos_num("--bandwidth-gbps"), default=100.0,
                      help="link bandwidth in Gbit/s (default 100)")
    comm.add_argument("--latency-us", type=arg(nonneg_number, float, "--latency-us"), default=50.0,
                      help="per-message start-up in microseconds (default 50)")
    comm.add_argument("--partition", type=arg(positive_int, _bytes, "--partition"),
                      default=DEFAULTS["bytescheduler"]["partition"], help="ByteScheduler chunk bytes (default 4 MiB)")
    comm.add_argument("--credit", type=arg(positive_int, _bytes, "--credit"),
                      default=DEFAULTS["bytescheduler"]["credit"], help="ByteScheduler bytes in flight (default 16 MiB)")
    comm.add_argument("--bucket-bytes", type=arg(positive_int, _bytes, "--bucket-bytes"),
                      default=DEFAULTS["bucket"]["bucket_bytes"], help="DDP bucket bytes (default 25 MiB)")
    comm.add_argument("--search", action="store_true", help="also search partition and credit (a grid)")
    comm.add_argument("--real", action="store_true", help="run every policy on gloo processes against DDP")
    comm.add_argument("--ranks", type=_pos_int("--ranks"), default=2, help="processes for --real (2-4, default 2)")
    comm.add_argument("--steps", type=_pos_int("--steps"), default=6, help="iterations per policy for --real")
    comm.add_argument("--json", action="store_true", help="print one JSON object")
    comm.add_argument("--plot", metavar="FILE", help="write the three policies' timelines (with --search: the grid)")
    comm.set_defaults(func=_comm)

    bps = sub.add_parser("byteps", help="all-reduce, parameter server and BytePS communication time (OSDI'20 3.2)")
    bps.add_argument("--gpus", type=_pos_int("--gpus"), required=True, help="GPU machines n (>= 2)")
    bps.add_argument("--cpus", type=arg(nonneg_int, int, "--cpus"), required=True, help="spare CPU machines k")
    bps.add_argument("--model-mb", type=_pos_num("--model-mb"), default=553.4, help="gradient MB (default VGG16 fp32)")
    bps.add_argument("--bandwidth-gbps", type=_pos_num("--bandwidth-gbps"), default=100.0, help="NIC Gbit/s")
    bps.add_argument("--json", action="store_true", help="print one JSON object")
    bps.add_argument("--plot", metavar="FILE", help="write the three times against k to FILE")
    bps.set_defaults(func=_byteps)

    data = sub.add_parser("data", help="input pipeline: LRU page cache vs MinIO, data stalls "
                                       "(--real: a DataLoader with a byte-budgeted cache)")
    data.add_argument("--cache", default="minio", type=arg(lambda n, v: one_of(n, v, ("lru", "minio")), str, "--cache"),
                      help="lru (the OS page cache) or minio (CoorDL; default)")
    data.add_argument("--dataset-gb", type=_pos_num("--dataset-gb"), default=140.0, help="dataset GB (default 140)")
    data.add_argument("--memory-gb", type=arg(nonneg_number, float, "--memory-gb"), default=91.0,
                      help="cache memory GB (default 91)")
    data.add_argument("--real", action="store_true", help="a real DataLoader over generated files, both caches")
    data.add_argument("--files", type=_pos_int("--files"), default=200, help="files for --real (default 200)")
    data.add_argument("--memory-fraction", type=_pos_num("--memory-fraction"), default=0.5,
                      help="cache budget / dataset bytes for --real, in (0, 1] (default 0.5)")
    data.add_argument("--epochs", type=_pos_int("--epochs"), default=3, help="epochs for --real (default 3)")
    data.add_argument("--json", action="store_true", help="print one JSON object")
    data.add_argument("--plot", metavar="FILE", help="write hit rate and stall against memory/dataset to FILE")
    data.set_defaults(func=_data)


def _network(args: argparse.Namespace) -> Network:
    return Network(args.bandwidth_gbps * 1e9 / 8, args.latency_us * 1e-6, args.workers)


def comm_report(args: argparse.Namespace) -> dict[str, Any]:
    """The JSON object of ``mlsys-kit feed comm`` (the simulator)."""
    layers = args.layers or model_layers(args.model, args.batch, args.tflops * 1e12)
    net = _network(args)
    params = {"bucket": {"bucket_bytes": args.bucket_bytes},
              "bytescheduler": {"partition": args.partition, "credit": args.credit}}
    timelines = {p: iteration_time(layers, net, p, **params.get(p, {})) for p in POLICIES}
    t = timelines[args.policy]
    report = {**t.to_dict(), "model": "layers" if args.layers else args.model, "layers": len(layers),
              "grad_bytes": sum(x.grad_bytes for x in layers), "workers": args.workers,
              "bandwidth_bytes_s": net.bandwidth, "latency_s": net.latency,
              "all_policies": {p: x.iteration_time for p, x in timelines.items()}}
    if args.search:
        found = search(layers, net)
        report["search"] = {k: v for k, v in found.items() if k != "times"}
        report["_search"] = found
    report["_timelines"] = list(timelines.values())
    return report


def _comm(args: argparse.Namespace) -> int:
    _check_plot(args.plot)
    if args.credit < args.partition:
        raise ValueError(f"--credit must be at least one --partition ({args.partition} bytes): got {args.credit}")
    if args.real:
        return _comm_real(args)
    report = comm_report(args)
    timelines, found = report.pop("_timelines"), report.pop("_search", None)
    if args.plot:
        from mlsys_kit.feed.viz import search_figure, timeline_figure
        from mlsys_kit.viz.figure import save_figure

        title = f"{report['model']}, {args.workers} workers, {args.bandwidth_gbps:g} Gbit/s"
        save_figure(search_figure(found, title) if found else timeline_figure(timelines, title), args.plot)
    if args.json:
        emit_json(report)
        return 0
    print(f"{report['model']}: {report['layers']} layers, {report['grad_bytes'] / 1e6:.1f} MB of gradients, "
          f"{args.workers} workers at {args.bandwidth_gbps:g} Gbit/s, latency {args.latency_us:g} us")
    for p, t in report["all_policies"].items():
        mark = "  <-" if p == args.policy else ""
        print(f"  {p:<14} iteration {t * 1e3:9.3f} ms{mark}")
    print(f"{args.policy}: compute {report['compute_time'] * 1e3:.3f} ms, link busy {report['comm_time'] * 1e3:.3f} ms, "
          f"overlap {100 * report['overlap_fraction']:.1f}%")
    if found:
        print(f"search: partition {found['partition']:,} B, credit {found['credit']:,} B -> "
              f"{found['iteration_time'] * 1e3:.3f} ms ({found['speedup_over_fifo']:.3f}x FIFO, "
              f"{found['evaluations']} points)")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _comm_real(args: argparse.Namespace) -> int:
    from mlsys_kit.feed.comm_real import run_real

    r = run_real(ranks=args.ranks, steps=args.steps)
    if args.plot:
        from mlsys_kit.feed.viz import real_figure
        from mlsys_kit.viz.figure import save_figure

        save_figure(real_figure(r), args.plot)
    if args.json:
        emit_json(r)
        return 0
    print(f"{r['ranks']} {r['backend']} ranks, {r['steps']} steps per policy; matches DDP: {r['matches_ddp']} "
          f"(bitwise: {r['bitwise']})")
    for p, x in r["policies"].items():
        print(f"  {p:<14} measured {x['iteration_time_s'] * 1e3:8.2f} ms   simulated {x['simulated_s'] * 1e3:8.2f} ms")
    print(f"order measured {r['measured_order']}, simulated {r['simulated_order']} (same: {r['same_order']})")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _byteps(args: argparse.Namespace) -> int:
    _check_plot(args.plot)
    m, bw = args.model_mb * 1e6, args.bandwidth_gbps * 1e9 / 8
    report = compare(args.gpus, args.cpus, m, bw)
    if args.plot:
        from mlsys_kit.feed.viz import byteps_figure
        from mlsys_kit.viz.figure import save_figure

        save_figure(byteps_figure(args.gpus, m, bw, args.cpus), args.plot)
    if args.json:
        emit_json(report)
        return 0
    ps = f"{report['ps_time'] * 1e3:.2f} ms" if report["ps_time"] is not None else "n/a (no CPU machines)"
    print(f"n = {args.gpus} GPU machines, k = {args.cpus} CPU machines, M = {args.model_mb:g} MB, "
          f"B = {args.bandwidth_gbps:g} Gbit/s")
    print(f"  all-reduce {report['allreduce_time'] * 1e3:.2f} ms   PS {ps}   BytePS {report['byteps_time'] * 1e3:.2f} ms "
          f"(lower bound {report['lower_bound_time'] * 1e3:.2f} ms)")
    print(f"  BytePS sums {report['byteps_cpu_bytes'] / 1e6:.2f} MB per CPU machine, "
          f"{report['byteps_gpu_bytes'] / 1e6:.2f} MB per GPU machine; {report['speedup_over_allreduce']:.3f}x all-reduce")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _data(args: argparse.Namespace) -> int:
    _check_plot(args.plot)
    if args.real:
        from mlsys_kit.feed.data_real import real_data

        report = real_data(n_files=args.files, memory_fraction=args.memory_fraction, epochs=args.epochs)
    else:
        report = simulate_data(args.cache, args.dataset_gb, args.memory_gb)
    if args.plot:
        from mlsys_kit.feed.viz_data import plot_cache
        from mlsys_kit.viz.figure import save_figure

        save_figure(plot_cache(dataset_gb=args.dataset_gb, memory_gb=args.memory_gb), args.plot)
    if args.json:
        emit_json(report)
        return 0
    if args.real:
        print(f"real DataLoader over {report['files']} files ({report['dataset_bytes']:,} bytes), cache budget "
              f"{report['capacity_bytes']:,} bytes, {report['epochs']} epochs: matches simulator "
              f"{report['matches_simulator']}")
        for cache in ("lru", "minio"):
            r = report[cache]
            print(f"  {cache:<6} hit rate {r['hit_rate_measured']:.3f} (simulator {r['hit_rate_predicted']:.3f}), "
                  f"bytes read {r['bytes_read_measured']:,} (simulator {r['bytes_read_predicted']:,})")
    else:
        print(f"{args.cache}: dataset {args.dataset_gb:g} GB, memory {args.memory_gb:g} GB -> hit rate "
              f"{report['hit_rate']:.3f}, stall {100 * report['stall_fraction']:.1f}% of the epoch, "
              f"{report['bytes_read'] / 1e9:.1f} GB read per epoch (bottleneck: {report['bottleneck']})")
        for other, r in report["compare"].items():
            print(f"{other}: hit rate {r['hit_rate']:.3f}, stall {100 * r['stall_fraction']:.1f}%, "
                  f"{r['bytes_read'] / 1e9:.1f} GB read")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
