"""Pictures of training memory: memory over one step (rising in the forward pass, falling in
the backward pass) with what holds the peak, the compute/link timeline of a plan (F, R, B,
offload, prefetch, stalls), several policies side by side with their recompute and stall cost,
the real check's measured-vs-predicted bytes, ZeRO-Offload's device/host split, and the
lecture widget."""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mlsys_kit.memory.chain import build_chain
from mlsys_kit.memory.config import MEMORY
from mlsys_kit.memory.policies import POLICIES, plan
from mlsys_kit.viz.figure import LIVE_DPI, PALETTE, blit_png, live_figure, live_image, new_figure, steady_limit

POLICY_COLOURS = {"all": "#4C72B0", "every-k": "#8172B3", "sqrt": "#937860", "optimal": "#55A868",
                  "offload": "#DD8452", "hybrid": "#C44E52"}
OP_COLOURS = {"F": PALETTE["F"], "R": "#8172B3", "B": PALETTE["B"], "offload": "#55A868", "prefetch": "#C44E52"}


def _unit(top: float) -> tuple[float, str]:
    for scale, name in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if top >= scale:
            return scale, name
    return 1.0, "B"


def _tunit(top: float) -> tuple[float, str]:
    return (1.0, "s") if top >= 1 else (1e-3, "ms") if top >= 1e-3 else (1e-6, "µs")


def draw_memory(ax, step, scale: float, tscale: float, label: str | None = None, colour: str | None = None) -> None:
    """Memory over the step as a step function."""
    ts = [t / tscale for t, _ in step.memory]
    ms = [m / scale for _, m in step.memory]
    ax.step(ts, ms, where="post", color=colour or PALETTE["activations"], lw=1.4, label=label)


def draw_timeline(ax, step, tscale: float) -> None:
    """Compute ops on one row, link copies on another: F, R (recompute), B, offload, prefetch."""
    rows = {"compute": 1, "link": 0}
    seen = set()
    for o in step.timeline:
        kind = o["op"]
        ax.barh(rows[o["stream"]], (o["end"] - o["start"]) / tscale, left=o["start"] / tscale, height=0.7,
                color=OP_COLOURS[kind], edgecolor="white", linewidth=0.3, label=None if kind in seen else kind)
        seen.add(kind)
    ax.set_yticks([0, 1], ["link", "compute"])
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.01, 0.5), frameon=False)


def step_figure(res, title: str = "") -> Figure:
    """One policy: memory over the step with the budget and the peak's holders, and the timeline."""
    step = res.step
    if not step.memory:
        raise ValueError("the step has no memory curve: simulate with keep_timeline=True")
    top = max([step.peak_bytes] + ([res.budget_bytes] if res.budget_bytes else []))
    scale, unit = _unit(top)
    tscale, tunit = _tunit(step.step_time)
    fig = Figure(figsize=(8.0, 5.0))
    fig.subplots_adjust(left=0.1, right=0.72, top=0.9 if title else 0.95, bottom=0.16, hspace=0.35)
    ax, tl = fig.subplots(2, 1, height_ratios=[3, 1], sharex=True)
    draw_memory(ax, step, scale, tscale, colour=POLICY_COLOURS.get(res.policy))
    if res.budget_bytes:
        ax.axhline(res.budget_bytes / scale, color="black", ls="--", lw=1, label="budget")
        ax.legend(fontsize=8, loc="upper left")
    ax.plot([step.peak_time / tscale], [step.peak_bytes / scale], "v", color="black")
    ax.set_ylabel(f"device memory ({unit})")
    holders = "\n".join(f"{k}: {v / scale:.3g} {unit}" for k, v in step.peak_holders.items() if v)
    fig.text(0.74, 0.85, f"plan {step.plan if len(step.plan) <= 24 else step.plan[:21] + '...'}\n\n"
             f"peak {step.peak_bytes / scale:.3g} {unit}, held by:\n{holders}\n\n"
             f"step {step.step_time / tscale:.3g} {tunit}\ncompute {step.compute_time / tscale:.3g}\n"
             f"recompute {step.recompute_time / tscale:.3g}\nstalls {step.stall_time / tscale:.3g}",
             fontsize=8, va="top", family="monospace")
    draw_timeline(tl, step, tscale)
    tl.set_xlabel(f"time ({tunit})")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


BAR_CLIP = 4.0  # a step more than this many times the next slowest is cut at twice that one


