"""Pictures of the paged KV cache (PagedAttention, Kwon et al., SOSP'23, Figures 2, 6-8).

* :func:`block_grid_figure` - the physical block pool: one cell per block, its slots coloured
  by the owning sequence (filled slots dark, empty slots of the last block pale), shared
  blocks marked with their reference count, cached-but-free blocks grey.
* :func:`waste_figure` - static reservation vs paging utilisation, and the block-size sweep
  (internal fragmentation vs block-table length).
"""

from __future__ import annotations

import hashlib
from typing import Hashable

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.colors import to_rgb
from matplotlib.figure import Figure
from matplotlib.patches import Patch

from mlsys_kit.common import ceil_div
from mlsys_kit.kvcache.accounting import waste_report
from mlsys_kit.kvcache.block_table import BlockManager
from mlsys_kit.kvcache.config import KVCACHE as C
from mlsys_kit.kvcache.scenario import EVENTS, replay
from mlsys_kit.viz.figure import LIVE_DPI, PALETTE, blit_png, live_image, new_figure, steady_limit

_SEQ_COLOURS = ["#4C72B0", "#DD8452", "#55A868", "#C44E52", "#8172B3", "#937860", "#DA8BC3", "#8C8C8C",
                "#CCB974", "#64B5CD", "#1B9E77", "#D95F02", "#7570B3", "#E7298A", "#66A61E", "#E6AB02"]
_FREE = np.array(to_rgb("#FFFFFF"))
_CACHED = np.array(to_rgb("#BBBBBB"))


def seq_colour(seq_id: Hashable) -> str:
    """A stable colour per sequence id (ints cycle through the palette, others are hashed)."""
    if isinstance(seq_id, int):
        return _SEQ_COLOURS[seq_id % len(_SEQ_COLOURS)]
    digest = hashlib.sha256(repr(seq_id).encode()).digest()
    return _SEQ_COLOURS[digest[0] % len(_SEQ_COLOURS)]


def block_grid_image(manager: BlockManager, columns: int = 16) -> tuple[np.ndarray, list[tuple[int, int, int]]]:
    """RGB image [rows, columns * block_size] of the pool and (row, col, refcount) of shared blocks."""
    alloc, B = manager.allocator, manager.block_size
    n = alloc.num_blocks
    rows = ceil_div(n, columns)
    img = np.ones((rows, columns * B, 3))
    fill = np.zeros(n, dtype=int)
    colour = np.tile(_FREE, (n, 1))
    for sid in reversed(manager.seq_ids()):  # a shared block shows its oldest owner, and a marker
        length = manager.num_tokens(sid)
        rgb = np.array(to_rgb(seq_colour(sid)))
        for j, block in enumerate(manager.block_table(sid)):
            fill[block] = max(fill[block], min(B, length - j * B))
            colour[block] = rgb
    shared = []
    for block in range(n):
        r, c = divmod(block, columns)
        rc = alloc.refcount(block)
        if rc == 0:
            img[r, c * B:(c + 1) * B] = _CACHED if alloc.is_evictable(block) else _FREE
            continue
        img[r, c * B:c * B + fill[block]] = colour[block]
        img[r, c * B + fill[block]:(c + 1) * B] = 0.75 + 0.25 * colour[block]  # reserved, still empty
        if rc > 1:
            shared.append((r, c, rc))
    return img, shared


def draw_block_grid(ax: Axes, manager: BlockManager, columns: int = 16, title: str | None = None) -> None:
    """Draw the block pool on ``ax`` (see :func:`block_grid_figure`)."""
    B = manager.block_size
    img, shared = block_grid_image(manager, columns)
    rows = img.shape[0]
    ax.imshow(img, aspect="auto", interpolation="nearest", extent=(0, columns, rows, 0))
    # the block borders as two line collections, not as tick grid lines: no tick objects to
    # build and lay out on every redraw of the lecture widget
    ax.vlines(np.arange(columns + 1), 0, rows, color="black", linewidth=0.8)
    ax.hlines(np.arange(rows + 1), 0, columns, color="black", linewidth=0.8)
    ax.set_xlim(0, columns)
    ax.set_ylim(rows, 0)
    ax.set_xticks([])
    ax.set_yticks([])
    for r, c, rc in shared:
        ax.text(c + 0.5, r + 0.5, f"x{rc}", ha="center", va="center", fontsize=8, fontweight="bold", color="white")
    alloc = manager.allocator
    ax.set_title(title or f"{alloc.num_blocks} blocks x {B} slots: {alloc.num_used} used, "
                          f"{alloc.num_free} free", fontsize=10)
    handles = [Patch(color=seq_colour(s), label=f"seq {s}") for s in manager.seq_ids()[:8]]
    handles += [Patch(fc="white", ec="black", label="free"), Patch(color="#BBBBBB", label="cached, free")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)


def block_grid_figure(manager: BlockManager, columns: int = 16, title: str | None = None) -> Figure:
    """The physical block pool coloured by owning sequence; 'xN' marks a block shared by N."""
    rows = ceil_div(manager.allocator.num_blocks, columns)
    fig = new_figure(8.0, 0.5 + 0.45 * rows)
    draw_block_grid(fig.add_subplot(), manager, columns, title)
    return fig


