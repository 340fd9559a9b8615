"""The `ggwatch` command line: its subcommands, flags and their help (ggwatch.cli runs them)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import NoReturn

from ggwatch import __version__
from ggwatch.errors import EXIT_USAGE
from ggwatch.sim import cli as sim_cli

# What `ggwatch --help` has always said first: the first line of ggwatch.cli's docstring.
DESCRIPTION = (
    "The `ggwatch` command. The only place that turns errors into exit codes and messages."
)


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message} (see --help)\n")


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {text}")
    return value


# argparse names the converter in its message; this name reads well there.
_port.__name__ = "port"


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="ggwatch", description=DESCRIPTION)
    parser.add_argument("--version", action="version", version=f"ggwatch {__version__}")
    parser.add_argument("--config", type=Path, help="YAML settings file (default: $GGWATCH_CONFIG)")
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    sub.add_parser("check-config", help="validate settings and print the effective values")

    scan = sub.add_parser("scan", help="scan every target once, print findings, exit")
    scan.add_argument(
        "--format",
        choices=("table", "json"),
        help="default: table on a terminal, json otherwise",
    )
    scan.add_argument(
        "--fail-on",
        choices=("critical", "warning", "info", "never"),
        default="warning",
        help="exit 1 when a finding of this severity or worse exists (default: warning)",
    )

    plan = sub.add_parser(
        "plan", help="propose revisions that move flagged versions, re-resolved per device class"
    )
    plan.add_argument(
        "--format",
        choices=("table", "json"),
        help="default: table on a terminal, json otherwise",
    )
    plan.add_argument(
        "--output-dir",
        type=Path,
        help="write plans.json, <deploymentId>.json (create-deployment input) and its base",
    )

    apply = sub.add_parser("apply", help="create the ok revisions of a plan directory")
    apply.add_argument("directory", type=Path, help="a directory `ggwatch plan` wrote")
    apply.add_argument(
        "--confirm", action="store_true", help="create them; without it, print what it would do"
    )

    preflight = sub.add_parser(
        "preflight", help="predict the findings a create-deployment input file would cause"
    )
    preflight.add_argument("file", type=Path, help="create-deployment input, JSON or YAML")
    preflight.add_argument(
        "--format",
        choices=("table", "json"),
        help="default: table on a terminal, json otherwise",
    )

    # The simulator's own command line (ggwatch.sim.cli): none of ggwatch's settings.
    sim_cli.add_arguments(sub.add_parser("sim", help=sim_cli.HELP))

    run = sub.add_parser("run", help="the daemon: scan every interval, serve /metrics and health")
    # Flags for what differs per replica; each stands for its setting (docs/settings.md).
    run.add_argument("--shard", type=int, metavar="N", help="this replica's shard (GGWATCH_SHARD)")
    run.add_argument(
        "--total-shards",
        type=int,
        metavar="M",
        help="replicas sharing the targets (GGWATCH_TOTAL_SHARDS)",
    )
    run.add_argument(
        "--pod",
        metavar="NAME",
        help="StatefulSet pod name; its ordinal is the shard (GGWATCH_POD_NAME)",
    )

    demo_parser = sub.add_parser(
        "demo", help="the daemon against the simulator with a changing sample fleet"
    )
    demo_parser.add_argument(
        "--port", type=_port, default=8419, help="status page and /metrics port (0 = any free)"
    )
    return parser
