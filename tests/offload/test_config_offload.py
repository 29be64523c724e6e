"""mlsys_kit.offload.config: tiers, hardware presets, placements, the split rule, policies, models."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.models.costs import param_count
from mlsys_kit.offload.config import (GB, HARDWARE, MODELS, TIERS, Hardware, Placement, Policy, Tier, Workload,
                                      from_gpt, hardware, model, split)

triples = st.tuples(st.integers(0, 100), st.integers(0, 100)).filter(lambda t: t[0] + t[1] <= 100).map(
    lambda t: (float(t[0]), float(t[1]), float(100 - t[0] - t[1])))


@settings(derandomize=True, max_examples=200)
@given(n=st.integers(0, 10**9), p=triples)
def test_split_adds_up_and_each_part_is_within_one_element_of_its_share(n, p):
    parts = split(n, p)
    assert all(type(x) is int and x >= 0 for x in parts)
    assert sum(parts) == n
    for x, pct in zip(parts, p):
        assert abs(x - n * pct / 100) < 2  # floor on device and host, the remainder on disk


def test_split_extremes():
    assert split(7, (100, 0, 0)) == (7, 0, 0)
    assert split(7, (0, 100, 0)) == (0, 7, 0)
    assert split(7, (0, 0, 100)) == (0, 0, 7)
    assert split(10, (33.3, 33.3, 33.4)) == (3, 3, 4)


@pytest.mark.parametrize("bad", [(50, 50), (50, 40, 20), (-10, 60, 50), "100,0,0", (math.nan, 50, 50)])
def test_placement_rejects_triples_that_are_not_three_percentages_summing_to_100(bad):
    with pytest.raises(ValueError, match="percentage"):
        Placement(weights=bad)


def test_placement_reads_back_fractions_and_defaults_to_the_device():
    p = Placement(weights=(10, 60, 30), kv_cache=[0, 0, 100])
    assert p.of("weights") == (10.0, 60.0, 30.0) and p.fraction("weights", "host") == 0.6
    assert p.fraction("activations", "device") == 1.0 and p.kv_cache == (0.0, 0.0, 100.0)
    assert p.as_dict()["weights"] == {"device": 10.0, "host": 60.0, "disk": 30.0}
    with pytest.raises(ValueError, match="kind must be one of"):
        p.of("gradients")
    with pytest.raises(ValueError, match="tier must be one of"):
        p.fraction("weights", "gpu")


def test_policy_validates_and_counts_the_effective_batch():
    assert Policy(48, 3).block_size == 144
    for kw in ({"batch_size": 0}, {"batch_size": 2, "num_batches": 0}, {"batch_size": 2.5},
               {"batch_size": 2, "overlap": 1}, {"batch_size": 2, "compress": "yes"},
               {"batch_size": 2, "placement": (100, 0, 0)}):
        with pytest.raises(ValueError):
            Policy(**kw)
    for kw in ({"prompt_len": 0}, {"gen_len": -1}):
        with pytest.raises(ValueError):
            Workload(**kw)


def test_hardware_presets_and_capacity_overrides():
    t4 = hardware("t4-16gb")
    assert (t4.device.capacity_bytes, t4.host.capacity_bytes, t4.disk.capacity_bytes) == (16 * GB, 208 * GB, 1500 * GB)
    assert t4.mem_bw == t4.device.read_bw and [t.name for t in t4.tiers] == list(TIERS)
    bigger = hardware("t4-16gb", host_gb=416, disk_gb=0)
    assert bigger.host.capacity_bytes == 416 * GB and bigger.disk.capacity_bytes == 0
    assert bigger.device == t4.device
    assert set(HARDWARE) >= {"t4-16gb", "cpu-tiny"}
    with pytest.raises(ValueError, match="hardware must be one of"):
        hardware("a100")
    with pytest.raises(ValueError, match="host_gb"):
        hardware("t4-16gb", host_gb=-1)
    with pytest.raises(ValueError, match="read_bw"):
        Tier("host", 1e9, 0, 1e9)
    with pytest.raises(ValueError, match="tier name"):
        Tier("gpu", 1e9, 1e9, 1e9)
    with pytest.raises(ValueError, match="Hardware.host must be a Tier named 'host'"):
        Hardware("x", t4.device, t4.disk, t4.disk, 1e12)


@pytest.mark.parametrize("name, billions", [("opt-6.7b", 6.7), ("opt-30b", 30), ("opt-175b", 175)])
def test_opt_presets_have_the_published_size(name, billions):
    # OPT paper table 1 names each model by its parameter count
    assert abs(param_count(model(name)) / 1e9 - billions) / billions < 0.01
    assert model(name).dtype_bytes == 2
    with pytest.raises(ValueError, match="model must be one of"):
        model("opt-1t")
    assert "gpt2" in MODELS  # the shared cost-model presets are there too


def test_from_gpt_counts_the_tiny_gpts_parameters_exactly():
    from mlsys_kit.models.gpt import GPT, preset

    for name in ("micro", "tiny"):
        cfg = preset(name)
        assert param_count(from_gpt(cfg)) == GPT(cfg, seed=0).num_parameters()
        assert from_gpt(cfg).dtype_bytes == 4
    with pytest.raises(ValueError, match="expected a GPTConfig"):
        from_gpt(model("opt-30b"))
