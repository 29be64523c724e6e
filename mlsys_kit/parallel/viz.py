"""Pictures of 3D parallelism: the (t, p) heat map of the planner's best step time with the
cells where nothing fits in memory marked, the chosen plan's time and memory breakdowns,
and the real tensor-parallel run's counted bytes beside the model's."""

from __future__ import annotations

import math
from typing import Any, Sequence

import numpy as np
from matplotlib.figure import Figure

from mlsys_kit.parallel.model import Cluster, model_config
from mlsys_kit.parallel.planner import plan
from mlsys_kit.viz.figure import LIVE_DPI, PALETTE, blit_png, live_figure, live_image, new_figure

TIME_PARTS = (("compute", "compute", "F"), ("tensor_comm", "tensor-parallel comm", "B"),
              ("bubble", "pipeline bubble", "idle"), ("pipeline_p2p", "pipeline send/recv", "W"),
              ("data_comm", "data-parallel comm", "BW"))
MEMORY_PARTS = (("weights", "weights"), ("gradients", "grads"), ("optimizer", "optimizer"),
                ("activations", "activations"), ("logits", "kv"))


def _grid(heatmap: dict[str, Any]) -> tuple[list[int], list[int], np.ndarray]:
    keys = [tuple(int(x) for x in k.split("x")) for k in heatmap]
    ts, ps = sorted({t for t, _ in keys}), sorted({p for _, p in keys})
    grid = np.full((len(ps), len(ts)), np.nan)
    for (t, p), v in zip(keys, heatmap.values()):
        grid[ps.index(p), ts.index(t)] = np.inf if v is None else v
    return ts, ps, grid


def _cells(result: dict[str, Any]):
    """(t degrees, p degrees, best time per cell (inf: nothing fits), the cells shown (nan where
    no plan can run or fits), the colour range)."""
    ts, ps, grid = _grid(result["heatmap"])
    finite = grid[np.isfinite(grid)]
    vmin, vmax = (float(finite.min()), float(finite.max())) if finite.size else (0.0, 1.0)
    return ts, ps, grid, np.where(np.isfinite(grid), grid, np.nan), vmin, vmax


def _heatmap_labels(ax) -> None:
    ax.set_xlabel("tensor-parallel degree t")
    ax.set_ylabel("pipeline stages p")
    ax.set_title("best step time (s) per (t, p); OOM: nothing fits", fontsize=9)


def draw_heatmap(ax, result: dict[str, Any], labels: bool = True) -> None:
    """The planner's best step time per (t, p) on ``ax``; hatched cells: no plan fits in memory;
    blank cells: no plan can run there; the chosen plan is circled."""
    ts, ps, grid, shown, vmin, vmax = _cells(result)
    from matplotlib.colors import LogNorm

    ax.imshow(shown, origin="lower", cmap="viridis_r", aspect="auto",
              norm=LogNorm(vmin=vmin, vmax=max(vmax, vmin * 1.0001)))
    for i in range(len(ps)):
        for j in range(len(ts)):
            v = grid[i, j]
            if np.isinf(v):
                ax.add_patch(_hatch(j, i))
                if labels:
                    ax.text(j, i, "OOM", ha="center", va="center", fontsize=7, color="#933")
            elif np.isfinite(v) and labels:
                ax.text(j, i, f"{v:.3g}", ha="center", va="center", fontsize=7,
                        color="white" if v > math.sqrt(vmin * vmax) else "black")
    best = result["plans"][0]
    ax.scatter([ts.index(best["tensor"])], [ps.index(best["pipeline"])], s=420, facecolors="none",
               edgecolors="red", linewidths=2)
    ax.set_xticks(range(len(ts)), [str(t) for t in ts])
    ax.set_yticks(range(len(ps)), [str(p) for p in ps])
    _heatmap_labels(ax)


