"""Tiresias' discretised two-dimensional least-attained-service scheduler (2D-LAS).

Follows Gu et al., "Tiresias: A GPU Cluster Manager for Distributed Deep Learning" (NSDI'19):

* **section 3.1, two-dimensional attained service.** A job's service is GPUs x time it has run
  (GPU-seconds), so a wide job and a long job are compared on one axis; durations are unknown
  (Tiresias does not need them, unlike SRTF).
* **section 3.2, discretised priorities (Algorithm 1).** ``K`` queues split by thresholds
  ``Q_1 < ... < Q_{K-1}``: a job with attained service ``a`` is in queue ``i`` when ``Q_i <= a <
  Q_{i+1}`` (``Q_0 = 0``; :func:`las_queue`). Lower queues go first; **within a queue, FIFO** by
  arrival (ties: lower id), which avoids the constant preemptions of a continuous LAS.
* **starvation prevention.** A job that has waited, since it last stopped, at least
  ``promote_knob`` times as long as it has run (its executed time: attained service / GPUs) goes
  back to the highest-priority queue (:func:`effective_queue`; the paper's ``PROMOTEKNOB``).
* **preemption.** The order is recomputed at every arrival, completion and round: a running job
  that no longer fits behind higher-priority ones is preempted (its state is checkpointed; the
  simulator charges the restart).

The pure functions come first (:func:`las_queue`, :func:`effective_queue`, :func:`order`), then
the :class:`Tiresias` policy against the interface of :mod:`mlsys_kit.cluster.core`.
"""

from __future__ import annotations

import math
from bisect import bisect_right
from typing import Sequence

from mlsys_kit.cluster.core import Allocation, Cluster, JobState, place_in_order

# Tiresias' default: two queues split at one GPU-hour (section 6 finds 2 queues enough).
DEFAULT_THRESHOLDS: tuple[float, ...] = (3600.0,)
DEFAULT_PROMOTE_KNOB = 8.0


def check_thresholds(thresholds: Sequence[float]) -> tuple[float, ...]:
    """Thresholds must be finite, > 0 and strictly increasing: ``(Q_1, ..., Q_{K-1})``."""
    th = tuple(thresholds)
    if any(isinstance(q, bool) or not isinstance(q, (int, float)) or not 0 < q < math.inf for q in th):
        raise ValueError(f"queue thresholds must be finite GPU-seconds > 0: got {list(th)}")
    if any(a >= b for a, b in zip(th, th[1:])):
        raise ValueError(f"queue thresholds must be strictly increasing: got {list(th)}")
    return th


def las_queue(attained: float, thresholds: Sequence[float]) -> int:
    """The queue (0: highest priority) of a job with ``attained`` GPU-seconds: how many
    thresholds it has reached (``Q_i <= attained`` moves it down to queue ``i``)."""
    if isinstance(attained, bool) or not isinstance(attained, (int, float)) or not 0 <= attained < math.inf:
        raise ValueError(f"attained service must be finite GPU-seconds >= 0: got {attained!r}")
    return bisect_right(check_thresholds(thresholds), attained)


def effective_queue(attained: float, gpus: int, waiting: float, thresholds: Sequence[float],
                    promote_knob: float = DEFAULT_PROMOTE_KNOB) -> int:
    """:func:`las_queue`, except that a job which has run (``attained > 0``) and then waited
    ``waiting >= promote_knob * attained / gpus`` seconds is promoted to queue 0."""
    if isinstance(gpus, bool) or not isinstance(gpus, int) or gpus < 1:
        raise ValueError(f"gpus must be a positive integer: got {gpus!r}")
    if not isinstance(waiting, (int, float)) or not 0 <= waiting < math.inf:
        raise ValueError(f"waiting must be finite seconds >= 0: got {waiting!r}")
    if not isinstance(promote_knob, (int, float)) or not 0 < promote_knob:
        raise ValueError(f"promote_knob must be > 0 (math.inf: never promote): got {promote_knob!r}")
    q = las_queue(attained, thresholds)
    if attained > 0 and waiting >= promote_knob * attained / gpus:
        return 0
    return q


def order(jobs: Sequence[dict], thresholds: Sequence[float]) -> list[int]:
    """Job ids in 2D-LAS order: by queue (``las_queue`` of ``attained``, or the ``queue`` key
    if a job dict has one, e.g. after promotion), then FIFO by ``arrival``, then ``id``. Each job
    is a dict with ``id``, ``attained`` and ``arrival``; the list is not changed."""
    keyed = []
    for j in jobs:
        q = j["queue"] if "queue" in j else las_queue(j["attained"], thresholds)
        keyed.append((q, j["arrival"], j["id"]))
    return [i for _, _, i in sorted(keyed)]


class Tiresias:
    """2D-LAS as a policy: at each call order the jobs by :func:`effective_queue`, arrival and
    id, and hand out gangs greedily in that order (skipping a job that does not fit, so smaller
    jobs behind it may start); a running job not chosen is preempted."""

    name = "tiresias"
    round_based = True

    def __init__(self, thresholds: Sequence[float] = DEFAULT_THRESHOLDS,
                 promote_knob: float = DEFAULT_PROMOTE_KNOB) -> None:
        self.thresholds = check_thresholds(thresholds)
        effective_queue(0.0, 1, 0.0, self.thresholds, promote_knob)  # validates the knob
        self.promote_knob = promote_knob

    def queue_of(self, now: float, s: JobState) -> int:
        waiting = 0.0 if s.running_on is not None else max(now - s.queued_since, 0.0)
        return effective_queue(s.attained_service, s.job.gpus, waiting, self.thresholds, self.promote_knob)

    def schedule(self, now: float, jobs: Sequence[JobState], cluster: Cluster) -> dict[int, Allocation]:
        by_id = {s.id: s for s in jobs}
        ids = order([{"id": s.id, "arrival": s.job.arrival, "attained": s.attained_service,
                      "queue": self.queue_of(now, s)} for s in jobs], self.thresholds)
        return place_in_order([by_id[i] for i in ids], cluster, stop_at_first_blocked=False)


def tiresias(thresholds: Sequence[float] = DEFAULT_THRESHOLDS, promote_knob: float = DEFAULT_PROMOTE_KNOB) -> Tiresias:
    """The factory the registry calls."""
    return Tiresias(thresholds, promote_knob)
