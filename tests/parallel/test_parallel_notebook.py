"""The parallelism lecture widget redraws when a control moves (the notebook itself runs in
tests/test_notebooks.py)."""

from mlsys_kit.parallel.viz import parallel_explorer


def test_parallel_explorer_redraws_when_a_slider_moves():
    box = parallel_explorer()
    model, n, batch = box.children[0].children
    intra, inter = box.children[1].children
    facts, image, bars = box.children[2], box.children[3], box.children[4]
    assert "best (circled)" in facts.value and "OOM" in bars.value  # 70B on 64 devices: some cells do not fit
    before_png, before_facts = image.value, facts.value
    n.value = 256
    assert image.value != before_png and facts.value != before_facts
    assert "searched" in facts.value
    model.value = "gpt2"
    assert "OOM" not in bars.value  # GPT-2 fits everywhere
