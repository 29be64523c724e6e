"""``mlsys-kit fault plan|run|reshard|check``: failures and checkpoints from the command line.

* ``fault plan --devices N --mtbf-hours H --checkpoint-gb G``: the checkpoint interval and the
  wasted fraction of time per strategy (remote storage, GEMINI's in-memory copies): ``interval_s``
  (the failure simulator's best), ``young_daly_s`` (the formula's), ``waste_fraction`` and the
  same under ``strategies``;
* ``fault run --kill-at STEP``: a real gloo run with a rank SIGKILLed and recovered from a peer's
  memory or storage (``matches_uninterrupted``, ``recovered_from``, ``recovery_bytes``);
* ``fault reshard --from t2,d2,zero1 --to t1,d4,zero3``: a universal checkpoint, resumed under
  another layout (``matches_uninterrupted``, ``checkpoint_bytes``);
* ``fault check --inject {skip-allreduce,double-scale,stale-shard}``: TrainCheck's invariants on
  a real run (``detected``, ``detected_at_step``, ``injected_at_step``).
"""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, nonneg_int, nonneg_number, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.fault.config import BUGS
from mlsys_kit.fault.plan import STRATEGIES, plan
from mlsys_kit.fault.reshard_math import Layout, parse_layout

# The handlers import what loads torch when they run: the command starts without it (tests/test_architecture.py).


def _finish(args: argparse.Namespace, result: dict[str, Any], draw: Any, lines: list[str]) -> int:
    if args.plot:
        from mlsys_kit.viz.figure import save_figure

        save_figure(draw(result), args.plot)
    if args.json:
        emit_json(result)
    else:
        print("\n".join(lines))
        if args.plot:
            print(f"wrote {args.plot}")
    return 0


def _layout(text: str) -> Layout:
    """The layout, checked before any process starts (a t that does not divide the MLP's widths)."""
    from mlsys_kit.fault.layout_run import specs

    lay = parse_layout(text)
    for s in specs():
        s.local_numel(lay.t)
    return lay


def _plan(args: argparse.Namespace) -> int:
    from mlsys_kit.fault import viz

    res = plan(args.devices, args.mtbf_hours, args.checkpoint_gb, args.storage_gbps, args.network_gbps,
               args.restart_s, args.replicas, args.strategy, args.seed)
    lines = [f"{args.devices} devices, MTBF {args.mtbf_hours:g} h each: the job fails every {res['job_mtbf_s'] / 3600:.3g} h"]
    for name, s in res["strategies"].items():
        lines.append(f"  {name:<9}  checkpoint {s['checkpoint_s']:.3g} s, restart {s['restart_s']:.3g} s: every "
                     f"{s['interval_s']:.4g} s (Young/Daly {s['young_daly_s']:.4g} s), waste {100 * s['waste_fraction']:.2f} %")
    return _finish(args, res, viz.plot_plan, lines)


def _run(args: argparse.Namespace) -> int:
    from mlsys_kit.fault import viz
    from mlsys_kit.fault.recover import run_with_failure

    res = run_with_failure(args.kill_at, _layout(args.layout), args.steps, args.kill_rank, args.lose, args.storage_every, args.seed)
    lines = [f"rank {res['killed']['rank']} killed ({res['killed']['signal']}) at step {args.kill_at}; recovered from "
             f"{res['recovered_from']} at step {res['restart_step']} ({res['recovery_bytes']} bytes, "
             f"{res['recovery_s']:.2f} s); matches_uninterrupted: {res['matches_uninterrupted']}"]
    return _finish(args, res, viz.plot_recovery, lines)


def _reshard(args: argparse.Namespace) -> int:
    from mlsys_kit.fault import viz
    from mlsys_kit.fault.reshard_real import reshard_run

    res = reshard_run(args.from_layout, args.to_layout, args.save_at, args.steps, args.seed)
    lines = [f"{res['from']} -> {res['to']} at step {args.save_at}: max |loss diff| {res['max_abs_loss_diff']:.3g} "
             f"(matches_uninterrupted: {res['matches_uninterrupted']}; same layout bitwise: {res['same_layout_bitwise']}); "
             f"checkpoint {res['checkpoint_bytes']} bytes (= model: {res['bytes_equal_model']})"]
    return _finish(args, res, viz.plot_reshard, lines)


