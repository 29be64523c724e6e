"""The chain model, the tensor-lifetime simulator, the DP against brute force, the policies,
ZeRO-Offload and the papers' numbers (pure Python, no torch)."""

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mlsys_kit.memory.chain import Chain, Layer, from_lists, transformer_chain, uniform_chain, vgg16_chain
from mlsys_kit.memory.lifetimes import simulate
from mlsys_kit.memory.optimal import brute_force_plan, optimal_plan, plan_peak
from mlsys_kit.memory.optimal import all_plans
from mlsys_kit.memory.policies import plan
from mlsys_kit.memory.policies import every_k_plan, largest_batch, offload_plan, sqrt_plan
from mlsys_kit.memory.zero_offload import max_params_offload, offload_memory, offload_step_time
from mlsys_kit.zero.model import memory_per_device


def test_keep_all_by_hand():
    # 3 layers, o = 10 each (input too), e = 5: a_i = 15. Forward ends holding 45 + x3 (10);
    # B_3 adds g_2 (10) on top of a_1..a_3 and g_3: 45 + 10 + 10 = 65 at the peak.
    c = uniform_chain(3, out_bytes=10, extra_bytes=5).with_static(weights=7)
    r = simulate(c, "KKK")
    assert r.peak_bytes == 7 + 65
    assert r.peak_holders == {"weights": 7, "activations": 45, "activation grads": 20}
    assert r.step_time == 9.0 and r.recompute_time == 0 and r.recompute_count == 0 and r.stall_time == 0
    assert r.saved_bytes == 45
    # memory rises in the forward pass and falls in the backward pass, back to the static bytes
    ms = [m for _, m in r.memory]
    assert ms[0] == 7 and ms[-1] == 7 and max(ms) == r.peak_bytes


def test_one_segment_recomputes_everything_and_peaks_like_keep_all():
    c = uniform_chain(4, 10, 5)
    full, one = simulate(c, "KKKK"), simulate(c, "CRRR")
    assert one.saved_bytes == 10  # only the input is kept
    assert one.recompute_count == 4 and one.recompute_time == 4.0
    assert one.peak_bytes == full.peak_bytes  # recomputing the whole chain at once saves no peak
    ops = [(o["op"], o["layer"]) for o in one.timeline if o["stream"] == "compute"]
    assert ops == [("F", 1), ("F", 2), ("F", 3), ("F", 4), ("R", 1), ("R", 2), ("R", 3), ("R", 4),
                   ("B", 4), ("B", 3), ("B", 2), ("B", 1)]


