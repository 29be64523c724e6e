"""Pictures of the two levels of one recomputation problem (Checkmate, MLSys'20, sections 4-5):
recomputed FLOPs against saved bytes for the best block plan and the operator-level optimum,
and what each keeps (matmul outputs, attention, LayerNorm, pointwise), side by side; the
lecture widget moves a budget along the precomputed curves and redraws in place."""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure

from mlsys_kit.memory.checkmate import min_cut_plan, tradeoff
from mlsys_kit.memory.op_real import trace_gpt
from mlsys_kit.viz.figure import canvas_png, live_figure, live_image, new_figure

LEVEL_COLOURS = {"block": "#937860", "op": "#55A868", "min-cut": "#C44E52"}
KIND_COLOURS = {"matmul": "#4C72B0", "attention": "#8172B3", "layernorm": "#DD8452", "pointwise": "#CCB974"}


class LevelsPlot:
    """Left: recompute GFLOP against saved MB, block plans and operator-level optima (and the
    min-cut point); right: the saved bytes of both levels at one budget, by producer."""

    def __init__(self, rows: Sequence[dict], cut: dict, title: str = "", fig: Figure | None = None) -> None:
        self.rows = list(rows)
        self.fig = fig or new_figure(11, 4.2, layout=None)
        self.ax, self.bx = self.fig.add_axes((0.07, 0.13, 0.5, 0.74)), self.fig.add_axes((0.66, 0.13, 0.32, 0.74))
        ax, bx = self.ax, self.bx
        for level in ("block", "op"):
            xs = [r[level]["saved_bytes"] / 1e6 for r in self.rows]
            ys = [r[level]["recompute_flops"] / 1e9 for r in self.rows]
            ax.plot(xs, ys, "o-", color=LEVEL_COLOURS[level], lw=1.6, ms=4,
                    label="best block plan (K/C/R per block)" if level == "block" else "operator level (MILP)")
        ax.plot([cut["saved_bytes"] / 1e6], [cut["recompute_flops"] / 1e9], "D", color=LEVEL_COLOURS["min-cut"],
                ms=7, label="min cut (no matmul recomputed)")
        self.marker = ax.axvline(self.rows[0]["budget_bytes"] / 1e6, color="black", ls="--", lw=1)
        ax.set_xlabel("saved between forward and backward (MB)")
        ax.set_ylabel("recomputed in the backward (GFLOP)")
        ax.legend(loc="upper right", fontsize=9, frameon=False)
        ax.set_title(title, fontsize=10)
        top = max(max(r["block"]["saved_bytes"], r["op"]["saved_bytes"]) for r in self.rows) / 1e6
        bx.set_ylim(0, top * 1.1)
        bx.set_ylabel("saved (MB)")
        self.bars = {}
        for i, level in enumerate(("block", "op")):
            bottom = 0.0
            for kind, colour in KIND_COLOURS.items():
                self.bars[level, kind] = bx.bar(i, 0.0, 0.6, bottom=bottom, color=colour,
                                                label=kind if i == 0 else None)[0]
        bx.set_xticks([0, 1], ["block", "operator"])
        bx.legend(loc="upper right", fontsize=8, frameon=False)
        self.btitle = bx.set_title("", fontsize=10)

    def update(self, k: int) -> Figure:
        r = self.rows[k]
        self.marker.set_xdata([r["budget_bytes"] / 1e6] * 2)
        for level in ("block", "op"):
            bottom = 0.0
            for kind in KIND_COLOURS:
                h = r[level]["breakdown"][kind] / 1e6
                bar = self.bars[level, kind]
                bar.set_y(bottom)
                bar.set_height(h)
                bottom += h
        self.btitle.set_text(f"budget {r['budget_bytes'] / 1e6:.1f} MB: block {r['block']['recompute_flops'] / 1e9:.2f}"
                             f" / op {r['op']['recompute_flops'] / 1e9:.2f} GFLOP")
        return self.fig


def levels_data(preset: str = "tiny", batch: int = 8, seq: int = 128, points: int = 12):
    """The traced graph, the two levels at ``points`` budgets from keep-all to 5 % of it, and
    the min-cut baseline."""
    graph = trace_gpt(preset, batch, seq)
    keep = graph.cost(graph.keep_all())["saved_bytes"]
    budgets = [keep * (1 - 0.95 * k / (points - 1)) for k in range(points)]
    return graph, tradeoff(graph, budgets), min_cut_plan(graph)


def levels_figure(rows: Sequence[dict], cut: dict, title: str = "", k: int = 0) -> Figure:
    return LevelsPlot(rows, cut, title).update(k)


def levels_explorer(preset: str = "tiny", batch: int = 8, seq: int = 128):
    """The lecture widget: a budget slider over precomputed plans of both levels (each update
    moves a line and eight bars). Returns an ipywidgets box."""
    import ipywidgets as w

    graph, rows, cut = levels_data(preset, batch, seq)
    plot = LevelsPlot(rows, cut, graph.name, live_figure(9.6, 4.0, 100))  # 960 px at the display's resolution
    slider = w.SelectionSlider(options=[(f"{r['budget_bytes'] / 1e6:.1f}", k) for k, r in enumerate(rows)],
                               value=len(rows) // 2, description="budget (MB)", continuous_update=True)
    image, facts = live_image(), w.HTML()

    def redraw(*_):
        r = rows[slider.value]
        image.value = canvas_png(plot.update(slider.value), [plot.ax, plot.bx])
        facts.value = (f"block plan <b>{r['block']['plan']}</b>: saves {r['block']['saved_bytes'] / 1e6:.2f} MB, "
                       f"recomputes {r['block']['recompute_flops'] / 1e9:.3f} GFLOP; operator level: saves "
                       f"{r['op']['saved_bytes'] / 1e6:.2f} MB, recomputes {r['op']['recompute_flops'] / 1e9:.3f} GFLOP "
                       f"(matmul {r['op']['recompute_matmul_flops'] / 1e9:.3f})")

    slider.observe(redraw, names="value")
    redraw()
    return w.VBox([slider, image, facts])
