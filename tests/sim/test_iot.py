"""AWS IoT's thing group operations on the simulator's port, through a real aiobotocore `iot`
client pointed at it only by AWS_ENDPOINT_URL_IOT; thing groups in the store, fleet files and
the generator; the control API that moves devices between groups; ListCoreDevices' quirk."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from ggwatch.sim.fleet import FleetError, FleetSpec, build, generate
from ggwatch.sim.server import Running
from ggwatch.sim.store import CoreDevice, RegionState, ThingGroupError, ThingGroups, move_device
from tests.conftest import client_config
from tests.sim.conftest import SIM_ACCOUNT, SIM_REGION
from tests.sim.helpers_faults import signed

Knobs = Callable[..., Awaitable[dict[str, Any]]]
GROUP_ARN = f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:thinggroup/"


@pytest.fixture
async def iot(sim: Running, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A real aiobotocore iot client: the same keys as Greengrass's, the standard setting."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOT", sim.endpoint)
    async with get_session().create_client("iot", config=client_config()) as client:
        yield client


def state_of(sim: Running) -> RegionState:
    return sim.simulator.world.region(SIM_ACCOUNT, SIM_REGION)


async def post(control: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
    async with control.post(path, json=body) as resp:
        return resp.status, await resp.json()


async def nested(control: aiohttp.ClientSession, sim: Running) -> list[str]:
    """site > site-a > site-a-1; three devices, one in each; their names."""
    for name, parent in (("site", None), ("site-a", "site"), ("site-a-1", "site-a")):
        status, body = await post(control, "/_sim/groups", {"name": name, "parent": parent})
        assert status == 200, body
        assert body["arn"] == GROUP_ARN + name
    things = sorted(state_of(sim).devices)[:3]
    for thing, group in zip(things, ("site", "site-a", "site-a-1"), strict=True):
        status, body = await post(control, f"/_sim/devices/{thing}/groups", {"add": [group]})
        assert status == 200, body
    return things


async def test_recursive_and_direct_listing(
    iot: Any, control: aiohttp.ClientSession, sim: Running
) -> None:
    things = await nested(control, sim)
    direct = await iot.list_things_in_thing_group(thingGroupName="site")
    assert direct["things"] == [things[0]]
    assert "nextToken" not in direct
    every = await iot.list_things_in_thing_group(thingGroupName="site", recursive=True)
    assert every["things"] == sorted(things)
    middle = await iot.list_things_in_thing_group(thingGroupName="site-a", recursive=True)
    assert middle["things"] == sorted(things[1:])
    empty = await iot.list_things_in_thing_group(thingGroupName="site-a-1", recursive=False)
    assert empty["things"] == [things[2]]


async def test_thing_groups_for_thing(
    iot: Any, control: aiohttp.ClientSession, sim: Running
) -> None:
    things = await nested(control, sim)
    device = state_of(sim).devices[things[2]]
    answer = await iot.list_thing_groups_for_thing(thingName=things[2])
    names = sorted({*device.thing_groups})
    assert "site-a-1" in names
    assert answer["thingGroups"] == [{"groupName": g, "groupArn": GROUP_ARN + g} for g in names]
    # Direct groups only: site-a and site are site-a-1's ancestors, not the thing's groups.
    assert "site" not in {g["groupName"] for g in answer["thingGroups"]}


@pytest.mark.usefixtures("no_quota")
async def test_pagination_with_opaque_tokens(iot: Any, sim: Running) -> None:
    state = state_of(sim)
    group = max(state.groups, key=lambda g: len(state.groups[g]))
    expected = sorted(state.groups[group])
    assert len(expected) > 5
    first = await iot.list_things_in_thing_group(thingGroupName=group, maxResults=5)
    assert first["things"] == expected[:5]
    rest = await iot.list_things_in_thing_group(
        thingGroupName=group, maxResults=5, nextToken=first["nextToken"]
    )
    assert rest["things"] == expected[5:10]
    paginator = iot.get_paginator("list_things_in_thing_group")
    collected = [
        thing
        async for page in paginator.paginate(thingGroupName=group, PaginationConfig={"PageSize": 3})
        for thing in page["things"]
    ]
    assert collected == expected
    with pytest.raises(ClientError) as caught:
        await iot.list_things_in_thing_group(thingGroupName=group, nextToken="bm90LWEtdG9rZW4")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    thing = sorted(state.devices)[0]
    first = await iot.list_thing_groups_for_thing(thingName=thing, maxResults=1)
    assert len(first["thingGroups"]) == 1


async def test_unknown_group_or_thing_answers_404(iot: Any) -> None:
    for call in (
        iot.list_things_in_thing_group(thingGroupName="no-such-group"),
        iot.list_thing_groups_for_thing(thingName="no-such-thing"),
    ):
        with pytest.raises(ClientError) as caught:
            await call
        error = caught.value.response
        assert error["Error"]["Code"] == "ResourceNotFoundException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 404


async def test_other_iot_operations_are_not_implemented(iot: Any, sim_calls: Any) -> None:
    with pytest.raises(ClientError) as caught:
        await iot.describe_thing_group(thingGroupName="x")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    assert "does not implement DescribeThingGroup" in caught.value.response["Error"]["Message"]
    with pytest.raises(ClientError) as caught:
        await iot.list_things_in_thing_group(thingGroupName="bad group name")
    assert caught.value.response["Error"]["Code"] == "InvalidRequestException"
    logged = [(c["operation"], c["error"]) for c in await sim_calls(0)]
    assert logged == [
        ("DescribeThingGroup", "InvalidRequestException"),
        ("ListThingsInThingGroup", "InvalidRequestException"),
    ]


async def test_iot_budget_is_apart_from_greengrass(iot: Any, gg: Any, knobs: Knobs) -> None:
    assert (await knobs())["iot_rate"] == 10.0
    await knobs(iot_rate=1)
    page = await gg.list_core_devices(maxResults=1)
    thing_groups = await iot.list_thing_groups_for_thing(
        thingName=page["coreDevices"][0]["coreDeviceThingName"]
    )
    assert thing_groups["thingGroups"]
    with pytest.raises(ClientError) as caught:
        await iot.list_thing_groups_for_thing(thingName="anything")
    error = caught.value.response
    assert error["Error"]["Code"] == "ThrottlingException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400  # the iot model's status
    for _ in range(5):  # Greengrass's own bucket (30/s) is untouched by IoT calls
        await gg.list_core_devices(maxResults=1)
    await knobs(iot_rate=50, rate_limit=1, burst=1)
    await gg.list_core_devices(maxResults=1)  # the one token of a new bucket
    with pytest.raises(ClientError) as caught:
        await gg.list_core_devices(maxResults=1)
    assert caught.value.response["Error"]["Code"] == "ThrottlingException"
    for _ in range(5):  # and IoT's is not charged for Greengrass calls
        await iot.list_things_in_thing_group(thingGroupName="berlin-line-01")
    with pytest.raises(AssertionError, match="iot_rate must be >= 0"):
        await knobs(iot_rate=-1)
    await knobs(rate_limit=0, iot_rate=1)  # rate_limit 0 turns the quota model off
    for _ in range(3):
        await iot.list_things_in_thing_group(thingGroupName="berlin-line-01")


async def test_membership_control_api(
    control: aiohttp.ClientSession, sim: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = state_of(sim)
    hooked: list[tuple[str, float]] = []
    monkeypatch.setattr(
        state, "membership_changed", lambda t, now: hooked.append((t, now)), raising=False
    )
    assert (await post(control, "/_sim/groups", {"name": "top"}))[0] == 200
    assert (await post(control, "/_sim/groups", {"name": "top"}))[0] == 409
    assert (await post(control, "/_sim/groups", {"name": "x", "parent": "nope"}))[0] == 404
    assert (await post(control, "/_sim/groups", {"name": ""}))[0] == 400
    thing = sorted(state.devices)[0]
    before = state.devices[thing].thing_groups
    status, body = await post(control, f"/_sim/devices/{thing}/groups", {"add": ["top"]})
    assert status == 200
    assert body["thingGroups"] == [*before, "top"]
    assert body["changed"]
    assert state.thing_groups.groups_of(thing) == sorted([*before, "top"])
    assert hooked
    assert hooked[-1][0] == thing
    status, body = await post(
        control, f"/_sim/devices/{thing}/groups", {"add": ["top"], "remove": []}
    )
    assert status == 200
    assert not body["changed"]
    assert len(hooked) == 1
    status, body = await post(control, f"/_sim/devices/{thing}/groups", {"remove": ["top"]})
    assert body["thingGroups"] == list(before)
    assert len(hooked) == 2
    assert thing not in state.groups["top"]
    for payload, expected in (
        ({"add": ["never-made"]}, 404),
        ({"add": "top"}, 400),
        ({"remove": [3]}, 400),
    ):
        assert (await post(control, f"/_sim/devices/{thing}/groups", payload))[0] == expected
    assert (await post(control, "/_sim/devices/nobody/groups", {"add": ["top"]}))[0] == 404
    assert state.devices[thing].thing_groups == before


async def test_removed_device_stays_listed_under_its_group(
    iot: Any, gg: Any, control: aiohttp.ClientSession, sim: Running
) -> None:
    """ListCoreDevices(thingGroupArn) lists devices a group's deployment reached, even after
    they left the group (AWS's documented quirk); ListThingsInThingGroup does not."""
    state = state_of(sim)
    group = next(g for g in sorted(state.groups) if state.deployments.latest.get(GROUP_ARN + g))
    thing = next(
        t for t in sorted(state.groups[group]) if group in state.devices[t].deployed_groups
    )
    status, _ = await post(control, f"/_sim/devices/{thing}/groups", {"remove": [group]})
    assert status == 200
    members = await iot.list_things_in_thing_group(thingGroupName=group, maxResults=100)
    assert thing not in members["things"]
    listed: list[str] = []
    paginator = gg.get_paginator("list_core_devices")
    async for page in paginator.paginate(thingGroupArn=GROUP_ARN + group):
        listed += [d["coreDeviceThingName"] for d in page["coreDevices"]]
    assert thing in listed
    groups = await iot.list_thing_groups_for_thing(thingName=thing)
    assert group not in {g["groupName"] for g in groups["thingGroups"]}


async def test_a_greengrass_signed_call_to_an_iot_path_is_refused(sim: Running) -> None:
    status, headers, _ = await signed(sim.endpoint, "GET", "/thing-groups/x/things")
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
    status, headers, _ = await signed(sim.endpoint, "GET", "/nowhere", service="iot")
    assert status == 404


# -- the store, fleet files and the generator ---------------------------------------------------


def test_thing_groups_nest_and_refuse_cycles() -> None:
    groups = ThingGroups()
    groups.create("a")
    groups.create("b", "a")
    groups.create("c", "b")
    assert groups.ancestors("c") == ["b", "a"]
    assert groups.descendants("a") == ["b", "c"]
    with pytest.raises(ThingGroupError):
        groups.create("a", "c")
    with pytest.raises(ThingGroupError) as caught:
        groups.create("d", "missing")
    assert caught.value.missing == "missing"
    device = CoreDevice("t1", "HEALTHY", 0.0, ())
    assert move_device(groups, device, add=["c", "a"])
    assert device.thing_groups == ("c", "a")
    assert groups.groups_of("t1") == ["a", "c"]
    assert groups.groups_of("t1", with_ancestors=True) == ["a", "b", "c"]
    assert groups.things_in("b") == []
    assert groups.things_in("b", recursive=True) == ["t1"]
    with pytest.raises(ThingGroupError):
        move_device(groups, device, add=["zzz"], remove=["a"])
    assert device.thing_groups == ("c", "a")  # nothing changed
    assert move_device(groups, device, remove=["c"])
    assert groups.things_in("c") == []


def test_fleet_file_declares_nested_groups() -> None:
    groups: list[dict[str, Any]] = [{"name": "plant"}, {"name": "line-1", "parent": "plant"}]
    devices = [{"name": "dev-1", "groups": ["line-1"]}, {"name": "dev-2", "groups": ["loose"]}]
    region = {"thing_groups": groups, "devices": devices}
    fleet = {"accounts": [{"id": SIM_ACCOUNT, "regions": {SIM_REGION: region}}]}
    state = build(fleet, now=time.time()).region(SIM_ACCOUNT, SIM_REGION)
    assert state.thing_groups.parent("line-1") == "plant"
    assert state.thing_groups.things_in("plant", recursive=True) == ["dev-1"]
    assert state.thing_groups.parent("loose") is None
    assert state.groups["loose"] == {"dev-2"}
    groups[0]["name"] = "other"
    with pytest.raises(FleetError, match=r"thing_groups\[1\]\.parent"):
        build(fleet, now=time.time())


def test_generator_nests_some_groups_deterministically() -> None:
    spec = FleetSpec(seed=9, devices=60, deployments=20, thing_groups=8)
    now = time.time()
    one, two = (generate(spec, now=now).region(SIM_ACCOUNT, SIM_REGION) for _ in range(2))
    assert one.thing_groups.parents == two.thing_groups.parents
    assert one.thing_groups.parents, "no group was nested"
    for child, parent in one.thing_groups.parents.items():
        assert parent in one.groups
        assert child != "canary"
