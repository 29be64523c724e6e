"""``mlsys-kit serve simulate|run|sweep|fit``: the serving engine from the command line."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from mlsys_kit.checks import arg, nonneg_int, one_of, positive_int, positive_number
from mlsys_kit.serving.engine import CostModel, RealBackend, SimBackend, fit_cost_model, serve
from mlsys_kit.serving.metrics import summarize, throughput_at_latency
from mlsys_kit.serving.scheduler import SCHEDULERS
from mlsys_kit.serving.workload import LENGTHS, LengthDist, load_trace, make_workload


def length_dist(kind: str, mean: int) -> LengthDist:
    """The CLI's length mix: ``fixed`` at ``mean``, ``uniform`` on [1, 2*mean-1], or
    ``lognormal`` with median ``mean``, sigma 0.8, clipped to [1, 8*mean]."""
    one_of("lengths", kind, LENGTHS)
    positive_int("mean length", mean)
    if kind == "uniform":
        return LengthDist("uniform", mean, 1, max(2 * mean - 1, 1))
    return LengthDist(kind, mean, 1, 8 * mean, 0.8)


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


def _add_common(p: argparse.ArgumentParser, requests: int, rate: float, prompt: int, output: int,
                blocks: int, seats: int, ttft: float, tpot: float) -> None:
    p.add_argument("--requests", type=arg(positive_int, int, "--requests"), default=requests, help=f"default {requests}")
    p.add_argument("--rate", type=arg(positive_number, float, "--rate"), default=rate, help=f"requests/s (default {rate})")
    p.add_argument("--seed", type=arg(nonneg_int, int, "--seed"), default=0)
    p.add_argument("--trace", help="JSONL trace to replay instead of a generated workload")
    p.add_argument("--arrival", choices=["poisson", "gamma"], default="poisson")
    p.add_argument("--cv", type=arg(positive_number, float, "--cv"), default=1.0, help="gamma burstiness (default 1)")
    p.add_argument("--lengths", choices=LENGTHS, default="lognormal", help="length mix (default lognormal)")
    p.add_argument("--prompt-len", type=arg(positive_int, int, "--prompt-len"), default=prompt, help=f"median prompt (default {prompt})")
    p.add_argument("--output-len", type=arg(positive_int, int, "--output-len"), default=output, help=f"median output (default {output})")
    p.add_argument("--blocks", type=arg(positive_int, int, "--blocks"), default=blocks, help=f"KV blocks (default {blocks})")
    p.add_argument("--block-size", type=arg(positive_int, int, "--block-size"), default=16)
    p.add_argument("--max-seqs", type=arg(positive_int, int, "--max-seqs"), default=seats, help=f"default {seats}")
    p.add_argument("--token-budget", type=arg(positive_int, int, "--token-budget"), default=None,
                   help="tokens per iteration: chunked's budget (default 512), vllm's prefill cap (default 2048)")
    p.add_argument("--max-model-len", type=arg(positive_int, int, "--max-model-len"), default=None,
                   help="KV reserved per request by static/continuous (default: prompt + output)")
    p.add_argument("--swap-blocks", type=arg(nonneg_int, int, "--swap-blocks"), default=0,
                   help="vllm/chunked: preempt by swapping to a host pool of this many blocks "
                        "(simulated: priced by the cost model; run: real K/V copies to host memory)")
    p.add_argument("--ttft-slo", type=arg(positive_number, float, "--ttft-slo"), default=ttft, help=f"seconds (default {ttft})")
    p.add_argument("--tpot-slo", type=arg(positive_number, float, "--tpot-slo"), default=tpot, help=f"seconds (default {tpot})")
    p.add_argument("--json", action="store_true", help="print one JSON object")


def _workload(args: argparse.Namespace, vocab: int | None = None) -> list:
    if args.trace:
        return load_trace(args.trace)
    return make_workload(args.requests, args.rate, length_dist(args.lengths, args.prompt_len),
                         length_dist(args.lengths, args.output_len), args.arrival, args.cv, args.seed, vocab)


def _budget(args: argparse.Namespace, name: str) -> int:
    return args.token_budget or (512 if name == "chunked" else 2048)


def simulate_one(args: argparse.Namespace, name: str, reqs: list) -> dict[str, Any]:
    backend = SimBackend(_cost(args.cost) if args.cost else None, args.blocks, args.block_size)
    res = serve(reqs, name, backend, max_num_seqs=args.max_seqs, max_num_batched_tokens=_budget(args, name),
                max_model_len=args.max_model_len, swap_blocks=args.swap_blocks)
    d = summarize(res, args.ttft_slo, args.tpot_slo)
    d["wall_seconds"] = res.wall_seconds
    return d


def _print(d: dict[str, Any], as_json: bool) -> None:
    from mlsys_kit.common import emit_json

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
    res = serve(reqs, args.scheduler, RealBackend(model, args.blocks, args.block_size), max_num_seqs=args.max_seqs,
                max_num_batched_tokens=_budget(args, args.scheduler), max_model_len=args.max_model_len,
                swap_blocks=args.swap_blocks)
    d = summarize(res, args.ttft_slo, args.tpot_slo)
    d["wall_seconds"] = res.wall_seconds
    d["outputs_match_reference"] = all(
        s.outputs == model.generate_reference(list(s.req.prompt), s.output_len) for s in res.seqs)
    if args.plot:
        from mlsys_kit.viz import save_figure
        from mlsys_kit.viz.serving import plot_timeline

        save_figure(plot_timeline(res), args.plot)
    _print(d, args.json)
    return 0


def sweep(args: argparse.Namespace) -> dict[str, list[dict[str, Any]]]:
    """Simulate every scheduler at every rate of ``args.rates`` (same seed, same lengths)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for name in args.schedulers:
        for rate in args.rates:
            args.rate = rate
            d = simulate_one(args, name, _workload(args))
            d["rate"] = rate
            out.setdefault(name, []).append(d)
    return out


