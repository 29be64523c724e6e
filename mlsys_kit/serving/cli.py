"""``mlsys-kit serve simulate|run|sweep|fit``: the serving engine from the command line.
Defaults come from :mod:`mlsys_kit.serving.config`; the work is done by public functions
(:func:`~mlsys_kit.serving.simulator.simulate`, :func:`~mlsys_kit.serving.simulator.sweep`)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlsys_kit.checks import arg, nonneg_int, one_of, positive_int, positive_number
from mlsys_kit.common import emit_json
from mlsys_kit.serving.config import REAL, REAL_WORKLOAD, SIMULATED, SIMULATED_WORKLOAD, ServingConfig, WorkloadConfig
from mlsys_kit.serving.engine import serve
from mlsys_kit.serving.metrics import summarize, throughput_at_latency
from mlsys_kit.serving.real import RealBackend
from mlsys_kit.serving.registry import SCHEDULERS
from mlsys_kit.serving.simulator import CostModel, fit_cost_model, simulate, sweep
from mlsys_kit.serving.workload import ARRIVALS, LENGTHS, length_dist, load_trace, make_workload


def _cost(text: str) -> CostModel:
    path = Path(text)
    if path.suffix == ".json":
        if not path.is_file():
            raise ValueError(f"cost model file {text!r} does not exist")
        d = json.loads(path.read_text())
        return CostModel(**{k: d[k] for k in "abcde" if k in d})
    parts = text.split(",")
    if len(parts) != 4:
        raise ValueError(f"--cost must be a,b,c,d (four numbers) or a .json file from 'serve fit': got {text!r}")
    return CostModel(*(float(p) for p in parts))


def _add_common(p: argparse.ArgumentParser, cfg: ServingConfig, work: WorkloadConfig) -> None:
    p.add_argument("--requests", type=arg(positive_int, int, "--requests"), default=work.requests,
                   help=f"default {work.requests}")
    p.add_argument("--rate", type=arg(positive_number, float, "--rate"), default=work.rate,
                   help=f"requests/s (default {work.rate:g})")
    p.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=work.seed)
    p.add_argument("--trace", help="JSONL trace to replay instead of a generated workload")
    p.add_argument("--arrival", choices=list(ARRIVALS), default=work.arrival)
    p.add_argument("--cv", type=arg(positive_number, float, "--cv"), default=work.cv, help="gamma burstiness (default 1)")
    p.add_argument("--lengths", choices=LENGTHS, default=work.lengths, help=f"length mix (default {work.lengths})")
    p.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=work.prompt_len,
                   help=f"median prompt (default {work.prompt_len})")
    p.add_argument("--output-len", type=arg(positive_int, int, "--output-len"), default=work.output_len,
                   help=f"median output (default {work.output_len})")
    p.add_argument("--blocks", type=arg(positive_int, int, "--blocks"), default=cfg.num_blocks,
                   help=f"KV blocks (default {cfg.num_blocks})")
    p.add_argument("--block-size", type=arg(positive_int, int, "--block-size"), default=cfg.block_size)
    p.add_argument("--max-seqs", type=arg(positive_int, int, "--max-seqs"), default=cfg.max_num_seqs,
                   help=f"default {cfg.max_num_seqs}")
    p.add_argument("--token-budget", type=arg(positive_int, int, "--token-budget"), default=cfg.token_budget,
                   help=f"tokens per iteration: chunked's budget (default {cfg.budget_for('chunked')}), "
                        f"vllm's prefill cap (default {cfg.budget_for('vllm')})")
    p.add_argument("--max-model-len", type=arg(positive_int, int, "--max-model-len"), default=cfg.max_model_len,
                   help="KV reserved per request by static/continuous (default: prompt + output)")
    p.add_argument("--swap-blocks", type=arg(nonneg_int, int, "--swap-blocks"), default=cfg.swap_blocks,
                   help="vllm/chunked: preempt by swapping to a host pool of this many blocks "
                        "(simulated: priced by the cost model; run: real K/V copies to host memory)")
    p.add_argument("--ttft-slo", type=arg(positive_number, float, "--ttft-slo"), default=cfg.ttft_slo,
                   help=f"seconds (default {cfg.ttft_slo:g})")
    p.add_argument("--tpot-slo", type=arg(positive_number, float, "--tpot-slo"), default=cfg.tpot_slo,
                   help=f"seconds (default {cfg.tpot_slo:g})")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _configs(args: argparse.Namespace) -> tuple[ServingConfig, WorkloadConfig]:
    """The engine and workload configuration the command line asks for."""
    cfg = ServingConfig(args.blocks, args.block_size, args.max_seqs, args.token_budget, args.max_model_len,
                        args.swap_blocks, args.ttft_slo, args.tpot_slo)
    work = WorkloadConfig(args.requests, args.rate, args.prompt_len, args.output_len, args.lengths,
                          args.arrival, args.cv, args.seed)
    return cfg, work


def _workload(args: argparse.Namespace, vocab: int | None = None) -> list:
    return load_trace(args.trace) if args.trace else _configs(args)[1].make(vocab)


def simulate_one(args: argparse.Namespace, name: str, reqs: list) -> dict[str, Any]:
    """`serve simulate`'s summary of one scheduler on ``reqs`` (see :func:`~mlsys_kit.serving.simulator.simulate`)."""
    cfg = _configs(args)[0]
    res = simulate(reqs, name, cfg, _cost(args.cost) if args.cost else None)
    d = summarize(res, cfg.ttft_slo, cfg.tpot_slo)
    d["wall_seconds"] = res.wall_seconds
    return d


