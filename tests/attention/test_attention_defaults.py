"""One home per default: the paper's Figure 2 setting lives in mlsys_kit/attention/io.py
(PAPER_FIGURE_2, PAPER_SRAM_KB); the widget and the demo start from it."""

import inspect

from mlsys_kit.attention.io import PAPER_FIGURE_2, PAPER_SRAM_KB


def test_widget_and_demo_start_at_the_papers_figure_2():
    from mlsys_kit.attention import demo
    from mlsys_kit.attention.viz import io_explorer

    n, d, m = io_explorer().children[0].children
    assert (n.value, d.value, m.value) == (PAPER_FIGURE_2["seq"], PAPER_FIGURE_2["head_dim"], PAPER_SRAM_KB) == (
        1024, 64, 100)
    src = inspect.getsource(demo.section)
    assert "io_figure(1024, 64, 100)" not in src and "PAPER_FIGURE_2" in src
