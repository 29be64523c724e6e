"""``mlsys-kit zero memory|run``: the analytic model of ZeRO (SC'20 sections 5 and 7) and the
real ZeRO-1/2/3 runtime on torch.distributed."""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, count_arg, one_of, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.zero.config import ZERO
from mlsys_kit.zero.model import STAGES, all_stages, check_fits, comm_elements_per_rank, max_params, memory_per_device

_count = count_arg("7.5e9 or 7.5B")  # --params: 7500000000, 7.5e9 or 7.5B


def register(subparsers: Any) -> None:
    zero = subparsers.add_parser("zero", help="ZeRO: memory/communication model and a real ZeRO-1/2/3 runtime")
    sub = zero.add_subparsers(dest="zero_command", metavar="SUBCOMMAND", required=True)

    mem = sub.add_parser("memory", help="per-device bytes of model states per ZeRO stage (paper section 5)")
    mem.add_argument("--params", required=True, type=arg(positive_int, _count, "--params"),
                     help="model parameters Ψ (e.g. 7.5e9 or 7.5B)")
    mem.add_argument("--ranks", required=True, type=arg(positive_int, int, "--ranks"),
                     help="data-parallel ranks N_d")
    mem.add_argument("--stage", type=arg(lambda n, v: one_of(n, v, (0, 1, 2, 3)), int, "--stage"),
                     help="one stage 0-3 (default: all four)")
    mem.add_argument("--k", type=arg(positive_number, float, "--k"), default=float(ZERO.k),
                     help=f"optimizer bytes per parameter K (default {ZERO.k:g}, mixed-precision Adam)")
    mem.add_argument("--device-memory", type=arg(positive_number, float, "--device-memory"),
                     metavar="GB", help="device memory in GB: adds the largest model that fits per stage "
                          "(with --stage: an error if the model does not fit)")
    mem.add_argument("--json", action="store_true", help="print one JSON object")
    mem.add_argument("--plot", metavar="FILE", help="write stacked bars of stages 0-3 to FILE")
    mem.set_defaults(func=_memory)

    run = sub.add_parser("run", help="train a small model with real ZeRO on torch.distributed (gloo) "
                                     "and compare with DDP + Adam")
    run.add_argument("--stage", required=True, nargs="+", type=arg(lambda n, v: one_of(n, v, (1, 2, 3)), int, "--stage"),
                     help="ZeRO stage 1, 2 or 3 (several: one launch, JSON {\"stages\": [...]})")
    run.add_argument("--ranks", required=True, type=arg(positive_int, int, "--ranks"))
    run.add_argument("--steps", type=arg(positive_int, int, "--steps"), default=ZERO.run_steps)
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--plot", metavar="FILE", help="write measured vs model bytes per rank to FILE")
    run.add_argument("--compare-peers", action="store_true",
                     help="also train torch's ZeroRedundancyOptimizer (stage 1) / FSDP2 fully_shard (stage 3) "
                          "on the same data and report the parameter difference and step time")
    run.set_defaults(func=_run)


def memory_report(params: int, ranks: int, stage: int | None, k: float,
                  device_gb: float | None = None) -> dict[str, Any]:
    """The JSON object of ``mlsys-kit zero memory`` (one stage, or ``{"stages": [...]}``)."""
    def one(s: int) -> dict[str, Any]:
        d = memory_per_device(params, ranks, s, k).to_dict()
        d.update(params=params, ranks=ranks, k=k, ring_elements_sent_per_rank=comm_elements_per_rank(params, ranks, s))
        if device_gb:
            d["device_bytes"] = device_gb * 1e9
            d["max_params_that_fit"] = max_params(device_gb * 1e9, ranks, s, k)
            d["fits"] = d["total_bytes"] <= d["device_bytes"]
        return d

    if stage is not None:
        if device_gb:  # one stage on a given device: a model that does not fit is an error
            check_fits(params, ranks, stage, device_gb * 1e9, k)
        return one(stage)
    return {"params": params, "ranks": ranks, "k": k, "stages": [one(s) for s in STAGES]}


def _memory(args: argparse.Namespace) -> int:
    report = memory_report(args.params, args.ranks, args.stage, args.k, args.device_memory)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.zero.viz import memory_figure

        dev = args.device_memory * 1e9 if args.device_memory else None
        fits = [max_params(dev, args.ranks, s, args.k) for s in range(4)] if dev else None
        fig = memory_figure(all_stages(args.params, args.ranks, args.k),
                            f"Ψ={args.params:,} params, N_d={args.ranks}, K={args.k:g}", dev, fits)
        save_figure(fig, args.plot)
    if args.json:
        emit_json(report)
        return 0
    rows = report["stages"] if "stages" in report else [report]
    print(f"Ψ = {args.params:,} parameters, N_d = {args.ranks}, K = {args.k:g} (GB = 1e9 bytes)")
    print(f"{'stage':<14}{'params GB':>11}{'grads GB':>11}{'optim GB':>11}{'total GB':>11}{'comm':>7}")
    for r in rows:
        print(f"{r['stage']} {r['paper_name']:<12}{r['params_bytes'] / 1e9:>11.4g}{r['grads_bytes'] / 1e9:>11.4g}"
              f"{r['optimizer_bytes'] / 1e9:>11.4g}{r['total_bytes'] / 1e9:>11.4g}{r['comm_volume_psi']:>6}Ψ"
              + (f"   fits up to {r['max_params_that_fit'] / 1e9:.3g}B" if "max_params_that_fit" in r else ""))
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _run(args: argparse.Namespace) -> int:
    from mlsys_kit.zero.launch import run_stages

    results = run_stages(args.stage, args.ranks, args.steps, peers=args.compare_peers)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.zero.viz import measured_figure

        rows = [{"stage": r["stage"], "measured": r["measured_bytes_per_rank"], "model": r["model_bytes_per_rank"]}
                for r in results]
        save_figure(measured_figure(rows, f"real ZeRO on {args.ranks} gloo ranks: bytes per rank"), args.plot)
    if args.json:
        emit_json(results[0] if len(results) == 1 else {"stages": results})
        return 0
    for r in results:
        print(f"ZeRO-{r['stage']} on {r['ranks']} {r['backend']} ranks, {r['steps']} Adam steps, Ψ = {r['params']:,}")
        print(f"  matches DDP + Adam: {r['matches_ddp']} (max |diff| = {r['max_abs_diff']:.3g})")
        for key in ("params_bytes", "grads_bytes", "optimizer_bytes", "total_bytes"):
            print(f"  {key:<16} measured {r['measured_bytes_per_rank'][key]:>10,}  "
                  f"model {r['model_bytes_per_rank'][key]:>10,}")
        print(f"  step time {r['step_time_s'] * 1e3:.2f} ms (DDP {r['ddp_step_time_s'] * 1e3:.2f} ms)")
        for peer in ("zero_redundancy_optimizer", "fully_shard"):
            if f"{peer}_max_abs_diff" in r:
                print(f"  {peer}: max |diff| = {r[f'{peer}_max_abs_diff']:.3g}, "
                      f"step time {r[f'{peer}_step_time_s'] * 1e3:.2f} ms")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
