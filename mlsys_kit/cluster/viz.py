"""Pictures of a cluster-scheduling run: every GPU over time coloured by the job holding it (the
Gantt chart of Gavel, OSDI'20, figure 4 / Tiresias, NSDI'19, figure 6 style) and the JCT CDF per
policy (Tiresias figure 8, Gavel figure 9)."""

from __future__ import annotations

from typing import Mapping

import numpy as np
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from mlsys_kit.cluster.metrics import jcts
from mlsys_kit.cluster.simulate import SimResult
from mlsys_kit.viz.figure import new_figure

POLICY_COLORS = {"fifo": "#8C8C8C", "srtf": "#DD8452", "tiresias": "#4C72B0", "gavel": "#55A868",
                 "gavel-agnostic": "#A6D5A0", "pollux": "#C44E52"}


def gpu_rows(res: SimResult) -> list[tuple[int, float, float, int]]:
    """(GPU row, start, end, job) for every GPU of every recorded segment: each machine's GPUs
    are rows ``offset .. offset + gpus - 1``, and a segment's GPUs on a machine take the lowest
    rows free at its start (interval partitioning, machine by machine)."""
    if not res.segments:
        raise ValueError("the run has no timeline: simulate(..., record=True)")
    offsets = np.concatenate([[0], np.cumsum([m.gpus for m in res.cluster.machines])])
    free_at = [[0.0] * m.gpus for m in res.cluster.machines]
    out = []
    for g in sorted(res.segments, key=lambda g: (g.start, g.job)):
        for m in sorted(set(g.machines)):
            need = g.machines.count(m)
            slots = [k for k, t in enumerate(free_at[m]) if t <= g.start + 1e-9][:need]
            for k in slots:
                free_at[m][k] = g.end
                out.append((int(offsets[m] + k), g.start, g.end, g.job))
    return out


def job_colors(n: int) -> np.ndarray:
    """An RGBA colour per job id (a cycled qualitative map, so neighbours differ)."""
    from matplotlib import colormaps

    return colormaps["tab20"](np.arange(n) % 20)


def gantt_polys(res: SimResult) -> tuple[list[np.ndarray], list[int]]:
    """One rectangle (4 corners) per GPU-row segment, and its job."""
    rows = gpu_rows(res)
    polys = [np.array([[s, r], [e, r], [e, r + 0.9], [s, r + 0.9]]) for r, s, e, _ in rows]
    return polys, [j for *_, j in rows]


def draw_gantt(ax, res: SimResult) -> PolyCollection:
    """GPUs (rows, grouped by machine, types labelled) over time (hours), coloured by job."""
    polys, owners = gantt_polys(res)
    colors = job_colors(max(s.id for s in res.states) + 1)[owners]
    coll = PolyCollection([p / [3600.0, 1.0] for p in polys], facecolors=colors, edgecolors="none")
    ax.add_collection(coll)
    ax.set_xlim(0, max(s.finish for s in res.states) / 3600.0)
    ax.set_ylim(0, res.cluster.total_gpus)
    ax.set_xlabel("time (h)")
    ax.set_ylabel("GPU")
    ax.invert_yaxis()
    row = 0
    for t in dict.fromkeys(m.gpu_type for m in res.cluster.machines):
        n = sum(m.gpus for m in res.cluster.machines if m.gpu_type == t)
        ax.text(1.01, 1 - (row + n / 2) / res.cluster.total_gpus, t, transform=ax.transAxes, va="center", fontsize=8)
        row += n
    return coll


def cdf_points(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted values and their empirical CDF."""
    x = np.sort(np.asarray(values, dtype=float))
    return x, np.arange(1, len(x) + 1) / len(x)


def draw_cdfs(ax, runs: Mapping[str, SimResult]) -> dict:
    """JCT CDF (hours, log scale) of each run, one line per policy."""
    lines = {}
    for name, res in runs.items():
        x, y = cdf_points(jcts(res) / 3600.0)
        (lines[name],) = ax.plot(x, y, label=name, color=POLICY_COLORS.get(name), lw=1.8)
    ax.set_xscale("log")
    ax.set_xlabel("job completion time (h)")
    ax.set_ylabel("fraction of jobs")
    ax.set_ylim(0, 1.01)
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right", fontsize=8)
    return lines


def plot_run(res: SimResult, title: str = "") -> Figure:
    """The Gantt chart of one run beside its JCT CDF."""
    fig = new_figure(11, 4.2)
    a, b = fig.subplots(1, 2, width_ratios=[2.2, 1])
    draw_gantt(a, res)
    a.set_title(title or f"{res.policy}: GPUs over time, coloured by job")
    draw_cdfs(b, {res.policy: res})
    b.set_title("JCT CDF")
    return fig


def plot_compare(runs: Mapping[str, SimResult], title: str = "JCT CDF per policy") -> Figure:
    """JCT CDFs of several policies on one trace."""
    if not runs:
        raise ValueError("plot_compare needs at least one run")
    fig = new_figure(6.4, 4.0)
    ax = fig.subplots()
    draw_cdfs(ax, runs)
    ax.set_title(title)
    return fig
