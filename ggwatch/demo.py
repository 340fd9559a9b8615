"""`ggwatch demo`: the simulator and the daemon in one process, and a fleet that changes.

The simulator serves the sample fleet on a free loopback port; the daemon watches it with a
short poll interval. The banner says what the simulated devices did with their deployments
(those that failed, and dependencies they resolved to DISCONTINUED versions): the simulator's
own account, which the daemon's findings are to explain. On a timer the demo has AWS mark a
component version that devices run DISCONTINUED, then DELETED, then ACTIVE again through the
simulator's control API, so a newcomer sees `finding.opened` and `finding.resolved` events in
the log and the gauges move.
"""

from __future__ import annotations

import os
import time
from collections.abc import Sequence
from pathlib import Path

import aiohttp
import anyio
import structlog

from ggwatch import daemon
from ggwatch.settings import Settings
from ggwatch.sim.fleet import FleetSpec, access_key, generate, load
from ggwatch.sim.server import Simulator, serve
from ggwatch.sim.store import World

SAMPLE_FLEET = Path("config/sample-fleet.yaml")
POLL_SECONDS = 5.0
# (seconds after start, guidance) for aws.greengrass.LogManager 2.3.7, run by the Austin line:
# an AWS-provided version, as only AWS sets vendor guidance.
SCRIPT = ((20.0, "DISCONTINUED"), (45.0, "DELETED"), (70.0, "ACTIVE"))
COMPONENT = ("aws.greengrass.LogManager", "2.3.7")
STORY_LINES = 6  # device outcomes the banner shows at most


def demo_world() -> World:
    if SAMPLE_FLEET.exists():
        return load(SAMPLE_FLEET, now=time.time(), clock=time.time)
    return generate(FleetSpec(regions=("us-west-2",)), now=time.time(), clock=time.time)


async def change_fleet(endpoint: str, region: str) -> None:
    """Flip the guidance of a version in use, step by step, as a publisher would."""
    log = structlog.get_logger("ggwatch.demo")
    started = anyio.current_time()
    name, version = COMPONENT
    async with aiohttp.ClientSession() as session:
        for at, guidance in SCRIPT:
            await anyio.sleep(max(0.0, started + at - anyio.current_time()))
            body = {
                "region": region,
                "componentName": name,
                "componentVersion": version,
                "vendorGuidance": guidance,
                "message": None if guidance == "ACTIVE" else f"Demo: {guidance.lower()} by AWS.",
            }
            async with session.post(f"{endpoint}/_sim/guidance", json=body) as response:
                if response.status != 200:
                    log.warning("demo.change_failed", status=response.status)
                    continue
            log.info("demo.changed", component=name, version=version, vendor_guidance=guidance)


def fleet_story(world: World) -> list[str]:
    """What the simulated devices report: failed deployments with the nucleus's reason, and
    dependencies resolved to a DISCONTINUED version."""
    failed: list[str] = []
    discontinued: list[str] = []
    for state in world.states():
        for thing, device in sorted(state.devices.items()):
            for effective in device.effective.values():
                if effective.status == "FAILED" and effective.reason:
                    source = effective.target_arn.rpartition(":")[2]
                    failed.append(f"  {thing} FAILED {source}: {effective.reason}")
            for name, installed in sorted(device.installed.items()):
                component = state.component(name)
                record = component.versions.get(installed.version) if component else None
                if not installed.is_root and record and record.vendor_guidance == "DISCONTINUED":
                    discontinued.append(
                        f"  {thing} runs {name} {installed.version} (DISCONTINUED) as a dependency"
                    )
    lines = (failed + discontinued)[:STORY_LINES]
    return ["The simulated devices report:", *lines] if lines else []


def banner(port: int, endpoint: str, story: Sequence[str] = ()) -> str:
    url = f"http://127.0.0.1:{port}"
    return "\n".join(
        [
            f"ggwatch demo: the daemon watches a simulated fleet at {endpoint}",
            *story,
            f"  status page  {url}/",
            f"  metrics      curl -s {url}/metrics | grep -E '^ggwatch_findings'",
            f"  findings     curl -s {url}/findings",
            f"In about {SCRIPT[0][0]:.0f} s the demo marks {' '.join(COMPONENT)} DISCONTINUED, "
            "then DELETED, then ACTIVE again: watch the finding events below. Ctrl-C stops.",
        ]
    )


async def run(settings: Settings, port: int) -> None:
    world = demo_world()
    story = fleet_story(world)
    regions = tuple(sorted({s.region for s in world.states()})) or (world.default_region,)
    async with serve(Simulator(world, seed=1)) as running:
        # The demo process is the SDK's user here: point it at the simulator the standard way.
        os.environ.update(
            AWS_ENDPOINT_URL_GREENGRASSV2=running.endpoint,
            AWS_ENDPOINT_URL_IOT=running.endpoint,  # thing groups, on the same port
            AWS_ACCESS_KEY_ID=access_key(0),
            AWS_SECRET_ACCESS_KEY="simulated",  # noqa: S106 (the simulator checks none)
            AWS_DEFAULT_REGION=regions[0],
        )
        demo_settings = settings.model_copy(
            update={
                "regions": regions,
                # The simulator's account: known, so the demo needs no STS.
                "account_id": world.default_account,
                "poll_interval_seconds": POLL_SECONDS,
                # The demo flips guidance and wants it seen within a poll, not 15 minutes.
                "describe_refresh_seconds": POLL_SECONDS,
                "http_host": "127.0.0.1",
                "http_port": port,
            }
        )
        async with anyio.create_task_group() as group:

            def ready(bound: int) -> None:
                print(banner(bound, running.endpoint, story), flush=True)
                group.start_soon(change_fleet, running.endpoint, world.default_region)

            await daemon.run(demo_settings, on_ready=ready)
            group.cancel_scope.cancel()
