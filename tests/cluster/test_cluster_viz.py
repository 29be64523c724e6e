"""The pictures: the Gantt rows never overlap and cover exactly the GPU-seconds held; the CDF is
a CDF; the lecture widget redraws when a control moves, at dpi >= 100."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mlsys_kit.cluster import widgets
from mlsys_kit.cluster.core import FIFO, SRTF, Cluster, Machine
from mlsys_kit.cluster.simulate import simulate
from mlsys_kit.cluster.viz import cdf_points, gpu_rows, plot_compare, plot_run
from mlsys_kit.cluster.workload import generate
from mlsys_kit.viz.figure import figure_png


@given(st.integers(0, 1000), st.sampled_from([FIFO, SRTF]))
def test_gantt_rows_never_overlap_and_cover_the_gpu_seconds(seed, policy):
    c = Cluster([Machine("v100", 4), Machine("v100", 2), Machine("k80", 4)])
    jobs = generate(25, "pai", gpus=10, load=1.3, seed=seed, gpu_types=c.gpu_types, max_size=6)
    res = simulate(jobs, c, policy(), record=True)
    rows = gpu_rows(res)
    assert sum(e - s for _, s, e, _ in rows) == pytest.approx(res.busy_gpu_seconds)
    for r in range(c.total_gpus):
        spans = sorted((s, e) for row, s, e, _ in rows if row == r)
        assert all(a[1] <= b[0] + 1e-9 for a, b in zip(spans, spans[1:]))
    assert all(0 <= r < c.total_gpus for r, *_ in rows)


def test_cdf_points_and_figures():
    x, y = cdf_points(np.array([3.0, 1.0, 2.0]))
    assert list(x) == [1, 2, 3] and list(y) == pytest.approx([1 / 3, 2 / 3, 1])
    c = Cluster.homogeneous(8, per_machine=4)
    res = simulate(generate(10, gpus=8), c, FIFO(), record=True)
    assert figure_png(plot_run(res))[:4] == b"\x89PNG"
    assert figure_png(plot_compare({"fifo": res}))[:4] == b"\x89PNG"
    with pytest.raises(ValueError, match="record=True"):
        gpu_rows(simulate(generate(10, gpus=8), c, FIFO()))
    with pytest.raises(ValueError):
        plot_compare({})


def test_widget_redraws_when_a_control_moves(monkeypatch):
    monkeypatch.setattr(widgets, "LOADS", (0.8, 1.4))
    monkeypatch.setattr(widgets, "HETEROGENEITY", (0.0, 1.0))
    monkeypatch.setattr(widgets, "WIDGET_POLICIES", ("fifo", "srtf", "tiresias"))
    box = widgets.cluster_explorer(n=25)
    load, het = box.children[0].children
    policy, facts, image = box.children[1], box.children[2], box.children[3]
    seen = {(image.value, facts.value)}
    for control, value in ((policy, "fifo"), (load, 0.8), (het, 0.0)):
        control.value = value
        seen.add((image.value, facts.value))
    assert len(seen) == 4 and "fifo" in facts.value
    from PIL import Image
    import io

    assert Image.open(io.BytesIO(image.value)).size == (1100, 400)  # 11 x 4 inches at dpi 100
