"""Pictures of ZeRO (SC'20 section 5, Figure 1): per-device memory of the model states as
stacked bars for stages 0-3, the communication volume per step, and measured-vs-model bars."""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure

from mlsys_kit.viz.figure import LIVE_DPI, PALETTE, blit_png, live_figure, live_image, new_figure, steady_limit
from mlsys_kit.zero.config import ZERO
from mlsys_kit.zero.model import PAPER_NAMES, STAGES, StageMemory, all_stages, max_params

_PARTS = (("params_bytes", "parameters", "weights"), ("grads_bytes", "gradients", "grads"),
          ("optimizer_bytes", "optimizer states", "optimizer"))


def _unit(max_bytes: float) -> tuple[float, str]:
    for scale, name in ((1e12, "TB"), (1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if max_bytes >= scale:
            return scale, name
    return 1.0, "B"


def draw_memory_bars(ax, stages: Sequence[StageMemory], device_bytes: float | None = None) -> None:
    """Stacked bars (parameters, gradients, optimizer states) per stage on ``ax``."""
    _MemoryBars(ax, stages, device_bytes is not None and device_bytes > 0).update(stages, device_bytes)


def _rescale(ax, top: float, steady: bool) -> None:
    """``ax``'s y limits for bars up to ``top`` with a total written above each: autoscaled, or
    held still (room for the totals inside the axes, whose pixels a live redraw restores)."""
    if steady:
        ax.set_ylim(0, steady_limit(ax.get_ylim()[1], max(top, 1e-9) * 1.15))
    else:
        ax.relim()
        ax.autoscale_view()


class _MemoryBars:
    """The stacked bars of :func:`draw_memory_bars`, made once and moved in place by :meth:`update`."""

    def __init__(self, ax, stages: Sequence[StageMemory], device_line: bool) -> None:
        self.ax, x = ax, list(range(len(stages)))
        self.bars = [ax.bar(x, [0.0] * len(x), color=PALETTE[colour], label=label, width=0.6)
                     for _, label, colour in _PARTS]
        self.totals = [ax.annotate("", (xi, 0.0), ha="center", va="bottom", fontsize=8) for xi in x]
        self.device = ax.axhline(0.0, color="black", ls="--", lw=1, label="device memory") if device_line else None
        ax.set_xticks(x, [f"{m.stage}\n{PAPER_NAMES[m.stage]}" for m in stages])
        ax.set_xlabel("ZeRO stage")
        ax.legend(fontsize=8, loc="upper right")

    def update(self, stages: Sequence[StageMemory], device_bytes: float | None = None, steady: bool = False) -> None:
        """Move the bars; ``steady``: the y limit holds still while it holds the bars and their
        totals with the tallest on at least half the axis (:func:`steady_limit`), else autoscaled."""
        top = max([m.total_bytes for m in stages] + [device_bytes or 0])
        scale, unit = _unit(top)
        bottom = [0.0] * len(stages)
        for (key, _, _), bars in zip(_PARTS, self.bars):
            for i, (rect, m) in enumerate(zip(bars, stages)):
                rect.set_y(bottom[i])
                rect.set_height(getattr(m, key) / scale)
                rect.sticky_edges.y[:] = [bottom[i]]  # as Axes.bar leaves it: autoscaling stops at a bar's base
                bottom[i] += getattr(m, key) / scale
        for xi, (ann, m) in enumerate(zip(self.totals, stages)):
            ann.xy = ann.xyann = (xi, m.total_bytes / scale)
            ann.set_text(f"{m.total_bytes / scale:.3g}")
        if self.device is not None:
            self.device.set_ydata([(device_bytes or 0) / scale] * 2)
        self.ax.set_ylabel(f"model states per device ({unit})")
        _rescale(self.ax, top / scale, steady)


class ZeroPlot:
    """The figure of :func:`memory_figure`, drawn once; :meth:`update` moves its bars, totals,
    line and texts in place (what the lecture widget redraws when a slider moves)."""

    def __init__(self, stages: Sequence[StageMemory], device_line: bool, fit_panel: bool, title: bool,
                 dpi: int = 100, steady: bool = False) -> None:
        self.steady = steady  # limits that hold still (the lecture widget) instead of autoscaled
        panels = 3 if fit_panel else 2
        # A fixed layout, not the kit's constrained one: a third faster, and the lecture widget
        # redraws this figure on every slider move.
        self.fig = fig = live_figure(3.8 * panels, 3.8, dpi)  # three panels: 1140 px, one page wide
        fig.subplots_adjust(left=0.2 / panels, right=0.99, bottom=0.19, top=0.86 if title else 0.93, wspace=0.4)
        self.axes = axes = fig.subplots(1, panels, width_ratios=[2, 1, 1.2][:panels])
        self.memory = _MemoryBars(axes[0], stages, device_line)
        x = [m.stage for m in stages]
        self.comm = axes[1].bar(x, [0.0] * len(x), color=PALETTE["F"], width=0.6)
        axes[1].set_xticks(x)
        axes[1].set_xlabel("ZeRO stage")
        axes[1].set_ylabel("sent per rank per step (units of Ψ)")
        axes[1].set_title("communication (section 7)", fontsize=9)
        self.fits = self.fit_labels = None
        if fit_panel:
            self.fits = axes[2].bar(x, [0.0] * len(x), color=PALETTE["BW"], width=0.6)
            self.fit_labels = [axes[2].annotate("", (xi, 0.0), ha="center", va="bottom", fontsize=8) for xi in x]
            axes[2].set_xticks(x)
            axes[2].set_xlabel("ZeRO stage")
            axes[2].set_ylabel("largest model that fits (billions of params)")
        self.title = fig.suptitle("", fontsize=10) if title else None

    def update(self, stages: Sequence[StageMemory], title: str = "", device_bytes: float | None = None,
               max_params: Sequence[int] | None = None) -> Figure:
        self.memory.update(stages, device_bytes, self.steady)
        for rect, m in zip(self.comm, stages):
            rect.set_height(m.comm_volume_psi)
        self.axes[1].relim()
        self.axes[1].autoscale_view()
        if self.fits is not None:
            for rect, ann, m, p in zip(self.fits, self.fit_labels, stages, max_params):
                rect.set_height(p / 1e9)
                ann.xy = ann.xyann = (ann.xy[0], p / 1e9)
                ann.set_text(f"{p / 1e9:.3g}B")
            _rescale(self.axes[2], max(max_params) / 1e9, self.steady)
        if self.title is not None:
            self.title.set_text(title)
        return self.fig

    def png(self) -> bytes:
        """The widget's picture: the bars, totals, device line and title redrawn over the kept
        axes (:func:`blit_png`; the communication panel never moves, the unit in the y label
        redraws its axes)."""
        mem, fits = self.memory, self.axes[2] if self.fits is not None else None
        layers = {mem.ax: [r for bars in mem.bars for r in bars] + mem.totals + [mem.device] * (mem.device is not None)}
        if fits is not None:
            layers[fits] = list(self.fits) + self.fit_labels
        if self.title is not None:
            layers[self.fig] = [self.title]
        return blit_png(self.fig, layers, keys={mem.ax: mem.ax.get_ylabel()})


def memory_figure(stages: Sequence[StageMemory], title: str = "", device_bytes: float | None = None,
                  max_params: Sequence[int] | None = None) -> Figure:
    """Memory per device (stacked) and communication volume per stage, side by side; with
    ``max_params`` a third panel shows the largest model that fits per stage."""
    if not stages:
        raise ValueError("stages must hold at least one StageMemory")
    plot = ZeroPlot(stages, bool(device_bytes), max_params is not None, bool(title))
    return plot.update(stages, title, device_bytes, max_params)


def measured_figure(rows: Sequence[dict], title: str = "") -> Figure:
    """Measured bytes per rank beside the model's, per stage: ``rows`` hold ``stage``,
    ``measured`` and ``model`` dicts with params_bytes, grads_bytes and optimizer_bytes."""
    if not rows:
        raise ValueError("rows must not be empty")
    fig = new_figure(6.4, 3.8)
    ax = fig.subplots()
    top = max(r[w]["params_bytes"] + r[w]["grads_bytes"] + r[w]["optimizer_bytes"]
              for r in rows for w in ("measured", "model"))
    scale, unit = _unit(top)
    for i, r in enumerate(rows):
        for dx, which, hatch in ((-0.18, "model", "//"), (0.18, "measured", "")):
            bottom = 0.0
            for key, label, colour in _PARTS:
                v = r[which][key] / scale
                ax.bar(i + dx, v, bottom=bottom, width=0.34, color=PALETTE[colour], hatch=hatch,
                       edgecolor="white", label=label if (i, which) == (0, "measured") else None)
                bottom += v
    ax.set_xticks(range(len(rows)), [f"stage {r['stage']}\nmodel | measured" for r in rows])
    ax.set_ylabel(f"model states per rank ({unit})")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=10)
    return fig


def zero_explorer(params_b: float = ZERO.example_params / 1e9, ranks: int = ZERO.example_ranks, k: float = ZERO.k,
                  device_gb: float = ZERO.example_device_gb):
    """The lecture widget: sliders for model size (billions of parameters), N_d, K and device
    memory, starting at the paper's Figure 1 (:data:`mlsys_kit.zero.config.ZERO`); the stacked
    bars of stages 0-3, the communication volume and the largest model that fits redraw at once.
    Returns an ipywidgets box (display it)."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    size = w.FloatLogSlider(value=params_b, base=10, min=-1, max=4, step=0.05, description="Ψ (B params)",
                            continuous_update=False, style=style)
    nd = w.SelectionSlider(options=[2 ** i for i in range(0, 13)], value=ranks, description="N_d",
                           continuous_update=False, style=style)
    kk = w.FloatSlider(value=k, min=2, max=32, step=1, description="K (bytes/param)", continuous_update=False,
                       style=style)
    mem = w.FloatSlider(value=device_gb, min=8, max=192, step=8, description="device memory (GB)",
                        continuous_update=False, style=style)
    image = live_image()
    facts = w.HTML()
    plot = ZeroPlot(all_stages(int(params_b * 1e9), ranks, k), True, True, True, dpi=LIVE_DPI, steady=True)

    def redraw(change=None):
        psi = int(size.value * 1e9)
        stages = all_stages(psi, nd.value, kk.value)
        fits = [max_params(mem.value * 1e9, nd.value, s, kk.value) for s in STAGES]
        plot.update(stages, f"Ψ = {size.value:.3g}B, N_d = {nd.value}, K = {kk.value:g}", mem.value * 1e9, fits)
        image.value = plot.png()  # drawn once: a move redraws the bars, totals, line and title
        ok = [s.stage for s in stages if s.total_bytes <= mem.value * 1e9]
        facts.value = ("per device: " + ", ".join(f"stage {s.stage} <b>{s.total_bytes / 1e9:.3g} GB</b>" for s in stages)
                       + f"<br>fits in {mem.value:g} GB: " + (f"stages {ok}" if ok else "<b>no stage</b>")
                       + "; largest model that fits: " + ", ".join(f"{f / 1e9:.3g}B" for f in fits))

    for widget in (size, nd, kk, mem):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([size, nd]), w.HBox([kk, mem]), facts, image])
