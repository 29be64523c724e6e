"""Pictures for the transformer cost model: where the bytes go, and the roofline."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from mlsys_kit.models import costs
from mlsys_kit.viz import PALETTE, new_figure

GB = 1e9


def costs_figure(cfg: costs.TransformerConfig, device: costs.Device) -> Figure:
    """Left: bytes of training states (ZeRO's 2+2+12 per parameter) and of serving (weights
    plus the KV cache of as many full-length requests as fit). Right: the device's roofline with
    the decode (batch 1) and prefill (full sequence) GEMMs of one hidden x hidden projection."""
    fig = new_figure(11, 4.2)
    ax, rf = fig.subplots(1, 2)
    st = costs.training_state_bytes(cfg)
    n_req = costs.max_concurrent_requests(cfg, device.memory_bytes, cfg.seq_len)
    kv = n_req * cfg.seq_len * costs.kv_bytes_per_token(cfg)
    bars = [("training", [("weights", st["weights"]), ("grads", st["gradients"]), ("optimizer", st["optimizer"])]),
            ("serving", [("weights", st["weights"]), ("kv", kv)])]
    for x, (label, parts) in enumerate(bars):
        bottom = 0.0
        for name, value in parts:
            ax.bar(x, value / GB, bottom=bottom / GB, color=PALETTE[name], label=name if x == 0 or name == "kv" else None)
            bottom += value
    ax.axhline(device.memory_bytes / GB, color="k", ls="--", lw=1)
    ax.text(1.45, device.memory_bytes / GB, f" {device.name}", va="bottom", ha="right", fontsize=8)
    ax.set_xticks([0, 1], ["training\n(mixed-precision Adam)", f"serving\n({n_req} x {cfg.seq_len}-token requests)"])
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
