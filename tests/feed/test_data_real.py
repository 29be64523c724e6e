"""The real check: a torch DataLoader over files on disk, a byte-budgeted cache of each kind inside
its Dataset, counted hits and bytes read equal to the simulator's for the sampler's order."""

import random

import numpy as np
import pytest
import torch

from mlsys_kit.feed.cache import simulate_cache
from mlsys_kit.feed.data_real import CachedFiles, make_files, real_data, sampler_orders
from mlsys_kit.feed.viz_data import CachePanel, plot_cache
from mlsys_kit.feed.data import Pipeline


def test_dataloader_counts_equal_the_simulator():
    r = real_data(n_files=40, memory_fraction=0.5, epochs=3, batch=8, seed=5)
    assert r["matches_simulator"] is True and r["num_workers"] == 0
    for p in ("lru", "minio"):
        assert r[p]["epochs_measured"] == r[p]["epochs_predicted"]
        assert r[p]["bytes_read_measured"] == r[p]["bytes_read_predicted"] > 0
        assert r[p]["epochs_measured"][0]["hits"] == 0  # cold first epoch
        assert len(r[p]["epoch_s_measured"]) == len(r[p]["epoch_s_model"]) == 3
    assert r["minio"]["hit_rate_measured"] > r["lru"]["hit_rate_measured"]
    assert r["lru"]["bytes_read_measured"] > r["minio"]["bytes_read_measured"]


def test_the_check_can_fail(tmp_path):
    """Another seed's order gives other counts: the equality above is not a tautology."""
    sizes = make_files(tmp_path, 30, seed=1)
    cap = sum(sizes) // 2
    a = simulate_cache("lru", sampler_orders(30, 3, seed=0), sizes, cap)
    b = simulate_cache("lru", sampler_orders(30, 3, seed=1), sizes, cap)
    assert a["epochs"] != b["epochs"]
    assert sampler_orders(30, 2, 0) == sampler_orders(30, 2, 0) and sorted(sampler_orders(30, 1, 0)[0]) == list(range(30))


@pytest.mark.parametrize("policy", ["lru", "minio"])
def test_dataset_cache_equals_cache_py_on_any_access_order(tmp_path, policy):
    sizes = make_files(tmp_path, 12, min_bytes=10, max_bytes=400, seed=3)
    rng = random.Random(policy)
    for cap in (0, 350, 1200, 5000):
        order = [rng.randrange(12) for _ in range(80)]
        ds = CachedFiles(tmp_path, 12, policy, cap)
        out = [ds[i] for i in order]
        sim = simulate_cache(policy, [order], sizes, cap)
        assert (ds.hits, ds.misses, ds.bytes_read) == (sim["hits"], sim["misses"], sim["bytes_read"]), cap
        assert sum(len(v) for v in ds.store.values()) <= cap
        assert all(isinstance(x, torch.Tensor) and x.shape == (16,) for x in out)


def test_bad_input():
    with pytest.raises(ValueError, match="memory_fraction must be in"):
        real_data(memory_fraction=1.5)
    with pytest.raises(ValueError, match="n_files must be a positive integer"):
        real_data(n_files=0)
    with pytest.raises(ValueError, match="min_bytes must be <= max_bytes"):
        make_files("/nonexistent", 2, min_bytes=10, max_bytes=5)


def test_plots_update_in_place():
    fig = plot_cache(dataset_gb=100.0, memory_gb=50.0)
    ax_hit = fig.axes[0]
    assert len(ax_hit.lines) == 4 and max(ax_hit.lines[0].get_ydata()) == pytest.approx(1.0)  # LRU: 1 once it all fits
    assert ax_hit.lines[1].get_ydata()[0] == pytest.approx(0.5 + 0.5 * np.log(0.5))  # its marker at 50 %
    panel = CachePanel(*fig.subplots(1, 2))
    panel.update(Pipeline(memory_gb=10.0))
    before = list(panel.marks["minio"][0].get_ydata())
    panel.update(Pipeline(memory_gb=70.0))
    assert panel.marks["minio"][0].get_ydata()[0] == pytest.approx(0.5) != before[0]
