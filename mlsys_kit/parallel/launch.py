"""Start a real tensor-parallel run: ``t`` gloo processes on this machine (``torch.multiprocessing``),
each running :func:`mlsys_kit.parallel.check.compare_with_single_process` on every config, the
results written by rank 0. :func:`run_config` checks and normalises a run's arguments;
:func:`run_tensor_parallel` runs several configs of one tensor degree in one spawn; :func:`run`
is one config. ``mlsys-kit parallel run``, the demo, the notebook and the benchmark call these.
"""

from __future__ import annotations

from typing import Any

from mlsys_kit.checks import positive_int
from mlsys_kit.launch import run_ranks
from mlsys_kit.models.gpt import GPTConfig
from mlsys_kit.parallel.check import compare_with_single_process


DEFAULT_MODEL = {"vocab_size": 128, "n_positions": 64, "n_layer": 2, "n_head": 4, "n_embd": 32}


def run_config(tensor: int, sequence_parallel: bool = False, recompute: bool = False, batch: int = 2,
               seq: int = 16, model: dict | None = None, seed: int = 0, atol: float = 1e-5,
               repeats: int = 3) -> dict:
    """Check and normalise the arguments of a run (also what the workers receive)."""
    positive_int("tensor (t)", tensor)
    positive_int("batch", batch)
    positive_int("seq", seq)
    positive_int("repeats", repeats)
    m = dict(DEFAULT_MODEL if model is None else model)
    GPTConfig(**m)  # validates
    if m["n_head"] % tensor:
        raise ValueError(f"--tensor {tensor} must divide the model's n_head={m['n_head']} (heads are split)")
    if sequence_parallel and seq % tensor:
        raise ValueError(f"sequence parallelism needs seq ({seq}) to be a multiple of t ({tensor})")
    if seq > m["n_positions"]:
        raise ValueError(f"seq must be at most n_positions={m['n_positions']}: got {seq}")
    return {"tensor": tensor, "sequence_parallel": bool(sequence_parallel), "recompute": bool(recompute),
            "batch": batch, "seq": seq, "model": m, "seed": seed, "atol": atol, "repeats": repeats}


def _every_config(cfgs: list[dict]) -> list[dict]:
    return [compare_with_single_process(c) for c in cfgs]


def run_tensor_parallel(cfgs: list[dict]) -> list[dict]:
    """Spawn ``cfgs[0]['tensor']`` gloo processes once and run every config (same t) there."""
    if not cfgs or len({c["tensor"] for c in cfgs}) != 1:
        raise ValueError("run_tensor_parallel needs one or more configs with the same tensor degree")
    t = cfgs[0]["tensor"]
    if t > 8:
        raise ValueError(f"tensor={t} would start {t} processes here: at most 8 (use the model for more)")
    return run_ranks(_every_config, cfgs, t)


def run(tensor: int, sequence_parallel: bool = False, recompute: bool = False, **kw: Any) -> dict:
    """One real run at tensor degree ``tensor`` (see :func:`compare_with_single_process`)."""
    return run_tensor_parallel([run_config(tensor, sequence_parallel, recompute, **kw)])[0]
