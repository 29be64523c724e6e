"""The real check of Pollux's models: fit them to the tiny GPT training on this CPU.

Two measurements, one fit each, and a held-out batch size for each:

* **throughput** (Pollux, OSDI'21, section 3.2): the seconds of one training step (forward,
  backward, optimizer) of :class:`mlsys_kit.models.gpt.GPT` at several per-device batch sizes
  ``m`` on one CPU thread; ``T_grad(m) = alpha_grad + beta_grad * m`` fitted by non-negative
  least squares (``scipy.optimize.nnls``); the fitted line predicts a batch size it never saw.
  One device, so the synchronisation terms of ``T_sync`` are not measured (they stay 0).
* **the gradient noise scale** (McCandlish et al., "An Empirical Model of Large-Batch
  Training", 2018, appendix A.1): during a short training run each batch of ``B_big`` examples
  is cut into chunks of ``B_small``; ``E|g_B|^2 = |G|^2 + tr(Sigma) / B``, so the unbiased
  estimates ``|G|^2 = (B_big |g_big|^2 - B_small |g_small|^2) / (B_big - B_small)`` and
  ``S = (|g_small|^2 - |g_big|^2) / (1/B_small - 1/B_big)`` are averaged over the run
  (numerator and denominator apart, as the appendix advises) and ``phi = B_noise = S / |G|^2``.
  The held-out check: the model predicts ``E|g_M|^2 = |G|^2 + S / M`` for a batch size ``M``
  between the two (the gradient of a group of chunks), compared with its measured mean; and
  Pollux's ``EFFICIENCY(M) = (phi + M0) / (phi + M)`` (section 3.1) from ``phi`` is compared
  with the same efficiency from the noise scale re-estimated on the pair ``(B_small, M)``.

:func:`fit_report` returns every figure as plain JSON (``mlsys-kit cluster fit --json``) and the
fitted :class:`mlsys_kit.cluster.pollux.PolluxParams` as a dict the simulator can use for a job.
"""

from __future__ import annotations

import math
import time
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import nnls

from mlsys_kit.checks import positive_int
from mlsys_kit.cluster.pollux import PolluxParams, efficiency
from mlsys_kit.models.gpt import GPT, preset


def fit_line(xs: Sequence[float], ys: Sequence[float]) -> tuple[float, float]:
    """``(alpha, beta) >= 0`` minimising ``sum (alpha + beta x - y)^2`` (``scipy.optimize.nnls``)."""
    x, y = np.asarray(xs, dtype=float), np.asarray(ys, dtype=float)
    if x.shape != y.shape or x.size < 2 or len(set(x.tolist())) < 2:
        raise ValueError(f"fit_line needs at least two distinct x with one y each: got {list(xs)}, {list(ys)}")
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise ValueError("fit_line needs finite numbers")
    coef, _ = nnls(np.stack([np.ones_like(x), x], axis=1), y)
    return float(coef[0]), float(coef[1])


def noise_scale(b_small: int, b_big: int, sq_small: float, sq_big: float) -> tuple[float, float]:
    """McCandlish et al. (2018), appendix A.1: unbiased ``(|G|^2, tr(Sigma))`` from the mean squared
    gradient norms at two batch sizes ``b_small < b_big``."""
    positive_int("b_small", b_small)
    positive_int("b_big", b_big)
    if b_small >= b_big:
        raise ValueError(f"b_small must be smaller than b_big: got {b_small} and {b_big}")
    g2 = (b_big * sq_big - b_small * sq_small) / (b_big - b_small)
    s = (sq_small - sq_big) / (1.0 / b_small - 1.0 / b_big)
    return float(g2), float(s)


def _batches(vocab: int, seq: int, seed: int):
    """An endless stream of token sequences from a seeded random Markov chain (each token picks
    its successor among 4 likely ones), so there is something to learn and a gradient signal."""
    gen = torch.Generator().manual_seed(seed)
    nxt = torch.randint(0, vocab, (vocab, 4), generator=gen)

    def draw(n: int) -> torch.Tensor:
        x = torch.empty(n, seq + 1, dtype=torch.long)
        x[:, 0] = torch.randint(0, vocab, (n,), generator=gen)
        for t in range(seq):
            x[:, t + 1] = nxt[x[:, t], torch.randint(0, 4, (n,), generator=gen)]
        return x
    return draw


def _loss(model: GPT, x: torch.Tensor) -> torch.Tensor:
    logits = model(x[:, :-1])
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), x[:, 1:].reshape(-1))


def measure_step_times(model: GPT, draw, batch_sizes: Sequence[int], repeats: int = 5) -> dict[int, float]:
    """Seconds of one training step (forward, backward, SGD update) per batch size: the batch
    sizes are timed in turn, ``repeats`` rounds after a warm-up, and the fastest time of each is
    kept (the minimum is the least disturbed by other processes on a shared machine)."""
    opt = torch.optim.SGD(model.parameters(), lr=1e-3)
    data = {int(b): draw(int(b)) for b in batch_sizes}
    best = {b: math.inf for b in data}
    for r in range(repeats + 1):
        for b, x in data.items():
            t0 = time.perf_counter()
            opt.zero_grad(set_to_none=True)
            _loss(model, x).backward()
            opt.step()
            if r:  # round 0 is a warm-up
                best[b] = min(best[b], time.perf_counter() - t0)
    return best


