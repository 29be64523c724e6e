"""Pipeline plots: a Gantt timeline (rank x time, coloured by F/B/W/BW, microbatch numbers on the
bars) and activation memory over time. Both take a list of
:class:`~mlsys_kit.pipeline.simulate.Event`, so simulated and measured runs draw the same way.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mlsys_kit.pipeline.simulate import Event
from mlsys_kit.viz import PALETTE, new_figure

KIND_ORDER = ("F", "B", "W", "BW")


def draw_gantt(ax: Axes, events: Sequence[Event], num_ranks: int | None = None, title: str = "",
               unit: str = "time", labels: bool | None = None) -> None:
    """Draw ``events`` on ``ax``: one row per rank (rank 0 on top), one bar per action.

    Microbatch numbers are written on the bars (``labels=None``: only when there are at most
    600 bars, so a big schedule stays fast to draw); a later chunk's forward is hatched.
    """
    if not events:
        raise ValueError("draw_gantt needs at least one event")
    P = num_ranks if num_ranks is not None else 1 + max(e.rank for e in events)
    t0 = min(e.start for e in events)
    bars: dict[tuple[int, str, bool], list[tuple[float, float]]] = defaultdict(list)
    for e in events:
        bars[(e.rank, e.action.kind, e.action.stage >= P)].append((e.start - t0, e.end - e.start))
    for (rank, kind, late), spans in bars.items():
        ax.broken_barh(spans, (P - 1 - rank - 0.4, 0.8), facecolors=PALETTE[kind], edgecolor="white",
                       linewidth=0.4, hatch="//" if late else None)
    if labels is None:
        labels = len(events) <= 4000
    if labels:  # one marker collection per microbatch number: far faster to draw than one Text per bar
        per_rank = max(1.0, len(events) / P)
        size = max(12.0, min(70.0, 12000.0 / per_rank))
        spots: dict[int, list[tuple[float, float]]] = defaultdict(list)
        span = max(e.end for e in events) - t0 or 1.0
        for e in events:
            if (e.end - e.start) / span < 0.007 * len(str(e.action.microbatch)):
                continue  # too narrow to carry a number (a measured timeline has many such)
            spots[e.action.microbatch].append(((e.start + e.end) / 2 - t0, P - 1 - e.rank))
        for mb, xy in spots.items():
            digits = len(str(mb))
            ax.scatter([x for x, _ in xy], [y for _, y in xy], marker=f"${mb}$", s=size * digits,
                       c="white", linewidths=0, zorder=3)
    ax.set_yticks(range(P), [f"rank {r}" for r in range(P - 1, -1, -1)])
    ax.set_ylim(-0.6, P - 0.4)
    ax.set_xlim(0, max(e.end for e in events) - t0)
    ax.set_xlabel(unit)
    _legend_and_title(ax, events, title)


# 3x5 bitmap digits for the raster Gantt (row-major, "1" = ink)
_DIGITS = ["111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
           "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111"]


def _legend_and_title(ax: Axes, events: Sequence[Event], title: str) -> None:
    """One legend entry per action kind present, above the axes; the title on the left."""
    kinds = [k for k in KIND_ORDER if any(e.action.kind == k for e in events)]
    ax.legend(handles=[Patch(color=PALETTE[k], label=k) for k in kinds], loc="lower right", fontsize=7,
              ncols=len(kinds), bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.2)
    if title:
        ax.set_title(title, fontsize=10, loc="left")


def _hex_rgb(color: str) -> tuple[int, int, int]:
    return tuple(int(color[i:i + 2], 16) for i in (1, 3, 5))


def gantt_raster(events: Sequence[Event], num_ranks: int, width: int = 900, row: int = 24):
    """The Gantt chart as an RGB array (rank 0 on top), microbatch numbers in a bitmap font.

    Drawing a few hundred bars and labels as one image is ~10x faster than as matplotlib
    artists, which is what keeps the lecture widget under 200 ms per update.
    """
    import numpy as np

    t0 = min(e.start for e in events)
    span = max(e.end for e in events) - t0 or 1.0
    img = np.full((num_ranks * row, width, 3), 255, dtype=np.uint8)
    row_pad = max(1, row // 10)
    glyphs = [np.array([c == "1" for c in d]).reshape(5, 3) for d in _DIGITS]
    for e in events:
        x0 = int((e.start - t0) / span * width)
        x1 = max(x0 + 1, int((e.end - t0) / span * width))
        y0 = e.rank * row + row_pad
        inner = x1 - 1 if x1 - x0 >= 3 else x1  # a white gap between neighbouring bars
        img[y0:y0 + row - 2 * row_pad, x0:inner] = _hex_rgb(PALETTE[e.action.kind])
        if e.action.stage >= num_ranks:  # a later chunk (interleaved, V): darken a stripe
            band = img[y0 + row - 2 * row_pad - 3:y0 + row - 2 * row_pad, x0:inner]
            band[:] = (band * 0.6).astype(np.uint8)
        text = str(e.action.microbatch)
        for scale in (2, 1):
            w = len(text) * 4 * scale - scale
            if w + 2 <= inner - x0 and 5 * scale + 2 <= row - 2 * row_pad:
                gx, gy = x0 + (inner - x0 - w) // 2, y0 + (row - 2 * row_pad - 5 * scale) // 2
                for k, ch in enumerate(text):
                    g = np.kron(glyphs[int(ch)], np.ones((scale, scale), dtype=bool))
                    region = img[gy:gy + 5 * scale, gx + k * 4 * scale:gx + k * 4 * scale + 3 * scale]
                    region[g] = 255
                break
    return img


def draw_gantt_fast(ax: Axes, events: Sequence[Event], num_ranks: int, title: str = "", unit: str = "time") -> None:
    """Same picture as :func:`draw_gantt`, drawn as one image (for live widgets)."""
    t0 = min(e.start for e in events)
    span = max(e.end for e in events) - t0
    fig = ax.get_figure()
    box = ax.get_position()  # draw the raster at the axes' own pixel size, so digits stay crisp
    width = max(50, int(box.width * fig.get_figwidth() * fig.dpi))
    row = max(6, int(box.height * fig.get_figheight() * fig.dpi / num_ranks))
    ax.imshow(gantt_raster(events, num_ranks, width, row), extent=(0, span, -0.5, num_ranks - 0.5), aspect="auto",
              interpolation="nearest")
    ax.set_yticks(range(num_ranks), [f"rank {r}" for r in range(num_ranks - 1, -1, -1)])
    ax.set_xlabel(unit)
    _legend_and_title(ax, events, title)


def fast_figure(events: Sequence[Event], num_ranks: int, title: str,
                memory: Sequence[Sequence[tuple[float, float]]], unit: str = "time", dpi: int = 72) -> Figure:
    """Gantt (as one image) over the memory plot, fixed margins: the widget's picture (save at ``dpi``)."""
    fig = Figure(figsize=(10, 6.2), dpi=dpi)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.93, bottom=0.08, hspace=0.3)
    g, mem = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    draw_gantt_fast(g, events, num_ranks, title, unit)
    draw_memory(mem, memory, "", unit)
    return fig


