"""ggwatch's scan against a naive scanner, under the real quota, on the same simulated fleet.

The simulator runs as its own process (`ggwatch sim`) with 50 ms latency and the shared
budget of one account and Region (30 requests/second unless --budget says otherwise). Both
scanners run in this process, one after the other, against the same fleet:

- naive: sequential boto3 (its default retries) that lists and describes everything;
- ggwatch: `scan_once` with quota share 1.0 and the same budget.

Figures: wall time, API calls and throttled calls of each (from the simulator's call log), the
minimal number of calls the fleet needs (derived from the fleet itself), and the rate-limit
floor = the Greengrass V2 calls / budget, or AWS IoT's membership calls / IoT's budget (spent
alongside), the longer. The ratios to the floor are what to compare across machines. The naive
scanner reads no membership and no recipes.

    .venv/bin/python -m bench.scan [--budget 30] [--devices 1000] [--skip-naive]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from typing import Any

import anyio

from ggwatch.settings import Settings

# The simulator's default account: known, so a benchmark needs no STS.
SIM_ACCOUNT = "123456789012"
ACCESS_KEY = "AKIASIM0000000000000"
REGION = "us-west-2"
IOT_RATE = 10.0  # AWS IoT's budget in the simulator and in ggwatch's settings (both defaults)
IOT_PAGE = 250  # ListThingsInThingGroup's largest page


def point_at(endpoint: str) -> None:
    """Every client of this process (ggwatch's, boto3's) talks to the simulator at `endpoint`."""
    os.environ.update(
        AWS_ENDPOINT_URL_GREENGRASSV2=endpoint,
        AWS_ENDPOINT_URL_IOT=endpoint,
        AWS_ACCESS_KEY_ID=ACCESS_KEY,
        AWS_SECRET_ACCESS_KEY="simulated",
        AWS_DEFAULT_REGION=REGION,
    )


@contextmanager
def bench_fleet(args: argparse.Namespace) -> Iterator[Settings]:
    """The bench fleet of bench.scale (`args.devices`, twice the deployments, 100 components x
    30 versions) in a simulator process with no latency and a budget high enough not to
    matter; the settings of a ggwatch that scans it at full speed. The simulator stops after."""
    args.deployments, args.components, args.versions = 2 * args.devices, 100, 30
    args.latency_ms, args.budget = 0.0, 5000.0
    process, endpoint = start_simulator(args)
    try:
        point_at(endpoint)
        yield Settings(
            regions=(REGION,),
            account_id=SIM_ACCOUNT,
            service_rate=args.budget,
            iot_rate=args.budget,
            quota_share=1.0,
            max_in_flight=64,
        )
    finally:
        process.terminate()
        process.wait()


def start_simulator(args: argparse.Namespace) -> tuple[subprocess.Popen[str], str]:
    command = [
        sys.executable,
        "-m",
        "ggwatch",
        "sim",
        "--port",
        "0",
        "--seed",
        str(args.seed),
        "--devices",
        str(args.devices),
        "--deployments",
        str(args.deployments),
        "--components",
        str(args.components),
        "--versions",
        str(args.versions),
        "--latency-ms",
        str(args.latency_ms),
        "--rate-limit",
        str(args.budget),
        "--iot-rate",
        str(IOT_RATE),
    ]
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    for line in process.stdout:
        if "listening on" in line:
            return process, line.rsplit(" ", 1)[-1].strip()
    raise RuntimeError("the simulator did not start")


def judge(
    figures: dict[str, float], targets: dict[str, float], widths: tuple[int, int, int]
) -> int:
    """Print each figure against its target (at most), in columns of `widths` (name, value,
    target); the number of targets missed."""
    name_width, value_width, target_width = widths
    missed = 0
    for name, target in targets.items():
        ok = figures[name] <= target
        missed += not ok
        verdict = "ok" if ok else "MISSED"
        print(
            f"{name:>{name_width}}  {figures[name]:{value_width}.3f}  "
            f"target <= {target:<{target_width}g} {verdict}"
        )
    return missed


def control(endpoint: str, path: str, method: str = "GET", body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    request = urllib.request.Request(
        f"{endpoint}{path}", data=data, method=method, headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def call_totals(endpoint: str) -> tuple[int, int]:
    counts = control(endpoint, "/_sim/calls?since=999999999")["counts"]
    total = sum(n for outcomes in counts.values() for n in outcomes.values())
    throttled = sum(outcomes.get("ThrottlingException", 0) for outcomes in counts.values())
    return total, throttled


def minimal_calls(args: argparse.Namespace) -> int:
    """The fewest calls a complete scan of this fleet needs, computed from the fleet itself."""
    return sum(minimal_split(args))


def floor_seconds(args: argparse.Namespace, budget: float | None = None) -> float:
    """The rate-limit floor: Greengrass V2's calls at its budget and AWS IoT's at IoT's are
    spent alongside, so the longer of the two."""
    greengrass, iot = minimal_split(args)
    return max(greengrass / (budget or args.budget), iot / IOT_RATE)


def minimal_split(args: argparse.Namespace) -> tuple[int, int]:
    """The fewest Greengrass V2 calls and the fewest AWS IoT calls a complete scan needs."""
    return _split(args.seed, args.devices, args.deployments, args.components, args.versions)


@cache
def _split(
    seed: int, devices: int, deployments: int, components: int, versions: int
) -> tuple[int, int]:
    from ggwatch.sim.fleet import FleetSpec, generate

    spec = FleetSpec(
        seed=seed,
        devices=devices,
        deployments=deployments,
        private_components=components,
        private_versions=versions,
    )
    state = next(iter(generate(spec, now=time.time()).states()))
    return greengrass_calls(state), membership_calls(state)


def membership_calls(state: Any) -> int:
    """Thing-group membership by the cheaper way, by the simulator's own groups: one
    ListThingsInThingGroup page per 250 direct members of each group a deployment targets, or
    one ListThingGroupsForThing per core device."""
    groups = {
        d.target_arn.split(":thinggroup/", 1)[1]
        for d in state.deployments.by_id.values()
        if ":thinggroup/" in d.target_arn
    }
    if not groups or not state.devices:
        return 0
    by_group = 0
    for group in groups:
        members = state.thing_groups.things_in(group) if state.thing_groups.exists(group) else []
        by_group += max(1, math.ceil(len(members) / IOT_PAGE))
    return min(by_group, len(state.devices))


def greengrass_calls(state: Any) -> int:
    """The Greengrass V2 calls: listings, details, installed components, guidance, recipes."""

    def pages(n: int) -> int:
        return max(1, math.ceil(n / 100))

    calls = pages(len(state.private)) + pages(len(state.public))
    calls += pages(len(state.deployments)) + pages(len(state.devices))
    in_force = [
        d for d in state.deployments.by_id.values() if d.is_latest and d.status != "CANCELED"
    ]
    calls += len(in_force)
    calls += sum(pages(len(d.installed)) for d in state.devices.values())
    referenced = {(n, s["componentVersion"]) for d in in_force for n, s in d.components.items()}
    referenced |= {
        (i.name, i.version) for d in state.devices.values() for i in d.installed.values()
    }
    described = set(referenced)  # DescribeComponent, once per version
    walked: set[tuple[str, str]] = set()
    flagged = set()
    for name, version in referenced:
        component = state.component(name)
        record = component.versions.get(version) if component else None
        if record is None or record.vendor_guidance in ("DISCONTINUED", "DELETED"):
            flagged.add(name)
    for name in flagged:
        component = state.component(name)
        assert component is not None
        calls += 1  # the first page of versions, newest first, holds the newest ACTIVE one
        for version in component.order:
            walked.add((name, version))
            if component.versions[version].vendor_guidance in (None, "ACTIVE"):
                break
    named = {(n, s["componentVersion"]) for d in in_force for n, s in d.components.items()}
    named |= upgrade_candidates(state, referenced, flagged)
    read, listed = reachable_recipes(state, named)
    listed |= flagged  # their versions, listed to find the candidates
    calls += len(read)  # GetComponent, once per version
    calls += sum(pages(len(_versions(state, n))) for n in listed)  # ListComponentVersions
    described |= {ref for ref in read if _version(state, ref) is not None} | walked
    calls += len(described)
    return calls


UPGRADE_CANDIDATES = 8  # per flagged component, newest first (the product's inventory/recipes.py)


def upgrade_candidates(
    state: Any, referenced: set[tuple[str, str]], flagged: set[str]
) -> set[tuple[str, str]]:
    """The versions a flagged component in use may move to under the default upgrade policy
    (minor: the same major version; a pre-release only from a pre-release), the newest few,
    by the simulator's own version order."""
    from ggwatch.sim.versions import is_version, parse

    def allowed(now: str, to: str) -> bool:
        if to == now or not (is_version(now) and is_version(to)):
            return False
        a, b = parse(now), parse(to)
        return a.major == b.major and (bool(a.prerelease) or not b.prerelease)

    out: set[tuple[str, str]] = set()
    for name in flagged:
        current = [v for n, v in referenced if n == name]
        admitted = [v for v in _versions(state, name) if any(allowed(c, v) for c in current)]
        out |= {(name, v) for v in admitted[:UPGRADE_CANDIDATES]}
    return out


