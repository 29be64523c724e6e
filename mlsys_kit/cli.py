"""The ``mlsys-kit`` command.

Each topic registers its own subcommands from ``mlsys_kit/<topic>/cli.py`` (a function
``register(subparsers)``); this file imports the topics (the entry point sits on top of them,
never under) and lists them, so adding one is an import and a list entry. Disaggregation's
commands sit under ``serve`` (``serve disagg|place``): its ``register`` gets the ``serve``
subcommands that serving's returns.

Conventions every command follows: ``--json`` prints one JSON object on stdout and nothing
else; ``--plot FILE`` writes the picture (PNG, or anything matplotlib saves by extension);
bad input exits with status 2 and a message that says what was wrong and what is allowed.
"""

from __future__ import annotations

import argparse
import sys
from typing import Sequence

from mlsys_kit.attention import cli as attention_cli
from mlsys_kit.cluster import cli as cluster_cli
from mlsys_kit.disagg import cli as disagg_cli
from mlsys_kit.fault import cli as fault_cli
from mlsys_kit.feed import cli as feed_cli
from mlsys_kit.kvcache import cli as kvcache_cli
from mlsys_kit.memory import cli as memory_cli
from mlsys_kit.models import cli as models_cli
from mlsys_kit.offload import cli as offload_cli
from mlsys_kit.parallel import cli as parallel_cli
from mlsys_kit.pipeline import cli as pipeline_cli
from mlsys_kit.serving import cli as serving_cli
from mlsys_kit.zero import cli as zero_cli

# The topics, in the order ``mlsys-kit --help`` lists them: each has ``register(subparsers)``.
TOPIC_CLIS = [models_cli, pipeline_cli, kvcache_cli, serving_cli, zero_cli, attention_cli, parallel_cli, memory_cli,
              fault_cli, cluster_cli, offload_cli, feed_cli]


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
        commands = module.register(sub)
        if module is serving_cli:  # disaggregation's commands sit under `serve`: serve disagg|place
            disagg_cli.register(commands)
    return parser


def _run_demo(args: argparse.Namespace) -> int:
    from mlsys_kit.demo import run_demo

    return run_demo(out_dir=args.out, only=args.only)


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
