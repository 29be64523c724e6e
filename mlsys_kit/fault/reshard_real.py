"""Universal checkpoints for real: train under one layout, save, reshard, resume under another.

Universal Checkpointing (Lian et al., ATC'25), sections 3.2-3.3: the run's sharded checkpoint
(``t`` tensor ranks x ``d`` data ranks, ZeRO stage ``zero``) is merged into one atomic
checkpoint per parameter (the full parameter and its full Adam moments) and cut out again for
any other layout. Here the run is :mod:`mlsys_kit.fault.layout_run` on gloo, the mapping is
:mod:`mlsys_kit.fault.reshard_math`, and the check is the paper's: the losses after resuming
under the new layout equal those of the run that was never interrupted (to fp32 tolerance: a
different t or d sums partial results in another order) and are bitwise equal when the layout
does not change. The bytes each rank saved are measured from its file's tensors and equal
reshard_math's count, which equals ZeRO's memory model (params + optimizer states).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import torch

from mlsys_kit.checks import positive_int
from mlsys_kit.fault.layout_run import read_universal, shard_bytes, spawn, specs
from mlsys_kit.fault.reshard_math import STATES, Layout, checkpoint_bytes, parse_layout

ATOL = 1e-5  # fp32 losses of order 1-10 summed in another order


def reshard_run(src: Layout | str, dst: Layout | str, save_at: int = 3, steps: int = 6,
                seed: int = 0) -> dict[str, Any]:
    """Train ``steps`` steps under ``src`` (saving at ``save_at``); resume from that checkpoint
    under ``src`` again (must be bitwise) and under ``dst`` through the universal form."""
    src = parse_layout(src) if isinstance(src, str) else src
    dst = parse_layout(dst) if isinstance(dst, str) else dst
    positive_int("steps", steps)
    if not (isinstance(save_at, int) and 0 < save_at < steps):
        raise ValueError(f"save_at must be a step inside the run, in [1, {steps}): got {save_at!r}")
    for lay in (src, dst):
        if lay.world > 8:
            raise ValueError(f"layout {lay} needs {lay.world} processes: at most 8 here")
        for s in specs():
            s.local_numel(lay.t)  # a t that does not divide the MLP's widths is an error here
    with tempfile.TemporaryDirectory() as tmp:
        ckpt, final_a = Path(tmp) / "ckpt", Path(tmp) / "final_a"
        t0 = time.perf_counter()
        first, same = spawn({"seed": seed, "jobs": [
            {"layout": [src.t, src.d, src.zero], "stop": steps,
             "save": {str(save_at): [str(ckpt)], str(steps): [str(final_a)]}},
            {"layout": [src.t, src.d, src.zero], "stop": steps, "from_shards": str(ckpt)},
        ]}, src.world)
        t_train = time.perf_counter() - t0
        measured = [sum(torch.load(ckpt / f"rank{r}.pt")[s].numel() * 4 for s in STATES) for r in range(src.world)]
        t0 = time.perf_counter()
        universal = read_universal(ckpt, src)
        uni_path = Path(tmp) / "universal.pt"
        torch.save({"state": universal, "step": save_at}, uni_path)
        t_convert = time.perf_counter() - t0
        (resumed,) = spawn({"seed": seed, "jobs": [
            {"layout": [dst.t, dst.d, dst.zero], "stop": steps, "from_universal": str(uni_path)}]}, dst.world)
    tail = first["losses"][save_at:]
    diff = max(abs(a - b) for a, b in zip(tail, resumed["losses"]))
    return {
        "from": str(src), "to": str(dst), "steps": steps, "saved_at_step": save_at,
        "losses_uninterrupted": first["losses"], "losses_resumed": resumed["losses"],
        "max_abs_loss_diff": diff, "atol": ATOL, "matches_uninterrupted": diff <= ATOL,
        "same_layout_bitwise": same["losses"] == tail,
        "checkpoint_bytes": sum(measured), "checkpoint_bytes_per_rank": measured,
        "checkpoint_bytes_model": checkpoint_bytes(specs(), src),
        "bytes_equal_model": measured == checkpoint_bytes(specs(), src) == [shard_bytes(src)] * src.world,
        "universal_bytes": sum(len(v) * 4 for p in universal.values() for v in p.values()),
        "train_s": t_train, "convert_s": t_convert,
    }
