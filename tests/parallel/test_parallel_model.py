"""The cost model: the pipeline part against the simulator, memory against Korthikanti et al.
and the ZeRO model, and Megatron-LM's takeaways and 1T configuration."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.models.costs import TransformerConfig
from mlsys_kit.parallel.model import (Cluster, Plan, activation_bytes_per_layer, evaluate, model_config,
                                      pipeline_shape, stage_params, tp_step_elements)
from mlsys_kit.pipeline.generators import make_schedule
from mlsys_kit.pipeline.simulate import simulate
from mlsys_kit.zero.model import memory_per_device

GPT3ISH = TransformerConfig(layers=24, hidden=2048, heads=16, vocab=51200, seq_len=2048)


@settings(max_examples=15, deadline=None)
@given(p=st.sampled_from([2, 3, 4]), k=st.integers(1, 6), v=st.sampled_from([1, 2]), extra=st.integers(0, 3))
def test_long_pipelines_extend_the_simulation_exactly(p, k, v, extra):
    m = (4 + k) * p + (extra if v == 1 else 0)
    fast, exact = pipeline_shape(p, m, v), pipeline_shape(p, m, v, exact=True)
    assert fast["bubble"] == pytest.approx(exact["bubble"], rel=1e-9)
    assert fast["in_flight"] == exact["in_flight"]
    assert fast["latency_factor"] == pytest.approx(exact["latency_factor"], rel=1e-6)


@pytest.mark.parametrize("p, m, v", [(4, 8, 1), (4, 8, 2), (2, 6, 1)])
def test_pipeline_time_equals_the_simulator_with_real_costs(p, m, v):
    shape = pipeline_shape(p, m, v)
    tf, tb, lat = 0.7, 1.9, 0.03
    sim = simulate(make_schedule("interleaved-1f1b" if v > 1 else "1f1b", p, m, v), tf, tb, 0.0, latency=lat,
                   costs_per_rank=True)
    assert m * (tf + tb) * (1 + shape["bubble"]) + shape["latency_factor"] * lat == pytest.approx(sim.makespan, rel=1e-9)
    assert shape["bubble"] == pytest.approx((p - 1) / (v * m))  # Megatron-LM 2.2.1 / 2.2.2


def test_activation_memory_is_korthikanti_table_2():
    s, b, h, a = 2048, 1, 2048, 16
    sbh = s * b * h
    f = lambda t=1, sp=False, rc="none": activation_bytes_per_layer(GPT3ISH, b, t, sp, rc)
    assert f() == pytest.approx(sbh * (34 + 5 * a * s / h))
    assert f(8) == pytest.approx(sbh * (10 + 24 / 8 + 5 * a * s / (h * 8)))
    assert f(8, True) == pytest.approx(sbh / 8 * (34 + 5 * a * s / h))
    assert f(8, True, "selective") == pytest.approx(sbh / 8 * 34)
    assert f(8, False, "full") == 2 * sbh and f(8, True, "full") == 2 * sbh / 8


def test_model_states_come_from_the_zero_model():
    cfg, cl = model_config("llama2-7b"), Cluster(32)
    for z in (0, 1):
        r = evaluate(cfg, cl, Plan(2, 2, 8, 1, 1, z, "selective"), 64)
        m = memory_per_device(round(stage_params(cfg, 2, 2)), 8, z, 12)
        assert (r["memory"]["weights"], r["memory"]["gradients"], r["memory"]["optimizer"]) == (
            m.params_bytes, m.grads_bytes, m.optimizer_bytes)


def test_tensor_parallel_beyond_a_node_is_slow_megatron_takeaway_1():
    cfg, cl = model_config("gpt3-175b"), Cluster(64)
    inside = evaluate(cfg, cl, Plan(8, 8, 1, 1, 1, 0, "full"), 64)
    across = evaluate(cfg, cl, Plan(16, 4, 1, 1, 1, 0, "full"), 64)
    assert across["time"]["tensor_comm"] > 5 * inside["time"]["tensor_comm"]
    assert across["step_time"] > inside["step_time"]


def test_megatron_1t_configuration_and_the_interleaved_gain():
    cfg, cl = model_config("megatron-1t"), Cluster(3072)
    runs = {v: evaluate(cfg, cl, Plan(8, 64, 6, 1, v, 0, "full"), 3072) for v in (1, 2)}
    assert all(r["fits"] for r in runs.values())
    assert 0.42 <= runs[2]["hfu"] <= 0.58  # paper: 163 of 312 TFLOP/s, 52 %
    assert runs[2]["step_time"] < runs[1]["step_time"]  # section 2.2.2: smaller bubble
    assert runs[2]["time"]["bubble"] == pytest.approx(runs[1]["time"]["bubble"] / 2, rel=1e-6)
    assert cfg.layers == 128 and cfg.hidden == 25600


def test_tp_step_elements_counts_the_sequence_parallel_extras():
    u = 1 * 32 * 32 // 2  # (t - 1) tokens hidden / t
    assert tp_step_elements(2, 32, 32, 2) == 2 * 8 * u
    assert tp_step_elements(2, 32, 32, 2, True) == 2 * 10 * u + 2 * u
    assert tp_step_elements(2, 32, 32, 2, True, sp_replicated_params=101) == 22 * u + 2 * 51
    assert tp_step_elements(2, 32, 32, 2, False, True) == 2 * 10 * u


@pytest.mark.parametrize("plan, match", [
    (Plan(3, 1, 1, 1), "must equal the devices"),
    (Plan(8, 8, 1, 1), "must equal the devices"),
    (Plan(2, 1, 4, 3), "multiple of data x microbatch"),
    (Plan(1, 4, 2, 1, zero_stage=2), "only stages 0 and 1"),
    (Plan(1, 1, 8, 1, interleave=2), "interleave > 1 needs pipeline > 1"),
    (Plan(1, 4, 2, 1, recompute="some"), "recompute must be one of"),
])
def test_impossible_plans_are_refused_with_the_reason(plan, match):
    with pytest.raises(ValueError, match=match):
        evaluate(model_config("gpt2"), Cluster(8), plan, 16)


def test_cluster_checks():
    with pytest.raises(ValueError, match="multiple of devices_per_node"):
        Cluster(12, 8)
    with pytest.raises(ValueError, match="device must be one of"):
        Cluster(8, device="tpu")
