"""Serving plots: latency and throughput against request rate per scheduler (the curves of
Orca Figure 9, vLLM Figure 12, Sarathi-Serve Figure 10), a per-request timeline, and the batch
composition and KV use over time; the lecture widget (:func:`serving_explorer`)."""

from __future__ import annotations

import gc
import math
from typing import Any, Mapping, Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

from mlsys_kit.common import ceil_div
from mlsys_kit.serving.config import CHUNKED_TOKEN_BUDGET, SIMULATED, SIMULATED_WORKLOAD
from mlsys_kit.serving.metrics import summarize
from mlsys_kit.serving.fastsim import simulate_fast
from mlsys_kit.viz.figure import (LIVE_DPI, PALETTE, blit_png, live_figure, live_image, new_figure, nice_ceiling,
                                  steady_limit)

SCHEDULER_COLORS = {"static": "#937860", "continuous": PALETTE["F"], "vllm": PALETTE["kv"], "chunked": PALETTE["W"]}
STATE_COLORS = {"queued": PALETTE["idle"], "prefill": PALETTE["B"], "decode": PALETTE["F"],
                "padding": "#c9b8a6", "preempted": PALETTE["BW"]}


def plot_latency_vs_rate(sweep: Mapping[str, Sequence[Mapping[str, Any]]], title: str = "") -> Figure:
    """``sweep[scheduler]`` is a list of :func:`~mlsys_kit.serving.metrics.summarize` dicts, each
    with a ``rate`` key. Panels: TTFT, TPOT (p50 solid, p99 dashed) and throughput vs rate."""
    if not sweep:
        raise ValueError("sweep must hold at least one scheduler")
    fig = new_figure(12, 3.6)
    axes = fig.subplots(1, 3)
    for name, rows in sweep.items():
        rows = sorted(rows, key=lambda r: r["rate"])
        rates = [r["rate"] for r in rows]
        color = SCHEDULER_COLORS.get(name, "black")
        for ax, key in ((axes[0], "ttft"), (axes[1], "tpot")):
            ax.plot(rates, [r[f"{key}_p50"] for r in rows], "o-", color=color, label=f"{name} p50")
            ax.plot(rates, [r[f"{key}_p99"] for r in rows], "s--", color=color, alpha=0.7, label=f"{name} p99")
        axes[2].plot(rates, [r["throughput_tokens_per_s"] for r in rows], "o-", color=color, label=name)
    for ax, label in zip(axes, ("TTFT (s)", "TPOT (s/token)", "throughput (output tokens/s)")):
        ax.set_xlabel("request rate (requests/s)")
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].set_yscale("log")
    axes[1].set_yscale("log")
    axes[0].legend(fontsize=7)
    axes[2].legend(fontsize=7)
    if title:
        fig.suptitle(title)
    return fig


def plot_latency_vs_throughput(curves: Mapping[str, Sequence[Mapping[str, Any]]], budget: float | None = None,
                               title: str = "", latency: str = "e2e_p50") -> Figure:
    """Latency against throughput, as Orca (section 6) compares engines: p50 end-to-end latency
    against achieved throughput, one curve per scheduler as the request rate grows
    (``curves[scheduler]`` = dicts with ``rate``, ``throughput_tokens_per_s`` and the
    ``latency`` key, ``e2e_p50`` or Orca's ``norm_latency_p50``); a dotted line marks a latency
    ``budget``."""
    if not curves:
        raise ValueError("curves must hold at least one scheduler")
    fig = new_figure(6, 4)
    ax = fig.subplots()
    for name, rows in curves.items():
        rows = sorted(rows, key=lambda r: r["rate"])
        ax.plot([r["throughput_tokens_per_s"] for r in rows], [r[latency] for r in rows], "o-",
                color=SCHEDULER_COLORS.get(name, "black"), label=name)
    if budget is not None:
        ax.axhline(budget, color="grey", ls=":", label=f"budget {budget:.3g} s")
    ax.set_yscale("log")
    ax.set_xlabel("throughput (output tokens/s)")
    ax.set_ylabel({"e2e_p50": "p50 end-to-end latency (s)",
                   "norm_latency_p50": "p50 normalized latency (s per output token)"}.get(latency, latency))
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title(title or "latency against throughput, request rate rising")
    return fig


