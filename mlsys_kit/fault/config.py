"""The fault room's names that its command offers before anything runs: the silent bugs
:mod:`~mlsys_kit.fault.traincheck` can inject (TrainCheck, OSDI'25), kept apart from that
module so that ``mlsys-kit --help`` and the argument checks start without torch."""

from __future__ import annotations

BUGS = ("none", "skip-allreduce", "double-scale", "stale-shard")
