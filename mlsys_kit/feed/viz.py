"""Pictures of gradient communication scheduling (ByteScheduler, SOSP'19, Figure 1 and section
2): one timeline per policy, compute on the top row (backward then the next forward) and the
network link below it, each message coloured by the layer it carries; and the partition/credit
grid (section 5). The panels are made once and moved in place (:class:`TimelinePanel`), so the
lecture widget redraws without new figures."""

from __future__ import annotations

from typing import Sequence

from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mlsys_kit.feed.byteps import allreduce_time, byteps_time, ps_time
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
        self.label = ax.text(0.0, 1.02, "", transform=ax.transAxes, ha="left", va="bottom", fontsize=8)
        ax.set_yticks(list(_ROWS.values()), list(_ROWS))
        ax.set_ylim(-0.6, 1.6)
        ax.xaxis.set_major_locator(MaxNLocator(6))  # few tick labels: text is most of a redraw

    def update(self, t: Timeline, t_max: float, scale: float = 1e3) -> None:
        n = len(t.forward)
        boxes = [_box(s * scale, e * scale, 1.0) for s, e in t.backward + t.forward if e > s]
        colors = [PALETTE["B"]] * sum(e > s for s, e in t.backward) + [PALETTE["F"]] * sum(e > s for s, e in t.forward)
        self.compute.set_verts(boxes)
        self.compute.set_facecolors(colors)
        runs: list[list] = []  # back-to-back chunks of one layer drawn as one box (fewer polygons)
        for m in t.messages:
            layer = m.pieces[0][0]
            if runs and runs[-1][0] == layer and abs(runs[-1][2] - m.start) <= 1e-12 * max(1.0, m.start):
                runs[-1][2] = m.end
            else:
                runs.append([layer, m.start, m.end])
        self.link.set_verts([_box(s * scale, e * scale, 0.0) for _, s, e in runs])
        self.link.set_facecolors(self.cmap([layer / max(1, n - 1) for layer, _, _ in runs]))
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


def real_figure(result: dict) -> Figure:
    """The real gloo run (:func:`mlsys_kit.feed.comm_real.run_real`): measured median iteration
    per policy beside the simulator's prediction from measured layer and network times."""
    fig = new_figure(6.4, 3.6)
    ax = fig.subplots()
    names = list(result["policies"])
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], [1e3 * result["policies"][p]["iteration_time_s"] for p in names], 0.4,
           color=PALETTE["F"], label="measured (median)")
    ax.bar([x + 0.2 for x in xs], [1e3 * result["policies"][p]["simulated_s"] for p in names], 0.4,
           color=PALETTE["idle"], edgecolor="black", label="simulated")
    ax.set_xticks(list(xs), names)
    ax.set_ylabel("backward + next forward (ms)")
    ax.set_title(f"real run on {result['ranks']} {result['backend']} ranks: matches DDP "
                 f"{'bitwise' if result['bitwise'] else result['matches_ddp']}", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def byteps_figure(n: int, model_bytes: float, bandwidth: float, k_mark: int | None = None) -> Figure:
    """BytePS (OSDI'20 section 3.2): communication time against the number of CPU machines k for
    ``n`` GPU machines: all-reduce (flat), PS on k CPU machines, BytePS (from all-reduce at k=0
    down to PS's M/B at k=n)."""
    fig = new_figure(6.4, 3.8)
    ax = fig.subplots()
    ks = list(range(0, 2 * n + 1))
    ax.plot(ks, [1e3 * allreduce_time(n, model_bytes, bandwidth)] * len(ks), color=PALETTE["B"], label="all-reduce")
    ax.plot(ks[1:], [1e3 * ps_time(n, k, model_bytes, bandwidth) for k in ks[1:]], color=PALETTE["W"],
            label="parameter server on k CPU machines")
    ax.plot(ks, [1e3 * byteps_time(n, k, model_bytes, bandwidth) for k in ks], color=PALETTE["F"], lw=2.5,
            label="BytePS")
    if k_mark is not None:
        ax.axvline(k_mark, color="black", ls=":", lw=1)
    ax.set_ylim(0, 1e3 * 2.2 * model_bytes / bandwidth)
    ax.set_xlabel("spare CPU machines k")
    ax.set_ylabel("communication time (ms)")
    ax.set_title(f"n = {n} GPU machines, M = {model_bytes / 1e6:.4g} MB", fontsize=10)
    ax.legend(fontsize=8)
    return fig
