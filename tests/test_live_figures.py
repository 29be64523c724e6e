"""Crisp on a projector, and redrawn only where it moved (issue 24):

* every lecture widget's picture is a PNG drawn at >= 100 dpi (recorded in the file) that fits
  a 1200-pixel page, so it is shown 1:1, never a small raster scaled up;
* a figure redrawn in place (``blit_png``: kept axes, moving artists redrawn) shows what a full
  redraw of the same figure shows, after the data and the axes' limits moved;
* a view of an axes restored from ``blit_png``'s kept pixels is the very picture drawn afresh;
* ``encode_png`` (the widgets' PNG encoder) stores exactly the image's RGB pixels and its dpi;
* the memory widget draws every policy over its whole own step (none squashed by a slower one);
* the demo report scales its images to the page.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
from PIL import Image

from figure_helpers import differing, full_redraw, pixels
from mlsys_kit.viz.figure import (LIVE_DPI, blit_png, encode_png, live_figure, nice_ceiling, steady_decades,
                                  steady_limit)

PAGE_PX = 1200


def images(box):
    """Every ipywidgets Image inside a widget box, depth first."""
    import ipywidgets as w

    if isinstance(box, w.Image):
        return [box]
    return [i for c in getattr(box, "children", ()) for i in images(c)]


def explorers():
    from mlsys_kit.attention.viz import io_explorer, tile_walk_explorer
    from mlsys_kit.disagg.viz import disagg_explorer
    from mlsys_kit.kvcache.viz import kv_cache_explorer
    from mlsys_kit.memory.viz import memory_explorer
    from mlsys_kit.models.viz import costs_explorer
    from mlsys_kit.parallel.viz import parallel_explorer
    from mlsys_kit.pipeline.widgets import pipeline_explorer
    from mlsys_kit.serving.viz import serving_explorer
    from mlsys_kit.zero.viz import zero_explorer
    from mlsys_kit.cluster.widgets import cluster_explorer
    from mlsys_kit.fault.widgets import placement_explorer, timeline_explorer, waste_explorer
    from mlsys_kit.feed.widgets import cache_explorer, comm_explorer
    from mlsys_kit.memory.widgets import levels_explorer

    return {"costs": costs_explorer, "pipeline": lambda: pipeline_explorer(p=8, m=32), "kv_cache": kv_cache_explorer,
            "serving": lambda: serving_explorer(requests=200), "zero": zero_explorer, "attention-io": io_explorer,
            "attention-walk": tile_walk_explorer, "memory": memory_explorer, "parallel": parallel_explorer,
            "disaggregation": disagg_explorer, "cluster": lambda: cluster_explorer(n=12),
            "fault-waste": waste_explorer, "fault-timeline": timeline_explorer, "fault-placement": placement_explorer,
            "feed-comm": comm_explorer, "feed-cache": cache_explorer, "memory-levels": levels_explorer}


@pytest.mark.parametrize("name", list(explorers()))
def test_every_widget_picture_is_at_least_100_dpi_and_fits_the_page(name):
    assert LIVE_DPI >= 100
    pics = images(explorers()[name]())
    assert pics, f"{name}: the widget shows no picture"
    for pic in pics:
        im = Image.open(io.BytesIO(pic.value))
        dpi = im.info.get("dpi", (0, 0))
        assert min(dpi) >= 99.5, f"{name}: drawn at {dpi} dpi"
        assert 500 <= im.width <= PAGE_PX, f"{name}: {im.width} px wide"


@settings(max_examples=12, deadline=None)
@given(moves=st.lists(st.tuples(st.floats(0.05, 50), st.floats(1, 500)), min_size=1, max_size=5))
def test_blit_png_shows_what_a_full_redraw_shows(moves):
    fig = live_figure(8, 3, LIVE_DPI)
    fig.subplots_adjust(left=0.08, right=0.98, bottom=0.15, top=0.9, wspace=0.3)
    ax1, ax2 = fig.subplots(1, 2)
    (line,) = ax1.plot([0, 1], [0, 1], lw=2)
    bars = list(ax2.bar([0, 1, 2], [1, 1, 1]))
    ax1.set_title("kept title")
    fig.subplots_adjust(top=0.8)
    title = fig.suptitle("")  # a figure-level text that changes: redrawn over its kept band
    layers = {ax1: [line], ax2: bars, fig: [title]}
    for amp, height in moves:
        title.set_text(f"amplitude {amp:.3g}, height {height:.4g}")
        xs = np.linspace(0, 10, 50)
        line.set_data(xs, amp * np.sin(xs) + amp)
        ax1.set_xlim(0, 10)
        ax1.set_ylim(0, nice_ceiling(2 * amp))
        for b, h in zip(bars, (height, height / 2, height / 3)):
            b.set_height(h)
        ax2.set_ylim(0, nice_ceiling(height * 1.05))
        png = blit_png(fig, layers)
        assert differing(pixels(png), full_redraw(fig)) < 1e-4
        ax2.set_ylim(*ax2.get_ylim())  # the same limits and title, bars a little lower: the title's pixels are kept
        for b in bars:
            b.set_height(b.get_height() * 0.9)
        assert differing(pixels(blit_png(fig, layers)), full_redraw(fig)) < 1e-4


def test_serving_panel_and_pipeline_plot_redraw_in_place_as_a_full_redraw():
    from mlsys_kit.pipeline.gantt_raster import LivePipelinePlot
    from mlsys_kit.pipeline.generators import make_schedule
    from mlsys_kit.pipeline.simulate import simulate
    from mlsys_kit.serving.config import SIMULATED, SIMULATED_WORKLOAD
    from mlsys_kit.serving.fastsim import simulate_fast
    from mlsys_kit.serving.metrics import summarize
    from mlsys_kit.serving.viz import ComparePanel

    panel = ComparePanel(["static", "continuous"], max_batch=64)
    for rate in (4.0, 20.0, 5.0, 12.0, 30.0, 8.0):
        reqs = SIMULATED_WORKLOAD.replace(requests=150, rate=rate).make()
        res = {n: simulate_fast(reqs, n, SIMULATED) for n in ("static", "continuous")}
        panel.update(res, {n: summarize(r) for n, r in res.items()})
        png = panel.png()
        assert differing(pixels(png), full_redraw(panel.fig)) < 1e-4
    plot = LivePipelinePlot()
    for name, tb in (("1f1b", 1.0), ("1f1b", 2.5), ("zb-h1", 1.0), ("gpipe", 0.5)):
        sched = make_schedule(name, 4, 8)
        res = simulate(sched, 1.0, tb, 1.0, 0.0, check=False, costs_per_rank=True)
        plot.update(res.events, 4, name, res.memory)
        png = plot.png()
        assert differing(pixels(png), full_redraw(plot.fig)) < 1e-4
        assert res.makespan <= plot.gantt.get_xlim()[1] <= 2 * res.makespan


@settings(max_examples=6, deadline=None)
@given(tops=st.lists(st.sampled_from([1.0, 2.0, 5.0, 20.0, 300.0]), min_size=2, max_size=5))
def test_blit_png_restores_a_kept_view_exactly_as_drawn_afresh(tops):
    """The same data and limits give the same bytes whether the axes were drawn for this move
    or restored from an earlier move's pixels (blit_png keeps each axes' last views, and twin
    axes' views together), every view visited twice."""
    def panel():
        fig = live_figure(6, 2.5, LIVE_DPI)
        fig.subplots_adjust(left=0.1, right=0.9, bottom=0.15, top=0.9, wspace=0.45)
        ax1, ax2 = fig.subplots(1, 2)
        ax3 = ax2.twinx()  # a twin whose limits move with the bars
        bars = list(ax1.bar([0, 1], [1, 1]))
        (line,) = ax2.plot([0, 1], [0, 1])
        (twin_line,) = ax3.plot([0, 1], [1, 0], color="red")
        ax2.set_ylim(0, 1)
        return fig, (ax1, ax3), bars, {ax1: bars, ax2: [line], ax3: [twin_line]}

    def move(axes, bars, top):
        for b, h in zip(bars, (top, top / 3)):
            b.set_height(h)
        axes[0].set_ylim(0, top * 1.05)
        axes[1].set_ylim(0, top * 2)

    fig, axes, bars, layers = panel()
    blit_png(fig, layers)
    for top in tops + tops:
        move(axes, bars, top)
        kept = blit_png(fig, layers)
        fig2, axes2, bars2, layers2 = panel()  # the same state reached with no view ever kept
        blit_png(fig2, layers2)
        move(axes2, bars2, top)
        assert np.array_equal(pixels(kept), pixels(blit_png(fig2, layers2)))


