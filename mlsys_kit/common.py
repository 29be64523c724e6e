"""Small helpers every topic's CLI and demo section share (the bottom of the package: it imports
no topic, so ``mlsys_kit/cli.py`` and ``mlsys_kit/demo.py`` can import the topics and the topics
can import this, with no cycle).

* ``emit_json(obj)``: the one JSON object a ``--json`` command prints;
* ``Section`` / ``Figure``: what a topic's ``demo.section(progress)`` returns for the report.
"""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass, field
from typing import Any


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
