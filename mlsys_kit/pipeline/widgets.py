"""The pipeline lecture widget: pick a schedule and its sizes, see the Gantt chart, the memory
plot and the bubble redraw. It draws with the fast path (:mod:`mlsys_kit.pipeline.gantt_raster`,
one image, redrawn in place by :class:`~mlsys_kit.pipeline.gantt_raster.LivePipelinePlot`), tested to paint what the one renderer (:mod:`mlsys_kit.pipeline.viz`) draws."""

from __future__ import annotations

import ipywidgets as w

from mlsys_kit.pipeline.gantt_raster import LivePipelinePlot
from mlsys_kit.pipeline.generators import SCHEDULES, fewest_valid_microbatches, make_schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.viz.figure import live_image


def pipeline_explorer(schedule: str = "1f1b", p: int = 4, m: int = 8, v: int = 2):
    """The lecture widget: schedule, p, m, v, t_B/t_F, t_W/t_F and latency; the Gantt chart, the
    memory plot and the metrics redraw when a control moves. The controls stay valid: when a
    schedule cannot take the chosen m (1F1B with m < p, ...) m moves to the fewest microbatches
    it can take and one line says so. Returns an ipywidgets box."""
    style = {"description_width": "initial"}
    name = w.Dropdown(options=list(SCHEDULES), value=schedule, description="schedule")
    ps = w.IntSlider(value=p, min=1, max=16, description="p (ranks)", continuous_update=False, style=style)
    ms = w.IntSlider(value=m, min=1, max=64, description="m (microbatches)", continuous_update=False, style=style)
    vs = w.IntSlider(value=v, min=1, max=4, description="v (chunks, interleaved)", continuous_update=False, style=style)
    tb = w.FloatSlider(value=1.0, min=0.25, max=3.0, step=0.25, description="t_B / t_F", continuous_update=False, style=style)
    tw = w.FloatSlider(value=1.0, min=0.0, max=3.0, step=0.25, description="t_W / t_F", continuous_update=False, style=style)
    lat = w.FloatSlider(value=0.0, min=0.0, max=2.0, step=0.1, description="latency / t_F", continuous_update=False, style=style)
    image = live_image()
    facts = w.HTML()

    plot = LivePipelinePlot("time (t_F = 1)")  # drawn once; every update moves its image and lines
    note = {"text": ""}  # a one-line remark on the next redraw (m was moved to a valid value)

    def redraw(*_):
        m_ok, why = fewest_valid_microbatches(name.value, ps.value, ms.value, vs.value)
        if m_ok > ms.max:
            ms.max = m_ok
        if m_ok != ms.value:  # keep the controls inside the valid region: move m, redraw once
            note["text"] = f"m set to {m_ok} ({why}). "
            ms.value = m_ok  # its observer redraws
            return
        sched = make_schedule(name.value, ps.value, ms.value, vs.value)
        res = simulate(sched, 1.0, tb.value, tw.value, lat.value, check=False, costs_per_rank=True)
        title = f"{sched.name}, p={sched.num_ranks}, m={sched.num_microbatches}, v={sched.chunks}"
        # the title goes in the line above the picture: a new title would redraw every panel's text
        plot.update(res.events, sched.num_ranks, "", res.memory)
        image.value = plot.png()
        facts.value = (f"<i>{note['text']}</i>" if note["text"] else "") + f"<b>{title}</b>: " + (
            f"makespan <b>{res.makespan:.4g}</b> &nbsp; bubble fraction (idle/busy) "
            f"<b>{res.bubble_fraction:.4f}</b> &nbsp; bubble rate (idle/makespan) <b>{res.bubble_rate:.4f}</b>"
            f" &nbsp; peak activations <b>{max(res.peak_activations):g}</b> microbatches (rank "
            f"{res.peak_activations.index(max(res.peak_activations))})")
        note["text"] = ""

    for widget in (name, ps, ms, vs, tb, tw, lat):
        widget.observe(redraw, names="value")
    redraw()
    return w.VBox([w.HBox([name, ps, ms]), w.HBox([vs, tb, tw, lat]), facts, image])