@settings(max_examples=40, deadline=None)
@given(h=st.integers(1, 40), w=st.integers(1, 40), channels=st.sampled_from([3, 4]), seed=st.integers(0, 2**32 - 1),
       dpi=st.sampled_from([72, 100, 110, 150.5]))
def test_encode_png_stores_the_pixels_and_the_resolution(h, w, channels, seed, dpi):
    a = np.random.default_rng(seed).integers(0, 256, (h, w, channels), dtype=np.uint8)
    im = Image.open(io.BytesIO(encode_png(a, dpi)))
    assert im.mode == "RGB" and im.size == (w, h)
    assert np.array_equal(np.asarray(im), a[..., :3])
    assert im.info["dpi"] == pytest.approx((dpi, dpi), abs=0.02)


@pytest.mark.parametrize("bad", [np.zeros((4, 4), np.uint8), np.zeros((4, 4, 2), np.uint8), np.zeros((0, 4, 3), np.uint8),
                                 np.zeros((4, 4, 3), np.float32), [[1, 2, 3]]])
def test_encode_png_rejects_what_is_not_an_rgb_image(bad):
    with pytest.raises(ValueError, match="uint8 array"):
        encode_png(bad, 100)
    with pytest.raises(ValueError, match="dpi"):
        encode_png(np.zeros((2, 2, 3), np.uint8), 0)


