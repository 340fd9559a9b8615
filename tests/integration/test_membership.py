"""Thing-group membership over real HTTP: the sample fleet in the simulator, ggwatch's scan
against it, and the simulator's own answer read with plain aiobotocore clients (its AWS IoT and
Greengrass V2 operations), never with ggwatch's code."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import aiohttp

from ggwatch.aws.api import IOT_OPERATIONS
from ggwatch.report import ScanResult
from ggwatch.scan import ScanState, scan_once
from ggwatch.settings import Settings
from ggwatch.sim.server import Running
from tests.conftest import ACCOUNT, REGION
from tests.integration.conftest import everything

GROUP_PREFIX = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/"


async def simulated_membership(clients: tuple[Any, Any]) -> dict[str, tuple[str, ...]]:
    """The simulator's own answer: each core device's direct groups that a deployment
    targets, as its ListThingGroupsForThing and ListDeployments say."""
    gg, iot = clients
    deployments = await everything(gg.list_deployments, "deployments", historyFilter="ALL")
    targeted = {
        d["targetArn"].removeprefix(GROUP_PREFIX)
        for d in deployments
        if d["targetArn"].startswith(GROUP_PREFIX)
    }
    devices = await everything(gg.list_core_devices, "coreDevices")
    out: dict[str, tuple[str, ...]] = {}
    for device in devices:
        thing = device["coreDeviceThingName"]
        groups = await everything(iot.list_thing_groups_for_thing, "thingGroups", thingName=thing)
        mine = sorted({g["groupName"] for g in groups} & targeted)
        if mine:
            out[thing] = tuple(mine)
    return out


def west(result: ScanResult) -> Any:
    (target,) = [t for t in result.snapshot.targets if t.region == REGION]
    return target


def iot_calls(target: Any) -> dict[str, int]:
    counts: dict[str, int] = {}
    for c in target.calls:
        if c.operation in IOT_OPERATIONS:
            counts[c.operation] = counts.get(c.operation, 0) + c.count
    return counts


async def post(control: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
    async with control.post(path, json={"region": REGION, **body}) as response:
        assert response.status == 200, await response.text()
        return await response.json()


def as_dict(membership: Mapping[str, tuple[str, ...]] | None) -> dict[str, tuple[str, ...]]:
    assert membership is not None
    return dict(membership)


async def test_membership_is_the_simulators_and_follows_a_move(
    sim: Running, settings: Settings, clients: tuple[Any, Any], control: aiohttp.ClientSession
) -> None:
    eager = settings.model_copy(update={"membership_refresh_seconds": 0.0})
    state = ScanState.new(eager)
    first = await scan_once(eager, state)
    assert first.snapshot.complete
    target = west(first)
    assert as_dict(target.membership) == await simulated_membership(clients)
    assert target.membership is not None
    assert target.membership["gg-osaka-00006"] == ("osaka-line-01", "osaka-nucleus-hold")
    # Four targeted groups, six core devices: one page per group is the cheaper way.
    assert iot_calls(target) == {"ListThingsInThingGroup": 4}

    await post(
        control,
        "/_sim/devices/gg-berlin-00002/groups",
        {"add": ["austin-line-01"], "remove": ["berlin-line-01"]},
    )
    second = west(await scan_once(eager, state))
    moved = as_dict(second.membership)
    assert moved == await simulated_membership(clients)
    assert moved["gg-berlin-00002"] == ("austin-line-01",)


async def test_a_fresh_reading_costs_no_call_and_a_new_device_one(
    sim: Running, settings: Settings, clients: tuple[Any, Any], control: aiohttp.ClientSession
) -> None:
    state = ScanState.new(settings)  # membership_refresh_seconds: 900 by default
    await scan_once(settings, state)
    steady = west(await scan_once(settings, state))
    assert iot_calls(steady) == {}
    assert steady.membership is not None

    await post(
        control,
        "/_sim/devices",
        {"thingName": "gg-berlin-00099", "thingGroups": ["berlin-line-01"]},
    )
    third = west(await scan_once(settings, state))
    # Only the new device is read (direct membership: its own groups), not every group again.
    assert iot_calls(third) == {"ListThingGroupsForThing": 1}
    assert as_dict(third.membership) == await simulated_membership(clients)
    assert as_dict(third.membership)["gg-berlin-00099"] == ("berlin-line-01",)


async def test_inherited_reach_counts_the_groups_nested_above(
    sim: Running, settings: Settings, control: aiohttp.ClientSession
) -> None:
    # site > site-a; a device in site-a; a deployment to site only.
    await post(control, "/_sim/groups", {"name": "site"})
    await post(control, "/_sim/groups", {"name": "site-a", "parent": "site"})
    thing = "gg-austin-00004"
    await post(control, f"/_sim/devices/{thing}/groups", {"add": ["site-a"]})
    await post(
        control,
        "/_sim/deployments",
        {
            "targetArn": GROUP_PREFIX + "site",
            "deploymentName": "site wide",
            "components": {"com.example.Telemetry": {"componentVersion": "1.2.0"}},
        },
    )

    direct = west(await scan_once(settings))
    assert as_dict(direct.membership)[thing] == ("austin-line-01",)

    inherited = settings.model_copy(update={"nested_group_deployments": "inherited"})
    result = west(await scan_once(inherited))
    assert as_dict(result.membership)[thing] == ("austin-line-01", "site")
    # Only the listing answers nesting: every targeted group, recursively.
    assert set(iot_calls(result)) == {"ListThingsInThingGroup"}
    recursive = [
        c.params
        for c in sim.simulator.calls.records
        if c.operation == "ListThingsInThingGroup" and c.params.get("recursive") is True
    ]
    assert {p["thingGroupName"] for p in recursive} >= {"site", "austin-line-01"}


async def test_access_denied_on_iot_leaves_the_target_incomplete(
    sim: Running, settings: Settings
) -> None:
    # The knob is set in the simulator's process: its control API names only Greengrass V2's
    # operations in access_denied (reported as a simulator bug), though it serves IoT's.
    sim.simulator.knobs.update({"access_denied": sorted(IOT_OPERATIONS)})
    result = await scan_once(settings)
    assert not result.snapshot.complete
    for target in result.snapshot.targets:
        assert target.membership is None  # not read, which is not "no groups"
        assert [(e.operation, e.code) for e in target.errors] == [
            ("ListThingsInThingGroup", "AccessDeniedException")
        ]
        (error,) = target.errors
        assert "\n" not in error.message
        assert "ListThingsInThingGroup" in error.message
        assert target.devices  # what Greengrass V2 answered stays
        assert target.deployments


async def test_without_resolution_no_recipe_and_no_iot_call(
    sim: Running, settings: Settings
) -> None:
    off = settings.model_copy(update={"resolve_dependencies": False})
    result = await scan_once(off)
    assert result.snapshot.complete
    for target in result.snapshot.targets:
        assert target.membership is None
        assert not target.recipes
        assert not target.candidates
    called = {c.operation for c in sim.simulator.calls.records}
    assert "GetComponent" not in called
    assert not called & IOT_OPERATIONS
    assert {"ListDeployments", "ListCoreDevices", "DescribeComponent"} <= called
