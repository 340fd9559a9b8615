"""The `ggwatch` command. The only place that turns errors into exit codes and messages.

Exit codes: 0 success, 1 findings at or above --fail-on (scan), plans written (plan), a plan
refused (apply), findings the deployment would cause (preflight), 2 usage or configuration
error (also a bad plan directory or deployment file), 3 AWS or runtime failure (also an
incomplete scan, output that cannot be written), 141 standard output closed early (`| head`),
as Unix tools do on SIGPIPE. Expected failures print one line to stderr, never a traceback.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import Any

import anyio
import structlog

from ggwatch import daemon, demo, logs, report
from ggwatch.archive.uri import parse_archive_uri
from ggwatch.cliargs import build_parser
from ggwatch.errors import (
    EXIT_FINDINGS,
    EXIT_OK,
    EXIT_RUNTIME,
    ConfigError,
    GGWatchError,
    OutputError,
)
from ggwatch.findings import Severity
from ggwatch.remediate import applying, files, planning, preflight
from ggwatch.scan import scan_once
from ggwatch.settings import Settings, load_settings, unknown_variables
from ggwatch.sim import cli as sim_cli
from ggwatch.terminal import printable

# 128 + SIGPIPE: what a shell reports for a tool that stopped because its reader went away.
EXIT_PIPE = 141


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return _dispatch(args)
    except GGWatchError as exc:
        _error(str(exc))
        return exc.exit_code
    except ExceptionGroup as group:
        # Task groups wrap what their tasks raise; an expected failure stays a one-liner.
        expected = _only_expected(group)
        if expected is None:
            raise
        _error(str(expected))
        return expected.exit_code
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # The reader went away (`| head`): stop quietly. Point stdout at /dev/null so the
        # interpreter's own flush at exit does not fail a second time.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_PIPE


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "sim":
        # The simulator is not ggwatch: its own arguments, none of ggwatch's settings.
        logs.configure()
        return _sim(args)
    settings = load_settings(args.config, os.environ, _flag_settings(args))
    logs.configure(settings.log_level, settings.log_format)
    unknown = unknown_variables(os.environ)
    if unknown and args.command == "check-config":
        raise ConfigError(f"unknown setting variables: {', '.join(unknown)}")
    if unknown:
        structlog.get_logger("ggwatch.settings").warning(
            "settings.unknown_variables",
            variables=list(unknown),
            reason="no such setting; these variables are ignored",
        )
    return COMMANDS[args.command](args, settings)


def _flag_settings(args: argparse.Namespace) -> dict[str, object]:
    """The settings the command line gives, by field name: stronger than the environment."""
    flags = {"shard": "shard", "total_shards": "total_shards", "pod": "pod_name"}
    given = {field: getattr(args, flag, None) for flag, field in flags.items()}
    return {field: value for field, value in given.items() if value is not None}


def _out(text: str) -> None:
    """Write a command's result to standard output, now (not at exit), so it can fail here."""
    try:
        print(text, flush=True)
    except BrokenPipeError:
        raise
    except OSError as exc:
        # What could not be written must not be written again at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        raise OutputError(f"cannot write to standard output: {exc.strerror or exc}") from None


def _error(message: str) -> None:
    # When stderr is gone too, the exit code is all that is left to say it.
    with contextlib.suppress(OSError):
        print(f"ggwatch: error: {printable(message)}", file=sys.stderr, flush=True)


def _only_expected(group: BaseExceptionGroup[Any]) -> GGWatchError | None:
    """The first GGWatchError in a group whose every leaf is one; else None (a bug: re-raise)."""
    leaves: list[BaseException] = []
    stack: list[BaseException] = [group]
    while stack:
        exc = stack.pop()
        if isinstance(exc, BaseExceptionGroup):
            stack.extend(reversed(exc.exceptions))
        else:
            leaves.append(exc)
    if leaves and all(isinstance(leaf, GGWatchError) for leaf in leaves):
        first = leaves[0]
        assert isinstance(first, GGWatchError)
        return first
    return None


