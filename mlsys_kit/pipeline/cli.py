"""``mlsys-kit pipeline simulate|run``: the schedule simulator and the torch.distributed runtime."""

from __future__ import annotations

import argparse

from mlsys_kit.checks import arg, nonneg_number, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.pipeline.generators import SCHEDULES, make_schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.pipeline.validate import is_valid


def register(subparsers: argparse._SubParsersAction) -> None:
    top = subparsers.add_parser("pipeline", help="pipeline-parallel schedules: simulate, or run on torch.distributed")
    sub = top.add_subparsers(dest="pipeline_command", metavar="SUBCOMMAND", required=True)

    sim = sub.add_parser("simulate", help="validate and simulate a schedule; bubble and memory metrics")
    _common(sim)
    sim.add_argument("--cost-f", type=arg(positive_number, float, "--cost-f"), default=1.0,
                     help="t_F: forward of one microbatch through one rank's share of the model, split evenly "
                          "over its chunks (default 1)")
    sim.add_argument("--cost-b", type=arg(positive_number, float, "--cost-b"), default=1.0,
                     help="t_B, backward for inputs (default 1)")
    sim.add_argument("--cost-w", type=arg(nonneg_number, float, "--cost-w"), default=1.0,
                     help="t_W, backward for weights (default 1); BW costs t_B + t_W")
    sim.add_argument("--latency", type=arg(nonneg_number, float, "--latency"), default=0.0,
                     help="point-to-point latency between ranks (default 0)")
    sim.set_defaults(func=_simulate)

    run = sub.add_parser("run", help="run the schedule on torch.distributed (gloo), check against one process")
    _common(run)
    run.add_argument("--hidden", type=arg(positive_int, int, "--hidden"), default=64, help="MLP width (default 64)")
    run.add_argument("--batch", type=arg(positive_int, int, "--batch"), default=None,
                     help="global batch size (default 4 x microbatches)")
    run.add_argument("--repeats", type=arg(positive_int, int, "--repeats"), default=3,
                     help="steps timed; the fastest is reported (default 3)")
    run.set_defaults(func=_run)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--schedule", required=True, choices=SCHEDULES)
    p.add_argument("--stages", required=True, type=arg(positive_int, int, "--stages"), help="pipeline ranks p")
    p.add_argument("--microbatches", required=True, type=arg(positive_int, int, "--microbatches"), help="m")
    p.add_argument("--chunks", type=arg(positive_int, int, "--chunks"), default=2,
                   help="model chunks per rank v for interleaved-1f1b (default 2)")
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument("--plot", metavar="FILE", help="write the Gantt chart and memory plot (.png, .svg, .pdf)")


def _simulate(args: argparse.Namespace) -> int:
    sched = make_schedule(args.schedule, args.stages, args.microbatches, args.chunks)
    res = simulate(sched, args.cost_f, args.cost_b, args.cost_w, args.latency, costs_per_rank=True)
    out = res.to_dict()
    out.update(cost_f=args.cost_f, cost_b=args.cost_b, cost_w=args.cost_w, latency=args.latency)
    out["deadlock_free_with_blocking_send"] = is_valid(sched, blocking_send=True)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.pipeline.viz import gantt_figure

        title = f"{sched.name}, p={sched.num_ranks}, m={sched.num_microbatches}: bubble {res.bubble_fraction:.3f}"
        out["plot"] = str(save_figure(gantt_figure(res.events, sched.num_ranks, title, res.memory), args.plot))
    if args.json:
        emit_json(out)
    else:
        print(f"{sched.name}: p={sched.num_ranks} m={sched.num_microbatches} v={sched.chunks}  valid")
        print(f"  makespan         {res.makespan:g}")
        print(f"  bubble_fraction  {res.bubble_fraction:.4f}   (mean idle / busy)")
        print(f"  bubble_rate      {res.bubble_rate:.4f}   (mean idle / makespan)")
        print(f"  peak_activations {', '.join(f'{x:g}' for x in res.peak_activations)}  (per rank)")
        print(f"  deadlock-free with blocking sends (no isend): {out['deadlock_free_with_blocking_send']}")
        if args.plot:
            print(f"  plot             {out['plot']}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from mlsys_kit.pipeline.runtime import RunConfig, run_spawn

    sched = make_schedule(args.schedule, args.stages, args.microbatches, args.chunks)
    cfg = RunConfig(hidden=args.hidden, batch=args.batch or 4 * args.microbatches, repeats=args.repeats)
    [res] = run_spawn([sched], cfg)
    out = res.to_dict()
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.pipeline.viz import gantt_figure

        title = f"measured {sched.name}, p={sched.num_ranks}, m={sched.num_microbatches} (gloo, CPU)"
        out["plot"] = str(save_figure(gantt_figure(res.events, sched.num_ranks, title, res.memory, "seconds"), args.plot))
    if args.json:
        emit_json(out)
    else:
        print(f"{sched.name}: p={sched.num_ranks} m={sched.num_microbatches} on torch.distributed ({res.backend})")
        print(f"  match        {res.match}   (loss and every gradient vs one process, tol {res.tolerance:g})")
        print(f"  max_diff     {res.max_diff:.3g}")
        print(f"  loss         {res.loss:.6f}")
        print(f"  step_time_s  {res.step_time_s:.4f}")
        if args.plot:
            print(f"  plot         {out['plot']}")
    return 0 if res.match else 1
