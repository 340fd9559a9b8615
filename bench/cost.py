"""CPU per 1,000 AWS calls: ggwatch's scan against sequential boto3 making the same calls.

The simulator (`ggwatch sim`, its own process: no latency, budgets high enough not to matter,
AWS IoT's too) serves the bench fleet of bench.scale. In one run, each side in a fresh child
process of its own, so that neither the simulator's CPU nor the other side's warm caches count:

- ggwatch: `scan_once` with the bench fleet's settings (64 calls in flight), dependency
  resolution on (the default): the real scan, with its recipes (GetComponent) and thing-group
  membership (AWS IoT) calls;
- boto3: the same calls replayed one after another, in the order the simulator logged them,
  with the same parameters (page tokens included, so every answer is the same page), through
  plain boto3 clients (their default retries); answers are read and dropped. Calls the
  simulator throttled are not replayed;
- aiobotocore: the same replay through the async SDK ggwatch calls through, one call at a
  time, so that what ggwatch costs beyond boto3 splits into the SDK's part and its own.

The calls of each side are counted by the simulator's call log, per service (the few AWS IoT
calls are in both; "per 1,000 calls" is per 1,000 of all of them). CPU is user + system of the
child (every thread), from getrusage before and after the scan inside the child: interpreter
start-up and imports are left out, the creation of the clients (loading the service models)
is in on every side. `scan_once` also assesses the fleet once it has read it (rules,
dependency resolution, plans): that is no call's cost, so its CPU is measured apart (the call
to `assess` inside `scan_once` is timed), left out of the figure and printed beside it.

The figure is ggwatch's CPU ms per 1,000 calls / boto3's, aim <= 1.0. It is a report, not a
gate: the exit code is 0 unless the run failed. `--small` (200 devices) runs in seconds.

    .venv/bin/python -m bench.cost [--devices 10000] [--small]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from unittest import mock

from bench.scan import bench_fleet, control
from ggwatch.settings import Settings

AIM = 1.0
SMALL_DEVICES = 200
THROTTLED = "ThrottlingException"
REPLAYS = ("boto3", "aiobotocore")  # the baselines: ggwatch's calls replayed one at a time
Call = tuple[str, dict[str, Any]]  # operation, parameters: what the simulator logged


def cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def measured(into: dict[str, float], prefix: str = "") -> Iterator[None]:
    """This process's CPU (all threads) and wall time spent in the block, into `into`."""
    cpu_before, wall_before = cpu(), time.perf_counter()
    try:
        yield
    finally:
        into[f"{prefix}cpu_seconds"] = cpu() - cpu_before
        into[f"{prefix}wall_seconds"] = time.perf_counter() - wall_before


def ggwatch_child(settings_json: str) -> dict[str, float]:
    import anyio

    import ggwatch.scan
    from ggwatch.rules import assess

    settings = Settings.model_validate_json(settings_json)
    figures: dict[str, float] = {}

    def timed_assess(*args: Any, **kwargs: Any) -> Any:
        with measured(figures, "assess_"):
            return assess(*args, **kwargs)

    # scan_once looks `assess` up in its module when it calls it: it runs unchanged, timed.
    with (
        mock.patch.object(ggwatch.scan, "assess", timed_assess),
        measured(figures),
    ):
        result = anyio.run(ggwatch.scan.scan_once, settings)
    (target,) = result.snapshot.targets
    if not target.complete:
        raise SystemExit(f"the scan was incomplete: {target.errors}")
    return figures


def replayed(clients: list[Any]) -> dict[str, Callable[..., Any]]:
    """Each operation of these clients' services, by name, as the method that calls it."""
    from botocore import xform_name

    return {
        operation: getattr(client, xform_name(operation))
        for client in clients
        for operation in client.meta.service_model.operation_names
    }


def boto3_child(calls: list[Call]) -> dict[str, float]:
    import boto3
    from botocore.exceptions import ClientError

    figures: dict[str, float] = {}
    with measured(figures):
        # Where the environment points them, as ggwatch's clients are (bench.scan.point_at).
        methods = replayed([boto3.client("greengrassv2"), boto3.client("iot")])
        for operation, params in calls:
            # Answered as ggwatch's call was: an error too, for a version since deleted, say.
            with contextlib.suppress(ClientError):
                methods[operation](**params)
    return figures


async def aiobotocore_child(calls: list[Call]) -> dict[str, float]:
    from aiobotocore.session import get_session
    from botocore.exceptions import ClientError

    figures: dict[str, float] = {}
    session = get_session()
    with measured(figures):
        async with (
            session.create_client("greengrassv2") as greengrass,
            session.create_client("iot") as iot,
        ):
            methods = replayed([greengrass, iot])
            for operation, params in calls:
                with contextlib.suppress(ClientError):
                    await methods[operation](**params)
    return figures


def aiobotocore_replay(calls: list[Call]) -> dict[str, float]:
    import anyio

    return anyio.run(aiobotocore_child, calls)