def _flat_grad(model: GPT) -> torch.Tensor:
    return torch.cat([p.grad.reshape(-1) for p in model.parameters() if p.grad is not None])


def measure_noise(model: GPT, draw, b_small: int, b_big: int, held_out: int, steps: int, lr: float) -> dict:
    """Train ``steps`` steps at ``b_big`` (Adam) and collect the chunk statistics described above."""
    if b_big % b_small or held_out % b_small or not b_small < held_out < b_big:
        raise ValueError(f"need b_small < held_out < b_big with both multiples of b_small: got {b_small}, {held_out}, {b_big}")
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    k, per = b_big // b_small, held_out // b_small
    sums = {"small": 0.0, "big": 0.0, "held": 0.0}
    for _ in range(steps):
        x = draw(b_big)
        grads = []
        for c in range(k):
            model.zero_grad(set_to_none=True)
            _loss(model, x[c * b_small:(c + 1) * b_small]).backward()
            grads.append(_flat_grad(model).clone())
        g = torch.stack(grads)
        big = g.mean(0)
        sums["small"] += float((g * g).sum(1).mean())
        sums["big"] += float((big * big).sum())
        groups = g[: (k // per) * per].reshape(k // per, per, -1).mean(1)
        sums["held"] += float((groups * groups).sum(1).mean())
        with torch.no_grad():  # the step itself: the mean of the chunks is the big batch's gradient
            off = 0
            for p in model.parameters():
                n = p.numel()
                p.grad = big[off:off + n].view_as(p).clone()
                off += n
        opt.step()
    return {k2: v / steps for k2, v in sums.items()}


def fit_report(seed: int = 0, model: str = "tiny", seq: int = 32, batch_sizes: Sequence[int] = (1, 2, 4, 8, 16),
               held_out_batch: int = 24, b_small: int = 4, b_big: int = 32, noise_held_out: int = 16,
               steps: int = 12, lr: float = 3e-3) -> dict:
    """Measure, fit and predict as the module docstring says; every figure in a JSON-ready dict."""
    positive_int("seq", seq)
    positive_int("steps", steps)
    positive_int("held_out_batch", held_out_batch)
    for b in batch_sizes:
        positive_int("batch size", b)
    if held_out_batch in batch_sizes or len(set(batch_sizes)) < 2:
        raise ValueError(f"fit on at least two batch sizes and hold one out: got {list(batch_sizes)}, held out {held_out_batch}")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        torch.manual_seed(seed)
        net = GPT(preset(model, n_positions=max(seq, 8)), seed=seed)
        draw = _batches(net.config.vocab_size, seq, seed)
        times = measure_step_times(net, draw, list(batch_sizes) + [held_out_batch])
        stats = measure_noise(net, draw, b_small, b_big, noise_held_out, steps, lr)
    finally:
        torch.set_num_threads(threads)
    held_time = times.pop(held_out_batch)
    alpha, beta = fit_line(list(times), list(times.values()))
    pred_time = alpha + beta * held_out_batch
    g2, s = noise_scale(b_small, b_big, stats["small"], stats["big"])
    phi = s / g2 if g2 > 0 else math.inf
    pred_sq = g2 + s / noise_held_out
    g2h, sh = noise_scale(b_small, noise_held_out, stats["small"], stats["held"])
    phi_h = sh / g2h if g2h > 0 else math.inf
    eff_pred = efficiency(phi, b_small, noise_held_out) if math.isfinite(phi) and phi >= 0 else float("nan")
    eff_meas = efficiency(phi_h, b_small, noise_held_out) if math.isfinite(phi_h) and phi_h >= 0 else float("nan")
    params = PolluxParams(alpha_grad=alpha, beta_grad=max(beta, 1e-12), phi=max(phi, 0.0) if math.isfinite(phi) else 0.0,
                          m0=b_small, max_local=max(batch_sizes) * 4, max_batch=max(b_small, 1024))
    return {
        "model": model, "seq": seq, "threads": 1, "seed": seed,
        "step_seconds": {str(b): t for b, t in times.items()},
        "throughput": {str(b): b / t for b, t in times.items()},
        "alpha_grad": alpha, "beta_grad": beta,
        "held_out_batch": held_out_batch,
        "held_out_throughput_measured": held_out_batch / held_time,
        "held_out_throughput_predicted": held_out_batch / pred_time,
        "throughput_rel_error": abs(pred_time - held_time) / held_time,
        "b_small": b_small, "b_big": b_big, "noise_steps": steps,
        "grad_sq_norm": g2, "trace_sigma": s, "noise_scale": phi,
        "noise_held_out_batch": noise_held_out,
        "held_out_grad_sq_measured": stats["held"], "held_out_grad_sq_predicted": pred_sq,
        "grad_sq_rel_error": abs(pred_sq - stats["held"]) / stats["held"],
        "noise_scale_from_held_out_pair": phi_h,
        "held_out_efficiency_predicted": eff_pred, "held_out_efficiency_measured": eff_meas,
        "efficiency_abs_error": abs(eff_pred - eff_meas),
        "pollux_params": {k: getattr(params, k) for k in ("alpha_grad", "beta_grad", "alpha_local", "beta_local",
                                                          "alpha_node", "beta_node", "gamma", "phi", "m0",
                                                          "max_local", "max_batch")},
    }
