"""The KV-cache lecture notebook's widget redraws when a control moves.
(The notebook itself runs top to bottom in tests/test_notebooks.py and in the browser, checked
against tests/notebook_checks.py.)"""

from __future__ import annotations


def test_explorer_redraws_on_both_sliders():
    from mlsys_kit.kvcache.viz import kv_cache_explorer

    box = kv_cache_explorer()
    _, step, block = box.children[0].children
    facts, image = box.children[1], box.children[2]
    before = image.value, facts.value
    step.value = 6  # the copy-on-write event
    assert image.value != before[0] and "copy-on-write" in facts.value
    png = image.value
    block.value = 16
    assert image.value != png and "blocks of 16" in facts.value
