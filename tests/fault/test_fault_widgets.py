"""The fault lecture widgets: every control redraws the picture (drawn at >= 100 dpi), the text
agrees with the model (Daly's interval, GEMINI's recovery probability), bad arguments raise."""

import struct

import pytest

from mlsys_kit.fault.gemini import recovery_probability
from mlsys_kit.fault.plan import strategy_costs
from mlsys_kit.fault.waste import daly_interval, job_mtbf
from mlsys_kit.fault.widgets import placement_explorer, timeline_explorer, waste_explorer


def png_size(png: bytes) -> tuple[int, int]:
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", png[16:24])


def moves_redraw(image, facts, control, value):
    before = (image.value, facts.value)
    control.value = value
    assert image.value != before[0] and facts.value != before[1], control.description


def test_waste_explorer():
    box = waste_explorer(devices=512, mtbf_hours=5000, checkpoint_gb=200)
    (dev, mtbf), (gb, strat) = box.children[0].children, box.children[1].children
    image, facts = box.children[2], box.children[3]
    assert png_size(image.value) == (1000, 360)  # 10 x 3.6 inches at 100 dpi
    c, _ = strategy_costs("remote", 512, 200e9, 20.0, 400.0, 60.0, 2)
    assert f"{daly_interval(c, job_mtbf(5000 * 3600, 512)):.4g} s" in facts.value
    for control, value in ((dev, 2048), (mtbf, 1000.0), (gb, 50.0), (strat, "in-memory")):
        moves_redraw(image, facts, control, value)
    c, _ = strategy_costs("in-memory", 2048, 50e9, 20.0, 400.0, 60.0, 2)
    assert f"{daly_interval(c, job_mtbf(1000 * 3600, 2048)):.4g} s" in facts.value


def test_timeline_explorer():
    box = timeline_explorer()
    controls = box.children[0].children + box.children[1].children
    image, facts = box.children[2], box.children[3]
    assert png_size(image.value)[0] >= 1000
    for control, value in zip(controls, (2.0, 60.0, 6.0, 20.0, 7)):
        moves_redraw(image, facts, control, value)
    assert f"{daly_interval(6 * 60, 2 * 3600) / 60:.3g} min" in facts.value


def test_placement_explorer():
    box = placement_explorer(8, 2)
    ns, mr = box.children[0].children
    image, facts = box.children[1], box.children[2]
    assert f"group <b>{recovery_probability(8, 2, 2, 'group'):.3f}</b>" in facts.value
    moves_redraw(image, facts, mr, 3)  # 3 does not divide 8: mixed placement
    assert f"mixed <b>{recovery_probability(8, 3, 3, 'mixed'):.3f}</b>" in facts.value
    assert f"ring <b>{recovery_probability(8, 3, 3, 'ring'):.3f}</b>" in facts.value
    moves_redraw(image, facts, ns, 12)
    assert mr.max == 12 and f"group <b>{recovery_probability(12, 3, 3, 'group'):.3f}</b>" in facts.value
    ns.value = 2  # m is pulled down to N
    assert mr.value == 2 and "ring <b>" in facts.value


@pytest.mark.parametrize("make, kwargs, message", [
    (waste_explorer, {"devices": 0}, "devices must be a positive integer"),
    (waste_explorer, {"strategy": "tape"}, "strategy"),
    (waste_explorer, {"mtbf_hours": -1.0}, "MTBF"),
    (timeline_explorer, {"segments": 0}, "segments"),
    (placement_explorer, {"n": 40}, "2 <= m <= N <= 32"),
    (placement_explorer, {"n": 4, "m": 5}, "2 <= m <= N <= 32"),
])
def test_bad_arguments(make, kwargs, message):
    with pytest.raises(ValueError, match=message):
        make(**kwargs)


def test_hopeless_settings_are_not_simulated():
    """Checkpoint far longer than the job MTBF: the simulator would hardly ever finish an interval;
    the widgets say so instead of running it (formula curves still drawn)."""
    box = waste_explorer(devices=16384, mtbf_hours=100.0, checkpoint_gb=10_000.0)
    assert "none: a run would meet too many failures" in box.children[3].value
    box = timeline_explorer(mtbf_hours=0.5, interval_min=240, checkpoint_min=30, restart_min=60)
    assert "expected failures" in box.children[3].value
    box.children[0].children[0].value = 24.0  # a long MTBF: simulated again
    assert "wall" in box.children[3].value


def test_placement_explorer_redrawn_in_place_shows_a_full_redraw_and_holds_its_k_axis():
    """N and m moves (group to mixed and back, the k axis kept or renewed) redraw only what
    moved; the picture is the one a full redraw gives, and the k axis always reaches N."""
    from figure_helpers import differing, full_redraw, pixels

    box = placement_explorer(8, 2)
    ns, mr = box.children[0].children
    image, fig = box.children[1], box.figure
    ax_g, ax_r, ax_p = fig.axes
    assert ax_r.get_shared_y_axes().joined(ax_g, ax_r)  # one column of row numbers for both grids
    kept = None
    for control, value in ((ns, 32), (ns, 20), (mr, 3), (ns, 17), (mr, 4), (ns, 9), (ns, 30), (mr, 5)):
        control.value = value
        assert differing(pixels(image.value), full_redraw(fig)) < 1e-4, (control.description, value)
        lo, hi = ax_p.get_xlim()
        assert lo < 0 and ns.value <= hi - 0.3 <= 2 * ns.value  # every k shown, on at least half the axis
        if control is ns and kept is not None and kept[1] - 0.3 >= ns.value and kept[1] - 0.3 <= 2 * ns.value:
            assert (lo, hi) == kept  # N moved within the axis: it held still
        kept = (lo, hi)
