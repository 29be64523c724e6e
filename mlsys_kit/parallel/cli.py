"""``mlsys-kit parallel plan|run``: the 3D-parallel planner on a described cluster, and a real
tensor-parallel run of the tiny GPT on torch.distributed (gloo) checked against one process."""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, nonneg_number, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.models.costs import DEVICES, PRESETS
from mlsys_kit.parallel.model import PAPER_MODELS, Cluster, model_config  # Cluster's fields: the one home of the defaults
from mlsys_kit.parallel.planner import plan


def register(subparsers: Any) -> None:
    top = subparsers.add_parser("parallel", help="tensor/sequence parallelism and the 3D-parallel planner")
    sub = top.add_subparsers(dest="parallel_command", metavar="SUBCOMMAND", required=True)

    pl = sub.add_parser("plan", help="the fastest (tensor, pipeline, data, microbatch, ...) plan that fits")
    pl.add_argument("--preset", required=True, choices=[*PRESETS, *PAPER_MODELS], help="model (models.costs presets "
                    "and the Megatron-LM paper's models)")
    pl.add_argument("--devices", required=True, type=arg(positive_int, int, "--devices"))
    pl.add_argument("--devices-per-node", type=arg(positive_int, int, "--devices-per-node"),
                    default=Cluster.devices_per_node)
    pl.add_argument("--global-batch", required=True, type=arg(positive_int, int, "--global-batch"),
                    help="sequences per training step")
    pl.add_argument("--device", choices=list(DEVICES), default=Cluster.device)
    pl.add_argument("--intra-bandwidth", type=arg(positive_number, float, "--intra-bandwidth"), default=Cluster.intra_bandwidth / 1e9,
                    metavar="GB/s", help=f"bytes/s one device sends inside a node (default {Cluster.intra_bandwidth / 1e9:g}, NVLink3)")
    pl.add_argument("--inter-bandwidth", type=arg(positive_number, float, "--inter-bandwidth"), default=Cluster.inter_bandwidth / 1e9,
                    metavar="GB/s", help=f"bytes/s one device sends to another node (default {Cluster.inter_bandwidth / 1e9:g}, 200 Gb/s IB)")
    pl.add_argument("--latency", type=arg(nonneg_number, float, "--latency"), default=Cluster.inter_latency * 1e6,
                    metavar="US", help=f"inter-node latency in microseconds (default {Cluster.inter_latency * 1e6:g}; intra-node is half)")
    pl.add_argument("--top", type=arg(positive_int, int, "--top"), default=5, help="plans to report (default 5)")
    pl.add_argument("--json", action="store_true", help="print one JSON object")
    pl.add_argument("--plot", metavar="FILE", help="write the (t, p) heat map and the top plans' breakdowns")
    pl.set_defaults(func=_plan)

    run = sub.add_parser("run", help="real tensor (and sequence) parallelism of the tiny GPT on gloo, "
                                     "checked against one process")
    run.add_argument("--tensor", required=True, type=arg(positive_int, int, "--tensor"),
                     help="tensor-parallel degree t (processes; must divide the 4 heads: 1, 2 or 4)")
    run.add_argument("--sequence-parallel", action="store_true", help="split LayerNorm regions along the sequence")
    run.add_argument("--recompute", action="store_true", help="recompute every block in the backward pass")
    run.add_argument("--batch", type=arg(positive_int, int, "--batch"), default=2)
    run.add_argument("--seq", type=arg(positive_int, int, "--seq"), default=16)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--plot", metavar="FILE", help="write counted vs predicted bytes and step times")
    run.set_defaults(func=_run)


def _plan(args: argparse.Namespace) -> int:
    cluster = Cluster(args.devices, args.devices_per_node, args.device, args.intra_bandwidth * 1e9,
                      args.inter_bandwidth * 1e9, args.latency * 0.5e-6, args.latency * 1e-6)
    res = plan(model_config(args.preset), cluster, args.global_batch, top=args.top)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.parallel.viz import plan_figure

        save_figure(plan_figure(res, f"{args.preset} on {args.devices} x {args.device}, global batch "
                                     f"{args.global_batch}"), args.plot)
    if args.json:
        emit_json(res)
        return 0
    print(f"{args.preset} on {args.devices} {args.device} ({args.devices_per_node} per node), global batch "
          f"{args.global_batch}: searched {res['searched']} plans, {res['valid']} can run, {res['fit']} fit "
          f"({res['planner_seconds']:.2f} s)")
    for i, p in enumerate(res["plans"], 1):
        tm = ", ".join(f"{k} {v:.3g}" for k, v in p["time"].items())
        print(f"{i}. {p['plan']}: {p['step_time']:.3g} s/step, MFU {100 * p['mfu']:.1f}%, "
              f"{p['memory_bytes'] / 1e9:.1f} GB/device\n   time (s): {tm}")
    print("why the others lost:")
    for k, v in res["lost"].items():
        print(f"  {v:>6}  {k}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from mlsys_kit.parallel.launch import run_config, run_tensor_parallel

    res = run_tensor_parallel([run_config(args.tensor, args.sequence_parallel, args.recompute,
                                          batch=args.batch, seq=args.seq)])[0]
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.parallel.viz import run_figure

        save_figure(run_figure([res], f"tensor parallelism on {args.tensor} gloo ranks"), args.plot)
    if args.json:
        emit_json(res)
        return 0
    print(f"tiny GPT, t = {res['tensor']} {res['backend']} ranks{' + sequence parallel' if res['sequence_parallel'] else ''}"
          f"{' + recompute' if res['recompute'] else ''}: loss {res['loss']:.6f} (one process {res['loss_single_process']:.6f})")
    print(f"  matches one process (loss and {res['gradients_compared']} gradients): {res['matches_single_process']} "
          f"(max |diff| {res['max_abs_diff']:.2g})")
    print(f"  bytes sent per rank: counted {res['bytes_sent_measured']:,}, model {res['bytes_sent_predicted']:,}")
    print(f"  step time {1e3 * res['step_time_s']:.2f} ms (one process {1e3 * res['single_process_step_time_s']:.2f} ms)")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