def draw_memory(ax: Axes, memory: Sequence[Sequence[tuple[float, float]]], title: str = "",
                unit: str = "time") -> None:
    """Draw per-rank activation memory (the ``memory`` curves of a SimResult) as step lines."""
    for r, curve in enumerate(memory):
        xs = [t for t, _ in curve]
        ys = [y for _, y in curve]
        ax.step(xs, ys, where="post", label=f"rank {r}", linewidth=1.2)
    ax.set_xlabel(unit)
    ax.set_ylabel("activations held\n(microbatches)")
    if len(memory) <= 8:
        ax.legend(fontsize=7, loc="upper right")
    if title:
        ax.set_title(title, fontsize=10)


def gantt_figure(events: Sequence[Event], num_ranks: int | None = None, title: str = "",
                 memory: Sequence[Sequence[tuple[float, float]]] | None = None, unit: str = "time") -> Figure:
    """A Figure with the Gantt chart, and the memory plot under it when ``memory`` is given."""
    P = num_ranks if num_ranks is not None else 1 + max(e.rank for e in events)
    height = 0.45 * P + 1.4
    if memory is None:
        fig = new_figure(10, height)
        draw_gantt(fig.add_subplot(), events, P, title, unit)
        return fig
    fig = new_figure(10, height + 2.2)
    gantt_ax, mem_ax = fig.subplots(2, 1, sharex=True, height_ratios=[height, 2.2])
    draw_gantt(gantt_ax, events, P, title, unit)
    draw_memory(mem_ax, memory, "", unit)
    return fig


