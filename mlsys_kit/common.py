"""Small helpers every topic shares (the bottom of the package: it imports no topic, so
``mlsys_kit/cli.py`` and ``mlsys_kit/demo.py`` can import the topics and the topics can import
this, with no cycle).

* ``ceil_div(a, b)``: the one ceiling division of the kit (blocks for tokens, shards for ranks);
* ``emit_json(obj)``: the one JSON object a ``--json`` command prints;
* ``Section`` / ``Figure``: what a topic's ``demo.section(progress)`` returns for the report.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any


def ceil_div(a: int, b: int) -> int:
    """``ceil(a / b)`` in integer arithmetic, exact for any size (``-(-a // b)``): the blocks
    ``a`` tokens take at ``b`` per block, the shard of ``a`` elements on each of ``b`` ranks."""
    return -(-a // b)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as the one JSON object a ``--json`` command writes (sorted keys, indented)."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


@dataclass
class Figure:
    """One figure of the demo report: a PNG and the CLI command that draws it alone."""

    caption: str
    png: bytes
    command: str


@dataclass
class Section:
    """One topic's part of ``mlsys-kit demo``'s report."""

    topic: str
    title: str
    summary: str
    rows: list[tuple[str, Any]] = field(default_factory=list)  # (headline figure, value)
    figures: list[Figure] = field(default_factory=list)
    data: dict[str, Any] = field(default_factory=dict)  # everything else, for report.json
