"""Demo-report section for the transformer cost model."""

from __future__ import annotations

from typing import Callable

from mlsys_kit.common import Figure, Section
from mlsys_kit.models import costs
from mlsys_kit.models.viz import costs_figure
from mlsys_kit.viz.figure import figure_png


def section(progress: Callable[[str], None]) -> Section:
    device = costs.DEVICES["a100-40gb"]
    sec = Section(topic="models", title="Transformer cost model",
                  summary="Parameters, FLOPs and memory of public models, and how many 2k-token "
                          f"requests fit beside the weights on an {device.name}.")
    table = {}
    for name, cfg in costs.PRESETS.items():
        progress(f"costing {name}")
        s = costs.summary(cfg.with_(seq_len=2048), device)
        table[name] = {k: s[k] for k in ("params", "kv_bytes_per_token", "flops_per_token", "max_concurrent_requests")}
        sec.rows.append((f"{name} params", s["params"]))
        sec.rows.append((f"{name} KV bytes/token", s["kv_bytes_per_token"]))
        sec.rows.append((f"{name} 2k requests on {device.name}", s["max_concurrent_requests"]))
    sec.data["presets"] = table
    progress("drawing opt-13b")
    sec.figures.append(Figure(
        caption="OPT-13B: training states vs serving memory on an A100-40GB, and the roofline of "
                "its decode and prefill GEMMs",
        png=figure_png(costs_figure(costs.preset("opt-13b"), device)),
        command="mlsys-kit model costs --preset opt-13b --device a100-40gb --json --plot costs.png"))
    return sec
