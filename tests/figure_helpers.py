"""Pictures compared pixel by pixel: a live widget's PNG (redrawn in place by ``blit_png``)
against the same figure drawn from scratch. Used by the figure tests of every room."""

import io

import numpy as np
from PIL import Image


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def full_redraw(fig, layers) -> np.ndarray:
    """The same figure drawn from scratch, every artist included."""
    for artists in layers.values():
        for a in artists:
            a.set_animated(False)
    fig.canvas.draw()
    out = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.int16)
    for artists in layers.values():
        for a in artists:
            a.set_animated(True)
    return out


def differing(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels that differ visibly (a label erased or drawn twice: hundreds)."""
    assert a.shape == b.shape
    return float((np.abs(a - b).max(axis=2) > 40).mean())
