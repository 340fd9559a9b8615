"""`ggwatch sim`: the simulator's command line, its arguments and its run.

ggwatch's CLI registers the subcommand (`add_arguments` on its subparser), configures logging
and calls `run`; everything else is here, so the simulator stays independent of what it
tests. A setting it cannot run with, or a listener that cannot start, raises `UsageError`,
which the caller reports as a one-line usage error (exit 2).
"""

from __future__ import annotations

import argparse
import math
import signal
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import anyio
import structlog

from ggwatch.sim.dataplane import THING_HEADER
from ggwatch.sim.eventbridge import check_queue_url
from ggwatch.sim.faults import IOT_RATE, Knobs
from ggwatch.sim.fleet import FleetError, FleetSpec, access_key, generate, load
from ggwatch.sim.regions import check_enabled
from ggwatch.sim.server import DataPlaneListenError, Running, Simulator, serve
from ggwatch.sim.store import CANDIDATES_READINGS, CONFLICT_READINGS, World

HELP = "run the Greengrass V2 simulator on loopback until Ctrl-C or SIGTERM"
DEFAULT_PORT = 8765


class UsageError(Exception):
    """Arguments the simulator cannot run with, or a port it cannot listen on."""


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {text}")
    return value


def _share(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError(f"must be between 0 and 1, got {text}")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if not 0 <= value < math.inf:  # also NaN
        raise argparse.ArgumentTypeError(f"must be a finite number >= 0, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"must be 0..65535, got {text}")
    return value


def _queue_url(text: str) -> str:
    try:
        return check_queue_url(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _regions(text: str) -> tuple[str, ...]:
    regions = tuple(r.strip() for r in text.split(",") if r.strip())
    if not regions:
        raise argparse.ArgumentTypeError("name at least one Region")
    return regions


def _opt_in(text: str) -> frozenset[str]:
    try:
        return check_enabled(r.strip() for r in text.split(",") if r.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


# argparse names the converter in its message; these names read well there.
_positive_int.__name__ = "count"
_share.__name__ = "share"
_non_negative.__name__ = "number"
_port.__name__ = "port"
_regions.__name__ = "Region list"
_opt_in.__name__ = "opt-in Region list"


def add_arguments(parser: argparse.ArgumentParser, default_port: int = DEFAULT_PORT) -> None:
    fleet = parser.add_argument_group("fleet (a file, or a generated one)")
    fleet.add_argument("--fleet", type=Path, help="YAML fleet file (see config/sample-fleet.yaml)")
    fleet.add_argument("--seed", type=int, default=1, help="generator and fault seed")
    fleet.add_argument("--accounts", type=_positive_int, default=1)
    fleet.add_argument(
        "--default-account",
        type=_positive_int,
        default=0,
        metavar="INDEX",
        help="generated account (0-based) that answers unknown access keys; one process per "
        "account then stands for that account to clients that all sign alike",
    )
    fleet.add_argument("--regions", type=_regions, default=("us-west-2",), help="comma-separated")
    fleet.add_argument(
        "--enabled-regions",
        type=_opt_in,
        metavar="REGIONS",
        help="comma-separated opt-in Regions every account has enabled, as the Account API's "
        "ListRegions answers (default: none, or the fleet file's enabled_regions)",
    )
    fleet.add_argument("--devices", type=_positive_int, default=50, help="per account and Region")
    fleet.add_argument("--deployments", type=_positive_int, help="default: 2 x devices")
    fleet.add_argument("--thing-groups", type=_positive_int, help="default: devices / 25")
    fleet.add_argument("--components", type=_positive_int, default=8, help="private components")
    fleet.add_argument("--versions", type=_positive_int, default=6, help="per private component")
    fleet.add_argument("--discontinued-share", type=_share, default=0.05)
    fleet.add_argument("--deleted-share", type=_share, default=0.02)
    fleet.add_argument("--max-age-days", type=_non_negative, default=540.0)

    knobs = parser.add_argument_group("realism")
    knobs.add_argument("--latency-ms", type=_non_negative, default=0.0)
    knobs.add_argument("--jitter-ms", type=_non_negative, default=0.0)
    knobs.add_argument(
        "--rate-limit",
        type=_non_negative,
        help="requests/second per account and Region (default: the real quota, 30 or 10; 0 = off)",
    )
    knobs.add_argument(
        "--iot-rate",
        type=_non_negative,
        default=IOT_RATE,
        help="AWS IoT requests/second per account and Region, apart from Greengrass's "
        f"(default {IOT_RATE:g}, not confirmed; 0 = off)",
    )
    knobs.add_argument("--error-rate", type=_share, default=0.0, help="share of 500 answers")
    knobs.add_argument("--page-cap", type=_positive_int, default=100)
    knobs.add_argument("--superseded-status", choices=("INACTIVE", "CANCELED"), default="INACTIVE")
    knobs.add_argument(
        "--delete-active-error", choices=("conflict", "validation"), default="conflict"
    )
    knobs.add_argument("--access-denied", default="", help="comma-separated operations, or *")
    knobs.add_argument(
        "--private-guidance",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="let the fleet and POST /_sim/guidance mark private versions DISCONTINUED or "
        "DELETED, which no AWS API does (an undocumented reading; default: refused, or the "
        "fleet file's private_guidance)",
    )
    knobs.add_argument(
        "--candidates-for-iam",
        choices=CANDIDATES_READINGS,
        default=None,
        help="ResolveComponentCandidates from an IAM caller on the main listener: denied "
        "(AccessDeniedException, as AWS serves it only on the data plane to device "
        "certificates; the exact error is not confirmed) or served as the data plane serves "
        "it (default: denied, or the fleet file's candidates_for_iam)",
    )

    knobs.add_argument(
        "--conflicts",
        choices=CONFLICT_READINGS,
        default=None,
        help="when a component no version satisfies fails a device's resolution (no source "
        "says): deferred, once nothing that requires it is still to be re-picked, or eager, at "
        "once (default: deferred, or the fleet file's conflicts)",
    )

    net = parser.add_argument_group("listener")
    net.add_argument("--host", default="127.0.0.1", help="address (default: loopback only)")
    net.add_argument("--port", type=_port, default=default_port, help="port (0 = any free one)")
    net.add_argument(
        "--data-plane-port",
        type=_port,
        default=0,
        help="port of the data plane, where core devices call ResolveComponentCandidates "
        "(default 0 = any free one; the banner shows it)",
    )

    events = parser.add_argument_group("EventBridge events")
    events.add_argument(
        "--events-queue-url",
        type=_queue_url,
        metavar="URL",
        help="SQS queue to deliver the simulated EventBridge events to, as a rule's target "
        "would (endpoint from AWS_ENDPOINT_URL_SQS; default: record them only, see "
        "GET /_sim/events; change at run time with PUT /_sim/events)",
    )


def run(args: argparse.Namespace) -> int:
    """Build the world and the knobs from `args`, serve until SIGINT or SIGTERM; 0 when done."""
    world = _world(args)
    if args.default_account:
        if args.fleet is not None or args.default_account >= args.accounts:
            raise UsageError(
                f"--default-account {args.default_account}: not one of the generated accounts "
                f"0..{args.accounts - 1} (a fleet file maps its own access keys)"
            )
        world.default_account = world.access_keys[access_key(args.default_account)]
    knobs = Knobs(
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        rate_limit=args.rate_limit,
        iot_rate=args.iot_rate,
        error_rate=args.error_rate,
        access_denied=frozenset(p.strip() for p in args.access_denied.split(",") if p.strip()),
        page_cap=args.page_cap,
    )
    knobs.readings.superseded_status = args.superseded_status
    knobs.readings.delete_active_error = args.delete_active_error
    if args.private_guidance is not None:
        knobs.readings.private_guidance = args.private_guidance
    else:
        knobs.readings.private_guidance = world.readings.private_guidance
    knobs.readings.candidates_for_iam = args.candidates_for_iam or world.readings.candidates_for_iam
    try:
        simulator = Simulator(world, knobs, seed=args.seed, events_queue_url=args.events_queue_url)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    anyio.run(_serve_until_signal, simulator, args.host, args.port, args.data_plane_port)
    return 0


def _world(args: argparse.Namespace) -> World:
    world = _fleet(args)
    if args.enabled_regions is not None:  # the flag overrides the fleet file's key
        world.enabled_regions = args.enabled_regions
    return world


def _fleet(args: argparse.Namespace) -> World:
    if args.fleet is not None:
        return _load_fleet(args.fleet, args.conflicts)
    return _generated(
        FleetSpec(
            seed=args.seed,
            accounts=args.accounts,
            regions=args.regions,
            devices=args.devices,
            deployments=args.deployments,
            thing_groups=args.thing_groups,
            private_components=args.components,
            private_versions=args.versions,
            discontinued_share=args.discontinued_share,
            deleted_share=args.deleted_share,
            max_age_days=args.max_age_days,
            private_guidance=args.private_guidance is True,
            conflicts=args.conflicts or "deferred",
        )
    )


def _generated(spec: FleetSpec) -> World:
    try:
        return generate(spec, now=time.time(), clock=time.time)
    except FleetError as exc:
        raise UsageError(str(exc)) from None


def _load_fleet(path: Path, conflicts: str | None) -> World:
    try:
        return load(path, now=time.time(), clock=time.time, conflicts=conflicts)
    except FleetError as exc:
        raise UsageError(str(exc)) from None


async def _serve_until_signal(
    simulator: Simulator, host: str, port: int, data_plane_port: int = 0
) -> None:
    log = structlog.get_logger("ggwatch.sim")
    with anyio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with AsyncExitStack() as stack:
            try:
                running = await stack.enter_async_context(
                    serve(simulator, host, port, data_plane_port=data_plane_port)
                )
            except DataPlaneListenError as exc:
                reason = exc.strerror or str(exc)
                raise UsageError(
                    f"cannot listen on {host}:{data_plane_port} (the data plane): {reason}"
                ) from None
            except OSError as exc:
                reason = exc.strerror or str(exc)
                raise UsageError(f"cannot listen on {host}:{port}: {reason}") from None
            print(banner(running), flush=True)
            log.info(
                "sim.started",
                endpoint=running.endpoint,
                data_plane=running.data_plane_endpoint,
                **_counts(simulator.world),
            )
            async for signum in signals:
                log.info("sim.stopping", signal=signal.Signals(signum).name)
                break


def _counts(world: World) -> dict[str, Any]:
    states = list(world.states())
    return {
        "accounts": len({s.account for s in states}),
        "regions": sorted({s.region for s in states}),
        "core_devices": sum(len(s.devices) for s in states),
        "deployments": sum(len(s.deployments) for s in states),
    }


def banner(running: Running) -> str:
    """How to use the running simulator: the environment lines and the control API."""
    world = running.simulator.world
    keys: dict[str, str] = {}
    for key in sorted(world.access_keys):
        keys.setdefault(world.access_keys[key], key)
    default_key = keys.get(world.default_account, access_key(0))
    lines = [
        f"Greengrass V2 simulator listening on {running.endpoint}",
        "Data plane for core devices (ResolveComponentCandidates only) on "
        f"{running.data_plane_endpoint}",
        f"  (a core device names itself in the header {THING_HEADER}: THING_NAME)",
        "",
        "Point an AWS SDK, the AWS CLI or ggwatch at it from another shell:",
        f"  export AWS_ENDPOINT_URL_GREENGRASSV2={running.endpoint}",
        f"  export AWS_ENDPOINT_URL_IOT={running.endpoint}  # thing groups, the same port",
        f"  export AWS_ENDPOINT_URL_ACCOUNT={running.endpoint}  # ListRegions, the same port",
        f"  export AWS_ACCESS_KEY_ID={default_key} AWS_SECRET_ACCESS_KEY=simulated",
        f"  export AWS_DEFAULT_REGION={world.default_region}",
    ]
    others = {account: key for account, key in keys.items() if account != world.default_account}
    for account, key in sorted(others.items()):
        lines.append(f"  (account {account}: AWS_ACCESS_KEY_ID={key})")
    lines += [
        "",
        "For example:",
        "  aws greengrassv2 list-deployments --history-filter ALL",
        "  aws greengrassv2 list-components --scope PUBLIC",
        "",
        "Control API (not AWS): what the fleet holds, the calls received, the realism knobs:",
        f"  curl {running.endpoint}/_sim/fleet",
        f"  curl {running.endpoint}/_sim/calls",
        f"  curl {running.endpoint}/_sim/knobs",
        "",
        "Stop with Ctrl-C.",
    ]
    return "\n".join(lines)
