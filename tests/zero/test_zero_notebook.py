"""The ZeRO lecture notebook's widget redraws when a slider moves.
(The notebook itself runs top to bottom in tests/test_notebooks.py and in the browser, checked
against tests/notebook_checks.py.)"""


def test_zero_explorer_redraws_when_a_slider_moves():
    from mlsys_kit.zero.viz import zero_explorer

    box = zero_explorer()
    size, nd = box.children[0].children
    facts, image = box.children[2], box.children[3]
    assert "stage 0 <b>120 GB</b>" in facts.value  # the paper's 7.5B, N_d = 64
    before = image.value
    nd.value = 1
    assert image.value != before
    assert "stage 3 <b>120 GB</b>" in facts.value  # N_d = 1 partitions nothing
    size.value = 1.0
    assert "stage 0 <b>16 GB</b>" in facts.value
