"""Silent errors: invariants checked on a real data-parallel run's trace (TrainCheck, OSDI'25).

Jiang et al., "Training with Confidence: Catching Silent Errors in Deep Learning Training with
Automated Proactive Checks" (OSDI'25), sections 3-4: a silent bug (a collective whose result is
dropped, a loss scaled twice, a stale shard) does not crash training; the loss curve looks
plausible for hundreds of steps. TrainCheck *infers* invariants from traces of correct runs and
checks them at every step of the run under test, so the step a bug appears is the step it is
caught. Here the invariants are written down (the four that the issue names), and checked on
the trace of a real run: ``ranks`` processes on ``torch.distributed`` (gloo on CPU) training a
small MLP data-parallel, ZeRO-1 style (ZeRO, SC'20 section 5.1): gradients all-reduced and
averaged, each rank updates its own slice of the flat parameters with SGD, the slices are
all-gathered back. Per step each rank records its local gradient, its reduced gradient and its
parameters before and after; the checker (rank 0, on the gathered records) tests

* ``grads_equal``: every rank holds the same reduced gradient after the all-reduce;
* ``scaled_once``: the reduced gradient is the mean of the ranks' local gradients (not the sum,
  not the mean divided again), and is finite;
* ``params_equal``: every rank holds the same parameters after the step;
* ``every_param_moves``: the step changed every parameter element whose gradient is non-zero.

Three bugs can be injected at one step (``inject``/``at_step``): ``skip-allreduce`` (rank 1
keeps its local gradient: the all-reduce's result is dropped on that rank; the collective still
runs, so nothing hangs), ``double-scale`` (every rank divides the averaged gradient by the world
size again: all ranks agree, only ``scaled_once`` sees it) and ``stale-shard`` (rank 0 does not
copy rank 1's updated slice out of the all-gather and trains on with the old one).
"""

from __future__ import annotations

from typing import Any

import torch
import torch.distributed as dist

from mlsys_kit.checks import one_of, positive_int
from mlsys_kit.common import ceil_div
from mlsys_kit.fault.config import BUGS
from mlsys_kit.launch import run_ranks
from mlsys_kit.zero.simulate import small_model

INVARIANTS = ("grads_equal", "scaled_once", "params_equal", "every_param_moves")
SIZES = (8, 16, 4)


def check_step(records: list[dict[str, torch.Tensor]], lr: float, tol: float = 1e-6) -> list[str]:
    """The invariants that ``records`` (one dict per rank: ``local``, ``reduced``, ``before``,
    ``after`` flat float64 tensors) break, in INVARIANTS order; [] for a correct step."""
    if not records:
        raise ValueError("records must hold one dict per rank (local, reduced, before, after): got none")
    for r, rec in enumerate(records):
        missing = {"local", "reduced", "before", "after"} - set(rec)
        if missing:
            raise ValueError(f"rank {r}'s record lacks {sorted(missing)}")
    broken = []
    ref = records[0]
    scale = max(1.0, float(torch.stack([r["local"].abs().max() for r in records]).max()))
    if any(not torch.allclose(r["reduced"], ref["reduced"], rtol=0, atol=tol * scale) for r in records[1:]):
        broken.append("grads_equal")
    mean = torch.stack([r["local"] for r in records]).mean(0)
    if any(not bool(torch.isfinite(r["reduced"]).all()) or not torch.allclose(r["reduced"], mean, rtol=0, atol=tol * scale)
           for r in records):
        broken.append("scaled_once")
    if any(not torch.equal(r["after"], ref["after"]) for r in records[1:]):
        broken.append("params_equal")
    eps = torch.finfo(torch.float32).eps  # a move below fp32's resolution may round away: not counted
    for r in records:  # an SGD step moves every element by lr * grad: nothing with a gradient stays put
        stuck = (r["after"] == r["before"]) & (r["reduced"].abs() * lr > 4 * eps * r["before"].abs().clamp(min=1.0))
        if bool(stuck.any()):
            broken.append("every_param_moves")
            break
    return broken