def bar_top(totals: Sequence[float]) -> float:
    """The top of the step-time bars' axis: the slowest step, unless it is more than
    :data:`BAR_CLIP` times the next slowest (offloading over a slow link: 990 ms against
    30 ms), when the axis stops at twice that one and the cut bar is labelled with its value;
    on one linear axis such a bar flattened every other policy to a few pixels."""
    if not totals or any(not t >= 0 for t in totals):
        raise ValueError(f"bar_top needs step times that are numbers >= 0: got {list(totals)!r}")
    ranked = sorted(totals, reverse=True)
    if len(ranked) > 1 and ranked[1] > 0 and ranked[0] > BAR_CLIP * ranked[1]:
        return 2.0 * ranked[1]
    return ranked[0]


def policies_figure(results: Sequence, title: str = "", budget_bytes: float | None = None) -> Figure:
    """Several policies: memory over the step (left) and step time split into compute,
    recompute and stalls (right)."""
    if not results:
        raise ValueError("results must hold at least one PolicyResult")
    return PoliciesPlot([r.policy for r in results], bool(budget_bytes), bool(title)).update(results, title, budget_bytes)


class PoliciesPlot:
    """The figure of :func:`policies_figure` for a fixed list of policies, drawn once;
    :meth:`update` moves its curves, bars, labels and texts in place (the lecture widget).
    Memory curves run over each policy's own step (time as a fraction of it): offloading's
    stalls can make its step many times longer than the others', which on one shared time axis
    squashed every other curve into its first few percent; the step times are the bars."""

    def __init__(self, policies: Sequence[str], budget_line: bool, title: bool, dpi: int = LIVE_DPI,
                 steady: bool = False) -> None:
        self.steady = steady  # y limits that hold still (the lecture widget, see png) instead of autoscaled
        self.fig = fig = live_figure(10.0, 4.0, dpi)
        fig.subplots_adjust(left=0.07, right=0.98, bottom=0.14, top=0.84 if title else 0.9, wspace=0.72)
        self.ax, self.bars = ax, bars = fig.subplots(1, 2, width_ratios=[2.2, 1])
        # widest first, each later one thinner and on top: policies whose curves coincide (all,
        # optimal and hybrid under a loose budget) show as nested bands, none hidden under another
        widths = [3.4 - 2.2 * i / max(1, len(policies) - 1) for i in range(len(policies))]
        self.curves = [ax.step([0.0], [0.0], where="post", color=POLICY_COLOURS.get(p) or PALETTE["activations"],
                               lw=w, label=p, zorder=2 + i / 10)[0] for i, (p, w) in enumerate(zip(policies, widths))]
        self.budget = ax.axhline(0.0, color="black", ls="--", lw=1, label="budget") if budget_line else None
        # outside the axes, beside them: every policy's entry readable, no curve hidden under it
        self.legend = ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0,
                                title="policy (peak)", title_fontsize=9, frameon=False)
        ax.set_xlim(0, 1)  # each policy's own step from start to end: none squashed by a slower one
        ax.set_xlabel("time, as a fraction of each policy's own step (step times: right)")
        ax.xaxis.set_major_locator(MaxNLocator(5))
        ax.yaxis.set_major_locator(MaxNLocator(5))
        x = list(range(len(policies)))
        zero = [0.0] * len(x)
        self.stacks = [bars.bar(x, zero, color=PALETTE["F"], label="compute"),
                       bars.bar(x, zero, color="#8172B3", label="recompute"),
                       bars.bar(x, zero, color=PALETTE["BW"], label="stall")]
        # "x" at a bar's foot: the plan does not fit; the value at the top of a bar cut by bar_top
        self.marks = [bars.annotate("", (xi, 0), ha="center", va="bottom", color="white", fontsize=10) for xi in x]
        self.cut_labels = [bars.text(xi, 0, "", ha="center", va="top", color="white", fontsize=8, rotation=90,
                                     fontweight="bold") for xi in x]
        bars.set_xticks(x, list(policies), fontsize=9, rotation=40, ha="right", rotation_mode="anchor")
        bars.yaxis.set_major_locator(MaxNLocator(4))
        # above the bars, outside them: no bar, however tall, runs under it
        self.bars_legend = bars.legend(fontsize=8, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=3,
                                       handlelength=0.9, handletextpad=0.3, columnspacing=0.7, borderaxespad=0.2,
                                       frameon=False)
        self.title = fig.suptitle("", fontsize=10) if title else None

    def update(self, results: Sequence, title: str = "", budget_bytes: float | None = None) -> Figure:
        top = max([r.step.peak_bytes for r in results] + [budget_bytes or 0])
        scale, unit = _unit(top)
        totals = [r.step.compute_time + r.step.recompute_time + r.step.stall_time for r in results]
        cut = bar_top(totals)  # seconds; the unit is the axis' own, not the cut bar's
        tscale, tunit = _tunit(cut)
        texts = self.legend.get_texts()
        for line, text, r in zip(self.curves, texts, results):
            span = r.step.step_time or 1.0  # each policy on its own time scale
            line.set_data([t / span for t, _ in r.step.memory], [m / scale for _, m in r.step.memory])
            line.set_label(f"{r.policy} ({r.step.peak_bytes / scale:.3g})")
            text.set_text(line.get_label())
        if self.budget is not None:
            self.budget.set_ydata([(budget_bytes or 0) / scale] * 2)
            self.budget.set_label(f"budget {(budget_bytes or 0) / scale:.3g}")
            texts[len(self.curves)].set_text(self.budget.get_label())
        self.ax.set_ylabel(f"device memory ({unit})")
        comp = [r.step.compute_time / tscale for r in results]
        rec = [r.step.recompute_time / tscale for r in results]
        stall = [r.step.stall_time / tscale for r in results]
        for stack, heights, bottoms in zip(self.stacks, (comp, rec, stall),
                                           ([0.0] * len(comp), comp, [a + b for a, b in zip(comp, rec)])):
            for rect, h, b in zip(stack, heights, bottoms):
                rect.set_y(b)
                rect.set_height(h)
                rect.sticky_edges.y[:] = [b]  # as Axes.bar leaves it: autoscaling stops at a bar's base
        for mark, r in zip(self.marks, results):
            mark.set_text("" if r.fits else "x")
        if self.steady:
            self.ax.set_ylim(0, steady_limit(self.ax.get_ylim()[1], 1.05 * top / scale))
            self.bars.set_ylim(0, steady_limit(self.bars.get_ylim()[1], 1.05 * cut / tscale or 1.0))
        else:
            self.ax.relim()
            self.ax.autoscale_view(scalex=False)
            self.bars.set_ylim(0, 1.05 * cut / tscale or 1.0)  # all steps free: an axis still
        ylim = self.bars.get_ylim()[1]
        for label, xi, total in zip(self.cut_labels, range(len(results)), totals):
            own, own_unit = _tunit(total)
            label.set_position((xi, 0.98 * ylim))  # the cut bar's own value, an arrow: it goes on up
            label.set_text(f"{total / own:.3g} {own_unit} \u2191" if total / tscale > ylim else "")
        self.bars.set_ylabel(f"step time ({tunit})")
        if self.title is not None:
            self.title.set_text(title)
        return self.fig

    def png(self) -> bytes:
        """The picture as PNG: curves, bars, marks, the legend beside the curves (its peaks) and
        the title redrawn over the kept axes (:func:`blit_png`; a new unit redraws its axes)."""
        layers = {self.ax: self.curves + [self.budget] * (self.budget is not None),
                  self.bars: [r for stack in self.stacks for r in stack] + self.marks + self.cut_labels,  # legend on top
                  self.fig: [self.legend] + [self.title] * (self.title is not None)}
        return blit_png(self.fig, layers, keys={self.ax: self.ax.get_ylabel(), self.bars: self.bars.get_ylabel()})