def _check(args: argparse.Namespace) -> int:
    from mlsys_kit.fault import viz
    from mlsys_kit.fault.traincheck import run_check

    res = run_check(args.inject, args.at_step, args.steps, args.ranks, seed=args.seed)
    lines = [f"{args.inject} injected at step {res['injected_at_step']}: detected {res['detected']} at step "
             f"{res['detected_at_step']} ({', '.join(res['broken']) or 'no invariant broken'})"]
    return _finish(args, res, viz.plot_check, lines)


def register(sub: Any) -> Any:
    p = sub.add_parser("fault", help="failures and checkpoints: Young/Daly, GEMINI, universal checkpoints, "
                                      "recovery, TrainCheck")
    cmds = p.add_subparsers(dest="fault_command", metavar="SUBCOMMAND", required=True)

    def common(q: argparse.ArgumentParser) -> None:
        q.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0)
        q.add_argument("--json", action="store_true", help="print one JSON object")
        q.add_argument("--plot", metavar="FILE", help="write the figure (PNG, or any extension matplotlib saves)")

    q = cmds.add_parser("plan", help="checkpoint interval and wasted time per strategy")
    q.add_argument("--devices", type=arg(positive_int, int, "--devices"), required=True)
    q.add_argument("--mtbf-hours", type=arg(positive_number, float, "--mtbf-hours"), required=True, help="per device")
    q.add_argument("--checkpoint-gb", type=arg(positive_number, float, "--checkpoint-gb"), required=True)
    q.add_argument("--storage-gbps", type=arg(positive_number, float, "--storage-gbps"), default=20.0)
    q.add_argument("--network-gbps", type=arg(positive_number, float, "--network-gbps"), default=400.0)
    q.add_argument("--restart-s", type=arg(nonneg_number, float, "--restart-s"), default=60.0)
    q.add_argument("--replicas", type=arg(positive_int, int, "--replicas"), default=2)
    q.add_argument("--strategy", choices=STRATEGIES, default="remote", help="whose figures the top-level keys give")
    common(q)
    q.set_defaults(func=_plan)

    q = cmds.add_parser("run", help="kill a rank of a real gloo run and recover it")
    q.add_argument("--kill-at", type=arg(positive_int, int, "--kill-at"), required=True)
    q.add_argument("--layout", default="t1,d2,zero1", help="t<T>,d<D>,zero<S> (default t1,d2,zero1)")
    q.add_argument("--steps", type=arg(positive_int, int, "--steps"), default=6)
    q.add_argument("--kill-rank", type=int, default=1)
    q.add_argument("--lose", type=int, nargs="*", default=[], metavar="MACHINE",
                   help="more machines whose memory is lost too (all holders lost: storage)")
    q.add_argument("--storage-every", type=arg(positive_int, int, "--storage-every"), default=2)
    common(q)
    q.set_defaults(func=_run)

    q = cmds.add_parser("reshard", help="universal checkpoint: save under one layout, resume under another")
    q.add_argument("--from", dest="from_layout", required=True, help="t<T>,d<D>,zero<S>, e.g. t2,d2,zero1")
    q.add_argument("--to", dest="to_layout", required=True, help="t<T>,d<D>,zero<S>, e.g. t1,d4,zero3")
    q.add_argument("--save-at", type=arg(positive_int, int, "--save-at"), default=3)
    q.add_argument("--steps", type=arg(positive_int, int, "--steps"), default=6)
    common(q)
    q.set_defaults(func=_reshard)

    q = cmds.add_parser("check", help="TrainCheck's invariants on a real run with a silent bug injected")
    q.add_argument("--inject", choices=BUGS[1:], required=True)
    q.add_argument("--at-step", type=int, default=3)
    q.add_argument("--steps", type=arg(positive_int, int, "--steps"), default=6)
    q.add_argument("--ranks", type=arg(positive_int, int, "--ranks"), default=2)
    common(q)
    q.set_defaults(func=_check)
    return cmds