def _versions(state: Any, name: str) -> list[str]:
    component = state.component(name)
    return list(component.order) if component is not None else []


def _version(state: Any, ref: tuple[str, str]) -> Any:
    component = state.component(ref[0])
    return component.versions.get(ref[1]) if component is not None else None


def reachable_recipes(
    state: Any, named: set[tuple[str, str]]
) -> tuple[set[tuple[str, str]], set[str]]:
    """The recipes resolution needs, by the simulator's own recipes and ranges: every version
    in force, then wave by wave the listed versions some dependency range admits; and the
    components whose versions had to be listed."""
    from ggwatch.sim.store.recipes import read_recipe, recipe_of
    from ggwatch.sim.versions import satisfies

    read: set[tuple[str, str]] = set()
    ranges: dict[str, set[str]] = {}
    wave = set(named)
    while wave:
        read |= wave
        reached: dict[str, set[str]] = {}
        for ref in wave:
            record = _version(state, ref)
            if record is None:
                continue
            for dependency, (requirement, _) in read_recipe(recipe_of(record)).requirements.items():
                reached.setdefault(dependency, set()).add(requirement)
        wave = set()
        for dependency, wanted in reached.items():
            ranges.setdefault(dependency, set()).update(wanted)
            component = state.component(dependency)
            for version in component.order if component is not None else ():
                ref = (dependency, version)
                if ref not in read and any(satisfies(version, r) for r in ranges[dependency]):
                    wave.add(ref)
    return read, set(ranges)


