"""What a scheduling run is judged by: job completion time (average and tail), makespan,
utilisation, queueing delay and finish-time fairness.

* **JCT** = finish - arrival (Tiresias, NSDI'19, section 6: average and 99th-percentile JCT);
* **makespan** = last finish - first arrival (Gavel, OSDI'20, section 4.2);
* **utilisation** = GPU-seconds held by jobs / (GPUs x makespan);
* **queueing delay** = seconds a job waited, before its first start and after every preemption
  (Philly, ATC'19, section 3.1);
* **finish-time fairness** rho = JCT / the JCT it would get alone on a 1/N share of the cluster
  (Themis, NSDI'20, section 3; Gavel, section 4.2). We take N as the number of jobs active when it
  arrived, and its isolated time as ``ideal_runtime x max(1, N x gpus / total GPUs)``; rho <= 1 means
  the job did at least as well as on its fair share.
"""

from __future__ import annotations

import numpy as np

from mlsys_kit.cluster.simulate import SimResult


def jcts(res: SimResult) -> np.ndarray:
    """Every job's completion time, in the order of ``res.states``."""
    return np.array([s.finish - s.job.arrival for s in res.states], dtype=float)


def finish_time_fairness(res: SimResult) -> np.ndarray:
    """rho per job (see the module docstring)."""
    total = res.cluster.total_gpus
    out = []
    for s in res.states:
        n = res.contention.get(s.id, 1)
        isolated = s.job.ideal_runtime() * max(1.0, n * s.job.gpus / total)
        out.append((s.finish - s.job.arrival) / isolated)
    return np.array(out, dtype=float)


def summarize(res: SimResult) -> dict:
    """The run's numbers under stable keys (the CLI's ``--json``)."""
    if any(s.finish is None for s in res.states):
        raise ValueError("summarize needs a finished run: some jobs have no finish time")
    j = jcts(res)
    q = np.array([s.queueing_delay for s in res.states], dtype=float)
    rho = finish_time_fairness(res)
    span = res.makespan
    return {
        "policy": res.policy,
        "jobs": len(res.states),
        "jobs_finished": int(sum(s.finish is not None for s in res.states)),
        "gpus": res.cluster.total_gpus,
        "gpu_types": res.cluster.gpus_per_type(),
        "avg_jct": float(j.mean()),
        "median_jct": float(np.median(j)),
        "p99_jct": float(np.percentile(j, 99)),
        "makespan": float(span),
        "utilization": float(res.busy_gpu_seconds / (res.cluster.total_gpus * span)) if span > 0 else 0.0,
        "avg_queueing_delay": float(q.mean()),
        "p99_queueing_delay": float(np.percentile(q, 99)),
        "avg_ftf": float(rho.mean()),
        "max_ftf": float(rho.max()),
        "preemptions": int(sum(s.n_preemptions for s in res.states)),
        "scheduling_calls": res.n_calls,
    }