def child(side: str, stdin: str) -> dict[str, float]:
    done = subprocess.run(
        [sys.executable, "-m", "bench.cost", "--child", side],
        input=stdin,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        raise SystemExit(f"the {side} child failed:\n{done.stderr[-3000:]}")
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def services(counts: dict[str, dict[str, int]]) -> Counter[str]:
    """Answered calls per service, from the simulator's counts by operation and outcome."""
    from botocore.session import get_session

    greengrass = set(get_session().get_service_model("greengrassv2").operation_names)
    out: Counter[str] = Counter()
    for operation, outcomes in counts.items():
        answered = sum(n for outcome, n in outcomes.items() if outcome != THROTTLED)
        out["Greengrass V2" if operation in greengrass else "AWS IoT"] += answered
        out["throttled"] += outcomes.get(THROTTLED, 0)
    return out


def logged(endpoint: str) -> tuple[list[Call], Counter[str]]:
    """The calls answered since the log was reset, in order, and their totals per service."""
    log = control(endpoint, "/_sim/calls?since=0")
    calls = [(c["operation"], c["params"]) for c in log["calls"] if c["error"] != THROTTLED]
    totals = services(log["counts"])
    if len(calls) != totals["Greengrass V2"] + totals["AWS IoT"]:
        raise SystemExit("the simulator's call log overflowed: fewer --devices")
    return calls, totals


@dataclass(frozen=True, slots=True)
class Side:
    figures: dict[str, float]  # what the child measured
    calls: Counter[str]  # what the simulator answered it, per service, and throttled

    @property
    def total(self) -> int:
        return sum(self.calls.values())

    @property
    def call_cpu_seconds(self) -> float:
        return self.figures["cpu_seconds"] - self.figures.get("assess_cpu_seconds", 0.0)

    @property
    def ms_per_1000(self) -> float:
        return 1e6 * self.call_cpu_seconds / self.total


def unmetered_iot(fleet: Settings) -> str:
    """Lift the bench fleet's simulator's AWS IoT budget (bench.scan starts it at the real
    one) to the fleet's settings' iot_rate, as high as Greengrass's; its endpoint."""
    # Else a few hundred membership calls meet 10/s: sequential boto3 and ggwatch (whose
    # bench settings allow far more) are throttled and retry, and a scan waits on them for
    # tens of seconds; neither is what a CPU per call or a memory is about.
    endpoint = os.environ["AWS_ENDPOINT_URL_IOT"]
    control(endpoint, "/_sim/knobs", "PATCH", {"iot_rate": fleet.iot_rate})
    return endpoint


def measure(args: argparse.Namespace) -> dict[str, Side]:
    with bench_fleet(args) as fleet:
        endpoint = unmetered_iot(fleet)
        control(endpoint, "/_sim/calls", "DELETE")
        ggwatch = child("ggwatch", fleet.model_dump_json())
        calls, answered = logged(endpoint)
        sides = {"ggwatch": Side(ggwatch, answered)}
        for name in REPLAYS:
            control(endpoint, "/_sim/calls", "DELETE")
            figures = child(name, json.dumps(calls))
            sides[name] = Side(figures, logged(endpoint)[1])
    return sides


def report(args: argparse.Namespace, sides: dict[str, Side]) -> None:
    print(
        f"fleet: {args.devices} devices, {args.deployments} deployments, {args.components} "
        f"components x {args.versions} versions; no latency; {os.cpu_count()} CPUs "
        f"({dt.date.today()})"
    )
    print(
        f"{'client':>11} {'calls':>7} {'Greengrass V2':>13} {'AWS IoT':>7} {'throttled':>9} "
        f"{'wall s':>7} {'CPU s':>7} {'CPU ms / 1,000 calls':>20}"
    )
    for name, side in sides.items():
        print(
            f"{name:>11} {side.total:>7} {side.calls['Greengrass V2']:>13} "
            f"{side.calls['AWS IoT']:>7} {side.calls['throttled']:>9} "
            f"{side.figures['wall_seconds']:>7.1f} {side.call_cpu_seconds:>7.2f} "
            f"{side.ms_per_1000:>20.1f}"
        )
    boto3 = sides["boto3"].ms_per_1000
    ratio = sides["ggwatch"].ms_per_1000 / boto3
    verdict = "met" if ratio <= AIM else "missed"
    print(f"ggwatch / boto3 CPU per 1,000 calls: {ratio:.3f}  aim <= {AIM:.1f}: {verdict}")
    print(
        f"aiobotocore / boto3 CPU per 1,000 calls: {sides['aiobotocore'].ms_per_1000 / boto3:.3f}"
        " (the async SDK ggwatch calls through, the same calls one at a time)"
    )
    ggwatch = sides["ggwatch"].figures
    print(
        f"not counted above: ggwatch's assessment of the fleet it read (rules, resolution, "
        f"plans), {ggwatch['assess_cpu_seconds']:.2f} s CPU; the whole scan_once took "
        f"{ggwatch['cpu_seconds']:.2f} s"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--small", action="store_true", help=f"{SMALL_DEVICES} devices")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--child", choices=("ggwatch", *REPLAYS), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child == "ggwatch":
        print(json.dumps(ggwatch_child(sys.stdin.read())))
        return 0
    if args.child is not None:
        calls: list[Call] = [(operation, params) for operation, params in json.load(sys.stdin)]
        replay = boto3_child if args.child == "boto3" else aiobotocore_replay
        print(json.dumps(replay(calls)))
        return 0
    if args.small:
        args.devices = SMALL_DEVICES
    report(args, measure(args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
