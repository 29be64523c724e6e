"""The search for ByteScheduler's partition and credit sizes (Peng et al., SOSP'19, section 5:
the best sizes depend on the model, the network and the framework, so ByteScheduler tunes them
online with Bayesian optimisation).

Here the objective is the simulator's iteration time (:func:`mlsys_kit.feed.comm.iteration_time`),
cheap enough for a plain grid over powers of two: partitions from ``min_partition`` up to the
largest gradient, credits of 1 to ``max_window`` partitions. A grid evaluates every point, so
it finds the grid's true optimum (Bayesian optimisation is for objectives that cost a training
iteration each); the grid is also the picture of the trade-off: small partitions preempt sooner
but pay the per-message latency more often, large credits hide that latency but commit the link
to chunks a more urgent gradient then waits behind.
"""

from __future__ import annotations

from typing import Any, Sequence

from mlsys_kit.checks import positive_int
from mlsys_kit.feed.comm import Layer, Network, _check_layers, iteration_time


def grid(layers: Sequence[Layer], min_partition: int = 2**16, max_window: int = 16) -> tuple[list[int], list[int]]:
    """Partition sizes (powers of two from ``min_partition`` to the first >= the largest
    gradient) and credit windows (powers of two up to ``max_window``, in partitions)."""
    layers = _check_layers(layers)
    p = positive_int("min_partition", min_partition)
    positive_int("max_window", max_window)
    biggest = max(x.grad_bytes for x in layers)
    parts = [p]
    while parts[-1] < biggest:
        parts.append(parts[-1] * 2)
    windows = [1]
    while windows[-1] * 2 <= max_window:
        windows.append(windows[-1] * 2)
    return parts, windows


def search(layers: Sequence[Layer], network: Network, min_partition: int = 2**16,
           max_window: int = 16) -> dict[str, Any]:
    """Every (partition, credit = window * partition) of :func:`grid` simulated: the best one,
    its iteration time, FIFO's for comparison, and the whole grid (``times[i][j]`` for
    ``partitions[i]``, ``windows[j]``)."""
    parts, windows = grid(layers, min_partition, max_window)
    times = [[iteration_time(layers, network, "bytescheduler", partition=p, credit=p * w).iteration_time
              for w in windows] for p in parts]
    i, j = min(((i, j) for i in range(len(parts)) for j in range(len(windows))), key=lambda ij: times[ij[0]][ij[1]])
    fifo = iteration_time(layers, network, "fifo").iteration_time
    return {"partition": parts[i], "credit": parts[i] * windows[j], "iteration_time": times[i][j],
            "fifo_iteration_time": fifo, "speedup_over_fifo": fifo / times[i][j],
            "partitions": parts, "windows": windows, "times": times, "evaluations": len(parts) * len(windows)}
