"""What every scheduler is: the batch it returns and the queues it keeps.

A scheduler only decides (Orca, OSDI'22, section 3.1): the engine
(:func:`~mlsys_kit.serving.engine.serve`) ``add``\\ s each arrived request, asks ``schedule()``
for one iteration's :data:`Batch`, runs it, then calls ``finish`` for each request that
completed. :class:`BaseScheduler` holds what all four schedulers share: the FCFS ``waiting``
queue, the ``running`` list, the seats and the token budget, and admission of the queue's head.
How a scheduler preempts and picks decodes is its own: vLLM and Sarathi-Serve in
:mod:`~mlsys_kit.serving.scheduler` (the teaching path, lab 3's answers), the baselines in
:mod:`~mlsys_kit.serving.baselines`; :mod:`~mlsys_kit.serving.registry` builds any of them by name.

``steady_decodes`` is what a scheduler class promises the simulator's fast-forward
(:func:`mlsys_kit.serving.simulator.steady_steps`) about its all-decode batches; it is read from
the class itself, never inherited, so a subclass that schedules differently promises nothing.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from mlsys_kit.checks import positive_int
from mlsys_kit.serving.config import default_token_budget
from mlsys_kit.serving.kv import KVSpace
from mlsys_kit.serving.sequence import FINISHED, RUNNING, WAITING, Seq

Batch = list[tuple[Seq, int]]  # (sequence, number of new tokens to feed it) per entry


class BaseScheduler:
    """The interface: ``add`` arrived requests, ``schedule`` one iteration, ``finish`` the done."""

    name = "base"
    steady_decodes: str | None = None  # see the module docstring; None: never fast-forwarded

    def __init__(self, kv: KVSpace, max_num_seqs: int = 64, token_budget: int | None = None) -> None:
        self.kv = kv
        self.max_num_seqs = positive_int("max_num_seqs", max_num_seqs)
        self.token_budget = positive_int("token_budget", default_token_budget(self.name) if token_budget is None
                                         else token_budget)
        self.waiting: deque[Seq] = deque()
        self.running: list[Seq] = []
        self.now = 0.0
        self.num_preemptions = 0  # all preemptions so far (recompute and swap)
        self.swap: Any = None  # a HostSwap once Scheduler.enable_swap() made a host pool

    def add(self, seq: Seq) -> None:
        """A request has arrived: queue it (FCFS)."""
        seq.status = WAITING
        self.waiting.append(seq)

    def has_unfinished(self) -> bool:
        return bool(self.waiting or self.running or (self.swap is not None and self.swap.queue))

    def schedule(self) -> Batch:
        """Pick this iteration's batch: (sequence, number of new tokens to feed) entries."""
        raise NotImplementedError

    def finish(self, seq: Seq) -> None:
        """The engine reports ``seq`` complete: drop it and release its KV blocks."""
        seq.status = FINISHED
        self.running.remove(seq)
        self.kv.free(seq.rid)

    def admit(self, seq: Seq) -> None:
        """The head of the waiting queue starts running."""
        self.waiting.popleft()
        seq.status = RUNNING
        self.running.append(seq)
