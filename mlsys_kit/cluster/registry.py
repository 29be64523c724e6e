"""The scheduling policies by name, for the simulator's callers (CLI, report, notebook).

FIFO and SRTF come from :mod:`mlsys_kit.cluster.core`; Tiresias' 2D-LAS (NSDI'19) from
:mod:`mlsys_kit.cluster.policies`, Gavel (OSDI'20) from :mod:`mlsys_kit.cluster.gavel`, Pollux
(OSDI'21) from :mod:`mlsys_kit.cluster.pollux`. Each entry is a factory returning a fresh policy
(policies keep per-run state, e.g. Gavel's rounds received).
"""

from __future__ import annotations

from functools import partial
from typing import Any, Callable

from mlsys_kit.checks import one_of
from mlsys_kit.cluster.core import FIFO, SRTF, Policy
from mlsys_kit.cluster.gavel import gavel
from mlsys_kit.cluster.policies import tiresias
from mlsys_kit.cluster.pollux import pollux

POLICIES: dict[str, Callable[..., Policy]] = {
    "fifo": FIFO,
    "srtf": SRTF,
    "tiresias": tiresias,
    "gavel": gavel,  # heterogeneity-aware max-min fairness (Gavel section 4.1)
    "gavel-agnostic": partial(gavel, heterogeneity_aware=False),  # its twin that ignores GPU types
    "gavel-las": partial(gavel, "las"),
    "gavel-ftf": partial(gavel, "ftf"),
    "pollux": pollux,
}


def make_policy(name: str, **kwargs: Any) -> Policy:
    """A fresh policy called ``name`` (one of :data:`POLICIES`)."""
    one_of("policy", name, POLICIES)
    return POLICIES[name](**kwargs)