class LiveHeatmap:
    """:func:`draw_heatmap` (without cell labels) drawn once on ``ax`` for the lecture widget:
    :meth:`png` moves the cells' colours, the OOM hatching and the circle, and redraws only
    them over the kept axes (:func:`~mlsys_kit.viz.figure.blit_png`); new (t, p) degrees
    redraw the ticks too."""

    def __init__(self, ax) -> None:
        from matplotlib.colors import LogNorm

        self.ax = ax
        self.image = ax.imshow(np.ones((1, 1)), origin="lower", cmap="viridis_r", aspect="auto",
                               norm=LogNorm(vmin=1.0, vmax=2.0))
        self.best = ax.scatter([0], [0], s=420, facecolors="none", edgecolors="red", linewidths=2)
        self.hatches: list = []
        self.degrees: tuple | None = None  # the (t, p) degrees the ticks show
        _heatmap_labels(ax)

    def png(self, result: dict[str, Any]) -> bytes:
        ax = self.ax
        ts, ps, grid, shown, vmin, vmax = _cells(result)
        self.image.set_data(shown)
        self.image.set_extent((-0.5, len(ts) - 0.5, -0.5, len(ps) - 0.5))
        self.image.set_clim(vmin, max(vmax, vmin * 1.0001))
        for patch in self.hatches:
            patch.remove()
        self.hatches = [ax.add_patch(_hatch(j, i)) for i, j in zip(*np.nonzero(np.isinf(grid)))]
        best = result["plans"][0]
        self.best.set_offsets([[ts.index(best["tensor"]), ps.index(best["pipeline"])]])
        if self.degrees != (ts, ps):
            self.degrees = (ts, ps)
            ax.set_xticks(range(len(ts)), [str(t) for t in ts])
            ax.set_yticks(range(len(ps)), [str(p) for p in ps])
            ax.set_xlim(-0.5, len(ts) - 0.5)
            ax.set_ylim(-0.5, len(ps) - 0.5)
        return blit_png(ax.figure, {ax: [self.image, *self.hatches, self.best]}, keys={ax: self.degrees})


def _hatch(x: float, y: float):
    from matplotlib.patches import Rectangle

    return Rectangle((x - 0.5, y - 0.5), 1, 1, fill=False, hatch="xx", edgecolor="#c66", lw=0)


def draw_breakdowns(ax_time, ax_mem, plans: Sequence[dict], device_bytes: float | None = None) -> None:
    """Stacked bars of step time and memory per device for each of ``plans``."""
    labels = [f"#{i + 1}\nt{p['tensor']} p{p['pipeline']} d{p['data']}" for i, p in enumerate(plans)]
    x = list(range(len(plans)))
    bottom = [0.0] * len(plans)
    for key, label, colour in TIME_PARTS:
        vals = [p["time"][key] for p in plans]
        ax_time.bar(x, vals, bottom=bottom, color=PALETTE[colour], label=label, width=0.6)
        bottom = [b + v for b, v in zip(bottom, vals)]
    ax_time.set_xticks(x, labels, fontsize=7)
    ax_time.set_ylabel("seconds per step")
    ax_time.legend(fontsize=6)
    bottom = [0.0] * len(plans)
    for key, colour in MEMORY_PARTS:
        vals = [p["memory"][key] / 1e9 for p in plans]
        ax_mem.bar(x, vals, bottom=bottom, color=PALETTE[colour], label=key, width=0.6)
        bottom = [b + v for b, v in zip(bottom, vals)]
    if device_bytes:
        ax_mem.axhline(device_bytes / 1e9, color="black", ls="--", lw=1, label="device memory")
    ax_mem.set_xticks(x, labels, fontsize=7)
    ax_mem.set_ylabel("GB per device")
    ax_mem.legend(fontsize=6)


