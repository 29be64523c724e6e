"""Pictures for the transformer cost model: where the bytes go, and the roofline."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mlsys_kit.models import costs
from mlsys_kit.viz.figure import LIVE_DPI, PALETTE, blit_png, live_figure, live_image, steady_decades, steady_limit

GB = 1e9


def costs_figure(cfg: costs.TransformerConfig, device: costs.Device, tokens_per_request: int | None = None) -> Figure:
    """Left: bytes of training states (ZeRO's 2+2+12 per parameter) and of serving (weights
    plus the KV cache of as many full-length requests as fit). Right: the device's roofline with
    the decode (batch 1) and prefill (full sequence) GEMMs of one hidden x hidden projection."""
    return CostsPlot().update(cfg, device, tokens_per_request)


class CostsPlot:
    """The figure of :func:`costs_figure`, drawn once; :meth:`update` moves its bars, lines,
    points and texts in place (what a lecture widget redraws when a control moves)."""

    _BARS = ((0, ("weights", "grads", "optimizer")), (1, ("weights", "kv")))

    def __init__(self, dpi: int = LIVE_DPI, steady: bool = False) -> None:
        self.steady = steady  # limits that hold still (the lecture widget, see png) instead of autoscaled
        self.fig = fig = live_figure(11, 4.2, dpi)  # fixed layout: this figure redraws live in a lecture
        fig.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.92, wspace=0.22)
        self.ax, self.rf = ax, rf = fig.subplots(1, 2)
        self.bars = {(x, name): ax.bar(x, 0.0, color=PALETTE[name], label=name if x == 0 or name == "kv" else None)[0]
                     for x, names in self._BARS for name in names}
        self.memory = ax.axhline(0.0, color="k", ls="--", lw=1)
        self.memory_label = ax.text(1.45, 0.0, "", va="bottom", ha="right", fontsize=8)
        self.requests = ax.text(1, 0.0, "", va="center", ha="center", fontsize=8, color="white")  # requests that fit
        ax.set_xticks([0, 1], ["training\n(mixed-precision Adam)", "serving\n(weights + KV cache)"])
        ax.set_ylabel("GB")
        ax.legend(fontsize=8)
        self.ai = np.logspace(-1, 4, 200)
        (self.roof,) = rf.loglog(self.ai, np.ones_like(self.ai), color="k")
        self.points = [rf.plot([1.0], [1.0], "o", label=" ")[0] for _ in range(2)]
        rf.set_xlabel("arithmetic intensity (FLOP/byte)")
        rf.set_ylabel("attainable TFLOP/s")
        self.rf_legend = rf.legend(fontsize=8)

    def update(self, cfg: costs.TransformerConfig, device: costs.Device, tokens_per_request: int | None = None) -> Figure:
        ax, rf = self.ax, self.rf
        st = costs.training_state_bytes(cfg)
        tokens = tokens_per_request or cfg.seq_len
        n_req = costs.max_concurrent_requests(cfg, device.memory_bytes, tokens)
        kv = n_req * tokens * costs.kv_bytes_per_token(cfg)
        values = {(0, "weights"): st["weights"], (0, "grads"): st["gradients"], (0, "optimizer"): st["optimizer"],
                  (1, "weights"): st["weights"], (1, "kv"): kv}
        for x, names in self._BARS:
            bottom = 0.0
            for name in names:
                self.bars[(x, name)].set_y(bottom / GB)
                self.bars[(x, name)].set_height(values[(x, name)] / GB)
                self.bars[(x, name)].sticky_edges.y[:] = [bottom / GB]  # as Axes.bar leaves it
                bottom += values[(x, name)]
        self.memory.set_ydata([device.memory_bytes / GB] * 2)
        self.memory_label.set_y(device.memory_bytes / GB)
        self.memory_label.set_text(f" {device.name}")
        serving = (st["weights"] + kv) / GB
        self.requests.set_position((1, serving / 2))
        self.requests.set_text(f"{n_req} x {tokens}-token requests")
        ax.set_title(f"{cfg.name}: {costs.param_count(cfg) / 1e9:.2f} B params")
        if self.steady:
            top = max(sum(st[k] for k in ("weights", "gradients", "optimizer")) / GB, serving, device.memory_bytes / GB)
            ax.set_ylim(0, steady_limit(ax.get_ylim()[1], 1.1 * top))
        else:
            ax.relim()
            ax.autoscale_view()
        self.roof.set_ydata(np.minimum(device.peak_flops, self.ai * device.bandwidth) / 1e12)
        for point, text, (label, m) in zip(self.points, self.rf_legend.get_texts(),
                                           (("decode (m=1)", 1), (f"prefill (m={cfg.seq_len})", cfg.seq_len))):
            v = costs.roofline(costs.gemm_intensity(m, cfg.hidden, cfg.hidden, cfg.dtype_bytes), device)
            point.set_data([v["intensity"]], [v["attainable_flops"] / 1e12])
            point.set_label(f"{label}: {v['bound']}-bound")
            text.set_text(point.get_label())
        rf.set_title(f"roofline of {device.name} (ridge {device.peak_flops / device.bandwidth:.0f} FLOP/B)")
        if self.steady:
            ys = np.concatenate([self.roof.get_ydata(), [p.get_ydata()[0] for p in self.points]])
            rf.set_xlim(*steady_decades(rf.get_xlim(), self.ai[0], self.ai[-1]))
            rf.set_ylim(*steady_decades(rf.get_ylim(), float(ys.min()) / 1.15, float(ys.max()) * 1.15))
        else:
            rf.relim()
            rf.autoscale_view()
        return self.fig

    def png(self) -> bytes:
        """The picture as PNG: bars, lines, points and their texts redrawn over the kept axes
        (:func:`blit_png`; a new title or new roofline labels redraw their axes)."""
        ax, rf = self.ax, self.rf
        layers = {ax: [*self.bars.values(), self.memory, self.memory_label, self.requests],
                  rf: [self.roof, *self.points]}
        keys = {ax: ax.get_title(), rf: (rf.get_title(), *(t.get_text() for t in self.rf_legend.get_texts()))}
        return blit_png(self.fig, layers, keys)


def costs_explorer(preset: str = "opt-13b", device: str = "a100-40gb"):
    """The lecture widget: pick a model, a card, a request length and a precision; the memory
    bars and the roofline redraw at once. Returns an ipywidgets box (display it)."""
    import ipywidgets as w

    model = w.Dropdown(options=sorted(costs.PRESETS), value=preset, description="model")
    card = w.Dropdown(options=sorted(costs.DEVICES), value=device, description="device")
    tokens = w.IntSlider(value=2048, min=128, max=8192, step=128, description="tokens/request",
                         continuous_update=False, style={"description_width": "initial"})
    dtype = w.ToggleButtons(options=[("fp32", 4), ("fp16/bf16", 2), ("int8", 1)], value=2, description="weights+KV")
    image = live_image()
    facts = w.HTML()
    plot = CostsPlot(steady=True)  # drawn once; a move redraws what moved

    def redraw(change=None):
        cfg = costs.preset(model.value).with_(dtype_bytes=dtype.value)
        dev = costs.DEVICES[card.value]
        plot.update(cfg, dev, tokens.value)
        image.value = plot.png()
        n = costs.max_concurrent_requests(cfg, dev.memory_bytes, tokens.value)
        facts.value = (f"<b>{costs.param_count(cfg) / 1e9:.2f} B</b> parameters, "
                       f"<b>{costs.kv_bytes_per_token(cfg) / 1024:.0f} KiB</b> of KV cache per token, "
                       f"<b>{n}</b> concurrent {tokens.value}-token requests fit on {dev.name}")

    for widget in (model, card, tokens, dtype):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([model, card]), w.HBox([tokens, dtype]), facts, image])