def _print(d: dict[str, Any], as_json: bool) -> None:
    if as_json:
        emit_json(d)
        return
    for k in ("scheduler", "requests", "simulated_seconds", "throughput_tokens_per_s", "ttft_p50", "ttft_p99",
              "tpot_p50", "tpot_p99", "e2e_p50", "goodput", "slo_attainment", "preemptions", "padding_fraction",
              "outputs_match_reference"):
        if k in d:
            v = d[k]
            print(f"{k:<26} {v:.4g}" if isinstance(v, float) else f"{k:<26} {v}")


def _simulate(args: argparse.Namespace) -> int:
    d = simulate_one(args, args.scheduler, _workload(args))
    _print(d, args.json)
    return 0


def _run(args: argparse.Namespace) -> int:
    import torch

    from mlsys_kit.models.gpt import GPT

    torch.set_num_threads(args.threads)
    model = GPT(args.preset, seed=args.seed)
    reqs = _workload(args, model.config.vocab_size)
    cfg = _configs(args)[0]
    res = serve(reqs, args.scheduler, RealBackend(model, cfg.num_blocks, cfg.block_size), max_num_seqs=cfg.max_num_seqs,
                token_budget=cfg.token_budget, max_model_len=cfg.max_model_len, swap_blocks=cfg.swap_blocks)
    d = summarize(res, cfg.ttft_slo, cfg.tpot_slo)
    d["wall_seconds"] = res.wall_seconds
    d["outputs_match_reference"] = all(
        s.outputs == model.generate_reference(list(s.req.prompt), s.output_len) for s in res.seqs)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.serving.viz import plot_timeline

        save_figure(plot_timeline(res), args.plot)
    _print(d, args.json)
    return 0


def _sweep(args: argparse.Namespace) -> int:
    if args.trace:
        raise ValueError("sweep generates a workload per rate: --trace is not allowed here")
    for name in args.schedulers:
        one_of("scheduler", name, SCHEDULERS)
    cfg, work = _configs(args)
    result = sweep(args.schedulers, args.rates, work, cfg, _cost(args.cost) if args.cost else None)
    if args.plot:
        from mlsys_kit.viz.figure import save_figure
        from mlsys_kit.serving.viz import plot_latency_vs_rate

        save_figure(plot_latency_vs_rate(result, f"{args.requests} requests, simulated"), args.plot)
    out: dict[str, Any] = {"rates": args.rates, "schedulers": result}
    if args.latency_budget is not None:  # Orca's comparison: what each serves at the same latency
        out["latency_budget"] = args.latency_budget
        out["throughput_at_budget"] = {name: throughput_at_latency(rows, args.latency_budget)
                                       for name, rows in result.items()}
    if args.json:
        emit_json(out)
    else:
        for name, rows in result.items():
            for r in rows:
                print(f"{name:<11} rate {r['rate']:<7g} tokens/s {r['throughput_tokens_per_s']:<9.4g} "
                      f"ttft p50/p99 {r['ttft_p50']:.3g}/{r['ttft_p99']:.3g}  tpot p50/p99 {r['tpot_p50']:.3g}/{r['tpot_p99']:.3g}"
                      f"  e2e p50 {r['e2e_p50']:.3g}")
        for name, tp in out.get("throughput_at_budget", {}).items():
            print(f"{name:<11} tokens/s with p50 end-to-end <= {args.latency_budget:g} s: "
                  + ("none (over budget at the lowest rate)" if tp is None else f"{tp:.4g}"))
    return 0


