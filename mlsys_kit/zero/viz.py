"""Pictures of ZeRO (SC'20 section 5, Figure 1): per-device memory of the model states as
stacked bars for stages 0-3, the communication volume per step, and measured-vs-model bars."""

from __future__ import annotations

from typing import Sequence

from matplotlib.figure import Figure

from mlsys_kit.viz.figure import PALETTE, figure_png, new_figure
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
    top = max([m.total_bytes for m in stages] + [device_bytes or 0])
    scale, unit = _unit(top)
    x = list(range(len(stages)))
    bottom = [0.0] * len(stages)
    for key, label, colour in _PARTS:
        vals = [getattr(m, key) / scale for m in stages]
        ax.bar(x, vals, bottom=bottom, color=PALETTE[colour], label=label, width=0.6)
        bottom = [b + v for b, v in zip(bottom, vals)]
    for xi, m in zip(x, stages):
        ax.annotate(f"{m.total_bytes / scale:.3g}", (xi, m.total_bytes / scale), ha="center",
                    va="bottom", fontsize=8)
    if device_bytes:
        ax.axhline(device_bytes / scale, color="black", ls="--", lw=1, label="device memory")
    ax.set_xticks(x, [f"{m.stage}\n{PAPER_NAMES[m.stage]}" for m in stages])
    ax.set_xlabel("ZeRO stage")
    ax.set_ylabel(f"model states per device ({unit})")
    ax.legend(fontsize=8, loc="upper right")


def memory_figure(stages: Sequence[StageMemory], title: str = "", device_bytes: float | None = None,
                  max_params: Sequence[int] | None = None) -> Figure:
    """Memory per device (stacked) and communication volume per stage, side by side; with
    ``max_params`` a third panel shows the largest model that fits per stage."""
    if not stages:
        raise ValueError("stages must hold at least one StageMemory")
    panels = 3 if max_params is not None else 2
    # A fixed layout, not the kit's constrained one: a third faster, and the lecture widget
    # redraws this figure on every slider move.
    fig = Figure(figsize=(4.2 * panels, 3.8))
    fig.subplots_adjust(left=0.2 / panels, right=0.99, bottom=0.19, top=0.86 if title else 0.93, wspace=0.4)
    axes = fig.subplots(1, panels, width_ratios=[2, 1, 1.2][:panels])
    draw_memory_bars(axes[0], stages, device_bytes)
    x = [m.stage for m in stages]
    axes[1].bar(x, [m.comm_volume_psi for m in stages], color=PALETTE["F"], width=0.6)
    axes[1].set_xticks(x)
    axes[1].set_xlabel("ZeRO stage")
    axes[1].set_ylabel("sent per rank per step (units of Ψ)")
    axes[1].set_title("communication (section 7)", fontsize=9)
    if max_params is not None:
        axes[2].bar(x, [p / 1e9 for p in max_params], color=PALETTE["BW"], width=0.6)
        for xi, p in zip(x, max_params):
            axes[2].annotate(f"{p / 1e9:.3g}B", (xi, p / 1e9), ha="center", va="bottom", fontsize=8)
        axes[2].set_xticks(x)
        axes[2].set_xlabel("ZeRO stage")
        axes[2].set_ylabel("largest model that fits (billions of params)")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


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
    image = w.Image(format="png")
    facts = w.HTML()

    def redraw(*_):
        psi = int(size.value * 1e9)
        stages = all_stages(psi, nd.value, kk.value)
        fits = [max_params(mem.value * 1e9, nd.value, s, kk.value) for s in STAGES]
        image.value = figure_png(memory_figure(stages, f"Ψ = {size.value:.3g}B, N_d = {nd.value}, K = {kk.value:g}",
                                               mem.value * 1e9, fits), dpi=70)
        ok = [s.stage for s in stages if s.total_bytes <= mem.value * 1e9]
        facts.value = ("per device: " + ", ".join(f"stage {s.stage} <b>{s.total_bytes / 1e9:.3g} GB</b>" for s in stages)
                       + f"<br>fits in {mem.value:g} GB: " + (f"stages {ok}" if ok else "<b>no stage</b>")
                       + "; largest model that fits: " + ", ".join(f"{f / 1e9:.3g}B" for f in fits))

    for widget in (size, nd, kk, mem):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([size, nd]), w.HBox([kk, mem]), facts, image])
