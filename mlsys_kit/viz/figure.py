"""The drawing helpers every topic's plots share: one colour per concept (``PALETTE``), a fresh
figure, the figure as PNG bytes, the figure saved by extension.

Plot functions build a ``matplotlib.figure.Figure`` directly (no pyplot state), so they work
the same headless, in the HTML report and inside Jupyter (``display(fig)``).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

# The resolution of every lecture widget's PNG (dots per inch): a figure's inches times this are
# its pixels, shown 1:1 in the notebook, so text stays crisp on a projector (tests check >= 100).
LIVE_DPI = 100

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


def live_image():
    """The ipywidgets Image a lecture widget shows its PNG in: at the PNG's own pixel size (not
    stretched to the width of its box, as a VBox stretches its children: a small raster scaled
    up blurs its text) and never wider than the page (a wide one is scaled down, height kept in
    proportion; no margin, which would put a page-wide picture 2 px past its output area)."""
    import ipywidgets as w

    return w.Image(format="png", layout=w.Layout(align_self="flex-start", max_width="100%", height="auto", margin="0"))


def live_figure(width: float, height: float, dpi: int) -> Figure:
    """A figure for a lecture widget that redraws in place: fixed layout (place the axes
    yourself), drawn at the PNG's resolution on its own Agg canvas, kept between updates so that
    the text layout (tick labels, titles) is measured once, not on every redraw. Encode it with
    :func:`canvas_png`; ``figure_png`` / ``save_figure`` still work on it."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = Figure(figsize=(width, height), dpi=dpi, layout=None)
    FigureCanvasAgg(fig)
    return fig


def canvas_png(fig: Figure, moved: list | None = None) -> bytes:
    """A :func:`live_figure` drawn and encoded as PNG at its own resolution (fast zlib level:
    a live update's encoding stays a few ms). ``moved``: the only axes whose artists changed
    since the last call; the rest of the last rendering is kept, and each of those axes is
    cleared (its old and new extent) and redrawn alone (blitting by panel). Panels must not
    overlap; ``None`` redraws the whole figure."""
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import Bbox, IdentityTransform

    canvas = fig.canvas
    extents = fig.__dict__.setdefault("_live_extents", {})  # last drawn extent of each panel that moves alone
    if moved is None or any(ax not in extents for ax in moved):
        canvas.draw()
        renderer = canvas.get_renderer()
        for ax in set(extents) | set(moved or ()):
            extents[ax] = ax.get_tightbbox(renderer)
    else:
        renderer = canvas.get_renderer()
        for ax in moved:
            new = ax.get_tightbbox(renderer)
            box = Bbox.union([extents[ax], new])
            x0, y0, x1, y1 = (int(v) for v in (box.x0 - 2, box.y0 - 2, box.x1 + 3, box.y1 + 3))
            Rectangle((x0, y0), x1 - x0, y1 - y0, transform=IdentityTransform(), facecolor=fig.get_facecolor(),
                      edgecolor="none", antialiased=False, snap=True).draw(renderer)
            ax.draw(renderer)
            extents[ax] = new
    return _png(fig)


def nice_ceiling(x: float) -> float:
    """The smallest of 1, 1.5, 2, 3, 4, 5, 6, 8 times a power of ten that is >= ``x`` (> 0): an
    axis limit that stays put while the data moves a little, so a :func:`blit_png` redraw keeps
    its cached axes."""
    import math

    if not x > 0 or not math.isfinite(x):
        raise ValueError(f"nice_ceiling needs a positive finite number: got {x!r}")
    p = 10.0 ** math.floor(math.log10(x))
    return next(m * p for m in (1, 1.5, 2, 3, 4, 5, 6, 8, 10) if m * p >= x * (1 - 1e-12))


def steady_limit(current: float, needed: float, slack: float = 2.0) -> float:
    """An axis' upper limit for data reaching ``needed``: the ``current`` limit while it holds the
    data and is at most ``slack`` times it (the data keeps at least half the axis), else
    :func:`nice_ceiling` of ``needed``. A live widget's axes then hold still (no tick text to
    redraw, see :func:`blit_png`) while a slider moves the data a little."""
    if not slack >= 1:
        raise ValueError(f"slack must be at least 1: got {slack!r}")
    return current if needed <= current <= slack * needed else nice_ceiling(needed)


def encode_png(rgba, dpi: float) -> bytes:
    """An ``(height, width, 3 or 4)`` uint8 array (RGB or RGBA, alpha dropped: a widget's figure
    is opaque) as an RGB PNG with its resolution ``dpi`` recorded, by PIL at zlib's fastest level.
    matplotlib's ``savefig`` stores RGBA at level 6: about twice the time for a file a third
    smaller, which a live widget on a laptop does not need."""
    from PIL import Image

    a = np.asarray(rgba)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.dtype != np.uint8 or 0 in a.shape[:2]:
        raise ValueError(f"encode_png needs a non-empty (height, width, 3 or 4) uint8 array: got shape "
                         f"{getattr(a, 'shape', None)} of {getattr(a, 'dtype', type(a).__name__)}")
    if isinstance(dpi, bool) or not isinstance(dpi, (int, float)) or not 0 < dpi < 1e6:
        raise ValueError(f"dpi must be a positive number below 1e6: got {dpi!r}")
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(a[:, :, :3])).save(buf, "PNG", compress_level=1, dpi=(dpi, dpi))
    return buf.getvalue()


