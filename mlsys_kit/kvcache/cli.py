"""``mlsys-kit kvcache waste|generate``: the paged KV cache from the command line.

    mlsys-kit kvcache waste --block-size 16 --requests 1000 --json --plot waste.png
    mlsys-kit kvcache generate --preset tiny --prompts 4 --max-new-tokens 32 --json
    mlsys-kit kvcache blocks --block-size 4 --plot blocks.png
"""

from __future__ import annotations

import argparse
import time

from mlsys_kit.checks import arg, nonneg_int, positive_int
from mlsys_kit.common import emit_json
from mlsys_kit.kvcache.accounting import sharing_report, sweep_block_sizes, waste_report
from mlsys_kit.kvcache.config import KVCACHE
from mlsys_kit.kvcache.scenario import EVENTS, replay

# The handlers import what loads torch when they run: the command starts without it (tests/test_architecture.py).


def register(subparsers: argparse._SubParsersAction) -> None:
    C = KVCACHE  # every default below comes from mlsys_kit/kvcache/config.py
    p = subparsers.add_parser("kvcache", help="paged KV cache: memory waste, paged generation")
    sub = p.add_subparsers(dest="kvcache_command", metavar="SUBCOMMAND", required=True)

    w = sub.add_parser("waste", help="KV memory holding real tokens: static reservation vs paging")
    w.add_argument("--block-size", type=arg(positive_int, int, "--block-size"), default=C.block_size)
    w.add_argument("--requests", type=arg(positive_int, int, "--requests"), default=C.requests)
    w.add_argument("--max-len", type=arg(positive_int, int, "--max-len"), default=C.max_len,
                   help=f"maximum sequence length that static reservation reserves (default {C.max_len})")
    w.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=C.seed)
    w.add_argument("--samples", type=arg(positive_int, int, "--samples"), default=C.samples,
                   help=f"parallel samples per request for the fork-sharing figure (default {C.samples})")
    w.add_argument("--shared-prefix", type=arg(nonneg_int, int, "--shared-prefix"), default=C.shared_prefix,
                   help="tokens of a system prompt every request shares, for the prefix-cache figure "
                        f"(default {C.shared_prefix})")
    w.add_argument("--json", action="store_true", help="print one JSON object")
    w.add_argument("--plot", metavar="FILE", help="write the figure (png, svg, pdf)")
    w.set_defaults(func=_waste)

    b = sub.add_parser("blocks", help="the block pool after a scripted arrive/decode/fork/finish timeline")
    b.add_argument("--block-size", type=arg(positive_int, int, "--block-size"), default=C.grid_block_size)
    b.add_argument("--steps", type=arg(nonneg_int, int, "--steps"), default=None,
                   help="events to replay (default: all)")
    b.add_argument("--json", action="store_true", help="print one JSON object")
    b.add_argument("--plot", metavar="FILE", help="write the block grid (png, svg, pdf)")
    b.set_defaults(func=_blocks)

    g = sub.add_parser("generate", help="greedy generation with the paged cache vs full recomputation")
    g.add_argument("--preset", default=C.preset, help=f"model preset: tiny, micro, gpt2 (default {C.preset})")
    g.add_argument("--weights", metavar="FILE", help="Hugging Face GPT-2 weights (.safetensors or .bin) you have")
    g.add_argument("--prompts", type=arg(positive_int, int, "--prompts"), default=C.prompts)
    g.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=C.prompt_len)
    g.add_argument("--max-new-tokens", type=arg(positive_int, int, "--max-new-tokens"), default=C.max_new_tokens)
    g.add_argument("--block-size", type=arg(positive_int, int, "--block-size"), default=C.generate_block_size)
    g.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=C.seed)
    g.add_argument("--no-reference", action="store_true", help="skip the slow no-cache reference run")
    g.add_argument("--json", action="store_true", help="print one JSON object")
    g.set_defaults(func=_generate)