def draw_utilization(ax: Axes, report: dict) -> None:
    """Stacked bars: real tokens vs unused memory, static reservation vs paging."""
    names = ["static\n(reserve max_len)", f"paged\n(B={report['block_size']})"]
    used = [report["static_utilization"], report["paged_utilization"]]
    ax.bar(names, used, color=PALETTE["kv"], label="holds real tokens")
    ax.bar(names, [1 - u for u in used], bottom=used, color=PALETTE["idle"], label="reserved, unused")
    for i, u in enumerate(used):
        ax.text(i, u / 2, f"{100 * u:.1f} %", ha="center", va="center", color="white", fontweight="bold")
    ax.set_ylim(0, 1.2)
    ax.set_yticks([0, 0.2, 0.4, 0.6, 0.8, 1.0])
    ax.set_ylabel("fraction of allocated KV memory")
    ax.set_title(f"{report['requests']} requests, max_len {report['max_len']}", fontsize=10)
    ax.legend(loc="upper center", ncol=2, fontsize=8)


def waste_figure(report: dict, sweep: list[dict] | None = None) -> Figure:
    """Static vs paged utilisation; with a sweep, also utilisation and table length vs block size."""
    fig = new_figure(10.0 if sweep else 5.0, 4.0)
    axes = fig.subplots(1, 2 if sweep else 1)
    draw_utilization(axes[0] if sweep else axes, report)
    if sweep:
        ax = axes[1]
        bs = [r["block_size"] for r in sweep]
        ax.plot(bs, [r["paged_utilization"] for r in sweep], "o-", color=PALETTE["kv"], label="paged utilisation")
        ax.axhline(report["static_utilization"], color=PALETTE["BW"], ls="--", label="static reservation")
        ax.set_xscale("log", base=2)
        ax.set_xlabel("block size (tokens)")
        ax.set_ylabel("utilisation")
        ax.set_ylim(0, 1.05)
        twin = ax.twinx()
        twin.plot(bs, [r["mean_table_entries"] for r in sweep], "s:", color="#555555", label="block-table entries")
        twin.set_yscale("log")
        twin.set_ylabel("mean block-table entries per sequence")
        lines = ax.get_legend_handles_labels()
        more = twin.get_legend_handles_labels()
        ax.legend(lines[0] + more[0], lines[1] + more[1], loc="lower left", fontsize=8)
        ax.set_title("fragmentation vs table size", fontsize=10)
    return fig


STATIC_MAX_LEN = 128  # what a static system would reserve per request in the scripted timeline


def timeline_figure(steps: int, block_size: int, columns: int = 16) -> tuple[Figure, list[str], dict]:
    """Block pool after ``steps`` events of the scripted timeline, next to the memory it takes
    under static reservation vs paging. Returns (figure, event log, numbers)."""
    mgr, log = replay(steps, block_size)
    alloc = mgr.allocator
    tokens = sum(mgr.num_tokens(s) for s in mgr.seq_ids())
    numbers = {"live_sequences": len(mgr.seq_ids()), "tokens": tokens,
               "static_slots": STATIC_MAX_LEN * len(mgr.seq_ids()), "paged_slots": alloc.num_used * block_size,
               "shared_blocks": sum(alloc.refcount(b) > 1 for b in range(alloc.num_blocks))}
    rows = ceil_div(alloc.num_blocks, columns)
    # a fixed layout, not the constrained one: the widget redraws this on every slider move
    fig = Figure(figsize=(9.5, max(2.6, 0.9 + 0.32 * rows)))
    fig.subplots_adjust(left=0.01, right=0.97, top=0.9, bottom=0.08, wspace=0.45)
    grid, bars = fig.subplots(1, 2, width_ratios=[3.2, 1])
    draw_block_grid(grid, mgr, columns, title=f"after event {steps}/{len(EVENTS)}, block size {block_size}: "
                                             f"{alloc.num_used} of {alloc.num_blocks} blocks used")
    names = ["static", "paged", "tokens"]
    values = [numbers["static_slots"], numbers["paged_slots"], tokens]
    bars.bar(names, values, color=[PALETTE["idle"], PALETTE["kv"], "#333333"])
    for i, v in enumerate(values):
        bars.text(i, v, str(v), ha="center", va="bottom", fontsize=8)
    bars.set_ylim(0, max(values + [1]) * 1.15)
    bars.set_title(f"KV slots (static: {STATIC_MAX_LEN}/request)", fontsize=9)
    bars.tick_params(labelsize=8)
    return fig, log, numbers


