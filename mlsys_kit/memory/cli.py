"""``mlsys-kit memory plan|run|offload``: a memory policy on a model's chain (peak, step time,
timeline), the real check on the tiny GPT with torch, and ZeRO-Offload's device/host split."""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, count_arg, nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.memory.chain import build_chain
from mlsys_kit.memory.checkmate import OP_POLICIES, op_policy
from mlsys_kit.memory.config import CHAIN_PRESETS, MEMORY, RUN_PRESETS
from mlsys_kit.memory.policies import POLICIES, plan
from mlsys_kit.memory.op_real import run_op_plan, trace_gpt
from mlsys_kit.memory.real import real_plan, run_plan
from mlsys_kit.memory.zero_offload import max_params_offload, offload_memory
from mlsys_kit.zero.model import max_params

_count = count_arg("13e9 or 13B")
LEVELS = ("block", "op")
DECOMPOSE = ("none", "inductor")  # --decompose at --level op: the graph traced as aot_eager or inductor sees it
_DECOMPOSE_HELP = ("op level: none (default: the AOTAutograd trace, bitwise equal to eager) or inductor (the finer "
                   "graph torch.compile's inductor partitions: its decompositions, joint passes and unclaimed nodes)")
OP_PRESETS = ("micro", "tiny", "gpt2")  # GPT presets (models.gpt) the op level traces  # --params: 13000000000, 13e9 or 13B