def plan_figure(result: dict[str, Any], title: str = "", layout: str | None = "constrained") -> Figure:
    """Heat map of (t, p) and the top plans' time and memory breakdowns, side by side."""
    if not result.get("plans"):
        raise ValueError("the planner result has no plans to draw")
    fig = new_figure(10, 4.0, layout=layout)  # 1,100 px at the report's 110 dpi: one page wide
    ax = fig.subplots(1, 3, gridspec_kw={"width_ratios": [1.3, 1, 1]})
    if layout is None:
        fig.subplots_adjust(left=0.05, right=0.98, bottom=0.2, top=0.85, wspace=0.3)
    draw_heatmap(ax[0], result)
    draw_breakdowns(ax[1], ax[2], result["plans"], result["plans"][0].get("device_memory_bytes"))
    ax[1].set_title("time per step of the top plans", fontsize=9)
    ax[2].set_title("memory per device", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def run_figure(runs: Sequence[dict], title: str = "") -> Figure:
    """Counted bytes sent per rank beside the model's, and step time vs one process, per run."""
    if not runs:
        raise ValueError("runs must not be empty")
    fig = new_figure(9, 3.6)
    ax = fig.subplots(1, 2)
    labels = [f"t={r['tensor']}{' SP' if r['sequence_parallel'] else ''}{' rc' if r['recompute'] else ''}"
              for r in runs]
    x = np.arange(len(runs))
    ax[0].bar(x - 0.18, [r["bytes_sent_predicted"] / 1e3 for r in runs], 0.34, color=PALETTE["weights"],
              hatch="//", label="model")
    ax[0].bar(x + 0.18, [r["bytes_sent_measured"] / 1e3 for r in runs], 0.34, color=PALETTE["grads"],
              label="counted in the run")
    ax[0].set_xticks(x, labels)
    ax[0].set_ylabel("kB sent per rank per step")
    ax[0].legend(fontsize=8)
    ax[1].bar(x - 0.18, [1e3 * r["single_process_step_time_s"] for r in runs], 0.34, color=PALETTE["idle"],
              label="one process")
    ax[1].bar(x + 0.18, [1e3 * r["step_time_s"] for r in runs], 0.34, color=PALETTE["F"], label="t processes")
    ax[1].set_xticks(x, labels)
    ax[1].set_ylabel("ms per step (forward + backward)")
    ax[1].legend(fontsize=8)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def breakdown_html(best: dict) -> str:
    """The chosen plan's time and memory breakdowns as two stacked HTML bars (no matplotlib: a
    redraw of the lecture widget must stay under 200 ms)."""
    def bar(parts: list[tuple[str, float, str]], unit: str) -> str:
        total = sum(v for _, v, _ in parts) or 1.0
        cells = "".join(f"<div title='{name} {v:.3g} {unit}' style='width:{100 * v / total:.2f}%;background:{colour};"
                        f"height:18px'></div>" for name, v, colour in parts if v > 0)
        legend = " &middot; ".join(f"<span style='color:{colour}'>&#9632;</span> {name} {v:.3g}"
                                   for name, v, colour in parts if v > 0)
        return f"<div style='display:flex;width:520px;border:1px solid #999'>{cells}</div><small>{legend} {unit}</small>"

    t = [(label, best["time"][key], PALETTE[c]) for key, label, c in TIME_PARTS]
    m = [(key, best["memory"][key] / 1e9, PALETTE[c]) for key, c in MEMORY_PARTS]
    return f"<b>time per step</b>{bar(t, 's')}<br><b>memory per device</b>{bar(m, 'GB')}"


def heat_table_html(result: dict[str, Any]) -> str:
    """The heat map's numbers: best step time (s) per (t, p), OOM where nothing fits."""
    ts, ps, grid = _grid(result["heatmap"])
    head = "".join(f"<th>t={t}</th>" for t in ts)
    rows = []
    for i in reversed(range(len(ps))):
        cells = "".join("<td></td>" if np.isnan(v) else "<td style='color:#933'>OOM</td>" if np.isinf(v)
                        else f"<td>{v:.3g}</td>" for v in grid[i])
        rows.append(f"<tr><th>p={ps[i]}</th>{cells}</tr>")
    return f"<table style='font-size:11px'><tr><th></th>{head}</tr>{''.join(rows)}</table>"


def parallel_explorer(preset: str = "llama2-70b", devices: int = 64, global_batch: int = 512):
    """The lecture widget: model, devices, global batch and the two link speeds as controls;
    the (t, p) heat map of the best step time (out-of-memory cells marked) and the chosen
    plan's breakdowns redraw at once. The search is narrowed to what a lecture needs (b in 1, 2;
    v in 1, 2; ZeRO-1; every recomputation mode; with and without SP), the heat map is drawn
    into one reused Figure without cell labels (the best times are in the table below it), so that a redraw stays under 200 ms (benchmarks/parallel_demo_update.py)."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    model = w.Dropdown(options=["gpt2", "llama2-7b", "opt-13b", "llama2-70b", "gpt3-175b"], value=preset,
                       description="model", style=style)
    n = w.SelectionSlider(options=[8, 16, 32, 64, 128, 256], value=devices, description="devices",
                          continuous_update=False, style=style)
    batch = w.SelectionSlider(options=[64, 128, 256, 512, 1024], value=global_batch, description="global batch",
                              continuous_update=False, style=style)
    intra = w.FloatLogSlider(value=Cluster.intra_bandwidth / 1e9, base=10, min=1, max=3, step=0.1, description="NVLink GB/s",
                             continuous_update=False, style=style)
    inter = w.FloatLogSlider(value=Cluster.inter_bandwidth / 1e9, base=10, min=0, max=2.5, step=0.1, description="network GB/s",
                             continuous_update=False, style=style)
    image, facts, bars = live_image(), w.HTML(), w.HTML()
    # ZeRO-1 sends what plain data parallelism sends and never holds more: stage 0 never wins
    space = {"microbatches": (1, 2), "interleaves": (1, 2), "zero_stages": (1,)}
    fig = live_figure(6.4, 4.4, LIVE_DPI)  # drawn at the PNG's resolution: crisp, shown 1:1
    heat = LiveHeatmap(fig.add_axes([0.11, 0.12, 0.86, 0.8]))  # drawn once; a move redraws the cells

    def redraw(*_):
        cfg = model_config(model.value)
        cluster = Cluster(n.value, intra_bandwidth=intra.value * 1e9, inter_bandwidth=inter.value * 1e9)
        try:
            res = plan(cfg, cluster, batch.value, top=3, **space)
        except ValueError as exc:
            facts.value = f"<b>{exc}</b>"
            return
        image.value = heat.png(res)
        b = res["plans"][0]
        facts.value = (f"best (circled): <b>{b['plan']}</b>, {b['step_time']:.3g} s per step, MFU "
                       f"{100 * b['mfu']:.0f}%, {b['memory_bytes'] / 1e9:.0f} of 80 GB per device; searched "
                       f"{res['searched']} plans, {res['valid']} can run, {res['fit']} fit")
        bars.value = breakdown_html(b) + heat_table_html(res)

    for c in (model, n, batch, intra, inter):
        c.observe(redraw, names="value")
    # the pipeline shapes every model in the menu needs at these settings (planner's cache), simulated
    # while the cell runs (about a second) rather than on the lecturer's first pick of another model
    start = Cluster(n.value, intra_bandwidth=intra.value * 1e9, inter_bandwidth=inter.value * 1e9)
    for name in model.options:
        if name == model.value:
            continue  # its plan is the first redraw's
        try:
            plan(model_config(name), start, batch.value, top=3, **space)
        except ValueError:  # a model with no plan at these settings: its pick shows why
            pass
    redraw()
    return w.VBox([w.HBox([model, n, batch]), w.HBox([intra, inter]), facts, image, bars])
