"""The two levels side by side: the tradeoff rows (operator level never above the block level at
an equal budget) and the lecture widget (a slider move redraws the image)."""

from mlsys_kit.memory.checkmate import saved_breakdown
from mlsys_kit.memory.widgets import levels_data, levels_explorer, levels_figure


def test_tradeoff_rows_and_figure():
    graph, rows, cut = levels_data("micro", 2, 16, points=5)
    for r in rows:
        assert r["op"]["recompute_flops"] <= r["block"]["recompute_flops"]
        assert r["op"]["saved_bytes"] <= max(r["budget_bytes"], r["block"]["saved_bytes"])
        assert sum(r["op"]["breakdown"].values()) == r["op"]["saved_bytes"]
    assert sum(saved_breakdown(graph, graph.keep_all()).values()) == graph.cost(graph.keep_all())["saved_bytes"]
    fig = levels_figure(rows, cut, "micro", 2)
    assert len(fig.axes) == 2


def test_widget_redraws_on_a_slider_move():
    box = levels_explorer("micro", 2, 16)
    slider, image = box.children[0], box.children[1]
    before = image.value
    slider.value = 0 if slider.value else 1
    assert image.value != before and image.value[:4] == b"\x89PNG"
