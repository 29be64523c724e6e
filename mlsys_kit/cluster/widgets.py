"""The lecture widget: a heterogeneous cluster's GPUs over time, coloured by job, and the JCT CDF
of every policy, with sliders for the offered load, the heterogeneity of the GPU types (0: a K80
is as fast as a V100; 1: Gavel's full gaps) and the policy shown.

Every (load, heterogeneity, policy) run is simulated once when the widget starts and kept as
the drawing needs it (rectangles and sorted JCTs); the axes, ticks and labels are rendered once per
load (the time axis spans the longest run at that load) and kept as a background. Moving a slider
restores that background, swaps the rectangles of one PolyCollection and the data of the CDF
lines, draws those alone and encodes the PNG (blitting): an update is a redraw, never a
simulation, and never lays out text.
"""

from __future__ import annotations

import numpy as np

from mlsys_kit.checks import positive_int
from mlsys_kit.cluster.core import Cluster
from mlsys_kit.cluster.metrics import jcts, summarize
from mlsys_kit.cluster.registry import make_policy
from mlsys_kit.cluster.simulate import simulate
from mlsys_kit.cluster.viz import POLICY_COLORS, cdf_points, gantt_polys, job_colors
from mlsys_kit.cluster.workload import generate
from mlsys_kit.viz.figure import live_figure, live_image

LOADS = (0.8, 1.4)
HETEROGENEITY = (0.0, 0.5, 1.0)
WIDGET_POLICIES = ("fifo", "srtf", "tiresias", "gavel", "gavel-agnostic")


def precompute(n: int = 60, seed: int = 1, cluster: Cluster | None = None) -> dict:
    """Every run the widget can show: ``{(load, heterogeneity, policy): {"polys", "owners",
    "finish", "jct_sorted", "metrics"}}`` on ``cluster`` (default 8 V100 + 8 P100 + 8 K80)."""
    positive_int("n", n)
    cluster = cluster or Cluster.from_counts({"v100": 8, "p100": 8, "k80": 8})
    out = {}
    for load in LOADS:
        for h in HETEROGENEITY:
            jobs = generate(n, "philly", gpus=cluster.total_gpus, load=load, seed=seed, gpu_types=cluster.gpu_types,
                            heterogeneity=h, max_size=max(cluster.gpus_per_type().values()))
            for p in WIDGET_POLICIES:
                res = simulate(jobs, cluster, make_policy(p), record=True)
                polys, owners = gantt_polys(res)
                out[(load, h, p)] = {"polys": [q / [3600.0, 1.0] for q in polys], "owners": np.array(owners),
                                     "finish": max(s.finish for s in res.states) / 3600.0,
                                     "jct_sorted": cdf_points(jcts(res) / 3600.0), "metrics": summarize(res)}
    return {"cluster": cluster, "runs": out, "n": n}


def cluster_explorer(n: int = 60, seed: int = 1):
    """The widget (an ipywidgets VBox: sliders, a line of numbers, the picture)."""
    import io

    import ipywidgets as w
    from matplotlib.collections import PolyCollection
    from matplotlib.image import imsave

    data = precompute(n, seed)
    runs, cluster = data["runs"], data["cluster"]
    colors = job_colors(n)
    style = {"description_width": "initial"}
    load = w.SelectionSlider(options=list(LOADS), value=LOADS[-1], description="offered load",
                             continuous_update=False, style=style)
    het = w.SelectionSlider(options=list(HETEROGENEITY), value=1.0, description="heterogeneity",
                            continuous_update=False, style=style)
    policy = w.ToggleButtons(options=list(WIDGET_POLICIES), value="tiresias", description="policy", style=style)
    image, facts = live_image(), w.HTML()

    fig = live_figure(11, 4.0, dpi=100)
    canvas = fig.canvas
    ax_g = fig.add_axes([0.06, 0.13, 0.55, 0.78])
    ax_c = fig.add_axes([0.72, 0.13, 0.26, 0.78])
    coll = PolyCollection([], edgecolors="none", animated=True)
    ax_g.add_collection(coll)
    ax_g.set_ylim(cluster.total_gpus, 0)
    ax_g.set_xlabel("time (h)")
    ax_g.set_ylabel("GPU")
    ax_g.set_title(f"{cluster.total_gpus} GPUs over time, coloured by job", fontsize=9)
    row = 0
    for t, k in cluster.gpus_per_type().items():
        ax_g.text(1.005, 1 - (row + k / 2) / cluster.total_gpus, t, transform=ax_g.transAxes, va="center", fontsize=8)
        row += k
    lines = {p: ax_c.plot([], [], label=p, color=POLICY_COLORS.get(p), lw=1.5, animated=True)[0]
             for p in WIDGET_POLICIES}
    lo = min(r["jct_sorted"][0][0] for r in runs.values())
    hi = max(r["jct_sorted"][0][-1] for r in runs.values())
    ax_c.set_xscale("log")
    ax_c.set_xlim(lo * 0.8, hi * 1.2)
    ax_c.set_ylim(0, 1.01)
    ax_c.set_xlabel("JCT (h)")
    ax_c.set_ylabel("fraction of jobs")
    ax_c.grid(alpha=0.3)
    ax_c.legend(handles=[ax_c.plot([], [], color=POLICY_COLORS.get(p), label=p)[0] for p in WIDGET_POLICIES],
                fontsize=7, loc="lower right")
    ax_c.set_title("JCT CDF, every policy (thick: shown)", fontsize=9)
    span = {ld: max(r["finish"] for (l2, _, _), r in runs.items() if l2 == ld) for ld in LOADS}
    backgrounds = {}
    for ld in LOADS:  # axes, ticks and labels drawn once per load
        ax_g.set_xlim(0, span[ld])
        canvas.draw()
        backgrounds[ld] = canvas.copy_from_bbox(fig.bbox)

    def render() -> bytes:
        canvas.restore_region(backgrounds[load.value])
        ax_g.set_xlim(0, span[load.value])
        ax_g.draw_artist(coll)
        for line in lines.values():
            ax_c.draw_artist(line)
        buf = io.BytesIO()
        imsave(buf, canvas.buffer_rgba(), format="png", pil_kwargs={"compress_level": 1})
        return buf.getvalue()

    def redraw(*_):
        r = runs[(load.value, het.value, policy.value)]
        coll.set_verts(r["polys"])
        coll.set_facecolors(colors[r["owners"]])
        for p, line in lines.items():
            x, y = runs[(load.value, het.value, p)]["jct_sorted"]
            line.set_data(x, y)
            line.set_linewidth(3.0 if p == policy.value else 1.2)
        image.value = render()
        m = r["metrics"]
        fifo = runs[(load.value, het.value, "fifo")]["metrics"]
        facts.value = (f"<b>{policy.value}</b>: avg JCT <b>{m['avg_jct'] / 3600:.2f} h</b> "
                       f"({fifo['avg_jct'] / m['avg_jct']:.2f}x better than FIFO), p99 {m['p99_jct'] / 3600:.1f} h, "
                       f"utilisation {m['utilization']:.0%}, {m['preemptions']} preemptions; {n} Philly-shaped jobs on "
                       + ", ".join(f"{k} {t.upper()}" for t, k in cluster.gpus_per_type().items()))

    for c in (load, het, policy):
        c.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([load, het]), policy, facts, image])