def register(subparsers: Any) -> None:
    C = MEMORY  # every default below comes from mlsys_kit/memory/config.py
    mem = subparsers.add_parser("memory", help="training memory: recomputation, swapping, offload (Chen 2016, "
                                               "vDNN, Checkmate, Capuchin, ZeRO-Offload)")
    sub = mem.add_subparsers(dest="memory_command", metavar="SUBCOMMAND", required=True)
    pl = sub.add_parser("plan", help="peak memory, step time and timeline of a policy on a model's layer chain")
    pl.add_argument("--level", default="block", type=arg(lambda n, v: one_of(n, v, LEVELS), str, "--level"),
                    help="block: a chain of whole blocks (default); op: the traced operator graph of a GPT "
                         f"preset ({', '.join(OP_PRESETS)}), Checkmate's integer program")
    pl.add_argument("--preset", default=C.plan_preset,
                    type=arg(lambda n, v: one_of(n, v, CHAIN_PRESETS + OP_PRESETS[:2]), str, "--preset"),
                    help=f"model: {', '.join(CHAIN_PRESETS)} (block level, default {C.plan_preset}); "
                         f"{', '.join(OP_PRESETS)} (op level; --seq defaults to 128 there)")
    pl.add_argument("--layers", type=arg(positive_int, int, "--layers"), help="override the number of blocks")
    pl.add_argument("--batch", type=arg(positive_int, int, "--batch"), default=C.plan_batch,
                    help=f"batch size (default {C.plan_batch})")
    pl.add_argument("--seq", type=arg(positive_int, int, "--seq"), help="sequence length (default: the preset's)")
    pl.add_argument("--policy", required=True, type=arg(lambda n, v: one_of(n, v, POLICIES + OP_POLICIES), str,
                                                        "--policy"),
                    help=f"block level: one of {', '.join(POLICIES)}; op level: one of {', '.join(OP_POLICIES)}")
    pl.add_argument("--budget-gb", type=arg(positive_number, float, "--budget-gb"), metavar="GB",
                    help="device memory budget in GB (1e9 bytes); needed by optimal and hybrid")
    pl.add_argument("--link-gbps", type=arg(positive_number, float, "--link-gbps"), metavar="GB/s",
                    help="device-host link in GB/s (1e9 bytes per second; PCIe 3 x16 is ~12-16); "
                         "needed by offload and hybrid")
    pl.add_argument("--k", type=arg(positive_int, int, "--k"), help="layers per segment for every-k")
    pl.add_argument("--tflops", type=arg(positive_number, float, "--tflops"),
                    help="effective TFLOP/s of the device (default: A100 at 50%%, 156; vgg16: Titan X at 70%%, 4.27)")
    pl.add_argument("--decompose", default="none", type=arg(lambda n, v: one_of(n, v, DECOMPOSE), str, "--decompose"),
                    help=_DECOMPOSE_HELP)
    pl.add_argument("--json", action="store_true", help="print one JSON object")
    pl.add_argument("--timeline", action="store_true", help="with --json: add the ops and the memory curve")
    pl.add_argument("--plot", metavar="FILE", help="write memory over the step and the timeline to FILE")
    pl.set_defaults(func=_plan)

    run = sub.add_parser("run", help="one real training step of the tiny GPT under a policy (torch): saved bytes, "
                                     "recompute count, loss and gradients against the plain step")
    run.add_argument("--level", default="block", type=arg(lambda n, v: one_of(n, v, LEVELS), str, "--level"),
                     help="block (default) or op: the step cut by torch at an operator-level plan's saved set")
    run.add_argument("--policy", required=True, type=arg(lambda n, v: one_of(n, v, POLICIES + OP_POLICIES), str,
                                                         "--policy"),
                     help=f"block level: {', '.join(POLICIES)}; op level: {', '.join(OP_POLICIES)}")
    run.add_argument("--preset", default=C.run_preset, type=arg(lambda n, v: one_of(n, v, RUN_PRESETS), str, "--preset"))
    run.add_argument("--batch", type=arg(positive_int, int, "--batch"), default=C.run_batch)
    run.add_argument("--seq", type=arg(positive_int, int, "--seq"), default=C.run_seq)
    run.add_argument("--k", type=arg(positive_int, int, "--k"), help="layers per segment for every-k")
    run.add_argument("--budget-mb", type=arg(positive_number, float, "--budget-mb"), metavar="MB",
                     help="budget in MB (1e6 bytes) for optimal/hybrid (default: 60%% of the keep-all peak)")
    run.add_argument("--link-gbps", type=arg(positive_number, float, "--link-gbps"), default=C.run_link_gbps,
                     help=f"link for offload/hybrid planning, GB/s (default {C.run_link_gbps:g})")
    run.add_argument("--device", default="cpu", type=arg(lambda n, v: one_of(n, v, ("cpu", "cuda")), str, "--device"))
    run.add_argument("--decompose", default="none", type=arg(lambda n, v: one_of(n, v, DECOMPOSE), str, "--decompose"),
                     help=_DECOMPOSE_HELP + "; inductor compares bitwise with its own keep-all step, allclose with eager")
    run.add_argument("--json", action="store_true", help="print one JSON object")
    run.add_argument("--plot", metavar="FILE", help="write measured vs predicted saved bytes to FILE")
    run.set_defaults(func=_run)

    off = sub.add_parser("offload", help="ZeRO-Offload (ATC'21): device and host bytes, largest model, step time")
    off.add_argument("--params", required=True, type=arg(positive_int, _count, "--params"))
    off.add_argument("--ranks", type=arg(positive_int, int, "--ranks"), default=C.offload_ranks)
    off.add_argument("--device-memory", type=arg(positive_number, float, "--device-memory"), default=C.offload_device_gb,
                     metavar="GB", help=f"device memory in GB (default {C.offload_device_gb:g}, the paper's V100)")
    off.add_argument("--activations-gb", type=arg(nonneg_number, float, "--activations-gb"),
                     default=C.offload_activations_gb, help=f"device GB the activations take (default {C.offload_activations_gb:g})")
    off.add_argument("--link-gbps", type=arg(positive_number, float, "--link-gbps"), default=C.offload_link_gbps)
    off.add_argument("--json", action="store_true")
    off.add_argument("--plot", metavar="FILE", help="write device/host bars to FILE")
    off.set_defaults(func=_offload)


def plan_report(args: argparse.Namespace):
    chain = build_chain(args.preset, args.batch, args.seq, args.layers, args.tflops)
    budget = args.budget_gb * 1e9 if args.budget_gb else None
    link = args.link_gbps * 1e9 if args.link_gbps else None
    return chain, plan(args.policy, chain, budget, link, args.k)


