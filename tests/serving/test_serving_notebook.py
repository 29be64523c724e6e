"""The serving lecture notebook's widget re-simulates and redraws when a slider moves.
(The notebook itself runs top to bottom in tests/test_notebooks.py and in the browser, checked
against tests/notebook_checks.py.)"""


def test_serving_explorer_redraws_when_a_slider_moves():
    from mlsys_kit.serving.viz import serving_explorer

    box = serving_explorer(requests=200)
    rate, budget, mix = box.children[0].children
    facts, image = box.children[2], box.children[3]
    before = (image.value, facts.value)
    rate.value = 20.0
    assert image.value != before[0] and facts.value != before[1]
    before = facts.value
    budget.value = 64
    assert facts.value != before and "chunked" in facts.value
    before = facts.value
    mix.value = "fixed"
    assert facts.value != before