def _train(cfg: dict) -> list[list[str]]:
    """On an initialised process group: one run (``cfg['inject']`` at ``cfg['at_step']``), one
    list of broken invariants per step."""
    world, rank = dist.get_world_size(), dist.get_rank()
    model = small_model(SIZES, cfg["seed"])
    params = list(model.parameters())
    numel = sum(p.numel() for p in params)
    size = ceil_div(numel, world)
    flat = torch.zeros(size * world)  # the padded flat parameter buffer; rank r owns [r*size, (r+1)*size)
    flat[:numel] = torch.cat([p.detach().reshape(-1) for p in params])
    gen = torch.Generator().manual_seed(cfg["seed"] + 1)
    verdicts: list[list[str]] = []
    for step in range(cfg["steps"]):
        bug = cfg["inject"] if step == cfg["at_step"] else "none"
        off = 0
        for p in params:  # the model's parameters are views of the flat buffer's values
            p.data = flat[off:off + p.numel()].view_as(p).clone()
            off += p.numel()
        x, y = torch.randn(world * 4, SIZES[0], generator=gen), torch.randn(world * 4, SIZES[-1], generator=gen)
        model.zero_grad(set_to_none=True)
        torch.nn.functional.mse_loss(model(x[rank * 4:(rank + 1) * 4]), y[rank * 4:(rank + 1) * 4]).backward()
        local = torch.zeros(size * world)
        local[:numel] = torch.cat([p.grad.reshape(-1) for p in params])
        reduced = local.clone()
        dist.all_reduce(reduced)
        reduced /= world
        if bug == "skip-allreduce" and rank == 1:
            reduced = local.clone()  # the collective ran, its result was dropped here
        if bug == "double-scale":
            reduced /= world
        before = flat.clone()
        mine = slice(rank * size, (rank + 1) * size)
        flat[mine] -= cfg["lr"] * reduced[mine]
        gathered = [torch.empty(size) for _ in range(world)]
        dist.all_gather(gathered, flat[mine].contiguous())
        for r, part in enumerate(gathered):
            if bug == "stale-shard" and rank == 0 and r == 1:
                continue  # rank 1's updated slice never copied in: rank 0 keeps the old one
            flat[r * size:(r + 1) * size] = part
        record = {"local": local[:numel].double(), "reduced": reduced[:numel].double(),
                  "before": before[:numel].double(), "after": flat[:numel].double()}
        records: list[Any] = [None] * world
        dist.all_gather_object(records, record)
        verdicts.append(check_step(records, cfg["lr"]))
    return verdicts


def _run_cases(cfg: dict) -> list[list[list[str]]]:
    """In the process group: one run per case of ``cfg['cases']``."""
    return [_train(cfg | case) for case in cfg["cases"]]


def _check_case(inject: str, at_step: int, steps: int) -> None:
    one_of("inject", inject, BUGS)
    if not (isinstance(at_step, int) and not isinstance(at_step, bool) and 0 <= at_step < steps):
        raise ValueError(f"at_step must be a step of the run, in [0, {steps}): got {at_step!r}")


def run_checks(cases: list[tuple[str, int]], steps: int = 6, ranks: int = 2, lr: float = 0.05,
               seed: int = 0) -> list[dict[str, Any]]:
    """One gloo process group, one run per ``(inject, at_step)`` case (0-based step), every step
    checked; per case: ``detected``, ``detected_at_step``, ``injected_at_step``, ``broken`` (the
    first failing step's invariants) and ``per_step`` (each step's broken invariants)."""
    positive_int("steps", steps)
    positive_int("ranks", ranks)
    if not 2 <= ranks <= 8:
        raise ValueError(f"a data-parallel check needs 2 to 8 ranks (one process each): got ranks={ranks}")
    if not cases:
        raise ValueError("cases must list at least one (inject, at_step) pair")
    for inject, at_step in cases:
        _check_case(inject, at_step, steps)
    if not (isinstance(lr, (int, float)) and 0 < lr < 1):
        raise ValueError(f"lr must be in (0, 1): got {lr!r}")
    cfg = {"cases": [{"inject": i, "at_step": a} for i, a in cases], "steps": steps, "lr": float(lr), "seed": seed}
    runs = run_ranks(_run_cases, cfg, ranks)
    results = []
    for (inject, at_step), verdicts in zip(cases, runs):
        first = next((i for i, v in enumerate(verdicts) if v), None)
        results.append({"inject": inject, "injected_at_step": at_step if inject != "none" else None,
                        "detected": first is not None, "detected_at_step": first,
                        "broken": verdicts[first] if first is not None else [], "per_step": verdicts,
                        "ranks": ranks, "steps": steps, "invariants": list(INVARIANTS)})
    return results


def run_check(inject: str = "none", at_step: int = 3, steps: int = 6, ranks: int = 2, lr: float = 0.05,
              seed: int = 0) -> dict[str, Any]:
    """One run with ``inject`` at step ``at_step``: the dict of :func:`run_checks`."""
    return run_checks([(inject, at_step)], steps, ranks, lr, seed)[0]
