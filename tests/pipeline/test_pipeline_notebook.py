"""The pipeline lecture notebook's widget redraws.
(The notebook itself runs top to bottom in tests/test_notebooks.py and in the browser, checked
against tests/notebook_checks.py.)"""

from __future__ import annotations


def test_explorer_redraws_and_keeps_its_controls_valid():
    from mlsys_kit.pipeline.widgets import pipeline_explorer

    box = pipeline_explorer(p=4, m=8)
    name, p, m = box.children[0].children
    v, tb, tw, lat = box.children[1].children
    facts, image = box.children[2], box.children[3]
    assert image.value[:4] == b"\x89PNG" and "0.3750" in facts.value  # 1F1B: (p-1)/m
    before = image.value
    name.value = "interleaved-1f1b"
    assert image.value != before and "0.1875" in facts.value  # (p-1)/(v m) with v=2
    name.value = "1f1b"
    drawn = image.value
    p.value = 12  # m=8 < p=12: 1F1B cannot run it, so m moves to 12 and one line says so
    assert m.value == 12 and facts.value.count("m set to 12") == 1 and "1f1b needs m >= p" in facts.value
    assert "0.9167" in facts.value and "not possible" not in facts.value  # a chart: bubble (p-1)/m = 11/12
    assert image.value != drawn and image.value[:4] == b"\x89PNG"
    p.value = 9  # the browser test's case: 1F1B at p=9 stays a chart
    assert m.value == 12 and "m set" not in facts.value and "0.6667" in facts.value
    p.value, name.value = 5, "interleaved-1f1b"  # m=12 is not a multiple of p=5: m moves to 15
    assert m.value == 15 and "multiple of p" in facts.value
    name.value, m.value = "1f1b", 2  # the lecturer drags m below p: it snaps back to p
    assert m.value == 5 and "m set to 5" in facts.value
    p.value, lat.value = 4, 0.5
    assert "bubble fraction" in facts.value and "0.3750" not in facts.value
