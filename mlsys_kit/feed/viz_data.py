"""Pictures of the input pipeline (CoorDL, VLDB'21, section 4.1): the steady hit rate of the OS
page cache (LRU) and of MinIO, and the data-stall fraction of the epoch, against the share of the
dataset that fits in memory; a marker at the current setting. :class:`CachePanel` draws once and
moves its lines in place (for the lecture widget); :func:`plot_cache` is the figure for the CLI's
``--plot`` and the report."""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
from matplotlib.figure import Figure

from mlsys_kit.feed.data import Pipeline, epoch_model, sweep_memory

# mlsys_kit.viz.figure's PALETTE["B"] and ["F"]: tests/test_architecture.py counts only viz.py,
# widgets.py and gantt_raster.py as a room's plots, so this file (a core module to it) may not
# import the shared drawing helpers; it builds its Figure directly.
COLORS = {"lru": "#DD8452", "minio": "#4C72B0"}
LABELS = {"lru": "LRU (OS page cache)", "minio": "MinIO (CoorDL)"}


class CachePanel:
    """Two axes (hit rate; stall fraction) with a line per cache over memory/dataset in [0, 1.2]
    and a marker at ``p``'s own memory/dataset; :meth:`update` moves them for a new pipeline."""

    def __init__(self, ax_hit, ax_stall, points: int = 61) -> None:
        self.ax_hit, self.ax_stall = ax_hit, ax_stall
        self.fractions = np.linspace(0.0, 1.2, points)
        self.lines, self.marks = {}, {}
        for cache in ("lru", "minio"):
            kw = {"color": COLORS[cache], "label": LABELS[cache]}
            self.lines[cache] = (ax_hit.plot([], [], **kw)[0], ax_stall.plot([], [], **kw)[0])
            self.marks[cache] = (ax_hit.plot([], [], "o", color=COLORS[cache])[0],
                                 ax_stall.plot([], [], "o", color=COLORS[cache])[0])
        ax_hit.set(xlim=(0, 1.2), ylim=(-0.02, 1.02), xlabel="memory / dataset", ylabel="steady hit rate",
                   title="cache hit rate (epochs after the first)")
        ax_stall.set(xlim=(0, 1.2), ylim=(-0.02, 1.02), xlabel="memory / dataset", ylabel="stall fraction of the epoch",
                     title="data stalls (fetch + prep)")
        ax_hit.legend(loc="upper left", fontsize=8)
        for ax in (ax_hit, ax_stall):
            ax.grid(alpha=0.3)

    def update(self, p: Pipeline) -> None:
        sweep = sweep_memory(p, self.fractions)
        here = p.memory_gb / p.dataset_gb
        for cache in ("lru", "minio"):
            self.lines[cache][0].set_data(self.fractions, sweep[cache]["hit_rate"])
            self.lines[cache][1].set_data(self.fractions, sweep[cache]["stall_fraction"])
            e = epoch_model(p, cache)
            self.marks[cache][0].set_data([min(here, 1.2)], [e["hit_rate"]])
            self.marks[cache][1].set_data([min(here, 1.2)], [e["stall_fraction"]])


def plot_cache(p: Pipeline | None = None, **pipeline) -> Figure:
    """Hit rate and stall fraction against memory/dataset for both caches (``Pipeline(**pipeline)``
    unless ``p`` is given), the current setting marked."""
    p = p if p is not None else Pipeline(**pipeline)
    fig = Figure(figsize=(10.0, 3.8), layout="constrained")
    ax_hit, ax_stall = fig.subplots(1, 2)
    CachePanel(ax_hit, ax_stall).update(p)
    d = asdict(p)
    fig.suptitle(f"dataset {d['dataset_gb']:g} GB, memory {d['memory_gb']:g} GB, storage {d['storage_mb_s']:g} MB/s, "
                 f"{d['cpu_workers']} prep cores", fontsize=9)
    return fig