def test_sqrt_rule_memory_and_one_extra_forward():
    # Chen et al. 2016 section 4.1: segments of sqrt(n) layers cost O(sqrt n) memory and one
    # extra forward pass.
    for n in (16, 64, 144):
        c = uniform_chain(n, 10, 30)
        sq, keep = simulate(c, sqrt_plan(n)), simulate(c, "K" * n)
        k = round(math.sqrt(n))
        assert sq.recompute_time == sum(x.fwd_time for x in c.layers)  # exactly one forward
        # n/k checkpoints of 10 bytes, plus one segment's 40 k recomputed, plus gradients
        assert sq.peak_bytes <= 10 * (n // k) + 40 * k + 40
        assert keep.peak_bytes == 40 * n + 20
    assert sqrt_plan(16) == "CRRR" * 4


def test_plan_validation_messages():
    c = uniform_chain(3)
    with pytest.raises(ValueError, match="one letter of K, C, R, S per layer"):
        simulate(c, "KK")
    with pytest.raises(ValueError, match="starts with a checkpoint C"):
        simulate(c, "KRK")
    with pytest.raises(ValueError, match="needs link_bytes_per_s"):
        simulate(c, "SKK")
    with pytest.raises(ValueError, match="fwd_time must be a positive"):
        Layer("x", 1, 1, 0.0, 1.0)
    with pytest.raises(ValueError, match="same length"):
        from_lists([1, 2], [1], [1.0], [1.0], 1)
    with pytest.raises(ValueError, match="non-empty tuple"):
        Chain((), 1)


def _chain(draw_ints, n):
    o, e, f, b, w, inp, s = draw_ints
    return Chain(tuple(Layer(f"l{i}", o[i], e[i], float(f[i]), float(b[i]), float(f[i]), w[i]) for i in range(n)),
                 inp, {"weights": s})


@st.composite
def small_chains(draw, max_n=6):
    n = draw(st.integers(1, max_n))
    ints = lambda lo, hi: draw(st.lists(st.integers(lo, hi), min_size=n, max_size=n))  # noqa: E731
    return _chain((ints(1, 9), ints(0, 20), ints(1, 5), ints(1, 5), ints(0, 3),
                   draw(st.integers(1, 9)), draw(st.integers(0, 5))), n)


@settings(max_examples=60, deadline=None)
@given(small_chains(), st.integers(5, 160))
def test_dp_equals_brute_force(chain, budget):
    dp, bf = optimal_plan(chain, budget), brute_force_plan(chain, budget)
    assert (dp is None) == (bf is None)
    if dp is not None:
        assert dp[1] == pytest.approx(bf[1])
        r = simulate(chain, dp[0])
        assert r.peak_bytes <= budget and r.recompute_time == pytest.approx(dp[1])


@settings(max_examples=60, deadline=None)
@given(small_chains(max_n=12), st.integers(5, 300))
def test_fast_dp_equals_teaching_dp(chain, budget):
    from mlsys_kit.memory.optimal_fast import optimal_plan_fast

    slow, fast = optimal_plan(chain, budget), optimal_plan_fast(chain, budget)
    assert (slow is None) == (fast is None)
    if fast is not None:
        assert fast[1] == pytest.approx(slow[1])
        assert plan_peak(chain, fast[0]) <= budget
        assert simulate(chain, fast[0]).recompute_time == pytest.approx(fast[1])


@settings(max_examples=40, deadline=None)
@given(small_chains(max_n=5))
def test_unit_formulas_equal_the_simulator_on_every_plan(chain):
    for p in all_plans(chain.n):
        assert plan_peak(chain, p) == simulate(chain, p, keep_timeline=False).peak_bytes


@settings(max_examples=25, deadline=None)
@given(small_chains(max_n=6), st.floats(1.0, 1e4))
def test_swap_invariants(chain, bw):
    p = offload_plan(chain.n)
    r = simulate(chain, p, bw)
    keep = simulate(chain, "K" * chain.n)
    assert r.step_time == pytest.approx(chain.compute_time + r.stall_time)
    assert r.offloaded_bytes == sum(chain.saved_bytes(i) for i in range(1, chain.n))
    assert r.peak_bytes <= keep.peak_bytes
    fast = simulate(chain, p, 1e15)
    assert fast.stall_time == pytest.approx(0, abs=1e-9)


def test_prefetch_timing_by_hand():
    # 2 layers, F = 1, B = 2; layer 1 swapped: a_1 = 10 + 0 bytes at 10 B/s = 1 s each way.
    c = from_lists([10, 10], [0, 0], [1.0, 1.0], [2.0, 2.0], 10)
    r = simulate(c, "SK", 10.0)
    link = [(o["op"], o["start"], o["end"]) for o in r.timeline if o["stream"] == "link"]
    # offload after F_1 (t=1..2); prefetch issued when B_2 starts (t=2), arrives at 3: B_1 at 4, no stall
    assert link == [("offload", 1.0, 2.0), ("prefetch", 2.0, 3.0)]
    assert r.stall_time == 0 and r.step_time == 6.0
    slow = simulate(c, "SK", 2.5)  # 4 s each way: offload 1..5, prefetch 5..9, B_1 waits from 4 to 9
    assert slow.stall_time == pytest.approx(5.0) and slow.step_time == pytest.approx(11.0)


def test_optimal_is_never_slower_than_sqrt_at_sqrt_memory():
    c = transformer_chain("gpt2", 8)
    sq = plan("sqrt", c)
    opt = plan("optimal", c, sq.step.peak_bytes)
    assert opt.fits and opt.step.recompute_time <= sq.step.recompute_time
    tight = plan("optimal", c, 1e9)  # below the weights and Adam states: nothing fits
    assert not tight.fits


def test_policy_interface_and_errors():
    c = uniform_chain(8, 10, 30)
    for name in ("all", "sqrt", "offload", "hybrid", "optimal", "every-k"):
        r = plan(name, c, 400, 100.0, k=2).to_dict()
        for key in ("peak_bytes", "step_time", "recompute_flops", "offloaded_bytes", "stall_time", "fits"):
            assert key in r
    assert every_k_plan(5, 2) == "CRCRC"
    with pytest.raises(ValueError, match="needs a memory budget"):
        plan("optimal", c)
    with pytest.raises(ValueError, match="link bandwidth"):
        plan("offload", c)
    with pytest.raises(ValueError, match="needs k"):
        plan("every-k", c)
    with pytest.raises(ValueError, match="policy must be one of"):
        plan("magic", c)


def test_hybrid_fits_where_it_can_and_beats_pure_policies_on_vgg():
    vgg = vgg16_chain(256)
    hyb = plan("hybrid", vgg, 12e9, 12.8e9)
    off = plan("offload", vgg, 12e9, 12.8e9)
    assert hyb.fits and off.fits
    assert hyb.step.step_time < off.step.step_time
    assert set(hyb.step.plan) <= set("KCRS")


def test_vdnn_vgg16_paper_numbers():
    # vDNN (MICRO'16) abstract and section 5: VGG-16 at batch 256 does not fit a 12 GB Titan X
    # as is; offloading every layer's input fits, with an 18 % loss.
    vgg = vgg16_chain(256)
    assert plan("all", vgg, 12e9).fits is False
    off = plan("offload", vgg, 12e9, 12.8e9)
    assert off.fits
    assert 0.10 < off.step.step_time / off.step.compute_time - 1 < 0.30


def test_checkmate_style_larger_batch():
    build = lambda b: transformer_chain("gpt2", b)  # noqa: E731
    keep, _ = largest_batch(build, "all", 16e9)
    opt, res = largest_batch(build, "optimal", 16e9)
    assert keep == 12 and opt >= 5 * keep and res.fits
    assert not plan("optimal", build(opt + 1), 16e9).fits


def test_zero_offload_extends_the_zero_model():
    m = offload_memory(13_000_000_000, 1)
    z2 = memory_per_device(13_000_000_000, 1, 2)
    assert m["device_bytes"] == z2.params_bytes == 26e9  # fp16 parameters only
    assert m["host_bytes"] == z2.grads_bytes + z2.optimizer_bytes == 182e9  # 14 bytes per parameter
    assert m["link_bytes_per_step"] == 52e9  # 2Ψ down + 2Ψ up
    assert max_params_offload(32e9) == 16_000_000_000
    assert max_params_offload(32e9, activation_bytes=6e9) == 13_000_000_000  # the paper's 13B
    m4 = offload_memory(13_000_000_000, 4)
    assert m4["host_bytes"] == pytest.approx(182e9 / 4) and m4["device_bytes"] == 26e9
    t = offload_step_time(1_000_000_000, 1, 10e9, 1.0, 2.0, cpu_adam_params_per_s=1e9)
    assert t["step_time"] == pytest.approx(1.0 + 2.0 + 1.0 + 0.2)
    t_dpu = offload_step_time(1_000_000_000, 1, 10e9, 1.0, 2.0, cpu_adam_params_per_s=1e9, dpu=True)
    assert t_dpu["step_time"] == pytest.approx(3.0)


def test_dp_scales_to_long_chains():
    c = uniform_chain(300, 10, 40)
    found = optimal_plan(c, 1500)
    assert found is not None
    r = simulate(c, found[0], keep_timeline=False)
    assert r.peak_bytes <= 1500 and r.recompute_time == pytest.approx(found[1])
    with pytest.raises(ValueError, match="at most 10 layers"):
        brute_force_plan(c, 1500)