def bubble_table_figure(rows: Sequence[tuple[str, float, float, float]], title: str = "") -> Figure:
    """Bar chart of bubble_fraction per schedule; ``rows`` are (name, bubble_fraction, bubble_rate, peak)."""
    fig = new_figure(6.4, 3.2)
    ax = fig.add_subplot()
    names = [r[0] for r in rows]
    ax.bar(names, [r[1] for r in rows], color=PALETTE["idle"], edgecolor="black")
    for i, r in enumerate(rows):
        ax.text(i, r[1], f"{r[1]:.3f}\npeak {r[3]:g}", ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("bubble fraction (idle / busy)")
    ax.set_ylim(0, max(r[1] for r in rows) * 1.35 + 1e-9)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def pipeline_explorer(schedule: str = "1f1b", p: int = 4, m: int = 8, v: int = 2):
    """The lecture widget: schedule, p, m, v, t_B/t_F, t_W/t_F and latency; the Gantt chart, the
    memory plot and the metrics redraw when a control moves. Returns an ipywidgets box."""
    import ipywidgets as w

    from mlsys_kit.pipeline.generators import SCHEDULES, make_schedule
    from mlsys_kit.pipeline.simulate import simulate
    from mlsys_kit.viz import figure_png

    style = {"description_width": "initial"}
    name = w.Dropdown(options=list(SCHEDULES), value=schedule, description="schedule")
    ps = w.IntSlider(value=p, min=1, max=16, description="p (ranks)", continuous_update=False, style=style)
    ms = w.IntSlider(value=m, min=1, max=64, description="m (microbatches)", continuous_update=False, style=style)
    vs = w.IntSlider(value=v, min=1, max=4, description="v (chunks, interleaved)", continuous_update=False, style=style)
    tb = w.FloatSlider(value=1.0, min=0.25, max=3.0, step=0.25, description="t_B / t_F", continuous_update=False, style=style)
    tw = w.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.25, description="t_W / t_F", continuous_update=False, style=style)
    lat = w.FloatSlider(value=0.0, min=0.0, max=2.0, step=0.1, description="latency / t_F", continuous_update=False, style=style)
    image = w.Image(format="png")
    facts = w.HTML()

    def redraw(*_):
        try:
            sched = make_schedule(name.value, ps.value, ms.value, vs.value)
        except ValueError as exc:  # e.g. 1F1B with m < p: say why, in the text and in the picture
            facts.value = f"<span style='color:#C44E52'><b>not possible:</b> {exc}</span>"
            fig = Figure(figsize=(10, 1.2), dpi=72)
            fig.text(0.02, 0.5, f"{name.value} cannot run this: {exc}", va="center", fontsize=11, color="#C44E52")
            image.value = figure_png(fig, dpi=72)
            return
        res = simulate(sched, 1.0, tb.value, tw.value, lat.value, check=False, costs_per_rank=True)
        title = f"{sched.name}, p={sched.num_ranks}, m={sched.num_microbatches}, v={sched.chunks}"
        image.value = figure_png(fast_figure(res.events, sched.num_ranks, title, res.memory, "time (t_F = 1)"), dpi=72)
        facts.value = (f"makespan <b>{res.makespan:.4g}</b> &nbsp; bubble fraction (idle/busy) "
                       f"<b>{res.bubble_fraction:.4f}</b> &nbsp; bubble rate (idle/makespan) <b>{res.bubble_rate:.4f}</b>"
                       f" &nbsp; peak activations <b>{max(res.peak_activations):g}</b> microbatches (rank "
                       f"{res.peak_activations.index(max(res.peak_activations))})")

    for widget in (name, ps, ms, vs, tb, tw, lat):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([name, ps, ms]), w.HBox([vs, tb, tw, lat]), facts, image])
