"""The feed lecture notebook's widgets redraw when a control moves.
(The notebook itself runs top to bottom in tests/test_notebooks.py and in the browser, checked
against tests/notebook_checks.py.)"""


def test_comm_explorer_redraws_when_a_control_moves():
    from mlsys_kit.feed.widgets import comm_explorer

    box = comm_explorer()
    bw = box.children[0].children[0]
    facts, image = box.children[2], box.children[3]
    before_png, before_text = image.value, facts.value
    assert image.value[:8] == b"\x89PNG\r\n\x1a\n"
    bw.value = 10.0
    assert image.value != before_png and facts.value != before_text
    assert "fifo <b>" in facts.value and "bytescheduler <b>" in facts.value


def test_cache_explorer_redraws_when_a_control_moves():
    from mlsys_kit.feed.widgets import cache_explorer

    box = cache_explorer()
    ds, mem = box.children[0].children
    facts, image = box.children[2], box.children[3]
    before = image.value
    mem.value = 140.0  # memory = dataset: both caches hold everything
    assert image.value != before
    assert facts.value.count("hit rate <b>1.000</b>") == 2
