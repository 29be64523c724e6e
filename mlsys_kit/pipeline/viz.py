"""Pipeline plots: a Gantt timeline (rank x time, coloured by F/B/W/BW, microbatch numbers on the
bars) and activation memory over time. Both take a list of
:class:`~mlsys_kit.pipeline.simulate.Event`, so simulated and measured runs draw the same way.

:func:`draw_gantt` is the one Gantt renderer (matplotlib artists). The lecture widget draws the
same chart as one image instead (:mod:`mlsys_kit.pipeline.gantt_raster`, the fast path, tested to
paint every bar where and in the colour this renderer does); the widget itself is
:func:`mlsys_kit.pipeline.widgets.pipeline_explorer`.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mlsys_kit.pipeline.simulate import Event
from mlsys_kit.viz.figure import PALETTE, new_figure

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
    legend_and_title(ax, events, title)


def legend_and_title(ax: Axes, events: Sequence[Event], title: str) -> None:
    """One legend entry per action kind present, above the axes; the title on the left."""
    kinds = [k for k in KIND_ORDER if any(e.action.kind == k for e in events)]
    ax.legend(handles=[Patch(color=PALETTE[k], label=k) for k in kinds], loc="lower right", fontsize=9,
              ncols=len(kinds), bbox_to_anchor=(1.0, 1.0), frameon=False, borderaxespad=0.2)
    if title:
        ax.set_title(title, fontsize=10, loc="left")


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
