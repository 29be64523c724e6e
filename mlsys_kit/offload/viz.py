"""Pictures of offloaded inference: the policy search's throughput against the effective batch
and its placement (FlexGen, section 4.2 and figure 1), the real run's traffic on each link over
a generation in both orders (section 4.1), and InfiniGen's attention mass against the fraction
of the KV cache fetched (section 4, figure 9's question).

Each function returns a ``matplotlib.figure.Figure`` (no pyplot state); :mod:`widgets` keeps the
prefetch figure live for the lecture slider.
"""

from __future__ import annotations

from typing import Any

from matplotlib.figure import Figure

from mlsys_kit.offload.config import KINDS, TIERS
from mlsys_kit.offload.cost import LINKS
from mlsys_kit.viz.figure import PALETTE, new_figure

TIER_COLORS = {"device": "#55A868", "host": "#4C72B0", "disk": "#C44E52"}
LINK_COLORS = {"host_to_device": "#4C72B0", "disk_to_host": "#C44E52", "device_to_host": "#DD8452",
               "host_to_disk": "#937860"}
SCHEDULE_STYLE = {"zigzag": ("#4C72B0", "-"), "row": ("#DD8452", "--")}
COLUMN_COLORS = {"skewed": PALETTE["kv"], "random": "#999999", "oracle": "#55A868"}


def _best_per_batch(candidates: list[dict[str, Any]]) -> tuple[list[int], list[float]]:
    best: dict[int, float] = {}
    for c in candidates:
        n = c["batch_size"] * c["num_batches"]
        best[n] = max(best.get(n, 0.0), c["tokens_per_s"])
    xs = sorted(best)
    return xs, [best[x] for x in xs]


def plot_plan(plans: dict[str, dict[str, Any]], title: str = "") -> Figure:
    """``plans``: schedule name -> ``search.search`` result. Left: the LP's best tokens/s at each
    effective batch size per schedule, the chosen policy starred. Right: the first plan's placement."""
    fig = new_figure(11, 4.2)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for name, plan in plans.items():
        color, style = SCHEDULE_STYLE.get(name, ("#333333", "-"))
        xs, ys = _best_per_batch(plan["candidates"])
        ax.plot(xs, ys, style, color=color, marker=".", label=f"{name}: best {plan['tokens_per_s']:.3g} tok/s "
                f"at batch {plan['batch']}")
        ax.plot([plan["batch"]], [plan["tokens_per_s"]], "*", color=color, markersize=14)
    ax.set(xscale="log", xlabel="effective batch size (batch size x batches per block)",
           ylabel="generation throughput (tokens/s)", title=title or "policy search (LP per batch shape)")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", fontsize=8)
    name, plan = next(iter(plans.items()))
    left = [0.0] * len(KINDS)
    for tier in TIERS:
        vals = [plan["placement"][k][tier] for k in KINDS]
        bx.barh(list(KINDS), vals, left=left, color=TIER_COLORS[tier], label=tier)
        left = [a + b for a, b in zip(left, vals)]
    bx.set(xlim=(0, 100), xlabel="% of each tensor kind", title=f"placement ({name})")
    bx.legend(loc="lower right", fontsize=8)
    return fig


def plot_run(runs: list[dict[str, Any]]) -> Figure:
    """Real runs (``real.run_offloaded``): bytes moved on each link as the generation proceeds
    (one line per link and schedule), and the totals measured next to the cost model's."""
    fig = new_figure(11, 4.2)
    ax, bx = fig.subplots(1, 2, gridspec_kw={"width_ratios": [3, 2]})
    for run in runs:
        _, style = SCHEDULE_STYLE.get(run["schedule"], ("#333333", "-"))
        steps = range(1, len(run["trace"]) + 1)
        for link in LINKS:
            ys = [t[link] / 1e6 for t in run["trace"]]
            if ys and ys[-1] > 0:
                ax.plot(steps, ys, style, color=LINK_COLORS[link], label=f"{run['schedule']}: {link}")
    ax.set(xlabel="compute step (token, layer, batch) in schedule order", ylabel="MB moved so far",
           title="real run: traffic on each link over a generation")
    ax.grid(alpha=0.3)
    if ax.lines:
        ax.legend(fontsize=7, loc="upper left")
    width = 0.8 / (2 * max(1, len(runs)))
    for i, run in enumerate(runs):
        for j, (kind, key) in enumerate((("measured", "bytes_moved_measured"), ("model", "bytes_moved_predicted"))):
            off = (2 * i + j) * width - 0.4 + width / 2
            bx.bar([x + off for x in range(len(LINKS))], [run[key][link] / 1e6 for link in LINKS], width,
                   color=SCHEDULE_STYLE.get(run["schedule"], ("#333",))[0], alpha=1.0 if j == 0 else 0.45,
                   label=f"{run['schedule']} {kind}")
    bx.set_xticks(range(len(LINKS)), [link.replace("_to_", "\n-> ") for link in LINKS], fontsize=8)
    bx.set(ylabel="MB", title="total per link: measured vs cost model")
    bx.legend(fontsize=7)
    return fig


def plot_prefetch(sweep: dict[str, Any], fraction: float | None = None) -> Figure:
    """InfiniGen (``infinigen.fraction_sweep``): attention mass recovered and end-to-end top-1
    agreement against the fraction of cached tokens fetched, per column choice."""
    fig = new_figure(11, 4.2)
    draw_prefetch(fig, sweep, fraction)
    return fig


def draw_prefetch(fig: Figure, sweep: dict[str, Any], fraction: float | None) -> list:
    """Draw the prefetch panels on ``fig`` (on its first two axes if it has them; a line at
    ``fraction`` unless None); returns the two axes."""
    ax, bx = fig.subplots(1, 2) if not fig.axes else fig.axes[:2]
    xs = sweep["fractions"]
    for name in ("oracle", "skewed", "random"):
        ax.plot(xs, sweep[name]["attention_mass"], marker=".", color=COLUMN_COLORS[name], label=name)
        bx.plot(xs, sweep[name]["top1_agreement"], marker=".", color=COLUMN_COLORS[name], label=name)
    ax.plot([0, 1], [0, 1], ":", color="#bbbbbb", label="uniform attention")
    ax.set(xlabel="fraction of cached tokens fetched (= KV bytes vs fetching all)", ylabel="attention mass recovered",
           title="attention mass (each layer on the full run's input)", xlim=(0, 1), ylim=(0, 1.02))
    bx.set(xlabel="fraction of cached tokens fetched", ylabel="next-token agreement with full attention",
           title="end to end: every layer on its own subset", xlim=(0, 1), ylim=(0, 1.02))
    for a in (ax, bx):
        a.grid(alpha=0.3)
        a.legend(fontsize=8, loc="lower right")
        if fraction is not None:
            a.axvline(fraction, color="#333333", lw=1)
    return [ax, bx]
