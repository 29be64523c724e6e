"""The real fit (mlsys_kit/cluster/fit.py): the estimators recover known parameters from
synthetic data, and the tiny-GPT run returns every key with finite, small errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from mlsys_kit.cluster.fit import fit_line, fit_report, noise_scale
from mlsys_kit.cluster.pollux import PolluxParams


@settings(derandomize=True, max_examples=30, deadline=None)
@given(st.floats(1e-4, 0.1), st.floats(1e-5, 0.05))
def test_fit_line_recovers_a_known_line(alpha, beta):
    rng = np.random.default_rng(0)
    xs = [1, 2, 4, 8, 16, 32]
    ys = [(alpha + beta * x) * (1 + 1e-4 * rng.standard_normal()) for x in xs]
    a, b = fit_line(xs, ys)
    assert a == pytest.approx(alpha, rel=0.05, abs=2e-4 * beta * 32) and b == pytest.approx(beta, rel=0.01)


def test_noise_scale_recovers_a_known_gradient_distribution():
    """Per-example gradients G + e, e ~ N(0, diag(var)): |G|^2 and tr(Sigma) are known, and the
    estimator of McCandlish et al. (appendix A.1) finds them from chunk norms at two batch sizes."""
    rng = np.random.default_rng(1)
    d, b_small, b_big, steps = 50, 4, 32, 3000
    G = rng.standard_normal(d) * 0.3
    var = rng.uniform(0.5, 2.0, d)
    small = big = 0.0
    for _ in range(steps):
        e = G + rng.standard_normal((b_big, d)) * np.sqrt(var)
        chunks = e.reshape(b_big // b_small, b_small, d).mean(1)
        small += (chunks ** 2).sum(1).mean() / steps
        big += (e.mean(0) ** 2).sum() / steps
    g2, s = noise_scale(b_small, b_big, small, big)
    assert g2 == pytest.approx(float(G @ G), rel=0.1)
    assert s == pytest.approx(float(var.sum()), rel=0.05)


def test_noise_scale_exact_on_expectations():
    g2, tr = 3.0, 120.0
    assert noise_scale(2, 16, g2 + tr / 2, g2 + tr / 16) == pytest.approx((g2, tr))


@pytest.mark.parametrize("call", [
    lambda: fit_line([1.0], [2.0]),
    lambda: fit_line([1.0, 1.0], [2.0, 3.0]),
    lambda: fit_line([1.0, 2.0], [2.0, float("nan")]),
    lambda: noise_scale(8, 8, 1.0, 1.0),
    lambda: noise_scale(0, 8, 1.0, 1.0),
    lambda: fit_report(batch_sizes=(1, 2), held_out_batch=2),
    lambda: fit_report(noise_held_out=5),
])
def test_bad_input_raises_value_error(call):
    with pytest.raises(ValueError):
        call()


def test_real_run_keys_and_errors():
    r = fit_report(batch_sizes=(1, 4, 8), held_out_batch=12, steps=4, b_small=4, b_big=16, noise_held_out=8)
    for k in ("throughput_rel_error", "grad_sq_rel_error", "efficiency_abs_error", "noise_scale", "alpha_grad",
              "beta_grad", "held_out_throughput_measured", "held_out_throughput_predicted"):
        assert isinstance(r[k], float) and math.isfinite(r[k]), k
    assert set(r["throughput"]) == {"1", "4", "8"} and r["alpha_grad"] >= 0 and r["beta_grad"] >= 0
    # the figures are consistent with each other (no timing is asserted: the machine may be busy)
    want = abs(12 / r["held_out_throughput_predicted"] - 12 / r["held_out_throughput_measured"])
    assert r["throughput_rel_error"] == pytest.approx(want / (12 / r["held_out_throughput_measured"]))
    assert r["held_out_throughput_predicted"] == pytest.approx(12 / (r["alpha_grad"] + 12 * r["beta_grad"]))
    assert r["noise_scale"] == pytest.approx(r["trace_sigma"] / r["grad_sq_norm"])
    PolluxParams(**r["pollux_params"])  # usable as a simulated job's parameters