def real_figure(rows: Sequence[dict]) -> Figure:
    """Saved bytes measured with saved_tensors_hooks beside the model's prediction, per run."""
    if not rows:
        raise ValueError("rows must not be empty")
    fig = new_figure(6.4, 3.6)
    ax = fig.subplots()
    scale, unit = _unit(max(max(r["saved_bytes_measured"], r["saved_bytes_predicted"]) for r in rows))
    for i, r in enumerate(rows):
        ax.bar(i - 0.18, r["saved_bytes_predicted"] / scale, 0.34, color=PALETTE["weights"], hatch="//",
               edgecolor="white", label="predicted" if i == 0 else None)
        ax.bar(i + 0.18, r["saved_bytes_measured"] / scale, 0.34, color=PALETTE["activations"],
               label="measured (torch)" if i == 0 else None)
        ax.annotate("=" if r["saved_bytes_measured"] == r["saved_bytes_predicted"] else "!=",
                    (i, max(r["saved_bytes_measured"], r["saved_bytes_predicted"]) / scale), ha="center", va="bottom")
    ax.set_xticks(range(len(rows)), [f"{r.get('policy', '')}\n{r['plan']}" for r in rows], fontsize=7)
    ax.set_ylabel(f"bytes autograd saves ({unit})")
    ax.set_title("tiny GPT: saved activations, torch vs the chain model", fontsize=10)
    ax.legend(fontsize=8)
    return fig


