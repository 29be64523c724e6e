"""Failure simulator speed: simulated hours of a 10k-device job per wall-clock second (JSON).

Devices of 5-year MTBF (M = 4.4 h for 10,000 of them), checkpoint 60 s, restart 300 s, Young's
interval; the teaching path (event loop) and the fast path (numpy over failure gaps).
"""

import json
import time

from mlsys_kit.fault.failsim import simulate
from mlsys_kit.fault.failsim_fast import simulate_fast
from mlsys_kit.fault.waste import job_mtbf, waste_fraction, young_interval


def main() -> None:
    m = job_mtbf(5 * 365 * 86400, 10_000)
    c, r = 60.0, 300.0
    t = young_interval(c, m)
    out = {"devices": 10_000, "job_mtbf_s": m, "interval_s": t, "formula_waste": waste_fraction(t, c, r, m)}
    for name, fn, segs in (("teaching", simulate, 20_000), ("fast", simulate_fast, 2_000_000)):
        t0 = time.perf_counter()
        res = fn(t, c, r, m, segs, seed=0)
        dt = time.perf_counter() - t0
        out[name] = {"simulated_hours": res.wall_time / 3600, "wall_s": dt,
                     "simulated_hours_per_s": res.wall_time / 3600 / dt, "failures": res.failures,
                     "waste_fraction": res.waste_fraction}
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