def steady_decades(current: tuple[float, float], low: float, high: float, spare: int = 1) -> tuple[float, float]:
    """A log axis' limits for data from ``low`` to ``high`` (> 0): the ``current`` limits while
    they hold the data and span at most ``spare`` decades more than the whole decades around
    it, else those whole decades. Like :func:`steady_limit`, the axis then holds still (no tick
    text to redraw, see :func:`blit_png`) while a slider moves the data a little."""
    import math

    if not (0 < low <= high and math.isfinite(high)):
        raise ValueError(f"steady_decades needs 0 < low <= high, both finite: got low={low!r}, high={high!r}")
    if isinstance(spare, bool) or not isinstance(spare, int) or spare < 0:
        raise ValueError(f"spare must be a non-negative integer (decades): got {spare!r}")
    lo, hi = 10.0 ** math.floor(math.log10(low) + 1e-12), 10.0 ** math.ceil(math.log10(high) - 1e-12)
    c0, c1 = (float(v) for v in current)
    if 0 < c0 <= low and high <= c1 and c1 / c0 <= (hi / lo) * 10.0 ** spare * (1 + 1e-9):
        return c0, c1
    return lo, hi


def _png(fig: Figure) -> bytes:
    """The figure's canvas as it stands, an RGB PNG with its resolution (the figure's dpi)
    recorded in the file (:func:`encode_png`)."""
    return encode_png(np.asarray(fig.canvas.buffer_rgba()), fig.dpi)


_VIEWS_KEPT = 8  # views of each axes a blit_png figure keeps as pixels


def _padded(box, canvas=None) -> tuple[int, int, int, int]:
    """The whole pixels around ``box`` with its antialiased edge (2 px below, 3 above), inside
    the canvas if one is given."""
    x0, y0, x1, y1 = (int(v) for v in (box.x0 - 2, box.y0 - 2, box.x1 + 3, box.y1 + 3))
    if canvas is not None:
        w, h = canvas.get_width_height(physical=True)
        x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, w), min(y1, h)
    return x0, y0, x1, y1


def _signature(artist):
    """What a figure-level layer shows, for a text or a legend (its entries and place): when it
    and every axes are unchanged, :func:`blit_png` leaves its pixels as they are. ``None``
    (redraw every time) for any other artist."""
    from matplotlib.legend import Legend
    from matplotlib.text import Text

    if isinstance(artist, Text):
        return ("text", artist.get_text(), artist.get_position(), artist.get_color(), artist.get_fontsize(),
                artist.get_visible())
    if isinstance(artist, Legend):
        return ("legend", id(artist), artist.get_visible(), artist.get_title().get_text(),
                tuple(t.get_text() for t in artist.get_texts()), tuple(artist.get_bbox_to_anchor().bounds))
    return None