def _waste(args: argparse.Namespace) -> int:
    if args.shared_prefix >= args.max_len - 1:
        raise ValueError(f"--shared-prefix must be below --max-len - 1 = {args.max_len - 1}: got {args.shared_prefix}")
    report = waste_report(args.block_size, args.requests, args.max_len, args.seed)
    sweep = sweep_block_sizes(list(KVCACHE.sweep), args.requests, args.max_len, args.seed)
    report["sweep"] = [{k: r[k] for k in ("block_size", "paged_utilization", "paged_waste_slots_per_seq",
                                           "mean_table_entries")} for r in sweep]
    report["sharing"] = sharing_report(args.block_size, min(args.requests, 200), args.samples,
                                       args.shared_prefix, args.max_len, args.seed)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.kvcache.viz import waste_figure

        save_figure(waste_figure(report, sweep), args.plot)
    if args.json:
        emit_json(report)
    else:
        sh = report["sharing"]
        print(f"{report['requests']} requests (mean prompt {report['mean_prompt_len']:.0f}, "
              f"mean output {report['mean_output_len']:.0f} tokens), max_len {report['max_len']}")
        print(f"  static reservation: {100 * report['static_utilization']:.1f} % of KV memory holds tokens")
        print(f"  paged, block {report['block_size']}: {100 * report['paged_utilization']:.1f} % "
              f"({report['paged_waste_slots_per_seq']:.1f} slots wasted per sequence)")
        print(f"  fork x{sh['samples']}: {100 * sh['fork_saving']:.1f} % fewer blocks; shared prefix of "
              f"{sh['shared_prefix']}: {100 * sh['prefix_saving']:.1f} % fewer blocks")
        if args.plot:
            print(f"wrote {args.plot}")
    return 0


def _blocks(args: argparse.Namespace) -> int:
    steps = len(EVENTS) if args.steps is None else min(args.steps, len(EVENTS))
    mgr, log = replay(steps, args.block_size)
    alloc = mgr.allocator
    report = {"block_size": args.block_size, "steps": steps, "log": log, "num_blocks": alloc.num_blocks,
              "blocks_used": alloc.num_used, "blocks_shared": sum(alloc.refcount(b) > 1 for b in range(alloc.num_blocks)),
              "block_tables": {str(s): mgr.block_table(s) for s in mgr.seq_ids()},
              "prefix_cache": {"hits": mgr.prefix_cache.hits, "misses": mgr.prefix_cache.misses,
                               "evictions": mgr.prefix_cache.evictions}}
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.kvcache.viz import block_grid_figure

        save_figure(block_grid_figure(mgr, title=log[-1] if log else "empty pool"), args.plot)
    if args.json:
        emit_json(report)
    else:
        print("\n".join(log))
        print(f"{report['blocks_used']} of {report['num_blocks']} blocks used, {report['blocks_shared']} shared")
    return 0


def _generate(args: argparse.Namespace) -> int:
    import torch

    from mlsys_kit.kvcache.runner import generate_paged
    from mlsys_kit.models.gpt import GPT, preset
    from mlsys_kit.models.gpt_hf import load_hf_gpt2

    if args.weights:
        model = load_hf_gpt2(args.weights)
    else:
        model = GPT(preset(args.preset), seed=args.seed)
    cfg = model.config
    if args.prompt_len + args.max_new_tokens > cfg.n_positions:
        raise ValueError(f"--prompt-len + --max-new-tokens must be at most n_positions={cfg.n_positions}: "
                         f"got {args.prompt_len} + {args.max_new_tokens}")
    g = torch.Generator().manual_seed(args.seed)
    prompts = torch.randint(0, cfg.vocab_size, (args.prompts, args.prompt_len), generator=g).tolist()
    generate_paged(model, prompts[:1], 2, block_size=args.block_size)  # warm-up: first calls of torch kernels
    outs, stats = generate_paged(model, prompts, args.max_new_tokens, block_size=args.block_size)
    report = {"preset": "weights" if args.weights else args.preset, "parameters": model.num_parameters(),
              "prompts": args.prompts, "prompt_len": args.prompt_len, "max_new_tokens": args.max_new_tokens,
              "block_size": args.block_size, "num_blocks": stats["num_blocks"],
              "kv_bytes_per_token": cfg.kv_bytes_per_token(model.wte.weight.dtype),
              "tokens_per_s": stats["tokens_per_s"], "seconds": stats["seconds"], "outputs": outs}
    if not args.no_reference:
        t0 = time.perf_counter()
        ref = [model.generate_reference(p, args.max_new_tokens) for p in prompts]
        seconds = time.perf_counter() - t0
        report["matches_reference"] = ref == outs
        report["reference_tokens_per_s"] = args.prompts * args.max_new_tokens / seconds
    if args.json:
        emit_json(report)
    else:
        print(f"{report['preset']} ({report['parameters']:,} parameters): {args.prompts} prompts x "
              f"{args.max_new_tokens} new tokens, paged cache (block {args.block_size}): "
              f"{report['tokens_per_s']:.0f} tokens/s")
        if "matches_reference" in report:
            print(f"  no-cache reference: {report['reference_tokens_per_s']:.0f} tokens/s; "
                  f"token-identical: {report['matches_reference']}")
    return 0 if report.get("matches_reference", True) else 1
