"""The widget's raster Gantt (pipeline/gantt_raster.py, the fast path) paints the chart the one
matplotlib renderer (pipeline/viz.py) draws: every bar in its colour, on its rank, over its time."""

from __future__ import annotations

import pytest

from mlsys_kit.pipeline.gantt_raster import _hex_rgb, fast_figure, gantt_raster
from mlsys_kit.pipeline.generators import SCHEDULES, make_schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.pipeline.viz import gantt_figure
from mlsys_kit.viz.figure import PALETTE


@pytest.mark.parametrize("name", SCHEDULES)
@pytest.mark.parametrize("p,m,tw,lat", [(4, 8, 1.0, 0.0), (3, 6, 0.5, 0.3)])
def test_raster_paints_every_bar_where_and_in_the_colour_of_its_action(name, p, m, tw, lat):
    sched = make_schedule(name, p, m)
    res = simulate(sched, 1.0, 2.0, tw, lat, check=False, costs_per_rank=True)
    width, row = 1200, 24
    img = gantt_raster(res.events, p, width, row)
    assert img.shape == (p * row, width, 3)
    t0 = min(e.start for e in res.events)
    span = max(e.end for e in res.events) - t0
    px = lambda t: int((t - t0) / span * width)  # noqa: E731
    busy = [set() for _ in range(p)]
    for e in res.events:
        x0, x1 = px(e.start), max(px(e.start) + 1, px(e.end))
        busy[e.rank].update(range(x0, x1))
        y = e.rank * row + 3  # above the digits, inside the bar (rows are padded by row // 10)
        colour = _hex_rgb(PALETTE[e.action.kind])
        xs = range(x0, x1 - 1) if x1 - x0 >= 3 else range(x0, x1)
        got = {tuple(img[y, x]) for x in xs}
        assert got == {colour}, (e, got)
    for r in range(p):  # idle time is white on the whole row
        y = r * row + row // 2
        for x in range(width):
            if x not in busy[r]:
                assert tuple(img[y, x]) == (255, 255, 255), (r, x)


def test_fast_figure_shares_the_renderers_axes():
    sched = make_schedule("zb-v", 4, 8)
    res = simulate(sched, 1.0, 1.0, 1.0, 0.0, check=False, costs_per_rank=True)
    fast = fast_figure(res.events, 4, "zb-v", res.memory)
    slow = gantt_figure(res.events, 4, "zb-v", res.memory)
    for f, s in zip(fast.axes, slow.axes):
        assert [t.get_text() for t in f.get_yticklabels()] == [t.get_text() for t in s.get_yticklabels()] or \
            f is fast.axes[1]
        assert f.get_xlim()[1] == pytest.approx(s.get_xlim()[1])
    legend = lambda fig: [t.get_text() for t in fig.axes[0].get_legend().get_texts()]  # noqa: E731
    assert legend(fast) == legend(slow) == ["F", "B", "W"]
