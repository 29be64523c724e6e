"""The ``mlsys-kit`` command.

Each topic registers its own subcommands from ``mlsys_kit/<topic>/cli.py`` (a function
``register(subparsers)``); this file only lists the topics, so adding one is one line.

Conventions every command follows: ``--json`` prints one JSON object on stdout and nothing
else; ``--plot FILE`` writes the picture (PNG, or anything matplotlib saves by extension);
bad input exits with status 2 and a message that says what was wrong and what is allowed.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
from typing import Any, Sequence

# One line per topic: the module that has ``register(subparsers)``.
TOPIC_CLIS = [
    "mlsys_kit.models.cli",
    "mlsys_kit.pipeline.cli",
    "mlsys_kit.kvcache.cli",
    "mlsys_kit.serving.cli",
    "mlsys_kit.zero.cli",
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="mlsys-kit",
        description="Reference implementations of ML-systems mechanisms, with figures and JSON.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    demo = sub.add_parser("demo", help="run every topic headless and write out/report.html")
    demo.add_argument("--out", default="out", help="folder for report.html (default: out)")
    demo.add_argument("--only", nargs="+", metavar="TOPIC", help="run only these sections")
    demo.set_defaults(func=_run_demo)
    for module in TOPIC_CLIS:
        importlib.import_module(module).register(sub)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from mlsys_kit.demo import run_demo

    return run_demo(out_dir=args.out, only=args.only)


def emit_json(obj: Any) -> None:
    """Print ``obj`` as the one JSON object a ``--json`` command writes."""
    json.dump(obj, sys.stdout, indent=2, sort_keys=True)
    sys.stdout.write("\n")


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    argv = list(sys.argv[1:] if argv is None else argv)
    args = parser.parse_args(argv)
    try:
        return int(args.func(args) or 0)
    except ValueError as exc:  # every public function raises ValueError on bad input
        words = " ".join(a for a in argv[:2] if not a.startswith("-"))
        parser.exit(2, f"mlsys-kit {words}: error: {exc}\n")


if __name__ == "__main__":
    sys.exit(main())