def _intervals(seq: Any, end: float) -> list[tuple[float, float, str]]:
    out = []
    events = seq.events
    for (t0, state), (t1, _) in zip(events, events[1:] + [(end, "")]):
        if state == "finished":
            break
        out.append((t0, t1, "queued" if state == "preempted" else state))
        if state == "preempted":  # mark the preemption instant
            out.append((t0, t0 + 1e-9, "preempted"))
    return out


def plot_timeline(result: Any, max_requests: int = 40, ax_title: str = "") -> Figure:
    """One row per request: queued (grey), prefill (orange), decode (blue), padding (tan: done,
    but its static batch still computes its row and holds its response); a red tick where it
    was preempted and had to wait to be recomputed."""
    if isinstance(max_requests, bool) or not isinstance(max_requests, int) or max_requests < 1:
        raise ValueError(f"max_requests must be a positive integer: got {max_requests!r}")
    seqs = result.seqs[:max_requests]
    fig = new_figure(9, 0.18 * len(seqs) + 1.6)
    ax = fig.subplots()
    end = result.simulated_seconds
    for row, seq in enumerate(seqs):
        for t0, t1, state in _intervals(seq, seq.finish_time if seq.finish_time is not None else end):
            if state == "preempted":
                ax.plot([t0, t0], [row - 0.45, row + 0.45], color=STATE_COLORS["preempted"], lw=2)
            else:
                ax.barh(row, t1 - t0, left=t0, height=0.8, color=STATE_COLORS[state], linewidth=0)
    for state, color in STATE_COLORS.items():
        ax.barh(-10, 0, color=color, label=state)
    ax.set_ylim(len(seqs) - 0.5, -0.5)
    ax.set_xlabel("time (s)")
    ax.set_ylabel("request")
    ax.legend(fontsize=7, ncols=4, loc="lower right")
    ax.set_title(ax_title or f"{result.scheduler}: per-request timeline ({'real' if result.real else 'simulated'})")
    return fig


def plot_batch_composition(results: Sequence[Any]) -> Figure:
    """For each run: decode batch size and prefill tokens per iteration, and KV blocks in use."""
    fig = new_figure(12, 2.6 * len(results))
    axes = fig.subplots(len(results), 1, squeeze=False)[:, 0]
    for ax, res in zip(axes, results):
        t = [r.start for r in res.records]
        ax.step(t, [r.decode_batch for r in res.records], where="post", color=PALETTE["F"], label="decode batch")
        ax.step(t, [r.prefill_tokens for r in res.records], where="post", color=PALETTE["B"], alpha=0.7,
                label="prefill tokens")
        ax.set_ylabel("per iteration")
        ax.set_title(f"{res.scheduler}: batch composition and KV use", fontsize=9)
        kv = ax.twinx()
        kv.step(t, [100 * r.kv_used / max(res.num_blocks, 1) for r in res.records], where="post",
                color=PALETTE["kv"], ls=":", label="KV used (%)")
        kv.set_ylabel("KV used (%)")
        kv.set_ylim(0, 105)
        ax.legend(fontsize=7, loc="upper left")
    axes[-1].set_xlabel("time (s)")
    return fig


