"""The training-memory lecture widget redraws when a slider moves (the notebook itself runs in
tests/test_notebooks.py and the browser tests)."""


def test_memory_explorer_redraws_when_a_slider_moves():
    from mlsys_kit.memory.viz import memory_explorer

    box = memory_explorer(budget_gb=8.0)
    budget, link = box.children[0].children
    batch, model = box.children[1].children
    image, facts = box.children[2], box.children[3]
    assert "<b>all</b>: peak 10.6 GB <b>does not fit</b>" in facts.value
    before = image.value
    budget.value = 12.0
    assert image.value != before and "<b>all</b>: peak 10.6 GB fits" in facts.value
    slow = facts.value
    link.value = 1000.0
    assert facts.value != slow
    model.value = "vgg16"
    batch.value = 64
    assert "VGG" not in facts.value and "<b>offload</b>" in facts.value
