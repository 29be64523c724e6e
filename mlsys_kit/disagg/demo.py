"""The disaggregation section of ``mlsys-kit demo``: DistServe's motivating example in the
simulator, the placement search, the link speed, Mooncake's KV pool and early rejection, and
the real prefill/decode pair on gloo."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.disagg.config import DISAGG, FIGURE1, MOONCAKE, OVERLOAD_RATE, REAL_PAIR
from mlsys_kit.disagg.mooncake import prefix_workload, simulate_mooncake
from mlsys_kit.disagg.placement import chatbot_workload, roofline_hardware, search_placement
from mlsys_kit.disagg.simulate import Link, pools_and_link, simulate_disagg, summarize_disagg
from mlsys_kit.serving.workload import LengthDist, make_workload


def section(progress: Callable[[str], None]):
    from mlsys_kit.disagg.real import run_pair
    from mlsys_kit.viz.figure import figure_png
    from mlsys_kit.disagg.viz import plot_disagg_run, plot_placements, plot_real_pair

    c, f1, mc = DISAGG, FIGURE1, MOONCAKE
    hw = roofline_hardware(c.model, c.device)
    prefill, decode, link = pools_and_link(c)
    slo = (c.ttft_slo, c.tpot_slo)
    progress(f"placement search on 3 devices, DistServe Figure 1 setting (512/64 tokens, TTFT {f1.ttft_slo:g} s, "
             f"TPOT {f1.tpot_slo:g} s)")
    wl1 = lambda r: make_workload(f1.requests, r, LengthDist("fixed", 512), LengthDist("fixed", 64), seed=f1.seed)  # noqa: E731
    search = search_placement(3, hw, pools_and_link(f1)[2], f1.ttft_slo, f1.tpot_slo, wl1, tps=(1,), colocated=("vllm",))
    progress(f"chatbot trace at {c.rate:g} req/s: {c.prefill} prefill + {c.decode} decode as the link slows")
    chat = chatbot_workload(c.search_requests, c.rate, seed=c.seed)
    links = {g: summarize_disagg(simulate_disagg(chat, prefill, decode, Link(g, c.link_latency), hw), *slo)["attainment"]
             for g in (25.0, 100.0, 400.0, None)}
    run = simulate_disagg(chatbot_workload(c.requests, c.rate, seed=c.seed), prefill, decode, link, hw)
    progress("Mooncake: shared KV pool, early rejection")
    reqs, ids = prefix_workload(mc.requests, mc.rate, prefixes=16, prefix_len=1024, seed=mc.seed)
    pool = {m: simulate_mooncake(reqs, *pools_and_link(mc), hw, mc.ttft_slo, mc.tpot_slo,
                                 prefix_ids=ids, prefix_len=1024, reuse=m)[1] for m in ("none", "pool")}
    over = chatbot_workload(c.search_requests, OVERLOAD_RATE, seed=c.seed)
    rej = {f: summarize_disagg(simulate_mooncake(over, prefill, decode, link, hw, *slo, reject=f)[0], *slo)
           for f in (False, True)}
    progress("real pair: prefill process -> decode process over gloo (tiny GPT)")
    pair = run_pair(**vars(REAL_PAIR.replace(prompt_len=64, preset="tiny")))
    best = search["best"]
    rows = [
        ("sim Fig.1 setting: best split of 3 devices (prefill+decode)", f"{best['prefill']}+{best['decode']}"),
        ("sim Fig.1 setting: goodput/device disaggregated (req/s)", best["goodput_per_device"]),
        ("sim Fig.1 setting: goodput/device colocated vLLM (req/s)", search["colocated_goodput_per_device"]),
        ("sim Fig.1 setting: disaggregated / colocated (paper 2.1x)", search["ratio"]),
        *((f"sim chatbot 6 req/s 2P1D attainment, {g:g} Gbps link", links[g]) for g in (25.0, 100.0, 400.0)),
        ("sim chatbot 6 req/s 2P1D attainment, instant link", links[None]),
        ("sim Mooncake KV pool: prompt tokens recomputed, no reuse", pool["none"]["tokens_recomputed"]),
        ("sim Mooncake KV pool: prompt tokens recomputed, shared pool", pool["pool"]["tokens_recomputed"]),
        ("sim Mooncake KV pool: prompt tokens fetched from the pool", pool["pool"]["tokens_transferred_from_pool"]),
        ("sim overload 14 req/s: attainment admitting all", rej[False]["attainment"]),
        ("sim overload 14 req/s: attainment with early rejection", rej[True]["attainment"]),
        ("real pair: outputs identical to one-process generation", pair["outputs_match_reference"]),
        ("real pair: KV bytes moved (measured)", pair["kv_bytes_moved_measured"]),
        ("real pair: KV bytes moved (predicted)", pair["kv_bytes_moved_predicted"]),
    ]
    figures = [
        Figure("Goodput per device of every placement of 3 devices, colocated vLLM dashed (DistServe Fig. 1 setting)",
               figure_png(plot_placements(search)), "mlsys-kit serve place --devices 3 --plot place.png"),
        Figure("2 prefill + 1 decode instances, chatbot trace at 6 req/s: queues of both pools; TTFT vs TPOT per request",
               figure_png(plot_disagg_run(run, *slo)),
               "mlsys-kit serve disagg --prefill 2 --decode 1 --rate 6 --plot run.png"),
        Figure("Real pair on gloo: queue + prefill (rank 0), KV transfer, decode (rank 1) per request",
               figure_png(plot_real_pair(pair)), "mlsys-kit serve disagg --real --plot pair.png"),
    ]
    pair.pop("per_request")
    return Section("disagg", "Disaggregated serving (DistServe, Mooncake)",
                   "Prefill and decode on separate instances with the KV cache moved between them: the serving "
                   "engine per pool, goodput per device, placement search, Mooncake's KV pool and early rejection, "
                   "and a real prefill/decode process pair on gloo.",
                   rows, figures, {"placement": search, "link_goodput": {str(k): v for k, v in links.items()},
                                   "kv_pool": pool, "real_pair": pair})
