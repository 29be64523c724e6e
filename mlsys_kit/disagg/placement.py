"""Goodput per device and DistServe's placement search, done exhaustively.

DistServe (Zhong et al., OSDI'24), section 2.1 defines **goodput** as the highest request rate
a system serves while at least a target fraction (90 %) of requests meet both SLOs, and compares
systems by **goodput per device** (cost). Section 4 (Algorithm 1, "high node-affinity"
placement) searches, with a simulator, the parallelism of each phase and how many instances of
each to run. Here the search is exhaustive over every split of N devices into
``instances * tp`` prefill devices and ``instances * tp`` decode devices, each candidate
measured by simulating (:mod:`mlsys_kit.disagg.simulate`) at increasing rates; the colocated
baseline gets the same devices and its own best tp.

The cost model is a roofline of the model on the device (:func:`roofline_hardware`): an
iteration reads every weight once (memory-bound part), a prefill token costs its matmul FLOPs
at a fraction ``mfu`` of peak, and each context token's K/V is read once per decode step. It
is the serving simulator's :class:`~mlsys_kit.serving.simulator.CostModel` with coefficients from
:mod:`mlsys_kit.models.costs`, not a measurement.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, Sequence

from mlsys_kit.checks import fraction, positive_int, positive_number
from mlsys_kit.disagg.config import DISAGG
from mlsys_kit.disagg.simulate import Hardware, Link, Pool, simulate_colocated, simulate_disagg, slo_attainment
from mlsys_kit.models import costs
from mlsys_kit.serving.simulator import CostModel
from mlsys_kit.serving.workload import LengthDist, Request, make_workload

# DistServe section 6.1 / Table 1 as we read it: the chatbot workload (ShareGPT) on OPT-13B
# with a 0.25 s TTFT and a 0.1 s TPOT objective, 90 % attainment (disagg/config.py's DISAGG).
CHATBOT_SLO = {"ttft": DISAGG.ttft_slo, "tpot": DISAGG.tpot_slo}
TARGET = DISAGG.target


def roofline_hardware(preset: str = DISAGG.model, device: str = DISAGG.device, mfu: float = 0.6,
                      bandwidth_util: float = 0.7, overhead: float = 0.002, memory_util: float = 0.9,
                      tp_efficiency: float = 0.9) -> Hardware:
    """A :class:`Hardware` for ``preset`` on ``device`` (see :mod:`mlsys_kit.models.costs`):
    ``a`` = weights / (bandwidth * bandwidth_util) + overhead, ``b`` = 2 * matmul params /
    (peak * mfu) per prefill token, ``c`` = the same FLOPs at peak per decode row, ``d`` = KV
    bytes per token / achieved bandwidth per context token."""
    cfg, dev = costs.preset(preset), costs.DEVICES[device] if device in costs.DEVICES else None
    if dev is None:
        raise ValueError(f"device must be one of {', '.join(costs.DEVICES)}: got {device!r}")
    positive_number("mfu", mfu)
    positive_number("bandwidth_util", bandwidth_util)
    weights = costs.param_count(cfg) * cfg.dtype_bytes
    kv = costs.kv_bytes_per_token(cfg)
    bw = dev.bandwidth * bandwidth_util
    flops = 2 * costs.matmul_params(cfg)
    cost = CostModel(a=weights / bw + overhead, b=flops / (dev.peak_flops * mfu), c=flops / dev.peak_flops,
                     d=kv / bw)
    free = dev.memory_bytes * memory_util - weights
    if free <= 0:
        free = 1.0  # the model needs tp > 1 on this device: blocks_at(1) is 0
    return Hardware(cost, kv, free, weights, 16, tp_efficiency)


def chatbot_workload(n: int, rate: float, seed: int = 0) -> list[Request]:
    """ShareGPT-like lengths (lognormal; prompts average about 750 tokens, answers about 200,
    prompt + answer within OPT's 2048) and Poisson arrivals: DistServe's chatbot setting."""
    return make_workload(n, rate, LengthDist("lognormal", 350, 4, 1536, 0.9), LengthDist("lognormal", 120, 2, 512, 1.0),
                         seed=seed)


def max_rate(attainment_at: Callable[[float], float], target: float = TARGET, start: float = 1.0,
             steps: int = 10, limit: float = 1e4) -> float:
    """The highest rate at which ``attainment_at(rate) >= target``: double from ``start`` until
    it fails, then bisect ``steps`` times (attainment assumed to fall as the rate grows).
    0.0 if even ``start / 1024`` fails."""
    fraction("target attainment", target)
    positive_number("start", start)
    lo, hi = 0.0, start
    while attainment_at(hi) >= target:
        lo, hi = hi, hi * 2
        if hi > limit:
            return lo
    if lo == 0.0:  # search downwards for a passing rate
        probe = hi / 2
        while probe > start / 1024 and attainment_at(probe) < target:
            hi, probe = probe, probe / 2
        if probe <= start / 1024:
            return 0.0
        lo = probe
    for _ in range(steps):
        mid = (lo + hi) / 2
        lo, hi = (mid, hi) if attainment_at(mid) >= target else (lo, mid)
    return lo


def tightest_slo_scale(attainment_at_scale: Callable[[float], float], target: float = TARGET) -> float:
    """The smallest factor ``s`` by which both SLOs can be multiplied with attainment still
    >= ``target`` (DistServe section 6.2's "SLO scale" axis: lower is tighter). inf if even a
    1000x looser SLO fails."""
    x = max_rate(lambda inv: attainment_at_scale(1.0 / inv), target, start=1.0, steps=10, limit=1e3)
    return 1.0 / x if x > 0 else float("inf")


def goodput_per_device(rate: float, devices: int) -> float:
    """DistServe's cost-normalised goodput: the sustained rate over the devices it takes."""
    positive_int("devices", devices)
    if rate < 0:
        raise ValueError(f"rate must be >= 0: got {rate!r}")
    return rate / devices


def disagg_goodput(prefill: Pool, decode: Pool, hw: Hardware, link: Link, ttft_slo: float, tpot_slo: float,
                   workload: Callable[[float], Sequence[Request]], target: float = TARGET) -> float:
    """Goodput per device of a disaggregated placement."""
    rate = max_rate(lambda r: slo_attainment(simulate_disagg(workload(r), prefill, decode, link, hw).seqs,
                                             ttft_slo, tpot_slo), target)
    return goodput_per_device(rate, prefill.devices + decode.devices)


def colocated_goodput(pool: Pool, hw: Hardware, ttft_slo: float, tpot_slo: float,
                      workload: Callable[[float], Sequence[Request]], target: float = TARGET) -> float:
    """Goodput per device of colocated serving."""
    rate = max_rate(lambda r: slo_attainment(simulate_colocated(workload(r), pool, hw).seqs, ttft_slo, tpot_slo),
                    target)
    return goodput_per_device(rate, pool.devices)


def placements(devices: int, tps: Sequence[int] = (1, 2, 4, 8)) -> list[tuple[int, int, int, int]]:
    """Every (prefill instances, prefill tp, decode instances, decode tp) that uses exactly
    ``devices`` devices with at least one instance of each phase."""
    positive_int("devices", devices)
    out = []
    for tp_p, tp_d in itertools.product(tps, tps):
        for n_p in range(1, devices // tp_p + 1):
            rest = devices - n_p * tp_p
            if rest >= tp_d and rest % tp_d == 0:
                out.append((n_p, tp_p, rest // tp_d, tp_d))
    return out


def search_placement(devices: int, hw: Hardware, link: Link, ttft_slo: float, tpot_slo: float,
                     workload: Callable[[float], Sequence[Request]], tps: Sequence[int] = (1, 2, 4, 8),
                     prefill_scheduler: str = "vllm", decode_scheduler: str = "continuous",
                     colocated: Sequence[str] = ("vllm", "chunked"), target: float = TARGET) -> dict[str, Any]:
    """Try every placement of :func:`placements` (skipping a tp whose instance cannot hold the
    model) and every colocated (scheduler, tp) on the same devices; return the best of each and
    every candidate's goodput per device."""
    tried = []
    for n_p, tp_p, n_d, tp_d in placements(devices, tps):
        if hw.blocks_at(tp_p) < 1 or hw.blocks_at(tp_d) < 1:
            continue
        g = disagg_goodput(Pool(n_p, tp_p, prefill_scheduler), Pool(n_d, tp_d, decode_scheduler), hw, link,
                           ttft_slo, tpot_slo, workload, target)
        tried.append({"prefill": n_p, "prefill_tp": tp_p, "decode": n_d, "decode_tp": tp_d, "goodput_per_device": g})
    if not tried:
        raise ValueError(f"no placement of {devices} devices holds the model with tp in {list(tps)}")
    base = []
    for name, tp in itertools.product(colocated, tps):
        if devices % tp or hw.blocks_at(tp) < 1:
            continue
        budget = 512 if name == "chunked" else 2048
        g = colocated_goodput(Pool(devices // tp, tp, name, token_budget=budget), hw, ttft_slo, tpot_slo, workload,
                              target)
        base.append({"scheduler": name, "tp": tp, "instances": devices // tp, "goodput_per_device": g})
    best = max(tried, key=lambda d: d["goodput_per_device"])
    best_col = max(base, key=lambda d: d["goodput_per_device"]) if base else None
    col_g = best_col["goodput_per_device"] if best_col else 0.0
    return {"devices": devices, "best": best, "goodput_per_device": best["goodput_per_device"],
            "colocated": best_col, "colocated_goodput_per_device": col_g,
            "ratio": best["goodput_per_device"] / col_g if col_g > 0 else None,
            "candidates": tried, "colocated_candidates": base}
