"""The serving section of ``mlsys-kit demo``: the simulator's latency-vs-load curves for the four
schedulers, chunked prefill under long prompts, and the real engine on the tiny GPT."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.serving.config import REAL, SIMULATED, SIMULATED_WORKLOAD
from mlsys_kit.serving.engine import serve
from mlsys_kit.serving.metrics import summarize
from mlsys_kit.serving.real import RealBackend
from mlsys_kit.serving.simulator import SimBackend, sweep
from mlsys_kit.serving.viz import plot_batch_composition, plot_latency_vs_rate, plot_timeline
from mlsys_kit.serving.workload import LengthDist, length_dist, make_workload
from mlsys_kit.viz.figure import figure_png

RATES = [4.0, 8.0, 12.0, 16.0, 20.0]


def real_comparison(n: int = 32, rate: float = 1000.0, seed: int = 0) -> dict:
    """Static vs continuous batching on the real engine, same mixed-length workload."""
    import torch

    from mlsys_kit.models.gpt import GPT

    torch.set_num_threads(1)
    model = GPT("tiny", seed=0)
    reqs = make_workload(n, rate, length_dist("lognormal", 32), length_dist("lognormal", 16), seed=seed,
                         vocab_size=model.config.vocab_size)
    out = {}
    for name in ("static", "continuous", "vllm", "chunked"):
        res = serve(reqs, name, RealBackend(model, REAL.num_blocks, REAL.block_size), max_num_seqs=REAL.max_num_seqs,
                    token_budget=128)
        out[name] = (res, summarize(res, REAL.ttft_slo, REAL.tpot_slo))
    res = serve(reqs, "continuous", RealBackend(model, REAL.num_blocks, REAL.block_size, split_mixed=True),
                max_num_seqs=REAL.max_num_seqs)
    out["continuous_split"] = (res, summarize(res, REAL.ttft_slo, REAL.tpot_slo))
    return out


def section(progress: Callable[[str], None]) -> Section:
    progress("simulating 4 schedulers x 5 rates x 1000 requests")
    sw = sweep(["static", "continuous", "vllm", "chunked"], RATES, SIMULATED_WORKLOAD, SIMULATED)
    at16 = {name: next(r for r in rows if r["rate"] == 16.0) for name, rows in sw.items()}

    progress("long prompts: vLLM prefill-first vs Sarathi chunked prefill")
    longp = make_workload(500, 3.0, LengthDist("lognormal", 1024, 64, 4096, 1.0), LengthDist("fixed", 128), seed=2)
    lp = {n: serve(longp, n, SimBackend(num_blocks=8192), token_budget=None if n == "chunked" else 4096)
          for n in ("vllm", "chunked")}
    lps = {n: summarize(r) for n, r in lp.items()}

    progress("real engine: 32 requests on the tiny GPT (static, continuous, vllm, chunked)")
    real = real_comparison()
    st, co = real["static"][1], real["continuous"][1]
    rows = [
        ("sim @16 req/s: continuous / static tokens/s", at16["continuous"]["throughput_tokens_per_s"]
         / at16["static"]["throughput_tokens_per_s"]),
        ("sim @16 req/s: TTFT p50 static (s)", at16["static"]["ttft_p50"]),
        ("sim @16 req/s: TTFT p50 continuous (s)", at16["continuous"]["ttft_p50"]),
        ("sim long prompts: worst token gap p99 vllm (s)", lps["vllm"]["itl_max_p99"]),
        ("sim long prompts: worst token gap p99 chunked (s)", lps["chunked"]["itl_max_p99"]),
        ("sim long prompts: TPOT p99 vllm / chunked", lps["vllm"]["tpot_p99"] / lps["chunked"]["tpot_p99"]),
        ("real: continuous tokens/s", co["throughput_tokens_per_s"]),
        ("real: static tokens/s", st["throughput_tokens_per_s"]),
        ("real: continuous / static tokens/s", co["throughput_tokens_per_s"] / st["throughput_tokens_per_s"]),
        ("real: vllm / static tokens/s", real["vllm"][1]["throughput_tokens_per_s"] / st["throughput_tokens_per_s"]),
        ("real: continuous, mixed iterations as 2 passes / static tokens/s",
         real["continuous_split"][1]["throughput_tokens_per_s"] / st["throughput_tokens_per_s"]),
        ("real: static batching's rows that were padding (%)", 100 * st["padding_fraction"]),
        ("real: e2e p50 static / continuous", st["e2e_p50"] / co["e2e_p50"]),
        ("real: TTFT p50 static (s)", st["ttft_p50"]),
        ("real: TTFT p50 continuous (s)", co["ttft_p50"]),
    ]
    figures = [
        Figure("Latency and throughput vs request rate, four schedulers (simulator, 1000 requests per point)",
               figure_png(plot_latency_vs_rate(sw, "simulated, 1000 requests")),
               "mlsys-kit serve sweep --rates 4 8 12 16 20 --plot sweep.png"),
        Figure("Batch composition and KV use under long prompts: vLLM prefill-first vs chunked prefill",
               figure_png(plot_batch_composition([lp["vllm"], lp["chunked"]])),
               "mlsys-kit serve simulate --scheduler chunked --prompt-len 1024 --output-len 128 --rate 3 --json"),
        Figure("Real engine, static batching (FasterTransformer style): a request done early keeps its row, "
               "padded, until its batch's longest request ends (tiny GPT, 32 requests)",
               figure_png(plot_timeline(real["static"][0])),
               "mlsys-kit serve run --scheduler static --plot timeline.png"),
        Figure("Real engine, continuous batching: per-request timeline (tiny GPT, 32 requests)",
               figure_png(plot_timeline(real["continuous"][0])),
               "mlsys-kit serve run --scheduler continuous --plot timeline.png"),
    ]
    return Section("serving", "Continuous batching (Orca, vLLM, Sarathi-Serve)",
                   "Four schedulers behind one interface on a simulator and on the real tiny GPT with a paged KV cache.",
                   rows, figures, {"sweep": sw, "long_prompts": lps, "real": {k: v[1] for k, v in real.items()}})
