"""Disaggregated-serving plots: SLO attainment against request rate (DistServe Figure 8's view),
the two pools' queues over time, the placement search's candidates, and the lecture widget."""

from __future__ import annotations

from typing import Any, Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure

from mlsys_kit.checks import positive_int
from mlsys_kit.disagg.config import DISAGG
from mlsys_kit.disagg.placement import chatbot_workload, roofline_hardware
from mlsys_kit.disagg.simulate import Link, Pool, pools_and_link, queue_lengths, simulate_colocated, simulate_disagg
from mlsys_kit.viz.figure import LIVE_DPI, PALETTE, live_image, new_figure

SYSTEM_COLORS = {"disaggregated": PALETTE["F"], "vllm": PALETTE["kv"], "chunked": PALETTE["W"]}
QUEUE_COLORS = {"prefill": PALETTE["B"], "transfer": PALETTE["BW"], "decode": PALETTE["F"]}


def draw_attainment(ax: Any, curves: Mapping[str, Sequence[tuple[float, float]]], target: float = 0.9,
                    per_device: Mapping[str, int] | None = None) -> None:
    """``curves[name]`` = [(rate, attainment)]; x is requests/s per device when ``per_device``
    gives each curve's device count."""
    for name, pts in curves.items():
        pts = sorted(pts)
        div = per_device[name] if per_device else 1
        ax.plot([r / div for r, _ in pts], [100 * a for _, a in pts], "o-", ms=3, label=name,
                color=SYSTEM_COLORS.get(name, "black"))
    ax.axhline(100 * target, color="grey", ls=":", lw=1)
    ax.set_ylim(0, 102)
    ax.set_xlabel("request rate per device (req/s)" if per_device else "request rate (req/s)")
    ax.set_ylabel("SLO attainment (%)")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="lower left")


def draw_queues(ax: Any, queues: Mapping[str, Sequence[float]]) -> None:
    """The output of :func:`~mlsys_kit.disagg.simulate.queue_lengths`."""
    for key in ("prefill", "transfer", "decode"):
        ax.plot(queues["time"], queues[key], lw=1, label=key, color=QUEUE_COLORS[key])
    ax.set_xlabel("time (s)")
    ax.set_ylabel("requests")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, loc="upper left")


def plot_attainment_vs_rate(curves: Mapping[str, Sequence[tuple[float, float]]], target: float = 0.9,
                            per_device: Mapping[str, int] | None = None, title: str = "") -> Figure:
    if not curves:
        raise ValueError("curves must hold at least one system")
    fig = new_figure(6, 4)
    draw_attainment(fig.subplots(), curves, target, per_device)
    if title:
        fig.suptitle(title)
    return fig


def plot_disagg_run(res: Any, ttft_slo: float | None, tpot_slo: float | None, title: str = "") -> Figure:
    """One run: the queues of both pools over time, and each request's TTFT against its TPOT
    with the SLO box (a request inside it met both)."""
    done = [s for s in res.seqs if s.finish_time is not None]
    if not done:
        raise ValueError("no request finished: nothing to plot")
    end = max(s.finish_time for s in done)
    fig = new_figure(11, 3.8)
    a, b = fig.subplots(1, 2)
    draw_queues(a, queue_lengths(res, np.linspace(0, end, 400)))
    ttft = [s.first_token_time - s.arrival for s in done if s.output_len > 1]
    tpot = [(s.last_token_time - s.first_token_time) / (s.output_len - 1) for s in done if s.output_len > 1]
    b.scatter(ttft, tpot, s=4, alpha=0.5, color=PALETTE["F"])
    if ttft_slo:
        b.axvline(ttft_slo, color="grey", ls=":")
    if tpot_slo:
        b.axhline(tpot_slo, color="grey", ls=":")
    b.set_xscale("log")
    b.set_yscale("log")
    b.set_xlabel("TTFT (s, includes the KV transfer)")
    b.set_ylabel("TPOT (s/token)")
    b.grid(alpha=0.3)
    if title:
        fig.suptitle(title)
    return fig


