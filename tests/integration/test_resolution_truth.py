"""The resolution rules against an independent witness: the simulator's devices, which resolve
every deployment they receive with the simulator's own resolver (ggwatch/sim/resolution.py,
written from the facts, sharing no code with ggwatch/resolution/).

- device-unresolvable fires on exactly the core devices whose most recent deployment failed
  on the device (its effective deployment is FAILED), and on no other;
- deployment-unresolvable fires on exactly the (deployment, platform) pairs for which a new
  device of that platform, added to the deployment's thing group, fails the deployment;
- deployment-dependency-discontinued names a DISCONTINUED version that a new device installs
  as a dependency the deployment does not name.

The truth is read over HTTP with plain aiobotocore clients and the simulator's control API.
"""

from __future__ import annotations

import time
from typing import Any

import aiohttp
import pytest

from ggwatch.findings import Finding, Rule
from ggwatch.model import Guidance, VersionRef
from ggwatch.report import ScanResult
from ggwatch.scan import scan_once
from ggwatch.settings import Settings
from ggwatch.sim.fleet import FleetSpec, generate, load
from ggwatch.sim.server import Running
from ggwatch.sim.store import World
from tests.conftest import ACCOUNT, REGION
from tests.integration.conftest import SAMPLE, everything

GROUP_PREFIX = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/"


@pytest.fixture(params=["sample", "generated"])
def world(request: pytest.FixtureRequest) -> World:
    """The sample fleet (its hand-made cases), and a generated one big enough that every
    deliberate case of the generator (conflicts, a range only deleted versions satisfy, a
    component with no armv7 version, a DISCONTINUED dependency) has members."""
    now = time.time() - 60.0
    if request.param == "sample":
        return load(SAMPLE, now=now)
    return generate(FleetSpec(seed=7, devices=240, deployments=300, private_components=6), now)


@pytest.fixture
def settings() -> Settings:
    # One Region: the plain clients that read the truth are the environment's, in REGION.
    return Settings(
        regions=(REGION,), service_rate=1000.0, iot_rate=1000.0, quota_share=1.0, max_attempts=10
    )


def fired(result: ScanResult, rule: Rule) -> list[Finding]:
    assert result.snapshot.complete, [t.errors for t in result.snapshot.targets]
    return [f for f in result.findings if f.rule is rule]


async def in_force(gg: Any) -> set[str]:
    """The deployments in force, as ListDeployments says: latest for their target, not
    cancelled."""
    listed = await everything(gg.list_deployments, "deployments", historyFilter="ALL")
    return {
        d["deploymentId"]
        for d in listed
        if d.get("isLatestForTarget") and d.get("deploymentStatus") != "CANCELED"
    }


async def latest_outcome(gg: Any, thing: str, current: set[str]) -> dict[str, Any] | None:
    """The device's most recent effective deployment among those in force: what its last
    resolution of what reaches it now said (an older failure of a since-cancelled or
    superseded deployment says nothing about its next one)."""
    effective = await everything(
        gg.list_effective_deployments, "effectiveDeployments", coreDeviceThingName=thing
    )
    return max(
        (e for e in effective if e["deploymentId"] in current),
        key=lambda e: (e["modifiedTimestamp"], e["creationTimestamp"]),
        default=None,
    )


async def test_device_unresolvable_is_what_the_devices_report(
    sim: Running, settings: Settings, clients: tuple[Any, Any]
) -> None:
    result = await scan_once(settings)
    predicted = {f.resource_id for f in fired(result, Rule.DEVICE_UNRESOLVABLE)}

    gg, _ = clients
    current = await in_force(gg)
    failing = set()
    for device in await everything(gg.list_core_devices, "coreDevices"):
        outcome = await latest_outcome(gg, device["coreDeviceThingName"], current)
        if outcome is not None and outcome["coreDeviceExecutionStatus"] == "FAILED":
            failing.add(device["coreDeviceThingName"])

    assert failing, "the fleet's deliberate conflicts make some devices fail"
    assert predicted == failing


async def new_member_fails(
    control: aiohttp.ClientSession, gg: Any, group: str, platform: str, current: set[str]
) -> tuple[bool, list[Any]]:
    """Whether a new device of `platform` added to `group` fails the group's deployment, and
    what it installed."""
    thing = f"probe-{group}-{platform.replace('/', '-')}"
    async with control.post(
        "/_sim/devices",
        json={"thingName": thing, "thingGroups": [group], "platform": platform},
    ) as answer:
        assert answer.status == 200, await answer.text()
    outcome = await latest_outcome(gg, thing, current)
    installed = await everything(
        gg.list_installed_components,
        "installedComponents",
        coreDeviceThingName=thing,
        topologyFilter="ALL",
    )
    return outcome is not None and outcome["coreDeviceExecutionStatus"] == "FAILED", installed


async def test_deployment_rules_are_what_a_new_member_meets(
    sim: Running,
    settings: Settings,
    clients: tuple[Any, Any],
    control: aiohttp.ClientSession,
) -> None:
    result = await scan_once(settings)
    (target,) = result.snapshot.targets
    predicted = {
        (f.resource_id, f.details.platform) for f in fired(result, Rule.DEPLOYMENT_UNRESOLVABLE)
    }
    discontinued = {
        (f.resource_id, f.details.component_name, f.details.component_version)
        for f in fired(result, Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED)
    }

    # The truth: every in-force group deployment x platform of its members, tried on a new
    # device that belongs to that group only.
    gg, _ = clients
    platforms = {
        d["coreDeviceThingName"]: f"{d['platform']}/{d['architecture']}"
        for d in await everything(gg.list_core_devices, "coreDevices")
    }
    membership = target.membership or {}
    current = await in_force(gg)
    failing, seen_discontinued, tried = set(), set(), 0
    for deployment in target.deployments:
        if not deployment.in_force or not deployment.target_arn.startswith(GROUP_PREFIX):
            continue
        group = deployment.target_arn.removeprefix(GROUP_PREFIX)
        named = {ref.name for ref in target.details[deployment.deployment_id].components}
        wanted = sorted({platforms[t] for t, groups in membership.items() if group in groups})
        for platform in wanted:
            tried += 1
            failed, installed = await new_member_fails(control, gg, group, platform, current)
            if failed:
                failing.add((deployment.deployment_id, platform))
                continue
            for item in installed:
                ref = VersionRef(item["componentName"], item["componentVersion"])
                status = target.versions.get(ref)
                if ref.name in named or status is None:
                    continue
                if status.guidance is Guidance.DISCONTINUED:
                    seen_discontinued.add((deployment.deployment_id, ref.name, ref.version))

    assert tried >= 3
    assert failing, "the fleet's deliberate cases make some deployments fail on new devices"
    assert predicted == failing
    assert seen_discontinued, "the fleet pulls in a DISCONTINUED dependency somewhere"
    assert discontinued == seen_discontinued
