"""``mlsys-kit cluster simulate|fit``: cluster scheduling from the command line.

* ``cluster simulate --policy {fifo,srtf,tiresias,gavel,...} --jobs N --gpus G [--types v100:8,k80:8]
  [--trace FILE] [--workload philly|pai] [--load L] [--seed S] --json --plot F``: one trace-driven
  run; prints ``avg_jct``, ``p99_jct``, ``makespan``, ``utilization``, ``jobs_finished``,
  ``avg_queueing_delay``, ``avg_ftf``, ``max_ftf``, ``preemptions`` ... (:func:`~mlsys_kit.cluster.metrics.summarize`);
  ``--plot`` draws the GPUs over time coloured by job and the JCT CDF;
* ``cluster fit --json``: the tiny GPT measured on this CPU and Pollux's models fitted to it
  (:func:`mlsys_kit.cluster.fit.fit_report`).
"""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, nonneg_int, nonneg_number, positive_int, positive_number
from mlsys_kit.cluster.core import GPU_TYPES, Cluster
from mlsys_kit.cluster.metrics import summarize
from mlsys_kit.cluster.registry import POLICIES, make_policy
from mlsys_kit.cluster.simulate import simulate
from mlsys_kit.cluster.trace import read_trace
from mlsys_kit.cluster.workload import SPECS, generate
from mlsys_kit.common import emit_json


def parse_types(text: str) -> dict[str, int]:
    """``"v100:8,k80:16"`` -> ``{"v100": 8, "k80": 16}`` (types from GPU_TYPES, positive counts)."""
    out: dict[str, int] = {}
    for part in text.split(","):
        name, sep, count = part.strip().partition(":")
        if not sep or name not in GPU_TYPES or not count.isdigit() or int(count) < 1 or name in out:
            raise ValueError(f"--types must be TYPE:COUNT[,TYPE:COUNT...] with TYPE one of {', '.join(GPU_TYPES)} "
                             f"(each once) and COUNT a positive integer: got {text!r}")
        out[name] = int(count)
    return out


def cluster_from_args(args: argparse.Namespace) -> Cluster:
    counts = parse_types(args.types) if args.types else {"v100": args.gpus}
    if args.types and args.gpus_given and sum(counts.values()) != args.gpus:
        raise ValueError(f"--gpus {args.gpus} disagrees with --types {args.types} ({sum(counts.values())} GPUs)")
    return Cluster.from_counts(counts, per_machine=args.per_machine)


def _simulate(args: argparse.Namespace) -> int:
    cluster = cluster_from_args(args)
    types = cluster.gpu_types
    if args.trace:
        jobs = read_trace(args.trace, gpu_types=types)[: args.jobs]
        cap = max(cluster.gpus_per_type().values())
        too_big = [j.id for j in jobs if j.gpus > cap]
        if too_big:
            raise ValueError(f"{len(too_big)} trace jobs ask for more than {cap} GPUs of one type; "
                             "give a bigger cluster (--gpus / --types)")
    else:
        jobs = generate(args.jobs, args.workload, gpus=cluster.total_gpus, load=args.load, gpu_types=types,
                        heterogeneity=args.heterogeneity, seed=args.seed, max_size=max(cluster.gpus_per_type().values()))
    res = simulate(jobs, cluster, make_policy(args.policy), restart_cost=args.restart_cost,
                   round_length=args.round_length, spread_factor=args.spread_factor, record=bool(args.plot))
    d = summarize(res)
    d.update(workload="trace" if args.trace else args.workload, seed=args.seed, load=args.load)
    if args.plot:
        from mlsys_kit.cluster.viz import plot_run
        from mlsys_kit.viz.figure import save_figure

        save_figure(plot_run(res), args.plot)
    if args.json:
        emit_json(d)
    else:
        for k in ("policy", "jobs_finished", "avg_jct", "p99_jct", "makespan", "utilization", "avg_queueing_delay",
                  "avg_ftf", "preemptions"):
            v = d[k]
            print(f"{k:<20} {v:.4g}" if isinstance(v, float) else f"{k:<20} {v}")
    return 0


def _fit(args: argparse.Namespace) -> int:
    from mlsys_kit.cluster.fit import fit_report

    d = fit_report(seed=args.seed)
    if args.json:
        emit_json(d)
    else:
        for k, v in d.items():
            if not isinstance(v, (dict, list)):
                print(f"{k:<34} {v:.4g}" if isinstance(v, float) else f"{k:<34} {v}")
    return 0


class _Given(argparse.Action):
    """Store the value and remember that the user gave it."""

    def __call__(self, parser, namespace, values, option_string=None):
        setattr(namespace, self.dest, values)
        setattr(namespace, f"{self.dest}_given", True)


def register(sub: Any) -> Any:
    """Add ``cluster simulate|fit`` to the top-level subcommands."""
    top = sub.add_parser("cluster", help="cluster scheduling: trace-driven simulator, FIFO/SRTF/Tiresias/Gavel/Pollux")
    cmds = top.add_subparsers(dest="cluster_command", metavar="COMMAND", required=True)
    p = cmds.add_parser("simulate", help="one trace-driven scheduling run")
    p.add_argument("--policy", choices=list(POLICIES), default="fifo", help=f"{', '.join(POLICIES)} (default fifo)")
    p.add_argument("--jobs", type=arg(positive_int, int, "--jobs"), default=200, help="jobs (default 200)")
    p.add_argument("--gpus", type=arg(positive_int, int, "--gpus"), default=64, action=_Given,
                   help="V100s when --types is not given (default 64)")
    p.add_argument("--types", help=f"GPUs per type, e.g. v100:32,p100:32,k80:32 (types: {', '.join(GPU_TYPES)})")
    p.add_argument("--per-machine", type=arg(positive_int, int, "--per-machine"), default=8,
                   help="GPUs per machine (default 8)")
    p.add_argument("--trace", help="a Philly cluster_job_log, PAI pai_task_table.csv or plain CSV trace")
    p.add_argument("--workload", choices=list(SPECS), default="philly", help="generated workload (default philly)")
    p.add_argument("--load", type=arg(positive_number, float, "--load"), default=0.8,
                   help="offered load of the generated workload (default 0.8)")
    p.add_argument("--heterogeneity", type=arg(nonneg_number, float, "--heterogeneity"), default=1.0,
                   help="0..1: how much slower the older GPU types are (default 1)")
    p.add_argument("--restart-cost", type=arg(nonneg_number, float, "--restart-cost"), default=10.0,
                   help="seconds lost at each restart after a preemption (default 10)")
    p.add_argument("--round-length", type=arg(positive_number, float, "--round-length"), default=360.0,
                   help="seconds per round of a round-based policy (default 360, Gavel's)")
    p.add_argument("--spread-factor", type=arg(positive_number, float, "--spread-factor"), default=0.8,
                   help="throughput of a gang spread over more machines than needed (default 0.8)")
    p.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0)
    p.add_argument("--plot", help="write the figure (PNG/SVG/PDF)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_simulate, gpus_given=False)
    p = cmds.add_parser("fit", help="measure the tiny GPT on this CPU and fit Pollux's models (held-out error)")
    p.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0)
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.set_defaults(func=_fit)
    return cmds
