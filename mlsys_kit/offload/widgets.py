"""The offloading lecture widget: a slider for the fraction of the KV cache InfiniGen fetches
(Lee et al., OSDI'24, section 4). The sweep behind it is computed once (and cached on disk next
to the trained model); the two curve panels are drawn once, and a move redraws only a small
second picture (the attention mass and next-token agreement at the chosen fraction, as bars),
in place: no new figure."""

from __future__ import annotations

import hashlib
import json
import os
from typing import Any

from mlsys_kit.offload.infinigen import FRACTIONS, fraction_sweep, skew
from mlsys_kit.offload.train import cache_dir, calibration_ids, eval_ids, model_file, trained_gpt
from mlsys_kit.offload.viz import COLUMN_COLORS, draw_prefetch
from mlsys_kit.viz.figure import canvas_png, figure_png, live_figure, live_image, new_figure

DPI = 100
CHOICES = ("skewed", "random", "oracle")


def default_sweep(fractions: tuple[float, ...] = FRACTIONS) -> dict[str, Any]:
    """The sweep the widget shows: the trained tiny GPT on 192 held-out bytes, 64 of them prompt
    (cached as JSON beside the trained weights, keyed by the weights' file and the fractions)."""
    key = hashlib.sha256(f"{model_file()}|{list(fractions)}".encode()).hexdigest()[:16]
    path = cache_dir() / f"offload-sweep-{key}.json"
    if path.exists():
        data = json.loads(path.read_text())
        if data.get("fractions") == list(fractions):
            return data
    model = trained_gpt()
    data = fraction_sweep(model, eval_ids(192), 64, skew(model, calibration_ids()), fractions)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(f".{os.getpid()}.tmp")
    tmp.write_text(json.dumps(data))
    os.replace(tmp, path)  # atomic: a parallel reader never sees half a file
    return data


def prefetch_explorer(sweep: dict[str, Any] | None = None, fraction: float = 0.2):
    """The lecture widget (an ipywidgets box: display it). ``sweep``: an
    :func:`~mlsys_kit.offload.infinigen.fraction_sweep` (default: :func:`default_sweep`)."""
    import ipywidgets as w

    sweep = default_sweep() if sweep is None else sweep
    xs = sweep["fractions"]
    if not xs:
        raise ValueError("the sweep holds no fractions")
    curves = new_figure(9.6, 4.2, layout=None)
    curves.subplots_adjust(left=0.07, right=0.985, bottom=0.13, top=0.92, wspace=0.22)
    draw_prefetch(curves, sweep, None)
    fig = live_figure(3.2, 4.2, DPI)  # the only picture a move redraws
    cx = fig.add_axes((0.27, 0.13, 0.68, 0.78))
    mass = cx.barh([2.2, 1.2, 0.2], [0, 0, 0], 0.4, color=[COLUMN_COLORS[c] for c in CHOICES])
    top1 = cx.barh([1.8, 0.8, -0.2], [0, 0, 0], 0.4, color=[COLUMN_COLORS[c] for c in CHOICES], alpha=0.45)
    cx.set(xlim=(0, 1), xticks=[0, 0.5, 1], yticks=[2, 1, 0], yticklabels=list(CHOICES),
           xlabel="mass (dark), agreement (light)")
    title = cx.set_title("")
    step = round(xs[1] - xs[0], 6) if len(xs) > 1 else 0.05
    slider = w.FloatSlider(value=fraction, min=min(xs), max=max(xs), step=step, readout_format=".2f",
                           description="fraction of the KV fetched", continuous_update=False,
                           style={"description_width": "initial"}, layout=w.Layout(width="520px"))
    still = live_image()
    still.value = figure_png(curves, dpi=DPI)
    image = live_image()
    facts = w.HTML()

    def redraw(*_: Any) -> None:
        i = min(range(len(xs)), key=lambda j: abs(xs[j] - slider.value))
        for bars, key in ((mass, "attention_mass"), (top1, "top1_agreement")):
            for bar, c in zip(bars, CHOICES):
                bar.set_width(sweep[c][key][i])
        title.set_text(f"fetch {xs[i]:.0%}")
        image.value = canvas_png(fig)
        facts.value = (f"fetch {xs[i]:.0%} of the cached tokens ({sweep['skewed']['bytes_ratio'][i]:.1%} of the "
                       f"KV bytes): attention mass " + ", ".join(f"<b>{c}</b> {sweep[c]['attention_mass'][i]:.3f}"
                                                                 for c in CHOICES)
                       + "; next-token agreement " + ", ".join(f"<b>{c}</b> {sweep[c]['top1_agreement'][i]:.3f}"
                                                              for c in CHOICES))

    slider.observe(redraw, names="value")
    redraw()
    box = w.VBox([slider, still, w.HBox([image, facts])])  # one above the other: side by side they overrun a page
    box.figure = fig  # for tests and benchmarks
    return box
