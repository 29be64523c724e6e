"""``mlsys-kit attention io|check``: FlashAttention's IO accounting (NeurIPS'22 section 3.2) and
the tiled forward/backward checked against torch's SDPA.

    mlsys-kit attention io --seq 1024 --head-dim 64 --sram-kb 100 --json --plot io.png
    mlsys-kit attention check --seq 256 --block 64 --json
"""

from __future__ import annotations

import argparse
from typing import Any

from mlsys_kit.checks import arg, nonneg_int, one_of, positive_int, positive_number
from mlsys_kit.common import emit_json


def register(subparsers: Any) -> None:
    att = subparsers.add_parser("attention", help="FlashAttention: bytes moved (Theorem 2) and the tiled "
                                                  "forward/backward checked against SDPA")
    sub = att.add_subparsers(dest="attention_command", metavar="SUBCOMMAND", required=True)

    io = sub.add_parser("io", help="HBM bytes of standard attention vs FlashAttention for an SRAM of M KB")
    io.add_argument("--seq", required=True, type=arg(positive_int, int, "--seq"), help="sequence length N")
    io.add_argument("--head-dim", required=True, type=arg(positive_int, int, "--head-dim"), help="head dimension d")
    io.add_argument("--sram-kb", required=True, type=arg(positive_number, float, "--sram-kb"),
                    help="on-chip memory M in KB (1024 bytes); the paper's typical M is about 100 KB")
    io.add_argument("--dtype", default="fp16", type=arg(lambda n, v: one_of(n, v, ("fp16", "bf16", "fp32")), str,
                                                        "--dtype"), help="element type of Q, K, V, O (default fp16)")
    io.add_argument("--causal", action="store_true", help="causal mask: tiles in the future are skipped")
    io.add_argument("--forward-only", action="store_true", help="count the forward pass only")
    io.add_argument("--heads", type=arg(positive_int, int, "--heads"), default=1,
                    help="batch x heads to multiply by (default 1: one head)")
    io.add_argument("--json", action="store_true", help="print one JSON object")
    io.add_argument("--plot", metavar="FILE", help="write bytes vs M and vs N to FILE")
    io.set_defaults(func=_io)

    ch = sub.add_parser("check", help="tiled forward + backward vs torch SDPA and autograd on random inputs")
    ch.add_argument("--seq", required=True, type=arg(positive_int, int, "--seq"), help="sequence length N")
    ch.add_argument("--block", required=True, type=arg(positive_int, int, "--block"), help="tile rows (Q and K/V)")
    ch.add_argument("--head-dim", type=arg(positive_int, int, "--head-dim"), default=64)
    ch.add_argument("--heads", type=arg(positive_int, int, "--heads"), default=2)
    ch.add_argument("--causal", action="store_true")
    ch.add_argument("--dtype", default="fp32", type=arg(lambda n, v: one_of(n, v, ("fp32", "bf16")), str, "--dtype"))
    ch.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0)
    ch.add_argument("--json", action="store_true", help="print one JSON object")
    ch.add_argument("--plot", metavar="FILE", help="write the tile walk of the forward (last step) to FILE")
    ch.set_defaults(func=_check)


def _io(args: argparse.Namespace) -> int:
    from mlsys_kit.attention.io import io_report

    report = io_report(args.seq, args.head_dim, args.sram_kb, args.dtype, args.causal,
                       backward=not args.forward_only, batch_heads=args.heads)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.attention.viz import io_figure

        save_figure(io_figure(args.seq, args.head_dim, args.sram_kb, args.dtype, args.causal,
                              f"HBM traffic, {args.dtype}{', causal' if args.causal else ''}"), args.plot)
    if args.json:
        emit_json(report)
        return 0
    r = report
    what = "forward" if args.forward_only else "forward + backward"
    print(f"N = {r['seq']}, d = {r['head_dim']}, M = {r['sram_kb']:g} KB = {r['sram_elements']:,} {r['dtype']} "
          f"elements, {r['batch_heads']} head(s), {what}{', causal' if r['causal'] else ''}")
    print(f"  tiles: outer loop {r['block_outer']} rows, inner loop {r['block_inner']} rows "
          f"(bytes {r['method']})")
    print(f"  standard attention   {r['standard_bytes']:>16,} bytes")
    print(f"  FlashAttention       {r['flash_bytes']:>16,} bytes")
    print(f"  ratio                {r['ratio']:>16.3g}x")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0


def _check(args: argparse.Namespace) -> int:
    from mlsys_kit.attention.check import check_against_sdpa

    r = check_against_sdpa(args.seq, args.block, args.head_dim, args.causal, args.dtype, heads=args.heads,
                           seed=args.seed)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.attention.viz import tile_walk_figure, walk_trace

        trace = walk_trace(args.seq, args.block, args.block, args.causal)
        save_figure(tile_walk_figure(args.seq, args.block, args.block, len(trace) - 1, args.causal, trace=trace),
                    args.plot)
    if args.json:
        emit_json(r)
        return 0
    print(f"tiled attention, N = {r['seq']}, d = {r['head_dim']}, tiles of {r['block']} rows, {r['dtype']}"
          f"{', causal' if r['causal'] else ''}; truth: fp64 SDPA + autograd")
    print(f"  max |error| output     {r['max_abs_error_out']:.3g} (tolerance {r['tolerance_out']:.3g}; "
          f"torch's own {r['dtype']} SDPA: {r['sdpa_max_abs_error_out']:.3g})")
    print(f"  max |error| gradients  {r['max_abs_error_grad']:.3g} (tolerance {r['tolerance_grad']:.3g})")
    print(f"  matches SDPA: {r['matches_sdpa']}")
    if args.plot:
        print(f"wrote {args.plot}")
    return 0
