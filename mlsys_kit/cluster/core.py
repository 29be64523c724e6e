"""The vocabulary of cluster scheduling: GPUs, machines, jobs, allocations and the policy
interface every scheduler implements, with FIFO and SRTF as its worked examples.

The model follows the papers this topic reproduces:

* a **cluster** is machines, each with some GPUs of one type (Philly, ATC'19, section 2: 2-GPU
  and 8-GPU servers; Gavel, OSDI'20, section 2: V100, P100 and K80 GPUs side by side);
* a **job** asks for a number of GPUs (its gang: all or nothing), has a length in iterations and
  a throughput (iterations per second at its requested GPUs) on each GPU type it can use
  (Gavel, section 3.1: the throughput matrix T, one row per job, one column per type);
* a **policy** is called by the simulator (:mod:`mlsys_kit.cluster.simulate`) at every arrival
  and completion, and, when ``round_based``, also every scheduling round (Gavel, section 5:
  6-minute rounds; Tiresias, NSDI'19, section 4: periodic re-prioritisation). It returns the
  complete set of jobs that run until the next call and on what: a job left out is paused
  (preempted, if it was running); a job kept on the same GPU type and GPU count keeps its
  place; a job moved pays the simulator's restart cost (checkpoint, restore, warm-up).

A policy may leave ``Allocation.machines`` empty: the simulator then places the job itself,
packing it onto as few machines as it can (:mod:`mlsys_kit.cluster.placement`). A policy that
changes a job's GPU count or batch size (Pollux) gives the simulator the job's rate of progress
through an optional method ``progress_rate(state, allocation) -> iterations/s`` (in iterations
of the job's own ``batch_size``); without it the rate is ``job.throughput[gpu_type]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from mlsys_kit.checks import nonneg_number, positive_int, positive_number

GpuType = str
GPU_TYPES: tuple[GpuType, ...] = ("v100", "p100", "k80")  # Gavel's three types, fastest first


@dataclass(frozen=True)
class Machine:
    """One server: ``gpus`` GPUs of one ``gpu_type``."""

    gpu_type: GpuType
    gpus: int

    def __post_init__(self) -> None:
        if not isinstance(self.gpu_type, str) or not self.gpu_type:
            raise ValueError(f"gpu_type must be a non-empty string such as 'v100': got {self.gpu_type!r}")
        positive_int("Machine.gpus", self.gpus)


@dataclass(frozen=True)
class Cluster:
    """A list of machines (stored as a tuple); machine ``i`` is ``machines[i]``."""

    machines: tuple[Machine, ...]

    def __init__(self, machines: Sequence[Machine]) -> None:
        machines = tuple(machines)
        if not machines or not all(isinstance(m, Machine) for m in machines):
            raise ValueError(f"a Cluster needs at least one Machine: got {machines!r}")
        object.__setattr__(self, "machines", machines)

    @property
    def gpu_types(self) -> tuple[GpuType, ...]:
        """The GPU types present, in the order of :data:`GPU_TYPES` first, then first seen."""
        seen = list(dict.fromkeys(m.gpu_type for m in self.machines))
        return tuple(sorted(seen, key=lambda t: (GPU_TYPES.index(t) if t in GPU_TYPES else len(GPU_TYPES),
                                                 seen.index(t))))

    def gpus_per_type(self) -> dict[GpuType, int]:
        """Total GPUs of each type, e.g. ``{"v100": 16, "k80": 8}``."""
        out = {t: 0 for t in self.gpu_types}
        for m in self.machines:
            out[m.gpu_type] += m.gpus
        return out

    @property
    def total_gpus(self) -> int:
        return sum(m.gpus for m in self.machines)

    def machines_of(self, gpu_type: GpuType) -> list[int]:
        """Indices of the machines holding ``gpu_type``."""
        return [i for i, m in enumerate(self.machines) if m.gpu_type == gpu_type]

    @classmethod
    def homogeneous(cls, gpus: int, gpu_type: GpuType = "v100", per_machine: int = 8) -> "Cluster":
        """``gpus`` GPUs of one type in machines of ``per_machine`` (the last one may be smaller)."""
        positive_int("gpus", gpus)
        positive_int("per_machine", per_machine)
        full, rest = divmod(gpus, per_machine)
        return cls([Machine(gpu_type, per_machine)] * full + ([Machine(gpu_type, rest)] if rest else []))

    @classmethod
    def from_counts(cls, counts: Mapping[GpuType, int], per_machine: int = 8) -> "Cluster":
        """A cluster with ``counts[t]`` GPUs of each type ``t``, ``per_machine`` to a machine."""
        if not counts:
            raise ValueError("counts must name at least one GPU type, e.g. {'v100': 8}")
        machines: list[Machine] = []
        for t, n in counts.items():
            machines += list(cls.homogeneous(n, t, per_machine).machines)
        return cls(machines)


@dataclass(frozen=True)
class Job:
    """One training job of a trace.

    ``gpus`` is the gang size it asks for (for Pollux, the most it may use); ``iterations`` its
    length; ``throughput[t]`` its iterations per second on GPU type ``t`` at ``gpus`` GPUs
    (a type missing from the dict cannot run it). ``batch_size`` is its (initial) global batch
    size; ``pollux`` holds the parameters of Pollux's models (:mod:`mlsys_kit.cluster.pollux`).
    """

    id: int
    arrival: float
    gpus: int
    iterations: float
    throughput: Mapping[GpuType, float]
    batch_size: int | None = None
    pollux: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if isinstance(self.id, bool) or not isinstance(self.id, int):
            raise ValueError(f"Job.id must be an integer: got {self.id!r}")
        nonneg_number("Job.arrival", self.arrival)
        positive_int("Job.gpus", self.gpus)
        positive_number("Job.iterations", self.iterations)
        if not self.throughput:
            raise ValueError(f"Job {self.id}: throughput must name at least one GPU type: got {self.throughput!r}")
        for t, x in self.throughput.items():
            positive_number(f"Job {self.id} throughput[{t!r}]", x)
        if self.batch_size is not None:
            positive_int("Job.batch_size", self.batch_size)

    def best_type(self) -> GpuType:
        """The GPU type on which it runs fastest."""
        return max(self.throughput, key=lambda t: self.throughput[t])

    def ideal_runtime(self) -> float:
        """Seconds it takes alone on its best GPU type, no waiting, no slowdown: a lower bound
        on its job completion time under every policy that does not change its GPU count."""
        return self.iterations / self.throughput[self.best_type()]


@dataclass(frozen=True)
class Allocation:
    """What a job runs on until the next scheduling call: ``gpus`` GPUs of ``gpu_type``;
    ``machines`` the machine index of each GPU (``len == gpus``), or ``()`` to let the simulator
    place it; ``batch_size`` the global batch size (Pollux), None for the job's own."""

    gpu_type: GpuType
    gpus: int
    machines: tuple[int, ...] = ()
    batch_size: int | None = None

    def __post_init__(self) -> None:
        positive_int("Allocation.gpus", self.gpus)
        if self.machines and len(self.machines) != self.gpus:
            raise ValueError(f"Allocation.machines must list one machine per GPU ({self.gpus}) or be empty: "
                             f"got {self.machines!r}")
        if self.batch_size is not None:
            positive_int("Allocation.batch_size", self.batch_size)

    @property
    def n_machines(self) -> int:
        """How many machines the job is spread over (0 while unplaced)."""
        return len(set(self.machines))