@settings(max_examples=200, deadline=None)
@given(x=st.floats(1e-9, 1e12))
def test_nice_ceiling_is_the_smallest_round_value_above(x):
    y = nice_ceiling(x)
    assert y >= x * (1 - 1e-9)
    assert y <= 1.5 * x * (1 + 1e-9)  # the steps 1, 1.5, 2, 3, 4, 5, 6, 8, 10 are at most 1.5 apart
    mantissa = y / 10 ** np.floor(np.log10(y) + 1e-12)
    assert min(abs(mantissa - m) for m in (1, 1.5, 2, 3, 4, 5, 6, 8, 10)) < 1e-9


@settings(max_examples=200, deadline=None)
@given(current=st.floats(1e-3, 1e6), needed=st.floats(1e-3, 1e6))
def test_steady_limit_holds_the_data_on_at_least_half_the_axis(current, needed):
    y = steady_limit(current, needed)
    assert needed <= y * (1 + 1e-9) and y <= 2 * needed * (1 + 1e-9)
    if needed <= current <= 2 * needed:
        assert y == current  # kept: nothing to redraw
    with pytest.raises(ValueError, match="slack"):
        steady_limit(current, needed, 0.5)


@settings(max_examples=200, deadline=None)
@given(c0=st.floats(1e-6, 1e6), span=st.floats(1, 1e4), low=st.floats(1e-6, 1e6), ratio=st.floats(1, 1e4))
def test_steady_decades_holds_the_data_in_whole_decades_and_keeps_what_still_fits(c0, span, low, ratio):
    high = low * ratio
    lo, hi = steady_decades((c0, c0 * span), low, high)
    assert lo <= low * (1 + 1e-9) and high <= hi * (1 + 1e-9)  # the data inside
    tight = 10.0 ** (np.ceil(np.log10(high) - 1e-12) - np.floor(np.log10(low) + 1e-12))  # its whole decades
    if (lo, hi) == (c0, c0 * span):  # kept: at most one decade wider than the data's whole decades
        assert hi / lo <= 10 * tight * (1 + 1e-6)
    else:  # new: exactly the whole decades around the data
        assert hi / lo == pytest.approx(tight) and np.log10(lo) == pytest.approx(round(np.log10(lo)), abs=1e-9)
    with pytest.raises(ValueError, match="low <= high"):
        steady_decades((c0, c0 * span), high * 2, low)
    with pytest.raises(ValueError, match="spare"):
        steady_decades((c0, c0 * span), low, high, spare=-1)