def _check_config(_args: argparse.Namespace, settings: Settings) -> int:
    if settings.archive_uri is not None:
        parse_archive_uri(settings.archive_uri)  # a bad one is a ConfigError: exit 2
    _out(json.dumps(settings.model_dump(mode="json"), indent=2))
    return EXIT_OK


def _format(args: argparse.Namespace) -> str:
    return str(args.format or ("table" if sys.stdout.isatty() else "json"))


def _incomplete(result: report.ScanResult) -> bool:
    """Report the first error of an incomplete scan on stderr; whether there was one."""
    failed = [(t, e) for t in result.snapshot.targets for e in t.errors]
    if not failed:
        return False
    target, error = failed[0]
    more = f" (and {len(failed) - 1} more)" if len(failed) > 1 else ""
    where = target.target.label(target.account)
    _error(f"scan incomplete: {where}: {error.operation}: {error.code}: {error.message}{more}")
    return True


def _scan(args: argparse.Namespace, settings: Settings) -> int:
    result = anyio.run(scan_once, settings)
    fmt = _format(args)
    _out(report.to_table(result) if fmt == "table" else report.to_json(result))
    if _incomplete(result):
        return EXIT_RUNTIME
    if args.fail_on != "never":
        threshold = Severity(args.fail_on).rank
        if any(f.severity.rank >= threshold for f in result.findings):
            return EXIT_FINDINGS
    return EXIT_OK


def _plan(args: argparse.Namespace, settings: Settings) -> int:
    run = anyio.run(planning.plan_fleet, settings)
    if _incomplete(run.result):
        return EXIT_RUNTIME  # nothing is planned from a partial view
    plans = [w.plan for w in run.plans]
    generated = run.result.generated_at
    table = _format(args) == "table"
    _out(report.plans_table(plans) if table else report.plans_json(plans, generated))
    if args.output_dir is not None and run.plans:
        manifest = files.write_plans(args.output_dir, run.plans, generated)
        _error_free(f"ggwatch: wrote {len(run.plans)} plan(s) to {manifest.parent}")
    return EXIT_FINDINGS if plans else EXIT_OK


def _apply(args: argparse.Namespace, settings: Settings) -> int:
    entries = files.read_plans(args.directory)
    outcomes = anyio.run(
        functools.partial(applying.apply_plans, settings, entries, confirm=args.confirm)
    )
    for o in outcomes:
        created = f" -> {o.new_deployment_id}" if o.new_deployment_id else ""
        _out(printable(f"{o.action.value:<12} {o.deployment_id}{created}: {o.detail}"))
    refused = sum(o.action is applying.Action.REFUSED for o in outcomes)
    return EXIT_FINDINGS if refused else EXIT_OK


def _preflight(args: argparse.Namespace, settings: Settings) -> int:
    proposal = preflight.read_proposal(args.file)
    result = anyio.run(preflight.predict, settings, proposal)
    fmt = _format(args)
    _out(report.to_table(result) if fmt == "table" else report.to_json(result))
    if _incomplete(result):
        return EXIT_RUNTIME
    return EXIT_FINDINGS if result.findings else EXIT_OK


def _error_free(message: str) -> None:
    """A note on stderr that is not an error (stdout carries the result)."""
    with contextlib.suppress(OSError):
        print(printable(message), file=sys.stderr, flush=True)


def _sim(args: argparse.Namespace) -> int:
    try:
        return sim_cli.run(args)
    except sim_cli.UsageError as exc:
        raise ConfigError(str(exc)) from None


def _demo(args: argparse.Namespace, settings: Settings) -> int:
    anyio.run(demo.run, settings, args.port)
    return EXIT_OK


def _run(_args: argparse.Namespace, settings: Settings) -> int:
    anyio.run(daemon.run, settings)
    return EXIT_OK


COMMANDS: dict[str, Callable[[argparse.Namespace, Settings], int]] = {
    "check-config": _check_config,
    "scan": _scan,
    "plan": _plan,
    "apply": _apply,
    "preflight": _preflight,
    "demo": _demo,
    "run": _run,
}