def offload_figure(m: dict) -> Figure:
    """ZeRO-Offload: device and host bytes per rank beside ZeRO-2 and stage 0 on the device."""
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    names = ["stage 0\n(device)", "ZeRO-2\n(device)", "Offload\ndevice", "Offload\nhost"]
    vals = [m["baseline_device_bytes"], m["zero2_device_bytes"], m["device_bytes"], m["host_bytes"]]
    scale, unit = _unit(max(vals))
    ax.bar(range(4), [v / scale for v in vals], color=[PALETTE["weights"], PALETTE["weights"], PALETTE["weights"],
                                                        PALETTE["optimizer"]])
    if "device_memory_bytes" in m:
        ax.axhline(m["device_memory_bytes"] / scale, color="black", ls="--", lw=1, label="device memory")
        ax.legend(fontsize=8)
    ax.set_xticks(range(4), names, fontsize=8)
    ax.set_ylabel(f"bytes per rank ({unit})")
    ax.set_title(f"ZeRO-Offload, Ψ = {m['params'] / 1e9:.3g}B, N_d = {m['ranks']}", fontsize=10)
    return fig


def memory_explorer(preset: str = MEMORY.plan_preset, batch: int = MEMORY.plan_batch,
                    budget_gb: float = MEMORY.widget_budget_gb, link_gbps: float = MEMORY.widget_link_gbps):
    """The lecture widget: a budget slider (GB), a link-bandwidth slider (GB/s), a batch slider
    and the model; memory over the step for every policy and their recompute/stall cost redraw
    at once. Returns an ipywidgets box (display it)."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    budget = w.FloatSlider(value=budget_gb, min=1, max=40, step=0.5, description="budget (GB)",
                           continuous_update=False, style=style)
    link = w.FloatLogSlider(value=link_gbps, base=10, min=0, max=3, step=0.05, description="link (GB/s)",
                            continuous_update=False, style=style)
    bsz = w.IntSlider(value=batch, min=1, max=64, description="batch", continuous_update=False, style=style)
    model = w.Dropdown(options=["gpt2", "vgg16"], value=preset, description="model", style=style)
    image = live_image()
    facts = w.HTML()
    cache: dict = {}
    plot = PoliciesPlot(POLICIES, True, True, dpi=LIVE_DPI, steady=True)  # drawn once; a move redraws what moved

    def redraw(*_):
        key = (model.value, bsz.value)
        if key not in cache:  # the chain and the policies that need neither budget nor link
            cache.clear()
            chain = build_chain(model.value, bsz.value)
            cache[key] = (chain, {p: plan(p, chain, k=2) for p in ("all", "every-k", "sqrt")})
        chain, fixed = cache[key]
        b, lk = budget.value * 1e9, link.value * 1e9
        results = []
        for p in POLICIES:
            if p in fixed:
                r = fixed[p]
                results.append(type(r)(p, b, lk, r.step.peak_bytes <= b, r.step))
            else:
                results.append(plan(p, chain, b, lk, k=2))
        plot.update(results, f"{chain.name}, budget {budget.value:g} GB, link {link.value:.3g} GB/s", b)
        image.value = plot.png()
        facts.value = "<br>".join(
            f"<b>{r.policy}</b>: peak {r.step.peak_bytes / 1e9:.3g} GB {'fits' if r.fits else '<b>does not fit</b>'}, "
            f"step x{r.step.step_time / r.step.compute_time:.3f} (recompute {r.step.recompute_time * 1e3:.3g} ms, "
            f"stalls {r.step.stall_time * 1e3:.3g} ms), plan {r.step.plan}" for r in results)

    for widget in (budget, link, bsz, model):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([budget, link]), w.HBox([bsz, model]), image, facts])
