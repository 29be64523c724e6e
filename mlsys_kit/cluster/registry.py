"""The scheduling policies by name, for the simulator's callers (CLI, report, notebook).

FIFO and SRTF come from :mod:`mlsys_kit.cluster.core`; Tiresias' 2D-LAS (NSDI'19) from
:mod:`mlsys_kit.cluster.policies`, Gavel (OSDI'20) from :mod:`mlsys_kit.cluster.gavel`, Pollux
(OSDI'21) from :mod:`mlsys_kit.cluster.pollux`. Each entry is a factory returning a fresh policy
(policies keep per-run state, e.g. Gavel's rounds received).
"""

from __future__ import annotations

from typing import Any, Callable

from mlsys_kit.checks import one_of
from mlsys_kit.cluster.core import FIFO, SRTF, Policy

POLICIES: dict[str, Callable[..., Policy]] = {"fifo": FIFO, "srtf": SRTF}

try:  # the policies' modules land beside this one (issue #28's second half)
    from mlsys_kit.cluster.policies import tiresias
    POLICIES["tiresias"] = tiresias
except ImportError:  # pragma: no cover - until policies.py exists
    pass
try:
    from mlsys_kit.cluster.gavel import gavel
    POLICIES["gavel"] = gavel
    POLICIES["gavel-agnostic"] = lambda **kw: gavel(heterogeneity_aware=False, **kw)
except ImportError:  # pragma: no cover
    pass
try:
    from mlsys_kit.cluster.pollux import pollux
    POLICIES["pollux"] = pollux
except ImportError:  # pragma: no cover
    pass


def make_policy(name: str, **kwargs: Any) -> Policy:
    """A fresh policy called ``name`` (one of :data:`POLICIES`)."""
    one_of("policy", name, POLICIES)
    return POLICIES[name](**kwargs)
