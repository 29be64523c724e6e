"""The offloading lecture widget: the InfiniGen fraction slider redraws its picture in place
(same figure, same artists) with the numbers of the sweep at that fraction."""

from __future__ import annotations

import pytest

from mlsys_kit.offload.infinigen import fraction_sweep, skew
from mlsys_kit.offload.train import calibration_ids, eval_ids, trained_gpt
from mlsys_kit.offload.widgets import DPI, prefetch_explorer


@pytest.fixture(scope="module")
def sweep():
    model = trained_gpt()
    return fraction_sweep(model, eval_ids(96), 32, skew(model, calibration_ids()), (0.1, 0.2, 0.3), random_seeds=1)


def test_the_slider_redraws_in_place_with_the_sweeps_numbers(sweep):
    box = prefetch_explorer(sweep, fraction=0.1)
    slider, still, (image, facts) = box.children[0], box.children[1], box.children[2].children
    fig, artists = box.figure, len(box.figure.axes[0].patches)
    before_png, before_still, before_text = image.value, still.value, facts.value
    assert f"<b>skewed</b> {sweep['skewed']['attention_mass'][0]:.3f}" in before_text
    slider.value = 0.3
    assert image.value != before_png and facts.value != before_text and still.value == before_still
    assert f"<b>oracle</b> {sweep['oracle']['attention_mass'][2]:.3f}" in facts.value
    assert box.figure is fig and len(fig.axes[0].patches) == artists  # the same bars, moved
    widths = [p.get_width() for p in fig.axes[0].patches[:3]]
    assert widths == [sweep[c]["attention_mass"][2] for c in ("skewed", "random", "oracle")]
    assert fig.dpi >= 100 and DPI >= 100 and image.value[:8] == b"\x89PNG\r\n\x1a\n"


def test_an_empty_sweep_is_a_value_error():
    with pytest.raises(ValueError, match="no fractions"):
        prefetch_explorer({"fractions": []})
