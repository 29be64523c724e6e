"""Disaggregation's paper effects in the simulator (OPT-13B roofline on A100-80GB). Prints one
JSON object:

* ``figure1``: DistServe's motivating example (section 2.3, Figure 1: 512-token prompts,
  64-token answers, TTFT 0.4 s / TPOT 0.04 s): goodput per device of colocated serving on one
  device and of 2 prefill + 1 decode instances, and their ratio (paper: 1.6, 3.3, 2.1x);
* ``chatbot``: the chatbot setting (ShareGPT-like lengths, TTFT 0.25 s, TPOT 0.1 s): the
  exhaustive placement search on ``--devices`` devices against the best colocated engine
  (vLLM-style or chunked prefill, any tp) on the same devices: the goodput ratio (paper's
  anchor: up to 7.4x across its workloads);
* ``slo_scale``: at a fixed rate, the tightest factor on both SLOs each system keeps 90 % at
  (paper's anchor: up to 12.6x tighter);
* ``link``: 2P1D goodput per device as the KV link slows, and the speed below which it loses
  more than 5 % of the infinite-link goodput;
* ``mooncake``: tokens recomputed / reused / fetched with no reuse, per-instance prefix caches
  and the shared KV pool; attainment and SLO-met requests per second with and without early
  rejection under overload.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv=None) -> dict:
    from mlsys_kit.disagg.config import DISAGG, FIGURE1, MOONCAKE, OVERLOAD_RATE
    from mlsys_kit.disagg.simulate import (Link, Pool, pools_and_link, simulate_colocated, simulate_disagg, slo_attainment,
                                          summarize_disagg)
    from mlsys_kit.disagg.mooncake import REUSE_MODES, prefix_workload, simulate_mooncake
    from mlsys_kit.disagg.placement import (CHATBOT_SLO, chatbot_workload, colocated_goodput, disagg_goodput,
                                             roofline_hardware, search_placement, tightest_slo_scale)
    from mlsys_kit.serving.workload import LengthDist, make_workload

    p = argparse.ArgumentParser()
    p.add_argument("--requests", type=int, default=DISAGG.search_requests)
    p.add_argument("--devices", type=int, default=4)
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    hw = roofline_hardware(DISAGG.model, DISAGG.device)
    out: dict = {"requests_per_run": args.requests, "model": DISAGG.model, "device": DISAGG.device}
    P2, D1, link = pools_and_link(DISAGG)  # 2 prefill + 1 decode, 100 Gbit/s
    f_ttft, f_tpot, f_link = FIGURE1.ttft_slo, FIGURE1.tpot_slo, pools_and_link(FIGURE1)[2]

    wl1 = lambda r: make_workload(args.requests, r, LengthDist("fixed", 512), LengthDist("fixed", 64), seed=0)  # noqa: E731
    col = colocated_goodput(Pool(1), hw, f_ttft, f_tpot, wl1)
    dis = disagg_goodput(P2, D1, hw, f_link, f_ttft, f_tpot, wl1)
    out["figure1"] = {"colocated_per_device": col, "disagg_2p1d_per_device": dis, "ratio": dis / col,
                      "paper": {"colocated_per_device": 1.6, "disagg_2p1d_per_device": 3.3, "ratio": 2.1}}
    # the same setting, SLOs scaled (DistServe 6.2): at the rate 3 colocated devices just sustain
    rate1 = 3 * col
    r1 = wl1(rate1)
    rd1 = simulate_disagg(r1, P2, D1, f_link, hw)
    rc1 = simulate_colocated(r1, Pool(3), hw)
    sd1 = tightest_slo_scale(lambda s: slo_attainment(rd1.seqs, f_ttft * s, f_tpot * s))
    sc1 = tightest_slo_scale(lambda s: slo_attainment(rc1.seqs, f_ttft * s, f_tpot * s))
    out["figure1_slo_scale"] = {"rate": rate1, "disagg": sd1, "colocated": sc1, "ratio": sc1 / sd1}
    nv = Link(4800.0)  # NVLink-class, 600 GB/s: DistServe's high node-affinity case
    s1 = search_placement(args.devices, hw, nv, f_ttft, f_tpot, wl1, tps=(1, 2))
    out["figure1_search"] = {k: s1[k] for k in ("devices", "best", "goodput_per_device", "colocated",
                                                "colocated_goodput_per_device", "ratio")}

    ttft, tpot = CHATBOT_SLO["ttft"], CHATBOT_SLO["tpot"]
    wl = lambda r: chatbot_workload(args.requests, r, seed=0)  # noqa: E731
    search = search_placement(args.devices, hw, link, ttft, tpot, wl, tps=DISAGG.search_tps)
    out["chatbot"] = {k: search[k] for k in ("devices", "best", "goodput_per_device", "colocated",
                                             "colocated_goodput_per_device", "ratio")}
    out["chatbot"]["slo"] = CHATBOT_SLO
    s2 = search_placement(args.devices, hw, nv, ttft, tpot, wl, tps=DISAGG.search_tps)
    out["chatbot_nvlink"] = {k: s2[k] for k in ("best", "goodput_per_device", "colocated_goodput_per_device", "ratio")}

    b = search["best"]
    P, D = Pool(b["prefill"], b["prefill_tp"]), Pool(b["decode"], b["decode_tp"], "continuous")
    c = search["colocated"]
    C = Pool(c["instances"], c["tp"], c["scheduler"], token_budget=512 if c["scheduler"] == "chunked" else 2048)
    rate = 0.8 * c["goodput_per_device"] * args.devices  # where colocated still copes with the paper's SLOs
    reqs = wl(rate)
    rd, rc = simulate_disagg(reqs, P, D, link, hw), simulate_colocated(reqs, C, hw)
    sd = tightest_slo_scale(lambda s: slo_attainment(rd.seqs, ttft * s, tpot * s))
    sc = tightest_slo_scale(lambda s: slo_attainment(rc.seqs, ttft * s, tpot * s))
    out["slo_scale"] = {"rate": rate, "disagg": sd, "colocated": sc, "ratio": sc / sd}

    links = {}
    for g in (1, 2, 5, 10, 25, 50, 100, 200, 400, None):
        links[str(g) if g else "inf"] = disagg_goodput(P2, D1, hw, Link(g), ttft, tpot, wl)
    inf = links["inf"]
    matter = [g for g, v in links.items() if g != "inf" and v < 0.95 * inf]
    out["link"] = {"goodput_per_device_by_gbps": links,
                   "slowest_within_5pct": min((float(g) for g, v in links.items() if g != "inf" and v >= 0.95 * inf),
                                              default=None),
                   "fastest_losing_over_5pct": max((float(g) for g in matter), default=None)}

    reqs, ids = prefix_workload(args.requests * 2, MOONCAKE.rate, prefixes=16, prefix_len=1024, seed=0)
    moon = {}
    for mode in REUSE_MODES:
        res, st = simulate_mooncake(reqs, *pools_and_link(MOONCAKE), hw, MOONCAKE.ttft_slo, MOONCAKE.tpot_slo,
                                    prefix_ids=ids, prefix_len=1024, reuse=mode)
        s = summarize_disagg(res, MOONCAKE.ttft_slo, MOONCAKE.tpot_slo)
        moon[mode] = {k: st[k] for k in ("tokens_recomputed", "tokens_reused_local", "tokens_transferred_from_pool")}
        moon[mode].update(ttft_p50=s["ttft_p50"], ttft_p99=s["ttft_p99"], attainment=s["attainment"])
    over = chatbot_workload(args.requests * 2, OVERLOAD_RATE, seed=0)
    rej = {}
    for flag in (False, True):
        res, st = simulate_mooncake(over, P2, D1, link, hw, ttft, tpot, reject=flag)
        s = summarize_disagg(res, ttft, tpot)
        rej["early_rejection" if flag else "admit_all"] = {"attainment": s["attainment"], "rejected": st["rejected"],
                                                           "slo_met_per_second": s["slo_met_per_second"],
                                                           "wasted_prefill_tokens": st["wasted_prefill_tokens"]}
    out["mooncake"] = {"kv_pool": moon, "overload_rate": OVERLOAD_RATE, "rejection": rej}
    out["wall_seconds"] = time.perf_counter() - t0
    return out


if __name__ == "__main__":
    print(json.dumps(main(), indent=2))