def _level_policy(args: argparse.Namespace) -> None:
    allowed = OP_POLICIES if args.level == "op" else POLICIES
    if args.policy not in allowed:
        raise ValueError(f"--policy at --level {args.level} must be one of {', '.join(allowed)}: got {args.policy!r}")


def _block_only(args: argparse.Namespace, flag: str) -> None:
    if args.decompose != "none":
        raise ValueError(f"{flag} applies to --level op only")


def _decompose(args: argparse.Namespace) -> str | None:
    return None if args.decompose == "none" else args.decompose


def _plan(args: argparse.Namespace) -> int:
    _level_policy(args)
    if args.level == "op":
        return _plan_op(args)
    one_of("--preset at --level block", args.preset, CHAIN_PRESETS)
    _block_only(args, "--decompose")
    chain, res = plan_report(args)
    d = res.to_dict(timeline=args.timeline)
    d["chain"] = {k: v for k, v in chain.to_dict().items() if k != "saved_bytes"}
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.memory.viz import step_figure

        save_figure(step_figure(res, f"{chain.name}: policy {args.policy}"), args.plot)
    if args.json:
        emit_json(d)
        return 0
    s = res.step
    print(f"{chain.name}, policy {args.policy}: plan {s.plan}")
    print(f"  peak {s.peak_bytes / 1e9:.3f} GB" + (f" (budget {res.budget_bytes / 1e9:g} GB: "
                                                  f"{'fits' if res.fits else 'does NOT fit'})" if res.budget_bytes else ""))
    print("  held at the peak: " + ", ".join(f"{k} {v / 1e9:.3f} GB" for k, v in s.peak_holders.items() if v))
    print(f"  step {s.step_time * 1e3:.2f} ms = compute {s.compute_time * 1e3:.2f} + recompute "
          f"{s.recompute_time * 1e3:.2f} + stalls {s.stall_time * 1e3:.2f} (x{d['slowdown']:.3f})")
    print(f"  recomputed {s.recompute_count} layer forwards ({s.recompute_flops / 1e12:.3g} TFLOP), "
          f"offloaded {s.offloaded_bytes / 1e9:.3f} GB")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _plan_op(args: argparse.Namespace) -> int:
    if args.preset not in OP_PRESETS:
        raise ValueError(f"--preset at --level op must be a GPT preset, one of {', '.join(OP_PRESETS)}: got {args.preset!r}")
    if args.plot or args.timeline or args.k or args.link_gbps or args.tflops:
        raise ValueError("--plot, --timeline, --k, --link-gbps and --tflops apply to --level block only")
    graph = trace_gpt(args.preset, args.batch, args.seq or 128, "meta", args.layers, decompose=_decompose(args))
    res = op_policy(args.policy, graph, args.budget_gb * 1e9 if args.budget_gb else None)
    res.pop("graph")
    d = {k: v for k, v in res.items() if k not in ("saved", "recomputed")}
    d.update(level="op", policy=args.policy, decompose=args.decompose, graph=graph.to_dict(), saved_tensors=len(res["saved"]),
             recomputed_ops=len(res["recomputed"]))
    if args.json:
        emit_json(d)
        return 0
    g = d["graph"]
    print(f"{graph.name}, operator level, policy {args.policy}: {g['ops']} ops, {g['saveable']} saveable tensors")
    print(f"  saved {d['saved_bytes'] / 1e6:.2f} MB of keep-all's {g['keep_all_saved_bytes'] / 1e6:.2f} MB "
          f"(budget {d['budget_bytes'] / 1e6:.2f} MB: {'fits' if d['fits'] else 'does NOT fit'}) in {d['saved_tensors']} tensors")
    print(f"  recomputed {d['recomputed_ops']} ops: {d['recompute_flops'] / 1e9:.4g} GFLOP, of which matmul/attention "
          f"{d['recompute_matmul_flops'] / 1e9:.4g} (one forward: {g['forward_flops'] / 1e9:.4g} GFLOP)")
    return 0