@dataclass
class JobState:
    """A job as the simulator tracks it and a policy sees it (a policy reads, never writes)."""

    job: Job
    done_iterations: float = 0.0
    attained_service: float = 0.0  # GPU-seconds received so far (Tiresias' 2D attained service)
    queued_since: float = 0.0  # when it last started waiting (arrival or preemption)
    running_on: Allocation | None = None
    n_preemptions: int = 0
    start: float | None = None  # first time it ran
    finish: float | None = None
    queueing_delay: float = 0.0  # seconds spent waiting in total
    rounds: dict[GpuType, float] = field(default_factory=dict)  # rounds received per type: time run / round length
    time_on: dict[GpuType, float] = field(default_factory=dict)  # seconds run on each GPU type

    @property
    def id(self) -> int:
        return self.job.id

    @property
    def remaining_iterations(self) -> float:
        return max(self.job.iterations - self.done_iterations, 0.0)

    def remaining_time(self, gpu_type: GpuType | None = None) -> float:
        """Seconds left at the job's throughput on ``gpu_type`` (default: its best type)."""
        t = gpu_type or self.job.best_type()
        return self.remaining_iterations / self.job.throughput[t]


@runtime_checkable
class Policy(Protocol):
    """A scheduling policy. ``schedule`` gets the jobs that have arrived and not finished, and
    returns ``{job id: Allocation}`` for every job that runs until the next call (the GPUs of
    each type it hands out must fit the cluster)."""

    name: str
    round_based: bool

    def schedule(self, now: float, jobs: Sequence[JobState], cluster: Cluster) -> dict[int, Allocation]: ...


def place_in_order(order: Sequence[JobState], cluster: Cluster, stop_at_first_blocked: bool) -> dict[int, Allocation]:
    """Walk ``order`` handing each job its gang on the fastest type with room; a running job
    keeps its allocation if it is still chosen (no needless restart)."""
    free = cluster.gpus_per_type()
    out: dict[int, Allocation] = {}
    for s in order:
        j = s.job
        cur = s.running_on
        if cur is not None and free.get(cur.gpu_type, 0) >= cur.gpus:
            out[j.id] = cur
            free[cur.gpu_type] -= cur.gpus
            continue
        fits = [t for t in j.throughput if free.get(t, 0) >= j.gpus]
        if not fits:
            if stop_at_first_blocked:
                break
            continue
        t = max(fits, key=lambda t: (j.throughput[t], -GPU_TYPES.index(t) if t in GPU_TYPES else -99))
        out[j.id] = Allocation(t, j.gpus)
        free[t] -= j.gpus
    return out


class FIFO:
    """First in, first out, non-preemptive, no backfilling (Philly's and YARN's default; the
    baseline of Tiresias, NSDI'19, section 6): running jobs keep their GPUs; waiting jobs start
    in arrival order while the head of the queue fits, on the fastest type with room."""

    name = "fifo"
    round_based = False

    def schedule(self, now: float, jobs: Sequence[JobState], cluster: Cluster) -> dict[int, Allocation]:
        running = [s for s in jobs if s.running_on is not None]
        waiting = sorted((s for s in jobs if s.running_on is None), key=lambda s: (s.job.arrival, s.id))
        return place_in_order(running + waiting, cluster, stop_at_first_blocked=True)


class SRTF:
    """Shortest remaining time first, preemptive, with backfilling: the clairvoyant baseline of
    Tiresias (NSDI'19, section 6.2), which knows every job's remaining time (here on its best
    type); ties broken by arrival. Jobs that do not fit are skipped, smaller ones start."""

    name = "srtf"
    round_based = False

    def schedule(self, now: float, jobs: Sequence[JobState], cluster: Cluster) -> dict[int, Allocation]:
        order = sorted(jobs, key=lambda s: (s.remaining_time(), s.job.arrival, s.id))
        return place_in_order(order, cluster, stop_at_first_blocked=False)
