"""mlsys_kit.offload.cost: FlexGen's cost model (appendix A), checked against a tally of the
schedule's own loads and stores and against its limiting cases."""

import math

import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.models.costs import TransformerConfig, param_count
from mlsys_kit.offload import cost
from mlsys_kit.offload.config import GB, Hardware, Placement, Policy, Tier, Workload, hardware, model, split
from mlsys_kit.offload.schedule import order

SMALL = TransformerConfig(name="small", layers=3, hidden=64, heads=4, vocab=100, seq_len=64, learned_positions=64)
HW = Hardware("small", Tier("device", 1e6, 50e9, 50e9), Tier("host", 1e8, 8e9, 6e9),
              Tier("disk", 1e10, 1e9, 0.5e9), flops=1e12)

triples = st.tuples(st.integers(0, 100), st.integers(0, 100)).filter(lambda t: t[0] + t[1] <= 100).map(
    lambda t: (t[0], t[1], 100 - t[0] - t[1]))
policies = st.builds(lambda b, k, w, a, c, o, z: Policy(b, k, Placement(w, a, c), overlap=o, compress=z),
                     st.integers(1, 4), st.integers(1, 4), triples, triples, triples, st.booleans(), st.booleans())
workloads = st.builds(Workload, st.integers(1, 9), st.integers(1, 5))


def tally(cfg, policy, workload, schedule):
    """A second count of the links' bytes: walk the schedule's steps and add up what each one's
    loads and stores move, tensor by tensor."""
    b, s = policy.batch_size, workload.prompt_len
    n = cost.layer_elements(cfg)
    bytes_of = {k: cost.element_bytes(cfg, k, policy.compress) for k in n}
    part = {k: split(n[k], policy.placement.of(k)) for k in n}
    moved = dict.fromkeys(cost.LINKS, 0.0)

    def move(kind, count, up):
        _, host, disk = part[kind]
        moved["host_to_device" if up else "device_to_host"] += count * (host + disk) * bytes_of[kind]
        moved["disk_to_host" if up else "host_to_disk"] += count * disk * bytes_of[kind]

    for step in order(schedule, cfg.layers, workload.gen_len, policy.num_batches):
        new = s if step.token == 0 else 1
        for kind in step.loads:
            move(kind, {"weights": 1, "kv_cache": b * (s + step.token - 1), "activations": b * new}[kind], True)
        for kind in step.stores:
            move(kind, b * new, False)
    return moved


@settings(derandomize=True, max_examples=80, deadline=None)
@given(policies, workloads, st.sampled_from(cost.SCHEDULES))
def test_the_cost_models_bytes_equal_a_tally_of_the_schedules_loads_and_stores(policy, workload, schedule):
    got = cost.generation(SMALL, HW, policy, workload, schedule)["bytes"]
    want = tally(SMALL, policy, workload, schedule)
    assert got.keys() == want.keys()
    for link in cost.LINKS:
        assert math.isclose(got[link], want[link], rel_tol=1e-12), link


@settings(derandomize=True, max_examples=60, deadline=None)
@given(policies, workloads, st.sampled_from(cost.SCHEDULES))
def test_overlap_takes_the_max_and_never_is_slower(policy, workload, schedule):
    on = Policy(policy.batch_size, policy.num_batches, policy.placement, overlap=True, compress=policy.compress)
    off = Policy(policy.batch_size, policy.num_batches, policy.placement, overlap=False, compress=policy.compress)
    t_on = cost.step_time(SMALL, HW, on, workload, workload.gen_len - 1, 1, 2)
    t_off = cost.step_time(SMALL, HW, off, workload, workload.gen_len - 1, 1, 2)
    parts = [t_on[x] for x in (*cost.LINKS, "compute")]
    assert math.isclose(t_on["total"], max(parts)) and math.isclose(t_off["total"], sum(parts))
    g_on, g_off = (cost.generation(SMALL, HW, p, workload, schedule) for p in (on, off))
    assert g_on["time_s"] <= g_off["time_s"] * (1 + 1e-12)
    assert math.isclose(g_on["tokens_per_s"], policy.block_size * workload.gen_len / g_on["time_s"])


@settings(derandomize=True, max_examples=60, deadline=None)
@given(policies, workloads, st.integers(0, 2))
def test_moving_a_share_up_a_tier_never_adds_traffic(policy, workload, kind_index):
    kind = ("weights", "activations", "kv_cache")[kind_index]
    dev, host, disk = policy.placement.of(kind)
    up = dict(zip(("weights", "activations", "kv_cache"), (policy.placement.of(k) for k in
                                                           ("weights", "activations", "kv_cache"))))
    up[kind] = (dev + host, 0.0, disk) if host else (dev, host + disk, 0.0)
    higher = Policy(policy.batch_size, policy.num_batches, Placement(**up), compress=policy.compress)
    a = cost.generation(SMALL, HW, policy, workload)["bytes"]
    b = cost.generation(SMALL, HW, higher, workload)["bytes"]
    assert all(b[link] <= a[link] for link in cost.LINKS)


def test_everything_on_the_device_moves_nothing_and_costs_compute_only():
    policy, workload = Policy(2, 3), Workload(8, 4)
    g = cost.generation(SMALL, HW, policy, workload)
    assert all(v == 0 for v in g["bytes"].values())
    compute = sum(cost.step_compute(SMALL, HW, policy, workload, t, 3) for t in range(4)) * SMALL.layers
    assert math.isclose(g["time_s"], compute)
    assert math.isclose(g["prefill_s"], cost.step_compute(SMALL, HW, policy, workload, 0, 3) * SMALL.layers)


