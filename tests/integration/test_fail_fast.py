"""A target whose endpoint vanishes, or that is throttled without end, ends incomplete within
seconds, keeping what it read: the breaker and the scan deadline, over real HTTP."""

from __future__ import annotations

import time

import anyio
import pytest

from ggwatch.aws.callguard import CIRCUIT_OPEN, DEADLINE
from ggwatch.report import ScanResult
from ggwatch.scan import scan_once
from ggwatch.settings import Settings
from ggwatch.sim.fleet import FleetSpec, generate
from ggwatch.sim.server import Simulator, serve
from ggwatch.sim.store import World

# Measures time or memory: run alone, never beside other tests (see the Makefile).
pytestmark = pytest.mark.serial


@pytest.fixture
def world() -> World:
    # Big enough that a scan at 100 ms per call is still running when the endpoint goes.
    spec = FleetSpec(seed=3, devices=200, deployments=300, private_components=6)
    return generate(spec, now=time.time() - 60.0)


def settings(**changes: object) -> Settings:
    base: dict[str, object] = {
        "regions": ("us-west-2",),
        "service_rate": 1000.0,
        "quota_share": 1.0,
        "max_in_flight": 4,
        **changes,
    }
    return Settings(**base)  # type: ignore[arg-type]


async def test_a_vanished_endpoint_ends_the_scan_within_seconds(
    world: World, monkeypatch: pytest.MonkeyPatch, sts_endpoint: str
) -> None:
    simulator = Simulator(world, seed=1)
    simulator.knobs.latency_ms = 100.0
    result: list[ScanResult] = []
    async with anyio.create_task_group() as group:
        async with serve(simulator) as running:
            monkeypatch.setenv("AWS_ENDPOINT_URL_GREENGRASSV2", running.endpoint)
            monkeypatch.setenv("AWS_ENDPOINT_URL_IOT", running.endpoint)

            async def scan() -> None:
                result.append(await scan_once(settings()))

            group.start_soon(scan)
            await anyio.sleep(2.0)  # into the devices' installed components
        gone = time.monotonic()
    took = time.monotonic() - gone
    target = result[0].snapshot.targets[0]
    assert not target.complete
    assert took < 15.0, f"the scan went on {took:.1f} s after the endpoint vanished"
    codes = [e.code for e in target.errors]
    assert "Unreachable" in codes
    assert codes.count(CIRCUIT_OPEN) <= 1  # one line for every call not made
    assert target.deployments, "what was read before is kept"


async def test_endless_throttling_ends_at_the_scan_deadline(
    world: World, monkeypatch: pytest.MonkeyPatch, sts_endpoint: str
) -> None:
    simulator = Simulator(world, seed=1)
    simulator.knobs.rate_limit = 5.0  # far below what ggwatch was told it may use
    async with serve(simulator) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_GREENGRASSV2", running.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_IOT", running.endpoint)
        started = time.monotonic()
        result = await scan_once(settings(scan_deadline_seconds=4.0))
        took = time.monotonic() - started
    target = result.snapshot.targets[0]
    assert not target.complete
    assert [e.code for e in target.errors].count(DEADLINE) == 1
    assert took < 8.0
    assert target.deployments, "the listings finished before the deadline and are kept"
