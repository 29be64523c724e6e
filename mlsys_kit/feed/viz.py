"""Pictures of gradient communication scheduling (ByteScheduler, SOSP'19, Figure 1 and section
2): one timeline per policy, compute on the top row (backward then the next forward) and the
network link below it, each message coloured by the layer it carries; and the partition/credit
grid (section 5). The panels are made once and moved in place (:class:`TimelinePanel`), so the
lecture widget redraws without new figures."""

from __future__ import annotations

from typing import Sequence

from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from mlsys_kit.feed.comm import Timeline
from mlsys_kit.viz.figure import PALETTE, new_figure

_ROWS = {"compute": 1.0, "link": 0.0}


def _box(s: float, e: float, y: float) -> list[tuple[float, float]]:
    return [(s, y - 0.35), (e, y - 0.35), (e, y + 0.35), (s, y + 0.35)]


class TimelinePanel:
    """One policy's timeline on ``ax``: two polygon collections (compute, link) and a vertical
    line at the iteration's end, updated in place by :meth:`update`."""

    def __init__(self, ax) -> None:
        import matplotlib

        self.ax, self.cmap = ax, matplotlib.colormaps["viridis"]
        self.compute = PolyCollection([], edgecolors="white", linewidths=0.3)
        self.link = PolyCollection([], edgecolors="white", linewidths=0.3)
        ax.add_collection(self.compute)
        ax.add_collection(self.link)
        self.end = ax.axvline(0.0, color="black", ls="--", lw=1)
        self.label = ax.text(0.995, 0.92, "", transform=ax.transAxes, ha="right", va="top", fontsize=8)
        ax.set_yticks(list(_ROWS.values()), list(_ROWS))
        ax.set_ylim(-0.6, 1.6)

    def update(self, t: Timeline, t_max: float, scale: float = 1e3) -> None:
        n = len(t.forward)
        boxes = [_box(s * scale, e * scale, 1.0) for s, e in t.backward + t.forward if e > s]
        colors = [PALETTE["B"]] * sum(e > s for s, e in t.backward) + [PALETTE["F"]] * sum(e > s for s, e in t.forward)
        self.compute.set_verts(boxes)
        self.compute.set_facecolors(colors)
        self.link.set_verts([_box(m.start * scale, m.end * scale, 0.0) for m in t.messages])
        self.link.set_facecolors([self.cmap(m.pieces[0][0] / max(1, n - 1)) for m in t.messages])
        self.end.set_xdata([t.iteration_time * scale] * 2)
        self.label.set_text(f"{t.policy}: {t.iteration_time * scale:.4g} ms, "
                            f"overlap {100 * t.overlap_fraction:.0f}%")
        self.ax.set_xlim(0, t_max * scale)


def timeline_figure(timelines: Sequence[Timeline], title: str = "", fig: Figure | None = None) -> Figure:
    """One panel per timeline (shared time axis, ms): compute above (backward orange, forward
    blue), the link below (a message's colour is its layer: dark = layer 0, the first the next
    forward needs)."""
    if not timelines:
        raise ValueError("timeline_figure needs at least one Timeline: got none")
    fig = fig or new_figure(8.0, 1.4 + 1.2 * len(timelines))
    axes = fig.subplots(len(timelines), 1, sharex=True, squeeze=False)[:, 0]
    t_max = 1.02 * max(t.iteration_time for t in timelines)
    panels = [TimelinePanel(ax) for ax in axes]
    for panel, t in zip(panels, timelines):
        panel.update(t, t_max)
    axes[-1].set_xlabel("time from the start of backward (ms)")
    if title:
        axes[0].set_title(title, fontsize=10)
    fig._feed_panels = panels  # the widget moves these
    return fig


def search_figure(result: dict, title: str = "") -> Figure:
    """The partition/credit grid of :func:`mlsys_kit.feed.comm_search.search`: iteration time
    (ms) per partition size and credit window, the best point marked, FIFO as a dashed line."""
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    parts = result["partitions"]
    for j, w in enumerate(result["windows"]):
        ax.plot(parts, [1e3 * row[j] for row in result["times"]], marker="o", ms=3, label=f"credit = {w} x partition")
    ax.axhline(1e3 * result["fifo_iteration_time"], color="black", ls="--", lw=1, label="FIFO")
    ax.plot([result["partition"]], [1e3 * result["iteration_time"]], marker="*", ms=14, color="red", ls="none",
            label=f"best: {result['partition']:,} B, credit {result['credit']:,} B")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("partition size (bytes)")
    ax.set_ylabel("iteration time (ms)")
    ax.legend(fontsize=7)
    ax.set_title(title or "ByteScheduler's partition and credit search", fontsize=10)
    return fig
