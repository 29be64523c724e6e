"""The drawing helpers every topic's plots share: one colour per concept (``PALETTE``), a fresh
figure, the figure as PNG bytes, the figure saved by extension.

Plot functions build a ``matplotlib.figure.Figure`` directly (no pyplot state), so they work
the same headless, in the HTML report and inside Jupyter (``display(fig)``).
"""

from __future__ import annotations

import io
from pathlib import Path

from matplotlib.figure import Figure

# One colour per concept, used by every plot of the kit.
PALETTE = {
    "F": "#4C72B0",
    "B": "#DD8452",
    "W": "#55A868",
    "BW": "#C44E52",
    "idle": "#DDDDDD",
    "weights": "#4C72B0",
    "grads": "#DD8452",
    "optimizer": "#55A868",
    "kv": "#8172B3",
    "activations": "#937860",
}


def new_figure(width: float = 6.4, height: float = 4.0, layout: str | None = "constrained") -> Figure:
    """A fresh Figure of the given size in inches. The constrained layout is neat but costs
    ~0.1 s per draw: live demos pass ``layout=None`` and place their axes themselves."""
    return Figure(figsize=(width, height), layout=layout)


def figure_png(fig: Figure, dpi: int = 110) -> bytes:
    """The figure rendered as PNG bytes."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return buf.getvalue()


def save_figure(fig: Figure, path: str | Path, dpi: int = 110) -> Path:
    """Save ``fig`` to ``path`` (format from the extension: .png, .svg, .pdf) and return the path."""
    path = Path(path)
    if path.suffix.lower() not in {".png", ".svg", ".pdf", ".jpg", ".jpeg"}:
        raise ValueError(f"plot file must end in .png, .svg, .pdf or .jpg: got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=dpi)
    return path
