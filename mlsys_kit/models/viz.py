"""Pictures for the transformer cost model: where the bytes go, and the roofline."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mlsys_kit.models import costs
from mlsys_kit.viz.figure import PALETTE, figure_png, new_figure

GB = 1e9


def costs_figure(cfg: costs.TransformerConfig, device: costs.Device, tokens_per_request: int | None = None) -> Figure:
    """Left: bytes of training states (ZeRO's 2+2+12 per parameter) and of serving (weights
    plus the KV cache of as many full-length requests as fit). Right: the device's roofline with
    the decode (batch 1) and prefill (full sequence) GEMMs of one hidden x hidden projection."""
    fig = new_figure(11, 4.2, layout=None)  # fixed layout: this figure redraws live in a lecture
    fig.subplots_adjust(left=0.06, right=0.98, bottom=0.17, top=0.92, wspace=0.22)
    ax, rf = fig.subplots(1, 2)
    st = costs.training_state_bytes(cfg)
    tokens = tokens_per_request or cfg.seq_len
    n_req = costs.max_concurrent_requests(cfg, device.memory_bytes, tokens)
    kv = n_req * tokens * costs.kv_bytes_per_token(cfg)
    bars = [("training", [("weights", st["weights"]), ("grads", st["gradients"]), ("optimizer", st["optimizer"])]),
            ("serving", [("weights", st["weights"]), ("kv", kv)])]
    for x, (label, parts) in enumerate(bars):
        bottom = 0.0
        for name, value in parts:
            ax.bar(x, value / GB, bottom=bottom / GB, color=PALETTE[name], label=name if x == 0 or name == "kv" else None)
            bottom += value
    ax.axhline(device.memory_bytes / GB, color="k", ls="--", lw=1)
    ax.text(1.45, device.memory_bytes / GB, f" {device.name}", va="bottom", ha="right", fontsize=8)
    ax.set_xticks([0, 1], ["training\n(mixed-precision Adam)", f"serving\n({n_req} x {tokens}-token requests)"])
    ax.set_ylabel("GB")
    ax.set_title(f"{cfg.name}: {costs.param_count(cfg) / 1e9:.2f} B params")
    ax.legend(fontsize=8)
    ai = np.logspace(-1, 4, 200)
    rf.loglog(ai, np.minimum(device.peak_flops, ai * device.bandwidth) / 1e12, color="k")
    for label, m in (("decode (m=1)", 1), (f"prefill (m={cfg.seq_len})", cfg.seq_len)):
        v = costs.roofline(costs.gemm_intensity(m, cfg.hidden, cfg.hidden, cfg.dtype_bytes), device)
        rf.plot(v["intensity"], v["attainable_flops"] / 1e12, "o", label=f"{label}: {v['bound']}-bound")
    rf.set_xlabel("arithmetic intensity (FLOP/byte)")
    rf.set_ylabel("attainable TFLOP/s")
    rf.set_title(f"roofline of {device.name} (ridge {device.peak_flops / device.bandwidth:.0f} FLOP/B)")
    rf.legend(fontsize=8)
    return fig


def costs_explorer(preset: str = "opt-13b", device: str = "a100-40gb"):
    """The lecture widget: pick a model, a card, a request length and a precision; the memory
    bars and the roofline redraw at once. Returns an ipywidgets box (display it)."""
    import ipywidgets as w

    model = w.Dropdown(options=sorted(costs.PRESETS), value=preset, description="model")
    card = w.Dropdown(options=sorted(costs.DEVICES), value=device, description="device")
    tokens = w.IntSlider(value=2048, min=128, max=8192, step=128, description="tokens/request",
                         continuous_update=False, style={"description_width": "initial"})
    dtype = w.ToggleButtons(options=[("fp32", 4), ("fp16/bf16", 2), ("int8", 1)], value=2, description="weights+KV")
    image = w.Image(format="png")
    facts = w.HTML()

    def redraw(*_):
        cfg = costs.preset(model.value).with_(dtype_bytes=dtype.value)
        dev = costs.DEVICES[card.value]
        image.value = figure_png(costs_figure(cfg, dev, tokens.value), dpi=80)
        n = costs.max_concurrent_requests(cfg, dev.memory_bytes, tokens.value)
        facts.value = (f"<b>{costs.param_count(cfg) / 1e9:.2f} B</b> parameters, "
                       f"<b>{costs.kv_bytes_per_token(cfg) / 1024:.0f} KiB</b> of KV cache per token, "
                       f"<b>{n}</b> concurrent {tokens.value}-token requests fit on {dev.name}")

    for widget in (model, card, tokens, dtype):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([model, card]), w.HBox([tokens, dtype]), facts, image])
