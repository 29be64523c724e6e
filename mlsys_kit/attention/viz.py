"""Pictures of FlashAttention (NeurIPS'22): the bytes each algorithm moves through main memory
as the SRAM size M and the sequence length N change (section 3.2, Theorem 2), the tile walk of
the tiled forward (which Q and K/V tiles are on chip, the running max and sum of the online
softmax, section 3.1), and CPU timings beside the byte counts."""

from __future__ import annotations

from typing import Sequence

import numpy as np
from matplotlib.colors import ListedColormap
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from mlsys_kit.viz.figure import (LIVE_DPI, PALETTE, blit_png, live_figure, live_image, new_figure,
                                  steady_decades)

STANDARD, FLASH = PALETTE["B"], PALETTE["F"]


def _bytes_label(x: float) -> str:
    for scale, name in ((1e9, "GB"), (1e6, "MB"), (1e3, "kB")):
        if x >= scale:
            return f"{x / scale:.3g} {name}"
    return f"{x:.0f} B"


def _lean_log(ax) -> None:
    """Log axes with few ticks and plain labels: matplotlib's default log ticks (many minor
    ticks, mathtext labels) cost over a second per draw, too slow for a live widget."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullLocator

    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(LogLocator(base=10, numticks=6))
        axis.set_minor_locator(NullLocator())
        axis.set_major_formatter(FuncFormatter(lambda x, _: f"{x:.0e}".replace("e+0", "e").replace("e-0", "e-")
                                               if x >= 1e4 or x < 1e-2 else f"{x:g}"))


def _traffic(seq: int, head_dim: int, sram: int, dtype: str, causal: bool) -> tuple[float, float]:
    from mlsys_kit.attention.io import formula_io

    io = formula_io(seq, head_dim, sram, dtype, causal)
    return (io["standard_forward"] + io["standard_backward"], io["flash_forward"] + io["flash_backward"])


def io_figure(seq: int, head_dim: int, sram_kb: float, dtype: str = "fp16", causal: bool = False,
              title: str = "") -> Figure:
    """Two panels, log-log: HBM bytes (forward + backward, one head) vs SRAM size M at this N,
    and vs N at this M; standard, FlashAttention, and Theorem 2's N^2 d^2 / M scaled to meet the
    flash curve at the chosen point. The chosen (N, M) is marked."""
    return IoPlot(bool(title)).update(seq, head_dim, sram_kb, dtype, causal, title)


class IoPlot:
    """The figure of :func:`io_figure`, drawn once; :meth:`update` moves its curves, points and
    texts in place (what the lecture widget redraws when a slider moves)."""

    def __init__(self, title: bool = False, dpi: int = 100, steady: bool = False) -> None:
        self.steady = steady  # whole-decade limits that hold still (the lecture widget, see png), not autoscaled
        self.fig = fig = live_figure(9.6, 3.6, dpi)
        fig.subplots_adjust(left=0.08, right=0.99, bottom=0.16, top=0.84 if title else 0.9, wspace=0.28)
        self.ax_m, self.ax_n = ax_m, ax_n = fig.subplots(1, 2)
        one = [1.0]
        (self.std_m,) = ax_m.loglog(one, one, color=STANDARD, label="standard (Alg. 0 + 3)")
        (self.fl_m,) = ax_m.loglog(one, one, color=FLASH, label="FlashAttention (counted loops)")
        (self.thm,) = ax_m.loglog(one, one, color=FLASH, ls=":", lw=1, label="Theorem 2: ∝ N²d²/M")
        self.points_m = [ax_m.plot(one, one, "o", color=c)[0] for c in (FLASH, STANDARD)]
        _lean_log(ax_m)
        ax_m.set_xlabel("on-chip memory M (KB)")
        ax_m.set_ylabel("HBM bytes, forward + backward, one head")
        ax_m.legend(fontsize=7, loc="lower left")
        (self.std_n,) = ax_n.loglog(one, one, color=STANDARD, label="standard: Θ(Nd + N²)")
        (self.fl_n,) = ax_n.loglog(one, one, color=FLASH, label="FlashAttention: Θ(N²d²/M)")
        self.points_n = [ax_n.plot(one, one, "o", color=c)[0] for c in (FLASH, STANDARD)]
        self.ratio = ax_n.annotate("", (1.0, 1.0), fontsize=8, ha="left")
        _lean_log(ax_n)
        ax_n.set_xlabel("sequence length N")
        ax_n.legend(fontsize=7, loc="upper left")
        self.title = fig.suptitle("", fontsize=10) if title else None

    def update(self, seq: int, head_dim: int, sram_kb: float, dtype: str = "fp16", causal: bool = False,
               title: str = "") -> Figure:
        from mlsys_kit.attention.io import block_sizes, sram_elements

        M = sram_elements(sram_kb, dtype)
        block_sizes(M, head_dim)  # validates M >= d
        e = int(sram_kb * 1024) // M if M else 2
        # sweep M from d to N d elements (Theorem 2's range), ~24 points
        ms = np.unique(np.geomspace(head_dim, max(head_dim, seq * head_dim), 16).astype(int))
        std_m, fl_m = zip(*(_traffic(seq, head_dim, int(m), dtype, causal) for m in ms))
        std0, fl0 = _traffic(seq, head_dim, M, dtype, causal)
        kb = ms * e / 1024
        self.std_m.set_data(kb, std_m)
        self.fl_m.set_data(kb, fl_m)
        self.thm.set_data(kb, fl0 * M / ms)
        for point, y in zip(self.points_m, (fl0, std0)):
            point.set_data([sram_kb], [y])
        self.ax_m.set_title(f"N = {seq}, d = {head_dim}", fontsize=9)
        ns = np.unique(np.geomspace(64, max(4 * seq, 4096), 14).astype(int))
        std_n, fl_n = zip(*(_traffic(int(n), head_dim, M, dtype, causal) for n in ns))
        self.std_n.set_data(ns, std_n)
        self.fl_n.set_data(ns, fl_n)
        for point, y in zip(self.points_n, (fl0, std0)):
            point.set_data([seq], [y])
        self.ratio.xy = self.ratio.xyann = (seq, (std0 * fl0) ** 0.5)
        self.ratio.set_text(f"{std0 / fl0:.2g}x fewer bytes")
        self.ax_n.set_title(f"M = {sram_kb:g} KB, d = {head_dim}", fontsize=9)
        if self.steady:  # room around the data (15 %), as autoscaling leaves
            for ax, xs, ys in ((self.ax_m, kb, std_m + fl_m + (fl0, std0) + tuple(fl0 * M / ms)),
                               (self.ax_n, ns, std_n + fl_n + (fl0, std0))):
                ax.set_xlim(*steady_decades(ax.get_xlim(), min(xs) / 1.15, max(xs) * 1.15))
                ax.set_ylim(*steady_decades(ax.get_ylim(), min(ys) / 1.15, max(ys) * 1.15))
        else:
            for ax in (self.ax_m, self.ax_n):
                ax.relim()
                ax.autoscale_view()
        if self.title is not None:
            self.title.set_text(title)
        return self.fig

    def png(self) -> bytes:
        """The picture as PNG: curves, points, legends, the ratio and the titles redrawn over
        the kept axes (:func:`blit_png`)."""
        ax_m, ax_n = self.ax_m, self.ax_n
        layers = {ax_m: [self.std_m, self.fl_m, self.thm, *self.points_m],
                  ax_n: [self.std_n, self.fl_n, *self.points_n],  # the legends stay on top (blit_png)
                  self.fig: [self.ratio, ax_m.title, ax_n.title] + [self.title] * (self.title is not None)}
        return blit_png(self.fig, layers)


def tile_walk_figure(seq: int, block_q: int, block_k: int, step: int, causal: bool = False,
                     head_dim: int = 16, seed: int = 0, trace: list | None = None) -> Figure:
    """The tiled forward at inner step ``step`` (0-based): left, the N x N score matrix cut into
    tiles (visited tiles shaded, the current one highlighted with its Q rows and K/V rows, tiles
    a causal mask skips hatched); right, the running max m and sum l of the current Q tile's
    rows after each step so far. ``trace`` (from ``flash_forward(..., trace=[])``) may be given
    to skip recomputing it."""
    if trace is None:
        trace = walk_trace(seq, block_q, block_k, causal, head_dim, seed)
    if not 0 <= step < len(trace):
        raise ValueError(f"step must be in 0..{len(trace) - 1} (the forward has {len(trace)} tile steps): got {step}")
    return WalkPlot(seq).update(block_q, block_k, step, causal, trace)


class WalkPlot:
    """The figure of :func:`tile_walk_figure` for one sequence length, drawn once; :meth:`update`
    moves the tile image, the bands, the tile grid, the titles and the running max / sum curves
    in place (what the lecture widget redraws when the step or a block size moves)."""

    def __init__(self, seq: int, dpi: int = 100, steady: bool = False) -> None:
        self.seq = seq
        self.steady = steady  # per trace limits that hold still while the step moves (see png)
        self.limits: tuple | None = None  # (trace, its limits) in steady mode
        self.fig = fig = live_figure(9.0, 3.9, dpi)
        fig.subplots_adjust(left=0.07, right=0.9, bottom=0.13, top=0.88, wspace=0.3)
        self.ax, self.ax_s = ax, ax_s = fig.subplots(1, 2, width_ratios=[1, 1.25])
        # the tile states as one image: 0 not yet visited, 1 visited, 2 on chip now, 3 skipped (causal)
        cmap = ListedColormap(["#FFFFFF", "#C9D6EA", FLASH, "#E4E4E4"])
        self.image = ax.imshow(np.zeros((seq, seq), dtype=np.int8), cmap=cmap, vmin=-0.5, vmax=3.5,
                               extent=(0, seq, seq, 0), interpolation="nearest")
        self.q_band = ax.axhspan(0, 1, color=PALETTE["B"], alpha=0.18, lw=0)
        self.kv_band = ax.axvspan(0, 1, color=PALETTE["W"], alpha=0.18, lw=0)
        self.cols = ax.vlines([0], 0, seq, color="#888", lw=0.4)
        self.rows = ax.hlines([0], 0, seq, color="#888", lw=0.4)
        ax.set_xlim(0, seq)
        ax.set_ylim(seq, 0)
        ax.set_xlabel("key j  (K/V tile on chip: green band)")
        ax.set_ylabel("query i  (Q tile on chip: orange band)")
        self.m_lines: list = []
        self.l_lines: list = []
        ax_s.set_xlabel("K/V tiles seen by this Q tile")
        ax_s.set_ylabel("running max m (orange)")
        self.ax_l = ax_s.twinx()
        self.ax_l.set_ylabel("running sum l = Σ exp(s - m) (blue)")

    def update(self, block_q: int, block_k: int, step: int, causal: bool, trace: list) -> Figure:
        seq, ax, ax_s, ax_l = self.seq, self.ax, self.ax_s, self.ax_l
        cur = trace[step]
        state = np.zeros((seq, seq), dtype=np.int8)
        if causal:
            for i0 in range(0, seq, block_q):
                state[i0:i0 + block_q, min(seq, i0 + block_q):] = 3
        for rec in trace[:step]:
            (i0, i1), (j0, j1) = rec["q_rows"], rec["kv_rows"]
            state[i0:i1, j0:j1] = 1
        (i0, i1), (j0, j1) = cur["q_rows"], cur["kv_rows"]
        state[i0:i1, j0:j1] = 2
        self.image.set_data(state)
        self.q_band.set_y(i0)
        self.q_band.set_height(i1 - i0)
        self.kv_band.set_x(j0)
        self.kv_band.set_width(j1 - j0)
        self.cols.set_segments([[(x, 0), (x, seq)] for x in range(0, seq + 1, block_k)])
        self.rows.set_segments([[(0, y), (seq, y)] for y in range(0, seq + 1, block_q)])
        ax.set_title(f"step {step + 1}/{len(trace)}: Q rows {i0}-{i1 - 1}, K/V rows {j0}-{j1 - 1}"
                     + ("  (grey: skipped, causal)" if causal else ""), fontsize=9)
        mine = [r for r in trace[:step + 1] if r["q_rows"] == cur["q_rows"]]
        xs = np.arange(len(mine))
        rows = min(4, i1 - i0)  # a few rows of the first head
        m = np.stack([r["m"].reshape(-1, i1 - i0)[0, :rows].numpy() for r in mine])
        lsum = np.stack([r["l"].reshape(-1, i1 - i0)[0, :rows].numpy() for r in mine])
        if len(self.m_lines) != rows:  # a different number of rows: new curves
            for line in self.m_lines + self.l_lines:
                line.remove()
            self.m_lines = ax_s.plot(xs, m, "o-", color=PALETTE["B"], lw=1, ms=3)
            self.l_lines = ax_l.plot(xs, lsum, "s--", color=PALETTE["F"], lw=1, ms=3)
        for k, (line_m, line_l) in enumerate(zip(self.m_lines, self.l_lines)):
            line_m.set_data(xs, m[:, k])
            line_l.set_data(xs, lsum[:, k])
        if self.steady:  # the whole walk's range: the step moves the curves, not the axes
            if self.limits is None or self.limits[0] is not trace:
                self.limits = (trace, *self._trace_limits(trace))
            _, kv_tiles, m_lim, l_lim = self.limits
            ax_s.set_xlim(-0.3, kv_tiles - 0.7)
            ax_s.set_ylim(*m_lim)
            ax_l.set_ylim(*l_lim)
            ax_s.xaxis.set_major_locator(MaxNLocator(8, integer=True))  # whole tiles, at most 8 labels
        else:
            for a in (ax_s, ax_l):
                a.relim()
                a.autoscale_view()
            ax_s.set_xticks(xs)
        ax_s.set_title(f"online softmax, rows {i0}-{i0 + rows - 1}: when m grows,\n"
                       "l is rescaled by exp(m_old - m_new) before the new tile is added", fontsize=8)
        return self.fig

    @staticmethod
    def _trace_limits(trace: list) -> tuple[int, tuple[float, float], tuple[float, float]]:
        """The most K/V tiles one Q tile sees, and the range of m and of l over the walk (the
        rows the panel shows), each with 5 % room."""
        counts: dict = {}
        ms, ls = [], []
        for r in trace:
            counts[r["q_rows"]] = counts.get(r["q_rows"], 0) + 1
            (i0, i1) = r["q_rows"]
            rows = min(4, i1 - i0)
            ms.append(r["m"].reshape(-1, i1 - i0)[0, :rows].numpy())
            ls.append(r["l"].reshape(-1, i1 - i0)[0, :rows].numpy())

        def room(a: np.ndarray) -> tuple[float, float]:
            pad = 0.05 * (float(np.ptp(a)) or 1.0)
            return float(a.min()) - pad, float(a.max()) + pad

        return max(counts.values()), room(np.concatenate(ms)), room(np.concatenate(ls))

    def png(self) -> bytes:
        """The picture as PNG: the tiles, bands, grid and curves and both titles redrawn over
        the kept axes (:func:`blit_png`; new limits, after new block sizes, redraw everything)."""
        ax = self.ax
        layers = {ax: [self.image, self.q_band, self.kv_band, self.cols, self.rows],
                  self.ax_s: self.m_lines, self.ax_l: self.l_lines, self.fig: [ax.title, self.ax_s.title]}
        return blit_png(self.fig, layers)


def walk_trace(seq: int, block_q: int, block_k: int, causal: bool = False, head_dim: int = 16,
               seed: int = 0) -> list:
    """The tile steps of the tiled forward on one random head (for :func:`tile_walk_figure`)."""
    import torch

    from mlsys_kit.attention.flash import flash_forward

    gen = torch.Generator().manual_seed(seed)
    q, k, v = (torch.randn(1, seq, head_dim, generator=gen) for _ in range(3))
    trace: list = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiles of a few rows: waking a thread pool on a busy machine cost 40-150 ms
    try:
        flash_forward(q, k, v, causal, block_q, block_k, trace=trace)
    finally:
        torch.set_num_threads(threads)
    return trace


def timing_figure(rows: Sequence[dict], title: str = "") -> Figure:
    """CPU forward time vs N for each implementation (``rows``: dicts with ``seq`` and
    ``<impl>_ms`` keys, as ``benchmarks/attention_cpu.py`` prints)."""
    if not rows:
        raise ValueError("rows must not be empty")
    fig = new_figure(6.0, 3.6)
    ax = fig.subplots()
    seqs = [r["seq"] for r in rows]
    for key, label, colour in (("naive_ms", "standard (3 passes, torch)", STANDARD),
                               ("tiled_ms", "tiled, online softmax (Python loops)", FLASH),
                               ("sdpa_ms", "torch SDPA (fused C++ kernel)", PALETTE["W"])):
        if key in rows[0]:
            ax.loglog(seqs, [r[key] for r in rows], "o-", color=colour, label=label)
    _lean_log(ax)
    ax.set_xlabel("sequence length N")
    ax.set_ylabel("forward time on CPU (ms)")
    ax.legend(fontsize=8)
    if title:
        ax.set_title(title, fontsize=9)
    return fig


def io_explorer(seq: int | None = None, head_dim: int | None = None, sram_kb: float | None = None):
    """Lecture widget: sliders for N, d and M (None: the paper's Figure 2 setting,
    :data:`~mlsys_kit.attention.io.PAPER_FIGURE_2` and ``PAPER_SRAM_KB``); the bytes panels redraw
    and the facts line gives both byte counts, the ratio and the tile sizes. Returns an ipywidgets box."""
    import ipywidgets as w

    from mlsys_kit.attention.io import PAPER_FIGURE_2, PAPER_SRAM_KB, io_report

    seq = PAPER_FIGURE_2["seq"] if seq is None else seq
    head_dim = PAPER_FIGURE_2["head_dim"] if head_dim is None else head_dim
    sram_kb = PAPER_SRAM_KB if sram_kb is None else sram_kb

    style = {"description_width": "initial"}
    n = w.SelectionSlider(options=[2 ** i for i in range(7, 15)], value=seq, description="N (seq)",
                          continuous_update=False, style=style)
    d = w.SelectionSlider(options=[16, 32, 64, 128, 256], value=head_dim, description="d (head dim)",
                          continuous_update=False, style=style)
    m = w.SelectionSlider(options=[8, 16, 32, 48, 64, 100, 128, 192, 256, 512], value=sram_kb,
                          description="M (SRAM KB)", continuous_update=False, style=style)
    image, facts = live_image(), w.HTML()
    plot = IoPlot(dpi=LIVE_DPI, steady=True)  # drawn once; a move redraws what moved

    def redraw(*_):
        r = io_report(n.value, d.value, m.value, count_limit=0)
        facts.value = (f"one head, forward + backward, fp16: standard <b>{_bytes_label(r['standard_bytes'])}</b>, "
                       f"FlashAttention <b>{_bytes_label(r['flash_bytes'])}</b> "
                       f"(<b>{r['ratio']:.3g}x</b> fewer); tiles of {r['block_outer']} (outer) x "
                       f"{r['block_inner']} (inner) rows")
        plot.update(n.value, d.value, m.value)
        image.value = plot.png()

    for widget in (n, d, m):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([n, d, m]), facts, image])


def tile_walk_explorer(seq: int = 64, block_q: int = 16, block_k: int = 8, causal: bool = True):
    """Lecture widget: a step slider walks the tiled forward tile by tile (block sizes and causal
    selectable); the picture shows which tiles are on chip and the running max and sum."""
    import ipywidgets as w

    style = {"description_width": "initial"}
    step = w.IntSlider(value=0, min=0, max=1, description="step", continuous_update=False, style=style)
    bq = w.SelectionSlider(options=[4, 8, 16, 32], value=block_q, description="Q tile rows",
                           continuous_update=False, style=style)
    bk = w.SelectionSlider(options=[4, 8, 16, 32], value=block_k, description="K/V tile rows",
                           continuous_update=False, style=style)
    cz = w.Checkbox(value=causal, description="causal")
    image, facts = live_image(), w.HTML()
    state: dict = {}
    plot = WalkPlot(seq, dpi=LIVE_DPI, steady=True)  # drawn once; a step redraws what moved

    def retrace(*_):
        state["trace"] = walk_trace(seq, bq.value, bk.value, cz.value)
        step.unobserve(redraw, names="value")
        step.max = len(state["trace"]) - 1
        step.value = min(step.value, step.max)
        step.observe(redraw, names="value")
        redraw()

    def redraw(*_):
        trace = state["trace"]
        rec = trace[step.value]
        loaded = sum(r["kv_rows"][1] - r["kv_rows"][0] for r in trace[:step.value + 1])
        facts.value = (f"N = {seq}: {len(trace)} tile steps; K/V rows loaded so far: {loaded} "
                       f"(each K/V row is read once per Q tile); Q tile {rec['q_rows']} on chip with "
                       f"K/V tile {rec['kv_rows']}")
        plot.update(bq.value, bk.value, step.value, cz.value, trace)
        image.value = plot.png()

    step.observe(redraw, names="value")
    for widget in (bq, bk, cz):
        widget.observe(retrace, names="value")
    retrace()
    return w.VBox([w.HBox([step, bq, bk, cz]), facts, image])
