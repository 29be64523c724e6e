"""Speed of the in-process ZeRO simulation: training steps per second (all N simulated ranks,
ring collectives step by step, byte counting included) per stage and world size, on one
thread. Prints one JSON object.

    python benchmarks/zero_simulate.py
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mlsys_kit.zero.config import ZERO  # noqa: E402
from mlsys_kit.zero.simulate import ZeroSimulation, small_model, split_batch  # noqa: E402

SIZES = ZERO.run_sizes  # the MLP of `mlsys-kit zero run`


def steps_per_second(stage: int, n: int, steps: int = 20) -> float:
    sim = ZeroSimulation(small_model(SIZES), n, stage)
    gen = torch.Generator().manual_seed(0)
    x, y = torch.randn(4 * n, SIZES[0], generator=gen), torch.randn(4 * n, SIZES[-1], generator=gen)
    xs, ys = split_batch(x, y, n)
    sim.step(xs, ys)  # warm-up
    t0 = time.perf_counter()
    for _ in range(steps):
        sim.step(xs, ys)
    return round(steps / (time.perf_counter() - t0), 1)


if __name__ == "__main__":
    torch.set_num_threads(1)
    psi = sum(p.numel() for p in small_model(SIZES).parameters())
    out = {"model": f"MLP {SIZES}, {psi:,} params, 4 samples per rank, fp32, 1 thread"}
    for n in (2, 8, 32):
        out[f"steps_per_s_ranks_{n}"] = {f"stage_{s}": steps_per_second(s, n) for s in range(4)}
    print(json.dumps(out, indent=2))