class LiveTimeline:
    """:func:`timeline_figure` for one block size, drawn once for the lecture widget: :meth:`png`
    moves the pool image, the shared-block marks, the titles, the legend and the bars of a later
    (or earlier) event, and redraws only them over the kept axes (:func:`blit_png`)."""

    def __init__(self, block_size: int, columns: int = 16) -> None:
        self.block_size, self.columns = block_size, columns
        fig, _, _ = timeline_figure(0, block_size, columns)
        fig.set_dpi(LIVE_DPI)
        FigureCanvasAgg(fig)
        self.fig, (self.grid, self.bars) = fig, fig.axes[:2]
        self.image = self.grid.get_images()[0]
        self.borders = list(self.grid.collections)  # the block borders, over the image
        self.rects = list(self.bars.patches)
        for t in [*self.grid.texts, *self.bars.texts]:  # step 0's marks and values: made anew, as layers
            t.remove()
        self.marks: list = []
        self.values = [self.bars.text(i, 0, "", ha="center", va="bottom", fontsize=8) for i in range(len(self.rects))]
        self.ylim = max(self.bars.get_ylim()[1], 1.0)

    def png(self, steps: int) -> tuple[bytes, list[str], dict]:
        """The picture after ``steps`` events as PNG, with the event log and the numbers of
        :func:`timeline_figure`."""
        mgr, log = replay(steps, self.block_size)
        alloc, B, g = mgr.allocator, self.block_size, self.grid
        tokens = sum(mgr.num_tokens(sid) for sid in mgr.seq_ids())
        numbers = {"live_sequences": len(mgr.seq_ids()), "tokens": tokens,
                   "static_slots": STATIC_MAX_LEN * len(mgr.seq_ids()), "paged_slots": alloc.num_used * B,
                   "shared_blocks": sum(alloc.refcount(b) > 1 for b in range(alloc.num_blocks))}
        img, shared = block_grid_image(mgr, self.columns)
        self.image.set_data(img)
        for t in self.marks:
            t.remove()
        self.marks = [g.text(c + 0.5, r + 0.5, f"x{rc}", ha="center", va="center", fontsize=8, fontweight="bold",
                             color="white") for r, c, rc in shared]
        g.set_title(f"after event {steps}/{len(EVENTS)}, block size {B}: {alloc.num_used} of {alloc.num_blocks} "
                    "blocks used", fontsize=10)
        seqs = [f"seq {sid}" for sid in mgr.seq_ids()[:8]]
        if [t.get_text() for t in g.get_legend().get_texts()][:-2] != seqs:
            handles = [Patch(color=seq_colour(sid), label=f"seq {sid}") for sid in mgr.seq_ids()[:8]]
            handles += [Patch(fc="white", ec="black", label="free"), Patch(color="#BBBBBB", label="cached, free")]
            g.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8, frameon=False)
        values = [numbers["static_slots"], numbers["paged_slots"], tokens]
        for rect, text, v, i in zip(self.rects, self.values, values, range(3)):
            rect.set_height(v)
            text.set_position((i, v))
            text.set_text(str(v))
        self.ylim = steady_limit(self.ylim, max(values + [1]) * 1.15)
        self.bars.set_ylim(0, self.ylim)
        layers = {g: [self.image, *self.borders, *self.marks], self.bars: [*self.rects, *self.values],
                  self.fig: [g.title, g.get_legend()]}
        return blit_png(self.fig, layers), log, numbers


def kv_cache_explorer():
    """Lecture widget: step through arrive / decode / fork / finish, change the block size."""
    import ipywidgets as w

    step = w.IntSlider(value=C.widget_step, min=0, max=len(EVENTS), description="event")
    play = w.Play(value=C.widget_step, min=0, max=len(EVENTS), interval=900, description="play")
    w.jslink((play, "value"), (step, "value"))
    block = w.SelectionSlider(options=list(C.widget_block_sizes), value=C.grid_block_size, description="block size")
    image = live_image()
    facts = w.HTML()
    waste_cache: dict[int, dict] = {}
    plots: dict[int, LiveTimeline] = {}  # one figure per block size (its rows), each drawn once

    def redraw(_=None) -> None:
        if block.value not in plots:
            plots[block.value] = LiveTimeline(block.value)
        image.value, log, n = plots[block.value].png(step.value)
        if block.value not in waste_cache:
            waste_cache[block.value] = waste_report(block.value, C.requests, C.max_len, C.seed)
        r = waste_cache[block.value]
        recent = "".join(f"<li>{line}</li>" for line in log[-3:-1]) + (f"<li><b>{log[-1]}</b></li>" if log else "")
        facts.value = (f"<ul>{recent}</ul>"
                       f"<p>{n['live_sequences']} live sequences hold {n['tokens']} tokens in "
                       f"{n['paged_slots']} paged slots ({n['shared_blocks']} shared blocks); static reservation "
                       f"would take {n['static_slots']}.<br>{C.requests} ShareGPT-like requests, max_len {C.max_len}: static "
                       f"reservation keeps <b>{100 * r['static_utilization']:.1f} %</b> of KV memory for tokens, "
                       f"paging with blocks of {block.value} <b>{100 * r['paged_utilization']:.1f} %</b> "
                       f"({r['paged_waste_slots_per_seq']:.1f} slots wasted per sequence).</p>")

    step.observe(redraw, names="value")
    block.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([play, step, block]), facts, image])
