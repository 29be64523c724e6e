"""The partition/credit search (ByteScheduler, SOSP'19 section 5) and the example models."""

import pytest

from mlsys_kit.feed.comm import Layer, Network, iteration_time, model_layers
from mlsys_kit.feed.comm_search import grid, search

LAYERS = [Layer(0.01, 0.02, 3_000), Layer(0.01, 0.02, 5_000), Layer(0.002, 0.004, 40_000)]
NET = Network(1e6, 1e-3, 4)


def test_search_finds_the_grid_minimum_and_beats_fifo():
    r = search(LAYERS, NET, min_partition=512, max_window=8)
    assert r["partitions"] == [512, 1024, 2048, 4096, 8192, 16384, 32768, 65536]
    assert r["windows"] == [1, 2, 4, 8] and r["evaluations"] == 32
    brute = min(iteration_time(LAYERS, NET, "bytescheduler", partition=p, credit=p * w).iteration_time
                for p in r["partitions"] for w in r["windows"])
    assert r["iteration_time"] == brute
    assert iteration_time(LAYERS, NET, "bytescheduler", partition=r["partition"],
                          credit=r["credit"]).iteration_time == brute
    assert r["iteration_time"] < r["fifo_iteration_time"]  # layer 0 overtakes layer 2's 40 kB
    # the trade-off is real: neither the smallest nor the largest partition is best here
    assert r["partitions"][0] < r["partition"] < r["partitions"][-1]


def test_grid_bad_input():
    with pytest.raises(ValueError, match="min_partition must be a positive integer"):
        grid(LAYERS, min_partition=0)
    with pytest.raises(ValueError, match="at least one Layer"):
        search([], NET)


def test_model_layers_match_their_parameter_counts():
    vgg = model_layers("vgg16", batch=1, flops=1e12)
    assert len(vgg) == 16 and sum(x.grad_bytes for x in vgg) == 4 * 138_357_544  # VGG16's 138.4M parameters
    assert vgg[0].backward == pytest.approx(2 * vgg[0].forward)
    gpt = model_layers("gpt2", batch=1)
    assert len(gpt) == 13
    assert sum(x.grad_bytes for x in gpt) // 4 == pytest.approx(124e6, rel=0.01)  # GPT-2 small: 124M
    with pytest.raises(ValueError, match="model must be one of vgg16, gpt2"):
        model_layers("bert")
