"""Pictures compared pixel by pixel: a live widget's PNG (redrawn in place by ``blit_png``)
against the same figure drawn from scratch. Used by the figure tests of every room."""

import io

import numpy as np
from PIL import Image


def pixels(png: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(png)).convert("RGB"), dtype=np.int16)


def full_redraw(fig) -> np.ndarray:
    """The same figure drawn from scratch, every artist included (those ``blit_png`` marked
    animated too: any artist of the figure that a live redraw would leave out shows here)."""
    moving = fig.findobj(lambda a: a.get_animated())
    for a in moving:
        a.set_animated(False)
    fig.canvas.draw()
    out = np.asarray(fig.canvas.buffer_rgba())[..., :3].astype(np.int16)
    for a in moving:
        a.set_animated(True)
    return out


def differing(a: np.ndarray, b: np.ndarray) -> float:
    """The share of pixels that differ visibly (a label erased or drawn twice: hundreds)."""
    assert a.shape == b.shape
    return float((np.abs(a - b).max(axis=2) > 40).mean())
