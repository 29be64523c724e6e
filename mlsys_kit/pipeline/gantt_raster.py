"""The Gantt chart as one image: the lecture widget's fast path.

What it speeds up: :func:`mlsys_kit.pipeline.viz.draw_gantt` (the one renderer) draws every bar
and microbatch number as matplotlib artists, about 0.6-0.8 s for a p=8, m=32 schedule on the
course machine. Here the bars and numbers (a 3x5 bitmap font) are painted into one RGB array
with numpy and shown with a single ``imshow``: ~3x faster. :class:`LivePipelinePlot` keeps that
image and the memory lines in one figure and redraws only them, which keeps the pipeline
widget's update under 100 ms (``benchmarks/pipeline_demo_update.py``).

Proof that it shows the same chart: ``tests/pipeline/test_pipeline_viz.py`` checks, on every
schedule, that each bar's pixels have its action's colour on its rank's row over its time span,
that idle time stays white, and that :func:`fast_figure` and
:func:`~mlsys_kit.pipeline.viz.gantt_figure` share axes (ranks, time span, legend).
"""

from __future__ import annotations

from typing import Sequence

from matplotlib.axes import Axes
from matplotlib.figure import Figure

from mlsys_kit.pipeline.simulate import Event
from mlsys_kit.pipeline.viz import KIND_ORDER, draw_memory, legend_and_title
from mlsys_kit.viz.figure import LIVE_DPI, PALETTE, blit_png, live_figure, steady_limit

# 3x5 bitmap digits for the raster Gantt (row-major, "1" = ink)
_DIGITS = ["111101101101111", "010110010010111", "111001111100111", "111001111001111", "101101111001001",
           "111100111001111", "111100111101111", "111001001001001", "111101111101111", "111101111001111"]



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
    base = [np.array([c == "1" for c in d]).reshape(5, 3) for d in _DIGITS]
    glyphs = {scale: [np.kron(g, np.ones((scale, scale), dtype=bool)) for g in base] for scale in (1, 2)}
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
                    g = glyphs[scale][int(ch)]
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
    legend_and_title(ax, events, title)


def fast_figure(events: Sequence[Event], num_ranks: int, title: str,
                memory: Sequence[Sequence[tuple[float, float]]], unit: str = "time", dpi: int = 72) -> Figure:
    """Gantt (as one image) over the memory plot, fixed margins: the widget's picture (save at ``dpi``)."""
    fig = Figure(figsize=(10, 6.2), dpi=dpi)
    fig.subplots_adjust(left=0.1, right=0.98, top=0.93, bottom=0.08, hspace=0.3)
    g, mem = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
    draw_gantt_fast(g, events, num_ranks, title, unit)
    draw_memory(mem, memory, "", unit)
    return fig


class LivePipelinePlot:
    """The widget's picture drawn once and redrawn in place: the Gantt raster (one image whose
    pixels and extent change) over the memory step lines (one per rank, data set in place).
    The time axis ends at a round value above the makespan (:func:`steady_limit`: kept while the
    makespan fills at least half of it), so it holds still while a cost slider moves a little
    (and makespans compare from one move to the next); only the image
    and lines are then redrawn (:func:`blit_png`). Ticks, legends and the title are redrawn
    when the ranks, the kinds shown, the title or the axis limits change."""

    MAX_RANKS = 16

    def __init__(self, unit: str = "time", dpi: int = LIVE_DPI) -> None:
        import numpy as np

        self.fig = fig = live_figure(10, 6.2, dpi)
        fig.subplots_adjust(left=0.1, right=0.9, top=0.93, bottom=0.08, hspace=0.3)
        self.gantt, self.mem = fig.subplots(2, 1, sharex=True, height_ratios=[3, 2])
        self.image = self.gantt.imshow(np.full((1, 1, 3), 255, dtype=np.uint8), extent=(0, 1, -0.5, 0.5),
                                       aspect="auto", interpolation="nearest")
        self.gantt.set_xlabel(unit)
        self.lines = [self.mem.plot([], [], drawstyle="steps-post", lw=1.2, color=f"C{r % 10}", label=f"rank {r}")[0]
                      for r in range(self.MAX_RANKS)]
        self.mem.set_xlabel(unit)
        self.mem.set_ylabel("activations held\n(microbatches)")
        self.key: tuple | None = None

    def update(self, events: Sequence[Event], num_ranks: int, title: str,
               memory: Sequence[Sequence[tuple[float, float]]]) -> Figure:
        if not events or not 1 <= num_ranks <= self.MAX_RANKS:
            raise ValueError(f"the live plot draws 1..{self.MAX_RANKS} ranks with at least one event: "
                             f"got {num_ranks} ranks, {len(events)} events")
        g, fig = self.gantt, self.fig
        kinds = tuple(k for k in KIND_ORDER if any(e.action.kind == k for e in events))
        key = (num_ranks, title, kinds)
        if key != self.key:  # what the static layer shows changed: ticks, legends, title
            self.key = key
            g.set_yticks(range(num_ranks), [f"rank {r}" for r in range(num_ranks - 1, -1, -1)])
            g.set_ylim(-0.5, num_ranks - 0.5)
            legend_and_title(g, events, title)
            old = self.mem.get_legend()
            if old is not None:
                old.remove()
            if num_ranks <= 8:
                self.mem.legend(handles=self.lines[:num_ranks], fontsize=8, loc="upper left", bbox_to_anchor=(1.005, 1.0),
                                borderaxespad=0.0, frameon=False)  # beside the lines, never under them
        t0 = min(e.start for e in events)
        span = max(e.end for e in events) - t0 or 1.0
        xmax = steady_limit(g.get_xlim()[1], span)
        box = g.get_position()  # the raster at the pixel size it is shown at, so digits stay crisp
        width = max(50, int(box.width * fig.get_figwidth() * fig.dpi * span / xmax))
        row = max(6, int(box.height * fig.get_figheight() * fig.dpi / num_ranks))
        self.image.set_data(gantt_raster(events, num_ranks, width, row))
        self.image.set_extent((0, span, -0.5, num_ranks - 0.5))
        g.set_xlim(0, xmax)
        top = 1.0
        for r, line in enumerate(self.lines):
            curve = memory[r] if r < len(memory) else ()
            line.set_data([t for t, _ in curve], [y for _, y in curve])
            top = max(top, max((y for _, y in curve), default=0.0))
        self.mem.set_ylim(0, steady_limit(self.mem.get_ylim()[1], top * 1.08))
        return fig

    def png(self) -> bytes:
        """The picture as PNG: the raster and the lines redrawn over the kept axes."""
        return blit_png(self.fig, {self.gantt: [self.image], self.mem: self.lines},
                        keys={self.gantt: self.key, self.mem: self.key})