def plot_placements(search: Mapping[str, Any], title: str = "") -> Figure:
    """Goodput per device of every placement the search tried, the colocated best beside it."""
    cands = sorted(search["candidates"], key=lambda d: -d["goodput_per_device"])
    labels = [f"{d['prefill']}x tp{d['prefill_tp']} / {d['decode']}x tp{d['decode_tp']}" for d in cands]
    fig = new_figure(max(6, 0.45 * len(cands) + 2), 4)
    ax = fig.subplots()
    ax.bar(range(len(cands)), [d["goodput_per_device"] for d in cands], color=PALETTE["F"])
    if search.get("colocated"):
        c = search["colocated"]
        ax.axhline(c["goodput_per_device"], color=SYSTEM_COLORS.get(c["scheduler"], "black"), ls="--",
                   label=f"colocated {c['scheduler']} tp{c['tp']}")
        ax.legend(fontsize=7)
    ax.set_xticks(range(len(cands)), labels, rotation=60, ha="right", fontsize=7)
    ax.set_ylabel("goodput per device (req/s)")
    ax.set_xlabel("prefill instances x tp / decode instances x tp")
    ax.grid(alpha=0.3, axis="y")
    ax.set_title(title or f"placements of {search['devices']} devices")
    return fig


class _Curves:
    """Per-request TTFT and TPOT of every (system, link, rate) run, kept as arrays so that a
    new SLO is a recount, not a re-simulation. Only the arrays are kept, not the runs' Seq
    objects: the widget then leaves few objects behind for the kernel's garbage collector to
    scan during an update (no process-wide gc.freeze, issue #18)."""

    def __init__(self) -> None:
        self.runs: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}

    def add(self, key: tuple, res: Any) -> None:
        ttft = np.array([s.first_token_time - s.arrival for s in res.seqs])
        tpot = np.array([(s.last_token_time - s.first_token_time) / (s.output_len - 1) if s.output_len > 1 else 0.0
                         for s in res.seqs])
        self.runs[key] = (ttft, tpot)

    def attainment(self, key: tuple, ttft_slo: float, tpot_slo: float) -> float:
        ttft, tpot = self.runs[key]
        return float(np.mean((ttft <= ttft_slo) & (tpot <= tpot_slo)))


