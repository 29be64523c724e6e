"""The real offloaded run: the tiny GPT across a device, a host and a disk tier generates the
same tokens as the plain run, and the bytes its tiers copy equal the cost model's prediction."""

from __future__ import annotations

import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mlsys_kit.models.gpt import GPT, preset
from mlsys_kit.offload import cost
from mlsys_kit.offload.config import Placement, Policy, Workload, from_gpt, hardware
from mlsys_kit.offload.real import layer_forward, run_offloaded

MICRO = GPT(preset("micro", n_layer=3), seed=1)
ROOMY = hardware("cpu-tiny").with_capacity("device", 1e9)


@st.composite
def triples(draw):
    dev = draw(st.sampled_from([0.0, 12.5, 30.0, 50.0, 100.0]))
    host = draw(st.sampled_from([0.0, 25.0, 40.0, 100.0]))
    host = min(host, 100.0 - dev)
    return (dev, host, 100.0 - dev - host)


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(w=triples(), a=triples(), k=triples(), batch=st.integers(1, 2), blocks=st.integers(1, 3),
       schedule=st.sampled_from(["zigzag", "row"]), overlap=st.booleans(),
       prompt=st.integers(1, 9), gen=st.integers(1, 4))
def test_tokens_equal_the_plain_run_and_bytes_equal_the_cost_model(w, a, k, batch, blocks, schedule, overlap,
                                                                   prompt, gen):
    policy = Policy(batch, blocks, Placement(w, a, k), overlap=overlap)
    res = run_offloaded(MICRO, policy, Workload(prompt, gen), schedule, hw=ROOMY, seed=prompt)
    assert res["outputs"] == res["reference_outputs"] and res["outputs_match_reference"]
    predicted = cost.generation(from_gpt(MICRO.config), ROOMY, policy, Workload(prompt, gen), schedule)["bytes"]
    assert res["bytes_moved_measured"] == {link: int(v) for link, v in predicted.items()}
    assert res["bytes_match"]
    # the device never held more than the cost model's peak for it (which adds a compute buffer)
    assert res["device_peak_bytes"] <= res["resident_predicted"]["device"]


def test_everything_on_the_device_moves_nothing_and_everything_off_it_moves_every_layer_each_step():
    on = run_offloaded(MICRO, Policy(2, 2), Workload(5, 3), hw=ROOMY)
    assert set(on["bytes_moved_measured"].values()) == {0} and on["outputs_match_reference"]
    off = Placement((0, 100, 0), (0, 100, 0), (0, 100, 0))
    res = run_offloaded(MICRO, Policy(2, 2, off), Workload(5, 3), "zigzag", hw=ROOMY)
    layer_bytes = sum(p.numel() for p in MICRO.h[0].parameters()) * 4
    # zig-zag: each layer's weights once per token step, whatever the block size
    weights = 3 * MICRO.config.n_layer * layer_bytes
    kv_reads = 4 * sum(5 + t - 1 for t in range(1, 3)) * MICRO.config.n_layer * 2 * MICRO.config.n_embd * 4
    acts = 4 * (5 + 2) * (MICRO.config.n_layer - 1) * MICRO.config.n_embd * 4
    assert res["bytes_moved_measured"]["host_to_device"] == weights + kv_reads + acts
    assert res["bytes_moved_measured"]["disk_to_host"] == 0


def test_zigzag_loads_each_layer_once_per_block_row_by_row_once_per_batch():
    pl = Placement((0, 100, 0), (100, 0, 0), (100, 0, 0))
    z = run_offloaded(MICRO, Policy(1, 3, pl), Workload(4, 3), "zigzag", hw=ROOMY)
    r = run_offloaded(MICRO, Policy(1, 3, pl), Workload(4, 3), "row", hw=ROOMY)
    L = MICRO.config.n_layer
    assert (z["weight_loads"], r["weight_loads"]) == (3 * L, 3 * 3 * L)
    assert r["bytes_moved_measured"]["host_to_device"] == 3 * z["bytes_moved_measured"]["host_to_device"]
    assert z["outputs"] == r["outputs"] == z["reference_outputs"]


def test_the_device_budget_is_enforced():
    pl = Placement((100, 0, 0), (100, 0, 0), (100, 0, 0))
    tight = hardware("cpu-tiny").with_capacity("device", 10_000)
    with pytest.raises(ValueError, match="device tier holds at most 10000 bytes"):
        run_offloaded(MICRO, Policy(2, 2, pl), Workload(8, 2), hw=tight)
    res = run_offloaded(MICRO, Policy(2, 2, Placement((0, 100, 0), (0, 0, 100), (0, 50, 50))), Workload(8, 2),
                        hw=hardware("cpu-tiny").with_capacity("device", 150_000))
    assert 0 < res["device_peak_bytes"] <= 150_000 and res["outputs_match_reference"]


def test_layer_forward_is_the_block_forward():
    x = torch.randn(2, 7, MICRO.config.n_embd, generator=torch.Generator().manual_seed(0))
    block = MICRO.h[1]
    p = dict(block.named_parameters())
    with torch.no_grad():
        y, kv = layer_forward(p, x, None, MICRO.config)
        assert torch.equal(y, block(x))
        # the prefix's K|V as past, the last token alone: the same output (up to rounding)
        y1, _ = layer_forward(p, x[:, -1:], kv[:, :-1], MICRO.config)
    torch.testing.assert_close(y1, y[:, -1:], rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("kwargs, message", [
    ({"policy": Policy(1, compress=True)}, "without compress"),
    ({"schedule": "diagonal"}, "schedule must be one of zigzag, row"),
    ({"workload": Workload(250, 10)}, "at most n_positions=256"),
    ({"model": "tiny"}, "model must be a mlsys_kit.models.gpt.GPT"),
    ({"hw": "t4"}, "hw must be a Hardware"),
    ({"device": "cuda:0" if not torch.cuda.is_available() else "nope"}, "cuda|device"),
])
def test_bad_input_is_a_value_error(kwargs, message):
    args = {"model": MICRO, "policy": Policy(1), "workload": Workload(4, 2), "schedule": "zigzag", "hw": ROOMY}
    args.update(kwargs)
    with pytest.raises((ValueError, RuntimeError), match=message):
        run_offloaded(**args)