def blit_png(fig: Figure, layers: dict, keys: dict | None = None) -> bytes:
    """A :func:`live_figure` encoded as PNG, redrawing only what moved. ``layers[ax]`` lists the
    artists of ``ax`` that change between calls; they are marked animated, so the rest of the
    axes (frame, ticks, labels, legend) is rendered once and kept as pixels, for as long as the
    axes' limits stay the same. ``keys[ax]``: anything else the kept pixels of ``ax`` show (its
    title, its legend's entries): when it changes, ``ax`` is redrawn whole too, alone, over its
    old and new extent (as :func:`canvas_png` does), with the axes that share its frame
    (``twinx``, their views kept together); the first call draws the whole figure.
    ``layers[fig]``: artists outside every axes' frame that change (a suptitle, a legend beside
    the axes whose entries change), drawn last; the next call first restores the pixels they
    covered (or, where a text or legend and every axes are unchanged, leaves them). A call then
    costs restoring each axes' pixels, drawing its moving artists (no text layout) and the PNG
    encoding. The last ``_VIEWS_KEPT`` views of each axes redrawn alone are kept as pixels too:
    a slider that moves back to an earlier view restores them instead of drawing its ticks and
    labels again. Panels must not overlap. A legend of an axes
    (not in ``layers``) stays on top of its moving artists: its frame is drawn over them and
    its inside put back as last drawn (the frame is made opaque, so a full draw shows the same)."""
    from matplotlib.patches import Rectangle
    from matplotlib.transforms import Bbox, IdentityTransform

    canvas = fig.canvas
    state = fig.__dict__.setdefault("_blit_state", {})  # ax -> (view, pixels under its moving artists, extent)
    seen = fig.__dict__.setdefault("_blit_views", {})  # an axes (the first of twins) -> its last views
    # drawn alone: (the views, pixels, extents)
    on_top = fig.__dict__.setdefault("_blit_legends", {})  # ax -> the pixels of its kept legend
    for artists in layers.values():
        for a in artists:
            a.set_animated(True)
    texts = layers.get(fig, [])
    layers = {ax: artists for ax, artists in layers.items() if ax is not fig}
    for ax in layers:  # a legend kept on top hides what runs under it: an opaque frame, in a full draw too
        legend = ax.get_legend()
        if legend is not None and not legend.get_animated():
            legend.get_frame().set_alpha(1.0)
    keys = keys or {}
    views = {ax: (ax.get_xlim(), ax.get_ylim(), ax.get_xscale(), ax.get_yscale(), keys.get(ax)) for ax in layers}
    stale = [ax for ax in layers if ax not in state or state[ax][0] != views[ax]]
    frame = {ax: [o for o in layers if o.bbox.bounds == ax.bbox.bounds] for ax in layers}  # twinx axes share one
    stale = [ax for ax in layers if any(o in stale for o in frame[ax])]  # and are redrawn together
    everything = any(ax not in state for ax in layers) or (texts and fig not in state)  # the first call
    done: set = set()
    if everything:
        canvas.draw()
    renderer = canvas.get_renderer()
    sigs = [_signature(t) for t in texts]
    kept = state.get(fig) if not everything and len(state.get(fig, ())) == len(texts) else None
    # a figure-level text or legend that shows what it showed: its pixels stay, unless a stale
    # axes' box is cleared over them; any other is redrawn over the pixels it covered last time
    same = [kept is not None and sig is not None and kept[i][1] == sig for i, sig in enumerate(sigs)]
    for i, old in enumerate(state.get(fig, ()) if not everything else ()):
        if not (i < len(same) and same[i]):
            canvas.restore_region(old[0])
    cleared: list = []  # the boxes cleared for axes redrawn alone
    for ax in layers:
        if everything:
            state[ax] = (views[ax], canvas.copy_from_bbox(Bbox.from_extents(*_padded(ax.bbox, canvas))),
                         ax.get_tightbbox(renderer))
        elif ax in stale:  # redrawn alone over its old and new extent, with its twins (one frame), in order
            if ax not in done:
                done.update(frame[ax])
                group = sorted(frame[ax], key=fig.axes.index)
                view = tuple(views[o] for o in group)  # the twins' views together, kept as one
                drawn = seen.setdefault(group[0], [])
                hit = next((d for d in drawn if d[0] == view), None)
                news = hit[2] if hit else {o: o.get_tightbbox(renderer) for o in group}
                # the old tick labels go, the new ones come
                x0, y0, x1, y1 = _padded(Bbox.union([state[o][2] for o in group] + list(news.values())))
                cleared.append(Bbox.from_extents(x0, y0, x1, y1))
                Rectangle((x0, y0), x1 - x0, y1 - y0, transform=IdentityTransform(), facecolor=fig.get_facecolor(),
                          edgecolor="none", antialiased=False, snap=True).draw(renderer)
                if hit:  # this view was drawn before: its pixels, as the axes' draw left them over a cleared box
                    canvas.restore_region(hit[1])
                else:
                    for o in group:
                        o.draw(renderer)  # animated artists are left out
                    box = Bbox.from_extents(*_padded(Bbox.union(list(news.values())), canvas))
                    drawn[:] = drawn[-(_VIEWS_KEPT - 1):] + [(view, canvas.copy_from_bbox(box), news)]
                for o in group:
                    state[o] = (views[o], canvas.copy_from_bbox(Bbox.from_extents(*_padded(o.bbox, canvas))), news[o])
        else:
            canvas.restore_region(state[ax][1])
            continue
        legend = ax.get_legend()  # a kept legend stays on top of the moving artists: its frame drawn
        if legend is not None and not legend.get_animated() and legend.get_visible():  # again, its inside as now
            patch = legend.get_frame()
            x0, y0, x1, y1 = patch.get_window_extent(renderer).extents
            on_top[ax] = (patch, canvas.copy_from_bbox(Bbox.from_extents(int(x0) + 4, int(y0) + 4, int(x1) - 3,
                                                                         int(y1) - 3)))
        else:
            on_top.pop(ax, None)
    redraw = []
    for i, t in enumerate(texts):  # the pixels each is about to cover, the axes drawn: what the next call restores
        if same[i] and not any(kept[i][2].overlaps(c) for c in cleared):
            redraw.append(kept[i])
            continue
        box = Bbox.from_extents(*_padded(t.get_window_extent(renderer), canvas))
        redraw.append((canvas.copy_from_bbox(box), sigs[i], box))
        same[i] = False
    if texts:
        state[fig] = redraw
    for ax, artists in layers.items():
        for a in artists:
            ax.draw_artist(a)
        if ax in on_top:
            on_top[ax][0].draw(renderer)  # over the moving artists, as a full draw has it
            canvas.restore_region(on_top[ax][1])
        for spine in ax.spines.values():  # the frame stays on top of the data, as in a full draw
            if spine.get_visible():
                ax.draw_artist(spine)
    for t, keep in zip(texts, same):
        if not keep:
            fig.draw_artist(t)
    return _png(fig)


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