def _fit(args: argparse.Namespace) -> int:
    import torch

    from mlsys_kit.models.gpt import GPT

    torch.set_num_threads(args.threads)
    model = GPT(args.preset, seed=0)
    records = []
    for i, name in enumerate(("chunked", "vllm", "continuous")):  # prefill-heavy, mixed and decode-heavy iterations
        reqs = make_workload(args.requests, 1000.0, length_dist("uniform", args.prompt_len),
                             length_dist("uniform", args.output_len), seed=args.seed + i, vocab_size=model.config.vocab_size)
        res = serve(reqs, name, RealBackend(model, args.blocks, 16), max_num_seqs=16, token_budget=64)
        records += [(r.prefill_tokens, r.decode_batch, r.context_tokens, r.end - r.start) for r in res.records]
    cost = fit_cost_model(records)
    d = {"a": cost.a, "b": cost.b, "c": cost.c, "d": cost.d, "iterations": len(records), "preset": args.preset}
    if args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        Path(args.out).write_text(json.dumps(d, indent=2) + "\n")
    if args.json:
        emit_json(d)
    else:
        print(f"seconds/iteration = {cost.a:.3g} + {cost.b:.3g}*prefill_tokens + {cost.c:.3g}*decode_batch "
              f"+ {cost.d:.3g}*context_tokens  ({len(records)} iterations)")
    return 0


def register(subparsers: Any) -> Any:
    """Add ``serve simulate|run|sweep|fit``; returns the ``serve`` subcommands, where
    :mod:`mlsys_kit.cli` adds disaggregation's ``serve disagg|place`` (:mod:`mlsys_kit.disagg.cli`)."""
    serve_p = subparsers.add_parser("serve", help="continuous batching: simulate, run the real engine, sweep rates")
    sub = serve_p.add_subparsers(dest="serve_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("simulate", help="simulate one scheduler on a workload (cost model)")
    p.add_argument("--scheduler", choices=list(SCHEDULERS), default="continuous")
    _add_common(p, SIMULATED, SIMULATED_WORKLOAD)
    p.add_argument("--cost", help="a,b,c,d seconds (a + b*prefill + c*decode_batch + d*context) or a JSON from 'serve fit'")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("run", help="serve a workload on the real tiny GPT with the paged KV cache")
    p.add_argument("--scheduler", choices=list(SCHEDULERS), default="continuous")
    p.add_argument("--preset", default="tiny", help="model preset (default tiny)")
    p.add_argument("--plot", help="write the per-request timeline (PNG/SVG/PDF)")
    p.add_argument("--threads", type=arg(positive_int, int, "--threads"), default=1, help="torch threads (default 1)")
    _add_common(p, REAL, REAL_WORKLOAD)
    p.set_defaults(func=_run)

    p = sub.add_parser("sweep", help="latency and throughput vs request rate for several schedulers (simulated)")
    p.add_argument("--rates", nargs="+", type=arg(positive_number, float, "--rates"), required=True)
    p.add_argument("--schedulers", nargs="+", default=["static", "continuous", "vllm", "chunked"])
    p.add_argument("--plot", help="write the latency/throughput-vs-rate figure")
    p.add_argument("--latency-budget", type=arg(positive_number, float, "--latency-budget"), default=None,
                   help="seconds: also report each scheduler's throughput with p50 end-to-end latency within it")
    p.add_argument("--cost", help="a,b,c,d or a JSON from 'serve fit'")
    _add_common(p, SIMULATED, SIMULATED_WORKLOAD)
    p.set_defaults(func=_sweep)

    p = sub.add_parser("fit", help="fit the simulator's cost model to timings of the real engine")
    p.add_argument("--preset", default="tiny")
    p.add_argument("--requests", type=arg(positive_int, int, "--requests"), default=24)
    p.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=48)
    p.add_argument("--output-len", type=arg(positive_int, int, "--output-len"), default=16)
    p.add_argument("--blocks", type=arg(positive_int, int, "--blocks"), default=512)
    p.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0)
    p.add_argument("--threads", type=arg(positive_int, int, "--threads"), default=1, help="torch threads (default 1)")
    p.add_argument("--out", help="write the coefficients as JSON (use with --cost FILE)")
    p.add_argument("--json", action="store_true")
    p.set_defaults(func=_fit)
    return sub