class ComparePanel:
    """The lecture panel: latency percentiles, throughput, and decode batch size over time, one
    colour per scheduler. Drawn once at the widget's resolution; :meth:`update` moves the bars
    and lines, and :meth:`png` redraws only them over the kept axes (:func:`blit_png`). The
    axes' limits snap to round values (whole decades for the latencies, :func:`steady_limit`
    for the rest) and stay while they hold the data with the data on at least half the axis,
    so they hold still while a slider moves and the panels compare from one move to the next."""

    KEYS = ("ttft_p50", "ttft_p99", "tpot_p50", "tpot_p99")

    def __init__(self, names: Sequence[str], dpi: int = LIVE_DPI, max_batch: int | None = None) -> None:
        if not names:
            raise ValueError("the panel needs at least one scheduler")
        self.names = list(names)
        fig = self.fig = live_figure(11, 3.4, dpi)  # fixed margins: constrained layout would double the draw time
        fig.subplots_adjust(left=0.065, right=0.99, bottom=0.14, top=0.88, wspace=0.3)
        self.ax_lat, self.ax_tp, self.ax_b = fig.subplots(1, 3, width_ratios=[1.3, 0.95, 1.5])
        width = 0.8 / len(self.names)
        self.lat_bars, self.tp_bars, self.lines = [], [], []
        for i, name in enumerate(self.names):
            color = SCHEDULER_COLORS.get(name, "black")
            self.lat_bars.append(self.ax_lat.bar([k + i * width for k in range(len(self.KEYS))], [1.0] * len(self.KEYS),
                                                 width, color=color, label=name))
            self.tp_bars.append(self.ax_tp.bar(i, 1.0, color=color)[0])
            self.lines.append(self.ax_b.step([0.0], [0], where="post", color=color, lw=1.2, label=name)[0])
        ax_lat = self.ax_lat
        ax_lat.set_xticks([k + 0.4 - width / 2 for k in range(len(self.KEYS))],
                          ["TTFT p50", "TTFT p99", "TPOT p50", "TPOT p99"])
        ax_lat.set_yscale("log")
        ax_lat.yaxis.set_minor_locator(NullLocator())  # minor log ticks cost most of the draw time
        ax_lat.yaxis.set_major_locator(LogLocator(numticks=5))
        ax_lat.yaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))  # no mathtext: 3x faster to draw
        ax_lat.set_ylabel("seconds")
        fig.legend(self.lat_bars, self.names, loc="upper center", ncols=len(self.names), frameon=False, fontsize=10)
        self.ax_tp.set_xticks(range(len(self.names)), self.names, fontsize=8.5)
        self.ax_tp.set_ylabel("output tokens/s")
        self.ax_b.set_xlabel("time (s)")
        self.ax_b.set_ylabel("decode batch size")
        for ax in (self.ax_tp, self.ax_b):
            ax.locator_params(axis="y", nbins=4)  # few ticks: tick text is most of the draw time
        self.ax_b.locator_params(axis="x", nbins=5)
        self.ax_b.set_xlim(0, 1)
        self.max_batch = max_batch  # the seats: a fixed y range for the batch size (None: from the data)

    @staticmethod
    def series(result: Any) -> tuple[list[float], list[int]]:
        """A run's decode batch size over time, at most ~400 points (what the right panel draws)."""
        recs = result.records
        step = max(1, len(recs) // 400)
        return [r.start for r in recs[::step]], [r.decode_batch for r in recs[::step]]

    def update(self, results: Mapping[str, Any], summaries: Mapping[str, Mapping[str, Any]]) -> Figure:
        """Show these runs (``results[name]`` a ServeResult, ``summaries[name]`` its summary)."""
        return self.show({name: self.series(results[name]) for name in self.names}, summaries)

    def show(self, series: Mapping[str, tuple[Sequence[float], Sequence[int]]],
             summaries: Mapping[str, Mapping[str, Any]]) -> Figure:
        """Show runs given by their summaries and :meth:`series`."""
        lat, tps, t_end, b_max = [], [], 1e-9, 1
        for name, bars, tp_bar, line in zip(self.names, self.lat_bars, self.tp_bars, self.lines):
            s = summaries[name]
            for bar, key in zip(bars, self.KEYS):
                bar.set_height(max(s[key], 1e-4))
                lat.append(max(s[key], 1e-4))
            tp_bar.set_height(s["throughput_tokens_per_s"])
            tps.append(s["throughput_tokens_per_s"])
            t, b = series[name]
            line.set_data(t, b)
            t_end, b_max = max(t_end, max(t, default=0.0)), max(b_max, max(b, default=0))
        lo, hi = self.ax_lat.get_ylim()  # whole decades, kept while they hold the bars and are at most
        need = (10.0 ** math.floor(math.log10(min(lat) / 1.5)), 10.0 ** math.ceil(math.log10(max(lat) * 1.5)))
        if not (lo <= need[0] and need[1] <= hi and hi / lo <= 100 * need[1] / need[0]):  # 2 decades wider
            self.ax_lat.set_ylim(*need)
        self.ax_tp.set_ylim(0, steady_limit(self.ax_tp.get_ylim()[1], max(max(tps), 1e-9) * 1.05))
        self.ax_b.set_xlim(0, steady_limit(self.ax_b.get_xlim()[1], t_end))
        self.ax_b.set_ylim(0, (self.max_batch or nice_ceiling(b_max)) * 1.05)
        return self.fig

    def png(self) -> bytes:
        """The panel as PNG, only its bars and lines redrawn (see :func:`blit_png`)."""
        return blit_png(self.fig, {self.ax_lat: [b for bars in self.lat_bars for b in bars],
                                   self.ax_tp: self.tp_bars, self.ax_b: self.lines})


def compare_figure(results: Mapping[str, Any], summaries: Mapping[str, Mapping[str, Any]]) -> Figure:
    """The lecture panel (see :class:`ComparePanel`) for these runs, as a new figure."""
    return ComparePanel(list(results)).update(results, summaries)


def serving_explorer(requests: int = 1000, seed: int = 0):
    """The lecture widget: request rate, length mix (median prompt and output, and their
    distribution), KV blocks and token budget; static vs
    continuous vs chunked batching re-simulated and redrawn on every change. Returns a VBox."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    work, cfg = SIMULATED_WORKLOAD, SIMULATED
    rate = w.FloatSlider(value=8.0, min=1.0, max=30.0, step=1.0, description="requests/s", continuous_update=False, style=style)
    prompt = w.IntSlider(value=work.prompt_len, min=16, max=2048, step=16, description="median prompt", continuous_update=False, style=style)
    output = w.IntSlider(value=work.output_len, min=4, max=512, step=4, description="median output", continuous_update=False, style=style)
    blocks = w.IntSlider(value=cfg.num_blocks, min=256, max=8192, step=256, description=f"KV blocks ({cfg.block_size} tokens)", continuous_update=False, style=style)
    budget = w.IntSlider(value=CHUNKED_TOKEN_BUDGET, min=64, max=4096, step=64, description="chunked token budget", continuous_update=False, style=style)
    mix = w.Dropdown(options=["lognormal", "uniform", "fixed"], value=work.lengths, description="length mix")
    image = live_image()
    facts = w.HTML()
    names = ("static", "continuous", "chunked")
    panel = ComparePanel(names, max_batch=cfg.max_num_seqs)
    # the token budget binds the chunked scheduler only: static and continuous runs are kept
    # for as long as nothing else moves (one run each, keyed by everything they depend on)
    kept: dict[str, tuple] = {}  # and "workload": (the workload, its requests)

    def redraw(*_):
        workload = work.replace(requests=requests, rate=rate.value, prompt_len=prompt.value,
                                output_len=output.value, lengths=mix.value, seed=seed)
        series, sums = {}, {}
        # The runs' thousands of objects live only inside this block, with the cyclic garbage
        # collector paused: they are freed by reference counting before any collection could
        # promote them to the old generation, so they never trigger a full collection of every
        # object in the kernel (60-100 ms, every few updates). Nothing here makes a cycle.
        was_enabled = gc.isenabled()
        gc.disable()
        try:
            if kept.get("workload", (None,))[0] != workload:  # the token budget and KV blocks keep the requests
                kept["workload"] = (workload, workload.make())
            reqs = kept["workload"][1]
            need = max(r.prompt_len + r.output_len for r in reqs)
            run = cfg.replace(num_blocks=max(blocks.value, ceil_div(need, cfg.block_size)), token_budget=budget.value)
            result = None
            for name in names:  # the simulator's fast path, equal to simulate() (tests/serving/test_serving_fastsim.py)
                key = (workload, run.num_blocks) if name != "chunked" else None
                if key is not None and name in kept and kept[name][0] == key:
                    _, series[name], sums[name] = kept[name]
                    continue
                result = simulate_fast(reqs, name, run)
                sums[name] = summarize(result, cfg.ttft_slo, cfg.tpot_slo)
                series[name] = ComparePanel.series(result)
                kept[name] = (key, series[name], sums[name])
            reqs = result = None  # the runs go now, still with the collector paused (the requests are kept)
        finally:
            if was_enabled:
                gc.enable()
        panel.show(series, sums)
        image.value = panel.png()
        facts.value = " &nbsp; ".join(
            f"<b>{n}</b>: {s['throughput_tokens_per_s']:.0f} tok/s, TTFT p99 {s['ttft_p99']:.2f} s, "
            f"TPOT p99 {1000 * s['tpot_p99']:.0f} ms, goodput {s['goodput']:.1f} req/s" for n, s in sums.items())

    for widget in (rate, prompt, output, blocks, budget, mix):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([rate, budget, mix]), w.HBox([prompt, output, blocks]), facts, image])