def test_compute_is_the_roofline_of_the_layers_flops_and_bytes():
    cfg, policy, workload = model("opt-30b"), Policy(4), Workload(16, 3)
    hw = hardware("t4-16gb")
    w = param_count(cfg.with_(layers=2)) - param_count(cfg.with_(layers=1))
    mm = 4 * cfg.hidden ** 2 + 2 * cfg.hidden * cfg.ffn
    # decode step 2: 4 sequences, 1 token each, attending to 16 + 2 tokens
    flops = 4 * (2 * mm + 4 * cfg.hidden * 18)
    read = 2 * w + 4 * 18 * 2 * cfg.hidden * 2
    assert math.isclose(cost.step_compute(cfg, hw, policy, workload, 2, 1), max(flops / hw.flops, read / hw.mem_bw))
    prefill = 4 * (2 * mm * 16 + 4 * cfg.hidden * 16 * 17 // 2)
    assert math.isclose(cost.step_compute(cfg, hw, policy, workload, 0, 3),
                        3 * max(prefill / hw.flops, (2 * w + 4 * 16 * 2 * cfg.hidden * 2) / hw.mem_bw))


def test_layer_elements_and_compression():
    n = cost.layer_elements(model("opt-175b"))
    assert n == {"weights": 12 * 12288 ** 2 + 13 * 12288, "kv_cache": 2 * 12288, "activations": 12288}
    assert cost.element_bytes(SMALL, "weights", compress=True) == 0.5
    assert cost.element_bytes(SMALL, "activations", compress=True) == 2.0
    pl = Placement((0, 100, 0), (0, 100, 0), (0, 100, 0))
    full = cost.generation(SMALL, HW, Policy(2, placement=pl), Workload(4, 3))["bytes"]
    small = cost.generation(SMALL, HW, Policy(2, placement=pl, compress=True), Workload(4, 3))["bytes"]
    assert small["host_to_device"] < full["host_to_device"] and small["device_to_host"] < full["device_to_host"]


@pytest.mark.parametrize("schedule", cost.SCHEDULES)
def test_resident_bytes_by_hand(schedule):
    cfg, workload = SMALL, Workload(5, 4)
    pl = Placement((20, 30, 50), (100, 0, 0), (0, 40, 60))
    policy = Policy(3, 2, pl)
    r = cost.resident_bytes(cfg, policy, workload, schedule)
    w = cost.layer_elements(cfg)["weights"]
    wg, wh, wd = split(w, (20, 30, 50))
    c = 2 * cfg.hidden
    cg, ch, cd = split(c, (0, 40, 60))
    live = 6 if schedule == "zigzag" else 3
    T, L, s, H = 8, cfg.layers, 5, cfg.hidden
    assert r["disk"] == 2 * (L * wd + live * T * L * cd)
    assert r["host"] == 2 * (L * wh + live * T * L * ch + 2 * wd + 3 * T * cd)
    assert r["device"] == 2 * (L * wg + live * s * H + 2 * (wh + wd) + 3 * T * (ch + cd)) \
        + cost.compute_buffer(cfg, 3, 5)
    assert cost.compute_buffer(cfg, 3, 5) == 3 * 5 * (4 * H + 4 * 5) * 2
    assert cost.fits(HW, r) == all(r[t.name] <= t.capacity_bytes for t in HW.tiers)
    assert not cost.fits(HW, r | {"device": 2e6})


def test_zigzag_needs_more_memory_and_less_traffic_than_row():
    pl = Placement((0, 100, 0), (100, 0, 0), (0, 100, 0))
    z = cost.generation(SMALL, HW, Policy(2, 4, pl), Workload(8, 4), "zigzag")
    r = cost.generation(SMALL, HW, Policy(2, 4, pl), Workload(8, 4), "row")
    assert z["bytes"]["host_to_device"] < r["bytes"]["host_to_device"]
    assert z["resident"]["host"] > r["resident"]["host"]
    assert z["tokens_per_s"] >= r["tokens_per_s"]


def test_bad_input_is_rejected_with_what_is_allowed():
    policy, workload = Policy(1), Workload(4, 2)
    with pytest.raises(ValueError, match="TransformerConfig"):
        cost.generation("opt-175b", HW, policy, workload)
    with pytest.raises(ValueError, match="schedule must be one of"):
        cost.generation(SMALL, HW, policy, workload, "diagonal")
    with pytest.raises(ValueError, match="policy must be a Policy"):
        cost.generation(SMALL, HW, 4, workload)
    with pytest.raises(ValueError, match="workload must be a Workload"):
        cost.generation(SMALL, HW, policy, (4, 2))
    with pytest.raises(ValueError, match="token must be < gen_len=2"):
        cost.step_traffic(SMALL, policy, workload, 2, 0, 1)
    with pytest.raises(ValueError, match="kind must be one of"):
        cost.element_bytes(SMALL, "gradients")
    with pytest.raises(ValueError, match="placement must be a Placement"):
        cost.parts(SMALL, (100, 0, 0))
    with pytest.raises(ValueError, match="batch_size"):
        cost.compute_buffer(SMALL, 0, 4)