def _sweep(args: argparse.Namespace) -> int:
    from mlsys_kit.common import emit_json

    if args.trace:
        raise ValueError("sweep generates a workload per rate: --trace is not allowed here")
    for name in args.schedulers:
        one_of("scheduler", name, SCHEDULERS)
    result = sweep(args)
    if args.plot:
        from mlsys_kit.viz import save_figure
        from mlsys_kit.viz.serving import plot_latency_vs_rate

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

    from mlsys_kit.common import emit_json
    from mlsys_kit.models.gpt import GPT

    torch.set_num_threads(args.threads)
    model = GPT(args.preset, seed=0)
    records = []
    for i, name in enumerate(("chunked", "vllm", "continuous")):  # prefill-heavy, mixed and decode-heavy iterations
        reqs = make_workload(args.requests, 1000.0, length_dist("uniform", args.prompt_len),
                             length_dist("uniform", args.output_len), seed=args.seed + i, vocab_size=model.config.vocab_size)
        res = serve(reqs, name, RealBackend(model, args.blocks, 16), max_num_seqs=16, max_num_batched_tokens=64)
        records += [(r[3], r[4], r[5], r[1] - r[0]) for r in res.records]
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


def register(subparsers: Any) -> None:
    serve_p = subparsers.add_parser("serve", help="continuous batching: simulate, run the real engine, sweep rates")
    sub = serve_p.add_subparsers(dest="serve_command", metavar="SUBCOMMAND", required=True)

    p = sub.add_parser("simulate", help="simulate one scheduler on a workload (cost model)")
    p.add_argument("--scheduler", choices=list(SCHEDULERS), default="continuous")
    _add_common(p, 1000, 10.0, 128, 64, 2048, 64, 1.0, 0.1)
    p.add_argument("--cost", help="a,b,c,d seconds (a + b*prefill + c*decode_batch + d*context) or a JSON from 'serve fit'")
    p.set_defaults(func=_simulate)

    p = sub.add_parser("run", help="serve a workload on the real tiny GPT with the paged KV cache")
    p.add_argument("--scheduler", choices=list(SCHEDULERS), default="continuous")
    p.add_argument("--preset", default="tiny", help="model preset (default tiny)")
    p.add_argument("--plot", help="write the per-request timeline (PNG/SVG/PDF)")
    p.add_argument("--threads", type=arg(positive_int, int, "--threads"), default=1, help="torch threads (default 1)")
    _add_common(p, 32, 100.0, 32, 16, 256, 16, 0.5, 0.05)
    p.set_defaults(func=_run)

    p = sub.add_parser("sweep", help="latency and throughput vs request rate for several schedulers (simulated)")
    p.add_argument("--rates", nargs="+", type=arg(positive_number, float, "--rates"), required=True)
    p.add_argument("--schedulers", nargs="+", default=["static", "continuous", "vllm", "chunked"])
    p.add_argument("--plot", help="write the latency/throughput-vs-rate figure")
    p.add_argument("--latency-budget", type=arg(positive_number, float, "--latency-budget"), default=None,
                   help="seconds: also report each scheduler's throughput with p50 end-to-end latency within it")
    p.add_argument("--cost", help="a,b,c,d or a JSON from 'serve fit'")
    _add_common(p, 1000, 10.0, 128, 64, 2048, 64, 1.0, 0.1)
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