def disagg_explorer(requests: int = 150, seed: int = DISAGG.seed, devices: int = DISAGG.prefill + DISAGG.decode):
    """The lecture widget: SLO attainment against the rate per device for colocated vLLM and
    disaggregated serving on the same ``devices`` (default 2 prefill + 1 decode instances,
    OPT-13B roofline on A100: :data:`~mlsys_kit.disagg.config.DISAGG`), with TTFT/TPOT SLO
    sliders, the link's speed, and the two pools' queues at a chosen rate. Every run is
    simulated once up front; a slider move only recounts and redraws."""
    import ipywidgets as w

    c = DISAGG
    positive_int("requests", requests)
    if positive_int("devices", devices) <= c.decode:
        raise ValueError(f"devices must be > {c.decode} (the decode instances) to leave room for prefill: got {devices}")

    hw = roofline_hardware(c.model, c.device)
    prefill, decode, _ = pools_and_link(c.replace(prefill=devices - c.decode))
    rates = [1.0, 2.0, 3.0, 4.0, 6.0, 8.0]  # per device
    links = [5, 10, 25, 100, 400]  # Gbps
    curves = _Curves()
    queues = {}  # the 2P1D pools' queue lengths of every disaggregated run, on 200 points
    for r in rates:
        trace = chatbot_workload(requests, r * devices, seed)
        curves.add(("vllm", None, r), simulate_colocated(trace, Pool(devices), hw))
        for g in links:
            res = simulate_disagg(trace, prefill, decode, Link(g, c.link_latency), hw)
            curves.add(("disaggregated", g, r), res)
            queues[("disaggregated", g, r)] = queue_lengths(res, np.linspace(0, max(s.finish_time for s in res.seqs), 200))
    del res  # the runs themselves are not kept (see _Curves)
    style = {"description_width": "initial"}
    ttft = w.FloatSlider(value=c.ttft_slo, min=0.05, max=2.0, step=0.05, description="TTFT SLO (s)", continuous_update=False, style=style)
    tpot = w.FloatSlider(value=c.tpot_slo, min=0.02, max=0.3, step=0.01, description="TPOT SLO (s)", continuous_update=False, style=style)
    link = w.SelectionSlider(options=links, value=c.link_gbps, description="link (Gbps)", continuous_update=False, style=style)
    rate = w.SelectionSlider(options=rates, value=3.0, description="queues at req/s/device", continuous_update=False, style=style)
    image, facts = live_image(), w.HTML()
    # One figure whose axes never change (the queue panel's limits cover every precomputed run):
    # the background (axes, ticks, labels, legends) is rendered once, and an update restores it,
    # draws the five lines and encodes the PNG (blitting: no text layout in a redraw, which keeps
    # an update well under 200 ms).
    import io

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.image import imsave

    t_max = max(q["time"][-1] for q in queues.values())
    n_max = max(max(q[k]) for q in queues.values() for k in ("prefill", "transfer", "decode"))
    fig = new_figure(11, 3.6, layout=None)
    fig.set_dpi(LIVE_DPI)  # rendered at the PNG's resolution: an update encodes the buffer as it is
    canvas = FigureCanvasAgg(fig)
    ax_a, ax_q = fig.subplots(1, 2)
    fig.subplots_adjust(left=0.07, right=0.98, bottom=0.15, top=0.9, wspace=0.25)
    draw_attainment(ax_a, {"vllm": [(r, 0.0) for r in rates], "disaggregated": [(r, 0.0) for r in rates]})
    ax_a.set_xlim(0, rates[-1] + 0.5)
    ax_a.set_xlabel("request rate per device (req/s)")
    moving = list(ax_a.lines[:2])
    qlines = {}
    for key in ("prefill", "transfer", "decode"):
        (qlines[key],) = ax_q.plot([], [], lw=1, label=key, color=QUEUE_COLORS[key])
        moving.append(qlines[key])
    ax_q.set_xlim(0, t_max)
    ax_q.set_ylim(0, n_max * 1.05 + 1)
    ax_q.set_xlabel("time (s)")
    ax_q.set_ylabel("requests (2P1D)")
    ax_q.grid(alpha=0.3)
    ax_q.legend(fontsize=7, loc="upper right")
    for line in moving:
        line.set_animated(True)
    canvas.draw()
    background = canvas.copy_from_bbox(fig.bbox)

    def render() -> bytes:
        canvas.restore_region(background)
        for line in moving:
            line.axes.draw_artist(line)
        buf = io.BytesIO()
        imsave(buf, np.asarray(canvas.buffer_rgba()), format="png", dpi=fig.dpi, pil_kwargs={"compress_level": 1})
        return buf.getvalue()

    def redraw(*_):
        col = [(r, curves.attainment(("vllm", None, r), ttft.value, tpot.value)) for r in rates]
        dis = [(r, curves.attainment(("disaggregated", link.value, r), ttft.value, tpot.value)) for r in rates]
        moving[0].set_ydata([100 * a for _, a in col])
        moving[1].set_ydata([100 * a for _, a in dis])
        q = queues[("disaggregated", link.value, rate.value)]
        for key, line in qlines.items():
            line.set_data(q["time"], q[key])
        image.value = render()

        def best(pts):
            ok = [r for r, a in pts if a >= 0.9]
            return max(ok) if ok else 0.0

        facts.value = (f"goodput per device (90 % attainment, on this rate grid): colocated vLLM "
                       f"<b>{best(col):g}</b>, disaggregated 2P1D <b>{best(dis):g}</b> req/s; right: the 2P1D "
                       f"queues at {rate.value:g} req/s per device over a {link.value} Gbit/s link")

    for widget in (ttft, tpot, link, rate):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([ttft, tpot]), w.HBox([link, rate]), facts, image])


def plot_real_pair(result: Mapping[str, Any]) -> Figure:
    """The real pair's per-request timeline (``run_pair``'s ``per_request``): queued and
    prefilled on rank 0, K/V on the wire, decoding on rank 1."""
    rows = result["per_request"]
    if not rows:
        raise ValueError("the run has no requests")
    fig = new_figure(8, 0.3 * len(rows) + 1.5)
    ax = fig.subplots()
    for k, d in enumerate(rows):
        for lo, hi, color, label in ((d["arrival"], d["prefill_end"], PALETTE["B"], "queue + prefill (rank 0)"),
                                     (d["prefill_end"], d["first_token_time"], PALETTE["BW"], "KV transfer"),
                                     (d["first_token_time"], d["finish_time"], PALETTE["F"], "decode (rank 1)")):
            ax.barh(k, hi - lo, left=lo, color=color, label=label if k == 0 else None)
    ax.set_yticks(range(len(rows)), [f"req {d['rid']}" for d in rows])
    ax.invert_yaxis()
    ax.set_xlabel("time (s)")
    ax.legend(fontsize=7, loc="lower right")
    ax.set_title(f"prefill process -> decode process over gloo: {result['kv_bytes_moved_measured']} KV bytes moved, "
                 f"outputs match: {result['outputs_match_reference']}", fontsize=9)
    return fig