def naive_scan(endpoint: str) -> None:
    import boto3

    client = boto3.client(
        "greengrassv2",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id=ACCESS_KEY,
        aws_secret_access_key="simulated",
    )

    def every(operation: str, key: str, **params: Any) -> list[Any]:
        items: list[Any] = []
        for page in client.get_paginator(operation).paginate(**params):
            items.extend(page[key])
        return items

    for scope in ("PRIVATE", "PUBLIC"):
        for component in every("list_components", "components", scope=scope):
            for version in every(
                "list_component_versions", "componentVersions", arn=component["arn"]
            ):
                client.describe_component(arn=version["arn"])
    for deployment in every("list_deployments", "deployments", historyFilter="ALL"):
        client.get_deployment(deploymentId=deployment["deploymentId"])
    for device in every("list_core_devices", "coreDevices"):
        every(
            "list_installed_components",
            "installedComponents",
            coreDeviceThingName=device["coreDeviceThingName"],
            topologyFilter="ALL",
        )


async def ggwatch_scan(budget: float) -> int:
    from ggwatch.scan import scan_once

    settings = Settings(
        regions=(REGION,),
        quota_share=1.0,
        service_rate=budget,
        iot_rate=IOT_RATE,
        account_id=SIM_ACCOUNT,
    )
    result = await scan_once(settings)
    assert result.snapshot.complete, [t.errors for t in result.snapshot.targets]
    return len(result.findings)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget", type=float, default=30.0, help="requests/second")
    parser.add_argument("--devices", type=int, default=1000)
    parser.add_argument("--deployments", type=int, default=1500)
    parser.add_argument("--components", type=int, default=60)
    parser.add_argument("--versions", type=int, default=15)
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--skip-naive", action="store_true")
    args = parser.parse_args()

    process, endpoint = start_simulator(args)
    point_at(endpoint)
    try:
        minimal = minimal_calls(args)
        floor = floor_seconds(args)
        rows = []
        runs: list[tuple[str, Any]] = [("ggwatch", lambda: anyio.run(ggwatch_scan, args.budget))]
        if not args.skip_naive:
            runs.append(("naive", lambda: naive_scan(endpoint)))
        for name, run in runs:
            control(endpoint, "/_sim/calls", "DELETE")
            time.sleep(1.0)  # let the simulator's bucket refill between runs
            started = time.perf_counter()
            run()
            wall = time.perf_counter() - started
            calls, throttled = call_totals(endpoint)
            rows.append((name, wall, calls, throttled))
    finally:
        process.terminate()
        process.wait(timeout=10)

    print(
        f"fleet: {args.devices} devices, {args.deployments} deployments, "
        f"{args.components} private components x {args.versions} versions; "
        f"{args.latency_ms:.0f} ms latency; budget {args.budget:.0f} req/s"
    )
    print(f"minimal calls: {minimal}; rate-limit floor: {floor:.1f} s")
    header = ("scanner", "wall s", "calls", "throttled", "wall/floor", "calls/min")
    print(" ".join(f"{h:>{w}}" for h, w in zip(header, (8, 8, 7, 9, 10, 9), strict=True)))
    for name, wall, calls, throttled in rows:
        print(
            f"{name:>8} {wall:>8.1f} {calls:>7} {throttled:>9} {wall / floor:>10.2f} "
            f"{calls / minimal:>9.2f}"
        )


if __name__ == "__main__":
    main()