def _run(args: argparse.Namespace) -> int:
    _level_policy(args)
    if args.level == "op":
        return _run_op(args)
    _block_only(args, "--decompose")
    p, budget = real_plan(args.policy, args.preset, args.batch, args.seq, args.k, args.budget_mb, args.link_gbps)
    out = run_plan(p, args.preset, args.batch, args.seq, device=args.device)
    out.update(policy=args.policy, budget_bytes=budget)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.memory.viz import real_figure

        save_figure(real_figure([out]), args.plot)
    if args.json:
        emit_json(out)
        return 0
    print(f"tiny GPT ({args.preset}, batch {args.batch}, seq {args.seq}), policy {args.policy}: plan {p}")
    print(f"  matches the plain step: {out['matches_plain_step']} (bitwise {out['bitwise_equal']}, "
          f"max |grad diff| {out['max_abs_grad_diff']:.3g})")
    print(f"  saved bytes measured {out['saved_bytes_measured']:,}, predicted {out['saved_bytes_predicted']:,}")
    print(f"  offloaded bytes measured {out['offloaded_bytes_measured']:,}, predicted {out['offloaded_bytes_predicted']:,}")
    print(f"  recomputed blocks measured {out['recompute_count_measured']}, predicted {out['recompute_count_predicted']}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _run_op(args: argparse.Namespace) -> int:
    if args.k or args.plot:
        raise ValueError("--k and --plot apply to --level block only")
    out = run_op_plan(args.policy, args.preset, args.batch, args.seq, args.budget_mb, args.device,
                      decompose=_decompose(args))
    if args.json:
        emit_json(out)
        return 0
    print(f"tiny GPT ({args.preset}, batch {args.batch}, seq {args.seq}), operator level, policy {args.policy}"
          + (f", graph decomposed as {args.decompose}" if out["decompose"] else ""))
    print(f"  matches the plain step: {out['matches_plain_step']} (bitwise {out['bitwise_equal']}, "
          f"max |grad diff| {out['max_abs_grad_diff']:.3g}; reference: {out['reference']})")
    if out["decompose"]:
        print(f"  against eager: allclose {out['eager_allclose']}, max |grad diff| {out['eager_max_abs_grad_diff']:.3g}")
    print(f"  saved bytes measured {out['saved_bytes_measured']:,}, predicted {out['saved_bytes_predicted']:,}")
    print(f"  recomputed FLOPs measured {out['recompute_flops_measured']:,.0f}, predicted "
          f"{out['recompute_flops_predicted']:,.0f} (matmul/attention {out['recompute_matmul_flops_measured']:,.0f})")
    return 0


def _offload(args: argparse.Namespace) -> int:
    act = args.activations_gb * 1e9
    dev = args.device_memory * 1e9
    m = offload_memory(args.params, args.ranks, activation_bytes=act)
    m.update(device_memory_bytes=dev, fits=m["device_bytes"] <= dev,
             max_params_offload=max_params_offload(dev, args.ranks, act),
             max_params_zero2=max_params(max(dev - act, 1.0), args.ranks, 2),
             max_params_baseline=max_params(max(dev - act, 1.0), args.ranks, 0),
             link_time_per_step=m["link_bytes_per_step"] / (args.link_gbps * 1e9))
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.memory.viz import offload_figure

        save_figure(offload_figure(m), args.plot)
    if args.json:
        emit_json(m)
        return 0
    print(f"ZeRO-Offload, Ψ = {args.params:,}, N_d = {args.ranks}: device {m['device_bytes'] / 1e9:.3g} GB "
          f"(of {args.device_memory:g}: {'fits' if m['fits'] else 'does NOT fit'}), host {m['host_bytes'] / 1e9:.3g} GB")
    print(f"  without offload: ZeRO-2 {m['zero2_device_bytes'] / 1e9:.3g} GB, stage 0 {m['baseline_device_bytes'] / 1e9:.3g} GB")
    print(f"  largest model in {args.device_memory:g} GB: offload {m['max_params_offload'] / 1e9:.3g}B, "
          f"ZeRO-2 {m['max_params_zero2'] / 1e9:.3g}B, stage 0 {m['max_params_baseline'] / 1e9:.3g}B")
    print(f"  link: {m['link_bytes_per_step'] / 1e9:.3g} GB per step, {m['link_time_per_step']:.3g} s at {args.link_gbps:g} GB/s")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