@pytest.mark.parametrize("bad", [0, -1.0, float("nan"), float("inf")])
def test_nice_ceiling_rejects_what_has_no_ceiling(bad):
    with pytest.raises(ValueError, match="positive finite"):
        nice_ceiling(bad)


def test_memory_widget_draws_every_policy_over_its_own_whole_step():
    from mlsys_kit.memory.policies import POLICIES
    from mlsys_kit.memory.viz import PoliciesPlot, memory_explorer

    memory_explorer()  # builds; the plot below is the one it draws
    from mlsys_kit.memory.chain import build_chain
    from mlsys_kit.memory.policies import plan

    chain = build_chain("gpt2", 8)
    results = [plan(p, chain, 12e9, 16e9, k=2) for p in POLICIES]
    assert max(r.step.step_time for r in results) > 5 * min(r.step.step_time for r in results)  # the case that squashed
    plot = PoliciesPlot(POLICIES, True, True)
    plot.update(results, "t", 12e9)
    for line, r in zip(plot.curves, results):
        xs = line.get_xdata()
        assert xs[0] == pytest.approx(0.0, abs=1e-9) and max(xs) == pytest.approx(1.0), r.policy
    assert plot.ax.get_xlim() == (0.0, 1.0)
    assert all(t.get_fontsize() >= 9 for t in plot.legend.get_texts())
    # every policy's step time readable: a bar at least a fifth of the axis, or cut and labelled
    top = plot.bars.get_ylim()[1]
    labels = plot.cut_labels
    for i, (r, label) in enumerate(zip(results, labels)):
        height = sum(stack[i].get_height() for stack in plot.stacks)
        if height > top:
            assert label.get_text().endswith("\u2191") and label.get_position()[1] <= top, r.policy
        else:
            assert height >= 0.2 * top and label.get_text() == "", r.policy
    assert any(label.get_text() for label in labels)  # offload's 1 s step is the cut one
    # the bars' legend sits above the bars, none of them under it
    plot.fig.canvas.draw()
    renderer = plot.fig.canvas.get_renderer()
    assert plot.bars_legend.get_window_extent(renderer).y0 >= plot.bars.get_window_extent(renderer).y1 - 1


@settings(max_examples=200, deadline=None)
@given(st.lists(st.floats(min_value=0.0, max_value=1e6), min_size=1, max_size=8))
def test_bar_top_cuts_only_a_bar_that_flattens_the_rest(totals):
    from mlsys_kit.memory.viz import BAR_CLIP, bar_top

    top = bar_top(totals)
    ranked = sorted(totals, reverse=True)
    assert all(t <= top for t in ranked[1:])  # only the slowest may be cut
    if top < ranked[0]:  # cut: the slowest flattened the next by more than BAR_CLIP, which keeps half the axis
        assert ranked[0] > BAR_CLIP * ranked[1] and top == 2.0 * ranked[1]
    else:
        assert top == ranked[0]


@pytest.mark.parametrize("bad", [[], [1.0, -1.0], [float("nan")]])
def test_bar_top_rejects_what_is_not_step_times(bad):
    from mlsys_kit.memory.viz import bar_top

    with pytest.raises(ValueError, match="step times"):
        bar_top(bad)


def test_the_report_scales_its_images_to_the_page():
    from mlsys_kit.common import Figure as ReportFigure, Section
    from mlsys_kit.demo import render_html

    sec = Section("t", "T", "s", rows=[("k", 1)], figures=[ReportFigure("wide", b"\x89PNG", "mlsys-kit x --plot f.png")])
    page = render_html([sec])
    assert "img{max-width:100%;height:auto" in page.replace(" ", "")
    assert "<img" in page


