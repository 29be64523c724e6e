"""The FlashAttention lecture widgets redraw when a control moves (the notebook itself runs top
to bottom in tests/test_notebooks.py and in the browser tests)."""


def test_tile_walk_redraws_when_the_step_moves():
    from mlsys_kit.attention.viz import tile_walk_explorer

    box = tile_walk_explorer(seq=32, block_q=8, block_k=8, causal=True)
    step, bq, bk, causal = box.children[0].children
    facts, image = box.children[1], box.children[2]
    assert step.max == 9  # causal, 4 Q tiles of 8: 1 + 2 + 3 + 4 K/V tiles
    before = image.value
    step.value = 5
    assert image.value != before and "Q tile (16, 24) on chip with K/V tile (16, 24)" in facts.value
    causal.value = False
    assert step.max == 15 and step.value == 5
    bk.value = 4
    assert step.max == 31


def test_io_explorer_redraws_and_reports_both_byte_counts():
    from mlsys_kit.attention.viz import io_explorer

    box = io_explorer()
    n, d, m = box.children[0].children
    facts, image = box.children[1], box.children[2]
    assert "(<b>3.33x</b> fewer)" in facts.value  # N = 1024, d = 64, M = 100 KB
    before = image.value
    m.value = 192
    assert image.value != before and "(<b>5.83x</b> fewer)" in facts.value
    n.value = 4096
    assert "tiles of 384 (outer) x 64 (inner)" in facts.value
