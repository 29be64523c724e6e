"""The checkpoint plan of a job: interval and waste for each place a checkpoint can go.

For N devices of per-device MTBF (the job fails every M = MTBF/N seconds) and a checkpoint of
G bytes, each strategy sets the checkpoint cost C and the restart cost R of Young/Daly's model
(:mod:`mlsys_kit.fault.waste`), and the failure simulator (:mod:`mlsys_kit.fault.failsim_fast`)
finds the interval with the least measured waste:

* ``remote``: the whole checkpoint written to remote storage at its bandwidth (C = G / B_storage),
  and read back after a failure (R = restart + G / B_storage): the baseline GEMINI compares with;
* ``in-memory``: GEMINI (SOSP'23, sections 3-4): each device's shard (G/N) sent to m-1 peers'
  CPU memory over the training network (C = (m-1) G/N / B_network; GEMINI even hides that in the
  step's idle network time, :func:`mlsys_kit.fault.gemini.interleave`), read back from a peer (R = restart +
  G/N / B_network); a failure of all m holders of a shard falls back to storage (rare:
  :func:`mlsys_kit.fault.gemini.recovery_probability`).
"""

from __future__ import annotations

from typing import Any

from mlsys_kit.checks import nonneg_number, one_of, positive_int, positive_number
from mlsys_kit.fault.failsim_fast import best_interval
from mlsys_kit.fault.waste import daly_interval, exact_waste_fraction, job_mtbf, waste_fraction, young_interval

STRATEGIES = ("remote", "in-memory")


def strategy_costs(strategy: str, devices: int, checkpoint_bytes: float, storage_gbps: float, network_gbps: float,
                   restart_s: float, replicas: int = 2) -> tuple[float, float]:
    """(C, R) in seconds for a strategy (module docstring)."""
    one_of("strategy", strategy, STRATEGIES)
    positive_int("devices", devices)
    positive_number("checkpoint bytes", checkpoint_bytes)
    storage, network = positive_number("storage Gbit/s", storage_gbps) * 1e9 / 8, positive_number(
        "network Gbit/s", network_gbps) * 1e9 / 8
    nonneg_number("restart (s)", restart_s)
    positive_int("replicas", replicas)
    if strategy == "remote":
        return checkpoint_bytes / storage, restart_s + checkpoint_bytes / storage
    if replicas < 2 or replicas > devices:
        raise ValueError(f"in-memory checkpoints need 2 <= replicas <= devices: got replicas={replicas}, devices={devices}")
    shard = checkpoint_bytes / devices
    return (replicas - 1) * shard / network, restart_s + shard / network


def plan(devices: int, mtbf_hours: float, checkpoint_gb: float, storage_gbps: float = 20.0,
         network_gbps: float = 400.0, restart_s: float = 60.0, replicas: int = 2,
         strategy: str = "remote", seed: int = 0) -> dict[str, Any]:
    """Per strategy: ``interval_s`` (the simulator's best), ``young_daly_s`` (Daly's higher-order
    optimum; ``young_s`` the first-order one), ``waste_fraction`` (simulated at the best interval),
    ``waste_formula`` (Young's first order there) and ``waste_exact`` (Daly's eq. 12); the
    top-level keys repeat ``strategy``'s, and ``strategies`` holds all."""
    one_of("strategy", strategy, STRATEGIES)
    m = job_mtbf(positive_number("MTBF (hours)", mtbf_hours) * 3600, positive_int("devices", devices))
    gb = positive_number("checkpoint (GB)", checkpoint_gb)
    out: dict[str, Any] = {"devices": devices, "mtbf_hours": mtbf_hours, "job_mtbf_s": m, "checkpoint_gb": gb,
                           "strategy": strategy, "strategies": {}}
    for name in STRATEGIES:
        c, r = strategy_costs(name, devices, gb * 1e9, storage_gbps, network_gbps, restart_s, replicas)
        try:
            best, curve = best_interval(c, r, m, seed=seed)
        except ValueError as exc:
            raise ValueError(f"strategy {name!r} (checkpoint {c:.4g} s, restart {r:.4g} s): {exc}") from None
        out["strategies"][name] = {
            "checkpoint_s": c, "restart_s": r, "interval_s": best, "young_daly_s": daly_interval(c, m),
            "young_s": young_interval(c, m), "waste_fraction": dict(curve)[best],
            "waste_formula": waste_fraction(best, c, r, m), "waste_exact": exact_waste_fraction(best, c, r, m),
            "curve": [[t, w] for t, w in curve]}
    out.update({k: v for k, v in out["strategies"][strategy].items() if k != "curve"})
    return out