def test_parallel_live_heatmap_shows_what_the_teaching_heatmap_shows():
    """The widget's heat map, moved in place and redrawn over its kept axes, against
    draw_heatmap on a fresh axes of the same figure size, after moves that change the (t, p)
    degrees, the colours, the OOM cells and the best plan."""
    from mlsys_kit.parallel.model import Cluster, model_config
    from mlsys_kit.parallel.planner import plan
    from mlsys_kit.parallel.viz import LiveHeatmap, draw_heatmap
    from mlsys_kit.viz.figure import canvas_png

    space = {"microbatches": (1, 2), "interleaves": (1, 2), "zero_stages": (1,)}
    fig = live_figure(6.4, 4.4, LIVE_DPI)
    heat = LiveHeatmap(fig.add_axes([0.11, 0.12, 0.86, 0.8]))
    for model, devices, batch, inter in (("llama2-70b", 64, 512, 25.0), ("llama2-70b", 128, 512, 5.0),
                                         ("gpt3-175b", 128, 1024, 5.0), ("gpt2", 16, 256, 5.0),
                                         ("llama2-7b", 64, 512, 50.0)):
        res = plan(model_config(model), Cluster(devices, inter_bandwidth=inter * 1e9), batch, top=3, **space)
        live = heat.png(res)
        ref = live_figure(6.4, 4.4, LIVE_DPI)
        draw_heatmap(ref.add_axes([0.11, 0.12, 0.86, 0.8]), res, labels=False)
        assert differing(pixels(live), pixels(canvas_png(ref))) < 1e-4, (model, devices)


@pytest.mark.parametrize("block_size", [1, 16])
def test_kv_cache_live_timeline_shows_what_the_teaching_figure_shows(block_size):
    """The widget's block pool, moved event by event and redrawn over its kept axes, against
    timeline_figure drawn afresh (its bars' axis at the widget's held limit)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    from mlsys_kit.kvcache.viz import LiveTimeline, timeline_figure
    from mlsys_kit.viz.figure import canvas_png

    live = LiveTimeline(block_size)
    for steps in (3, 6, 12, 1, 16):
        png, log, numbers = live.png(steps)
        fig, log2, numbers2 = timeline_figure(steps, block_size)
        fig.set_dpi(LIVE_DPI)
        FigureCanvasAgg(fig)
        fig.axes[1].set_ylim(live.bars.get_ylim())
        assert (log, numbers) == (log2, numbers2)
        assert differing(pixels(png), pixels(canvas_png(fig))) < 1e-4, steps


def test_attention_walk_redrawn_in_place_shows_a_full_redraw():
    """The tile walk widget's figure (twin axes, titles as figure-level layers) after step and
    block-size moves, against the same plot drawn afresh."""
    from mlsys_kit.attention.viz import WalkPlot, walk_trace
    from mlsys_kit.viz.figure import canvas_png

    live = WalkPlot(64, steady=True)
    for bq, bk, causal, step in ((16, 8, True, 0), (16, 8, True, 12), (16, 8, True, 3), (8, 4, False, 70),
                                 (8, 4, False, 2)):
        trace = walk_trace(64, bq, bk, causal)
        live.update(bq, bk, step, causal, trace)
        png = live.png()
        ref = WalkPlot(64, steady=True)
        ref.update(bq, bk, step, causal, trace)
        assert differing(pixels(png), pixels(canvas_png(ref.fig))) < 1e-4, (bq, bk, step)


def test_memory_widget_redrawn_in_place_shows_a_full_redraw():
    """The policies plot (a legend and a title as figure-level layers, kept when unchanged) after
    budget and link moves, some of which move the limits, against a full redraw."""
    from mlsys_kit.memory.chain import build_chain
    from mlsys_kit.memory.policies import POLICIES, plan
    from mlsys_kit.memory.viz import PoliciesPlot

    chain = build_chain("gpt2", 4)
    plot = PoliciesPlot(POLICIES, True, True, steady=True)
    for budget, link in ((8e9, 30e9), (8e9, 60e9), (4e9, 60e9), (4e9, 2e9), (12e9, 2e9), (12e9, 2e9)):
        results = [plan(p, chain, budget, link, k=2) for p in POLICIES]
        plot.update(results, f"budget {budget / 1e9:g} GB", budget)
        png = plot.png()
        assert differing(pixels(png), full_redraw(plot.fig)) < 1e-4, (budget, link)
