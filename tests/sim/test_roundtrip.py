"""Round trips through a real aiobotocore client: paginators, filters, and what reads return.

Every list operation is drained through botocore's own paginators with small pages (the
client's PageSize, and the simulator's page_cap knob that caps pages whatever maxResults
asks), and the concatenated pages are compared with the generated fleet. Expected values are
read from the `world` fixture; every call goes over HTTP.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError

from ggwatch.sim import catalog
from ggwatch.sim.fleet import FleetSpec, access_key
from ggwatch.sim.server import Simulator, serve
from ggwatch.sim.store import RegionState, World
from tests.sim.conftest import SIM_ACCOUNT, SIM_REGION, ClientOpener

pytestmark = pytest.mark.usefixtures("no_quota")

NUCLEUS = "aws.greengrass.Nucleus"
TOKEN_EXCHANGE = "aws.greengrass.TokenExchangeService"
STREAM_MANAGER = "aws.greengrass.StreamManager"
THING = f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:thing/"
GROUP = f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:thinggroup/"
Knobs = Callable[..., Awaitable[dict[str, Any]]]


@pytest.fixture
def fleet_spec() -> FleetSpec:
    # Four thing groups: some group deployments name the nucleus and some do not.
    return FleetSpec(seed=7, devices=40, deployments=90, thing_groups=4, private_components=6)


@pytest.fixture
def state(world: World) -> RegionState:
    return world.region(SIM_ACCOUNT, SIM_REGION)


# -- draining paginators ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Paging:
    """How small the pages are: the client's PageSize, and the simulator's page_cap."""

    name: str
    page_size: int
    cap: int | None

    @property
    def limit(self) -> int:
        return min(self.page_size, self.cap or 100)

    def sizes(self, total: int) -> list[int]:
        """The page sizes keyset pagination gives for `total` items: full pages, then the rest."""
        full, rest = divmod(total, self.limit)
        return [self.limit] * full + ([rest] if rest or not full else [])


PAGINGS = (Paging("page-size-2", 2, None), Paging("page-cap-3", 25, 3))
Pagings = Callable[[], AsyncIterator[Paging]]


@pytest.fixture
def pagings(knobs: Knobs) -> Pagings:
    """Each way of making pages small, with the simulator's page_cap set to match."""

    async def each() -> AsyncIterator[Paging]:
        for paging in PAGINGS:
            await knobs(page_cap=paging.cap or 100)
            yield paging

    return each


@dataclass(frozen=True, slots=True)
class Drained:
    items: list[dict[str, Any]]
    sizes: list[int]

    def keys(self, member: str) -> list[Any]:
        return [item[member] for item in self.items]


def snake(operation: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()


async def drain(
    client: Any, operation: str, page_size: int | None = None, **params: Any
) -> Drained:
    """All pages of a list operation through botocore's paginator for it."""
    config = {"PageSize": page_size} if page_size else {}
    pages = client.get_paginator(snake(operation)).paginate(**params, PaginationConfig=config)
    (result_key,) = pages.result_keys  # from botocore's paginators-1 model
    items: list[dict[str, Any]] = []
    sizes: list[int] = []
    async for page in pages:
        found = result_key.search(page) or []
        items.extend(found)
        sizes.append(len(found))
    return Drained(items, sizes)


def unique(values: list[Any]) -> set[Any]:
    assert len(values) == len(set(values)), (
        f"repeated: {[v for v in values if values.count(v) > 1]}"
    )
    return set(values)


async def control_post(control: aiohttp.ClientSession, path: str, body: dict[str, Any]) -> Any:
    async with control.post(path, json=body) as resp:
        data = await resp.json()
        assert resp.status == 200, data
        return data


async def error_of(call: Awaitable[Any]) -> str:
    with pytest.raises(ClientError) as caught:
        await call
    return str(caught.value.response["Error"]["Code"])


# -- components -----------------------------------------------------------------------------------


@pytest.mark.parametrize("scope", ["PRIVATE", "PUBLIC"])
async def test_list_components_pages(
    gg: Any, state: RegionState, pagings: Pagings, scope: str
) -> None:
    pool, owner = (state.public, "aws") if scope == "PUBLIC" else (state.private, SIM_ACCOUNT)
    async for paging in pagings():
        drained = await drain(gg, "ListComponents", paging.page_size, scope=scope)
        assert unique(drained.keys("componentName")) == set(pool)
        assert drained.sizes == paging.sizes(len(pool)), paging
        assert len(drained.sizes) >= 2
    for item in drained.items:
        name = item["componentName"]
        arn = f"arn:aws:greengrass:{SIM_REGION}:{owner}:components:{name}"
        assert item["arn"] == arn
        latest = item["latestVersion"]
        assert latest["componentVersion"] == pool[name].order[0]
        assert latest["arn"] == f"{arn}:versions:{latest['componentVersion']}"


async def test_list_components_default_scope_is_private(gg: Any, state: RegionState) -> None:
    drained = await drain(gg, "ListComponents")
    assert set(drained.keys("componentName")) == set(state.private)
    assert all(f":{SIM_ACCOUNT}:components:" in arn for arn in drained.keys("arn"))


def newest_first(versions: list[str]) -> list[str]:
    return sorted(versions, key=lambda v: tuple(int(p) for p in v.split(".")), reverse=True)


async def test_list_component_versions_pages_newest_first(
    gg: Any, state: RegionState, pagings: Pagings
) -> None:
    nucleus = state.public[NUCLEUS]
    async for paging in pagings():
        for component in (nucleus, *state.private.values()):
            drained = await drain(gg, "ListComponentVersions", paging.page_size, arn=component.arn)
            versions = drained.keys("componentVersion")
            assert unique(versions) == set(component.versions)
            assert versions == newest_first(versions), component.name
            assert drained.sizes == paging.sizes(len(component.versions)), paging
            for item in drained.items:
                assert item["componentName"] == component.name
                assert item["arn"] == f"{component.arn}:versions:{item['componentVersion']}"


async def test_a_version_published_between_pages_is_neither_skipped_nor_repeated(
    gg: Any, state: RegionState, control: aiohttp.ClientSession
) -> None:
    component = state.private[sorted(state.private)[0]]
    before = set(component.versions)
    seen: list[str] = []
    pages = gg.get_paginator("list_component_versions").paginate(
        arn=component.arn, PaginationConfig={"PageSize": 2}
    )
    published = False
    async for page in pages:
        seen += [v["componentVersion"] for v in page["componentVersions"]]
        if not published:
            # Newer than everything listed so far, so it sorts before the cursor.
            body = {"componentName": component.name, "componentVersion": "9.0.0"}
            await control_post(control, "/_sim/components", body)
            published = True
    assert unique(seen) == before


# Versions that carry no guidance at all come only from the generator's private_guidance
# reading (an undocumented one, off by default): turned on here for the absent member.
@pytest.mark.parametrize(
    "fleet_spec",
    [
        FleetSpec(
            seed=7,
            devices=40,
            deployments=90,
            thing_groups=4,
            private_components=6,
            private_guidance=True,
        )
    ],
)
async def test_describe_component_vendor_guidance(
    gg: Any, state: RegionState, control: aiohttp.ClientSession
) -> None:
    nucleus = state.public[NUCLEUS]
    for name, version, guidance, message in catalog.WITHDRAWN:
        component = state.public[name]
        described = await gg.describe_component(arn=component.versions[version].arn)
        assert described["componentName"] == name
        assert described["componentVersion"] == version
        assert described["status"]["componentState"] == "DEPLOYABLE"
        assert described["status"]["vendorGuidance"] == guidance
        assert described["status"]["vendorGuidanceMessage"] == message
        assert described["publisher"] == "AWS"
    latest = await gg.describe_component(arn=nucleus.versions[nucleus.order[0]].arn)
    assert latest["status"]["vendorGuidance"] == "ACTIVE"
    assert "vendorGuidanceMessage" not in latest["status"]
    # Some private versions carry no guidance at all: the member is absent, not null.
    silent = [
        v for c in state.private.values() for v in c.versions.values() if v.vendor_guidance is None
    ]
    assert silent
    described = await gg.describe_component(arn=silent[0].arn)
    assert "vendorGuidance" not in described["status"]
    assert described["arn"].startswith(f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:")
    # The control API withdraws a version while the client watches: an AWS-provided one, as
    # only AWS sets vendor guidance.
    stream = state.public[STREAM_MANAGER]
    newest = stream.versions[stream.order[0]]
    described = await gg.describe_component(arn=newest.arn)
    assert described["status"]["vendorGuidance"] == "ACTIVE"
    body = {
        "componentName": STREAM_MANAGER,
        "componentVersion": newest.version,
        "vendorGuidance": "DISCONTINUED",
        "message": "Upgrade now.",
    }
    await control_post(control, "/_sim/guidance", body)
    described = await gg.describe_component(arn=newest.arn)
    assert described["status"]["vendorGuidance"] == "DISCONTINUED"
    assert described["status"]["vendorGuidanceMessage"] == "Upgrade now."
    assert described["arn"].startswith(f"arn:aws:greengrass:{SIM_REGION}:aws:components:")


# -- deployments ----------------------------------------------------------------------------------


async def test_list_deployments_history_filters(
    gg: Any, state: RegionState, pagings: Pagings
) -> None:
    latest = {d.deployment_id for d in state.deployments.latest.values()}
    async for paging in pagings():
        everything = await drain(gg, "ListDeployments", paging.page_size, historyFilter="ALL")
        assert unique(everything.keys("deploymentId")) == set(state.deployments.by_id)
        assert everything.sizes == paging.sizes(len(state.deployments)), paging
        created = everything.keys("creationTimestamp")
        assert created == sorted(created, reverse=True)  # newest first
        flagged = {i["deploymentId"] for i in everything.items if i["isLatestForTarget"]}
        assert flagged == latest
        # LATEST_ONLY is the default.
        default = await drain(gg, "ListDeployments", paging.page_size)
        explicit = await drain(gg, "ListDeployments", paging.page_size, historyFilter="LATEST_ONLY")
        assert unique(default.keys("deploymentId")) == latest
        assert default.items == explicit.items
        assert default.sizes == paging.sizes(len(latest)), paging
        assert all(item["isLatestForTarget"] for item in default.items)
        assert unique(default.keys("targetArn")) == set(state.deployments.latest)


async def test_list_deployments_by_target(gg: Any, state: RegionState, pagings: Pagings) -> None:
    async for paging in pagings():
        for target, entries in sorted(state.deployments.by_target.items()):
            for history in ("ALL", "LATEST_ONLY"):
                drained = await drain(
                    gg, "ListDeployments", paging.page_size, targetArn=target, historyFilter=history
                )
                expected = {d.deployment_id for _, d in entries if history == "ALL" or d.is_latest}
                assert unique(drained.keys("deploymentId")) == expected, (target, history)
                assert drained.sizes == paging.sizes(len(expected)), paging
                assert set(drained.keys("targetArn")) <= {target}
                revisions = [int(r) for r in drained.keys("revisionId")]
                assert revisions == sorted(revisions, reverse=True)


async def test_list_deployments_by_parent_target(
    gg: Any, state: RegionState, pagings: Pagings
) -> None:
    groups = sorted(state.groups)
    parent, other = GROUP + groups[0], GROUP + groups[1]
    things = sorted(state.devices)
    made = {
        (await gg.create_deployment(targetArn=THING + thing, parentTargetArn=parent))[
            "deploymentId"
        ]
        for thing in things[:5]
    }
    await gg.create_deployment(targetArn=THING + things[5], parentTargetArn=other)
    async for paging in pagings():
        for history in ("ALL", "LATEST_ONLY"):
            drained = await drain(
                gg,
                "ListDeployments",
                paging.page_size,
                parentTargetArn=parent,
                historyFilter=history,
            )
            assert unique(drained.keys("deploymentId")) == made
            assert set(drained.keys("parentTargetArn")) == {parent}
            assert drained.sizes == paging.sizes(5), paging


async def test_list_deployments_default_page_size_is_50(gg: Any, state: RegionState) -> None:
    assert len(state.deployments) > 50
    first = await gg.list_deployments(historyFilter="ALL")
    assert len(first["deployments"]) == 50
    assert first["nextToken"]
    drained = await drain(gg, "ListDeployments", historyFilter="ALL")
    assert drained.sizes == [50, len(state.deployments) - 50]


async def test_deployments_created_and_deleted_between_pages(gg: Any, state: RegionState) -> None:
    """Keyset pages: what existed before is listed exactly once, whatever happens meanwhile."""
    before = set(state.deployments.by_id)
    targets = [GROUP + g for g in sorted(state.groups)] + [THING + t for t in sorted(state.devices)]
    seen: list[str] = []
    created: set[str] = set()
    deleted: set[str] = set()
    pages = gg.get_paginator("list_deployments").paginate(
        historyFilter="ALL", PaginationConfig={"PageSize": 7}
    )
    async for page in pages:
        ids = [d["deploymentId"] for d in page["deployments"]]
        seen += ids
        if len(created) < 3:
            answer = await gg.create_deployment(targetArn=targets[len(created)])
            created.add(answer["deploymentId"])
        elif not deleted:
            # Delete one already listed: an offset-based cursor would now skip an item.
            done = next(i for i in ids if state.deployments.by_id[i].status != "ACTIVE")
            await gg.delete_deployment(deploymentId=done)
            deleted.add(done)
    assert deleted
    assert unique(seen) >= before
    assert set(seen) - before <= created


async def test_get_deployment_returns_components(gg: Any, state: RegionState) -> None:
    for dep in state.deployments.latest.values():
        got = await gg.get_deployment(deploymentId=dep.deployment_id)
        assert got["components"] == dep.components
        assert got["targetArn"] == dep.target_arn
        assert got["revisionId"] == dep.revision_id
        assert got["deploymentStatus"] == dep.status
        assert got["isLatestForTarget"] is True
        assert got["iotJobArn"] == f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:job/{got['iotJobId']}"


async def test_create_deployment_round_trip(gg: Any, state: RegionState) -> None:
    group = GROUP + sorted(state.groups)[0]
    previous = state.deployments.latest[group]
    private = state.private[sorted(state.private)[0]]
    request: dict[str, Any] = {
        "targetArn": group,
        "deploymentName": "round-trip",
        "components": {
            private.name: {
                "componentVersion": private.order[0],
                "configurationUpdate": {"merge": '{"a": 1}', "reset": ["/b"]},
                "runWith": {"posixUser": "ggc_user", "systemResourceLimits": {"memory": 2048}},
            },
            NUCLEUS: {"componentVersion": "2.15.0"},
        },
        "deploymentPolicies": {
            "failureHandlingPolicy": "DO_NOTHING",
            "componentUpdatePolicy": {"timeoutInSeconds": 90, "action": "SKIP_NOTIFY_COMPONENTS"},
        },
        "iotJobConfiguration": {"timeoutConfig": {"inProgressTimeoutInMinutes": 30}},
        "tags": {"team": "edge"},
    }
    created = await gg.create_deployment(**request)
    got = await gg.get_deployment(deploymentId=created["deploymentId"])
    for member in ("targetArn", "deploymentName", "components", "deploymentPolicies", "tags"):
        assert got[member] == request[member], member
    assert got["iotJobConfiguration"] == request["iotJobConfiguration"]
    assert got["revisionId"] == str(int(previous.revision_id) + 1)
    assert got["isLatestForTarget"] is True
    assert got["iotJobId"] == created["iotJobId"]
    older = await gg.get_deployment(deploymentId=previous.deployment_id)
    assert older["isLatestForTarget"] is False
    latest = await drain(gg, "ListDeployments", targetArn=group)
    assert latest.keys("deploymentId") == [created["deploymentId"]]


async def test_create_deployment_client_token_is_idempotent(gg: Any, state: RegionState) -> None:
    target = THING + sorted(state.devices)[0]
    request = {"targetArn": target, "deploymentName": "idem", "clientToken": "token-1"}
    first = await gg.create_deployment(**request)
    again = await gg.create_deployment(**request)
    assert again["deploymentId"] == first["deploymentId"]
    changed = {**request, "deploymentName": "something else"}
    assert await error_of(gg.create_deployment(**changed)) == "ConflictException"
    history = await drain(gg, "ListDeployments", targetArn=target, historyFilter="ALL")
    mine = [i for i in history.items if i["deploymentName"] == "idem"]
    assert [i["deploymentId"] for i in mine] == [first["deploymentId"]]
    assert len(history.items) == len(state.deployments.by_target[target])
    other = await gg.create_deployment(**{**request, "clientToken": "token-2"})
    assert other["deploymentId"] != first["deploymentId"]


async def test_cancel_deployment(gg: Any, state: RegionState) -> None:
    active = next(d for d in state.deployments.latest.values() if d.status == "ACTIVE")
    answer = await gg.cancel_deployment(deploymentId=active.deployment_id)
    assert active.deployment_id in answer["message"]
    got = await gg.get_deployment(deploymentId=active.deployment_id)
    assert got["deploymentStatus"] == "CANCELED"
    listed = await drain(gg, "ListDeployments", targetArn=active.target_arn)
    assert listed.keys("deploymentStatus") == ["CANCELED"]
    again = gg.cancel_deployment(deploymentId=active.deployment_id)
    assert await error_of(again) == "ConflictException"


async def test_tags_round_trip_on_a_deployment(gg: Any, state: RegionState) -> None:
    dep = next(iter(state.deployments.latest.values()))
    arn = f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:deployments:{dep.deployment_id}"
    assert (await gg.list_tags_for_resource(resourceArn=arn)).get("tags", {}) == {}
    await gg.tag_resource(resourceArn=arn, tags={"team": "edge", "site": "lyon"})
    assert (await gg.list_tags_for_resource(resourceArn=arn))["tags"] == {
        "team": "edge",
        "site": "lyon",
    }
    await gg.tag_resource(resourceArn=arn, tags={"site": "osaka"})
    await gg.untag_resource(resourceArn=arn, tagKeys=["team", "absent"])
    assert (await gg.list_tags_for_resource(resourceArn=arn))["tags"] == {"site": "osaka"}
    assert (await gg.get_deployment(deploymentId=dep.deployment_id))["tags"] == {"site": "osaka"}
    await gg.untag_resource(resourceArn=arn, tagKeys=["site"])
    assert (await gg.list_tags_for_resource(resourceArn=arn)).get("tags", {}) == {}


# -- core devices -----------------------------------------------------------------------------


async def test_list_core_devices_by_status(gg: Any, state: RegionState, pagings: Pagings) -> None:
    async for paging in pagings():
        for status in (None, "HEALTHY", "UNHEALTHY"):
            params = {"status": status} if status else {}
            drained = await drain(gg, "ListCoreDevices", paging.page_size, **params)
            expected = {n for n, d in state.devices.items() if status in (None, d.status)}
            assert expected
            assert unique(drained.keys("coreDeviceThingName")) == expected, status
            assert drained.sizes == paging.sizes(len(expected)), paging
            for item in drained.items:
                device = state.devices[item["coreDeviceThingName"]]
                assert item["status"] == device.status
                assert item["architecture"] == device.architecture


async def test_list_core_devices_by_thing_group(
    gg: Any, state: RegionState, pagings: Pagings
) -> None:
    async for paging in pagings():
        for group in sorted(state.groups):
            expected = {n for n, d in state.devices.items() if group in d.deployed_groups}
            arn = GROUP + group
            drained = await drain(gg, "ListCoreDevices", paging.page_size, thingGroupArn=arn)
            assert unique(drained.keys("coreDeviceThingName")) == expected, group
            assert drained.sizes == paging.sizes(len(expected)), paging
            healthy = await drain(
                gg, "ListCoreDevices", paging.page_size, thingGroupArn=arn, status="HEALTHY"
            )
            assert set(healthy.keys("coreDeviceThingName")) == {
                n for n in expected if state.devices[n].status == "HEALTHY"
            }
    unknown = await drain(gg, "ListCoreDevices", thingGroupArn=GROUP + "no-such-group")
    assert unknown.items == []


async def test_core_devices_added_between_pages(
    gg: Any, state: RegionState, control: aiohttp.ClientSession
) -> None:
    before = set(state.devices)
    seen: list[str] = []
    pages = gg.get_paginator("list_core_devices").paginate(PaginationConfig={"PageSize": 6})
    added = False
    async for page in pages:
        seen += [d["coreDeviceThingName"] for d in page["coreDevices"]]
        if not added:
            for name in ("aaa-first", "zzz-last"):
                await control_post(control, "/_sim/devices", {"thingName": name})
            added = True
    assert unique(seen) - {"zzz-last"} == before  # behind the cursor: not listed; ahead: listed
    assert "zzz-last" in seen


async def test_get_core_device(gg: Any, state: RegionState) -> None:
    for name in sorted(state.devices)[:8]:
        device = state.devices[name]
        got = await gg.get_core_device(coreDeviceThingName=name)
        assert got["coreDeviceThingName"] == name
        assert got["coreVersion"] == device.installed[NUCLEUS].version
        assert got["status"] == device.status
        assert got["lastStatusUpdateTimestamp"].timestamp() == pytest.approx(device.last_update)


async def test_list_installed_components_topology(
    gg: Any, state: RegionState, pagings: Pagings
) -> None:
    without_nucleus = [d for d in state.devices.values() if not d.installed[NUCLEUS].is_root]
    with_nucleus = [d for d in state.devices.values() if d.installed[NUCLEUS].is_root]
    assert without_nucleus
    assert with_nucleus
    async for paging in pagings():
        for device in (*without_nucleus[:3], *with_nucleus[:2]):
            name = device.thing_name
            roots = await drain(
                gg, "ListInstalledComponents", paging.page_size, coreDeviceThingName=name
            )
            everything = await drain(
                gg,
                "ListInstalledComponents",
                paging.page_size,
                coreDeviceThingName=name,
                topologyFilter="ALL",
            )
            explicit = await drain(
                gg, "ListInstalledComponents", coreDeviceThingName=name, topologyFilter="ROOT"
            )
            assert unique(everything.keys("componentName")) == set(device.installed)
            assert unique(roots.keys("componentName")) == {
                n for n, i in device.installed.items() if i.is_root
            }
            assert explicit.items == roots.items
            assert all(item["isRoot"] for item in roots.items)
            assert everything.sizes == paging.sizes(len(device.installed))
            by_name = {item["componentName"]: item for item in everything.items}
            nucleus = by_name[NUCLEUS]
            assert nucleus["componentVersion"] == device.installed[NUCLEUS].version
            assert nucleus["isRoot"] is device.installed[NUCLEUS].is_root
            assert (NUCLEUS in roots.keys("componentName")) is nucleus["isRoot"]


async def test_installed_components_follow_a_new_group_deployment(
    gg: Any, control: aiohttp.ClientSession, state: RegionState
) -> None:
    body = {"thingName": "rt-device", "thingGroups": ["rt-line"], "nucleusVersion": "2.14.3"}
    await control_post(control, "/_sim/devices", body)
    private = state.private[sorted(state.private)[0]]
    components = {
        "aws.greengrass.LogManager": {"componentVersion": "2.3.9"},
        private.name: {"componentVersion": private.order[0]},
    }
    await gg.create_deployment(targetArn=GROUP + "rt-line", components=components)
    roots = await drain(gg, "ListInstalledComponents", 1, coreDeviceThingName="rt-device")
    assert sorted(roots.keys("componentName")) == sorted(components)
    everything = await drain(
        gg, "ListInstalledComponents", 1, coreDeviceThingName="rt-device", topologyFilter="ALL"
    )
    by_name = {i["componentName"]: (i["componentVersion"], i["isRoot"]) for i in everything.items}
    assert by_name == {
        "aws.greengrass.LogManager": ("2.3.9", True),
        private.name: (private.order[0], True),
        NUCLEUS: ("2.14.3", False),
        TOKEN_EXCHANGE: (catalog.versions(TOKEN_EXCHANGE)[-1], False),
    }
    core = await gg.get_core_device(coreDeviceThingName="rt-device")
    assert core["coreVersion"] == "2.14.3"
    devices = await drain(gg, "ListCoreDevices", thingGroupArn=GROUP + "rt-line")
    assert devices.keys("coreDeviceThingName") == ["rt-device"]


async def test_list_effective_deployments(gg: Any, state: RegionState, pagings: Pagings) -> None:
    thing = sorted(state.devices)[0]
    for name in ("first", "second", "third"):
        await gg.create_deployment(targetArn=THING + thing, deploymentName=name)
    device = state.devices[thing]
    assert len(device.effective) >= 4
    async for paging in pagings():
        for name in (thing, *sorted(state.devices)[1:6]):
            drained = await drain(
                gg, "ListEffectiveDeployments", paging.page_size, coreDeviceThingName=name
            )
            expected = state.devices[name].effective
            assert unique(drained.keys("deploymentId")) == set(expected), name
            assert drained.sizes == paging.sizes(len(expected))
            for item in drained.items:
                record = expected[item["deploymentId"]]
                assert item["targetArn"] == record.target_arn
                assert item["coreDeviceExecutionStatus"] == record.status


# -- tokens ------------------------------------------------------------------------------------


def tamper(token: str, at: int) -> str:
    swap = "B" if token[at] == "A" else "A"
    return token[:at] + swap + token[at + 1 :]


async def first_token(client: Any, operation: str, **params: Any) -> str:
    answer = await getattr(client, snake(operation))(maxResults=1, **params)
    token = answer.get("nextToken")
    assert token, f"{operation} gave no nextToken for {params}"
    return str(token)


async def test_tampered_and_foreign_tokens_are_refused(
    gg: Any, state: RegionState, world: World
) -> None:
    token = await first_token(gg, "ListDeployments", historyFilter="ALL")
    await gg.list_deployments(historyFilter="ALL", nextToken=token)  # the real one works
    for at in (0, len(token) // 2, len(token) - 1):
        bad = gg.list_deployments(historyFilter="ALL", nextToken=tamper(token, at))
        assert await error_of(bad) == "ValidationException", at
    for garbage in ("not-a-token", "e30", "x" * 300):
        bad = gg.list_deployments(historyFilter="ALL", nextToken=garbage)
        assert await error_of(bad) == "ValidationException", garbage
    # Another operation's token.
    components = await first_token(gg, "ListComponents")
    bad = gg.list_core_devices(nextToken=components)
    assert await error_of(bad) == "ValidationException"
    # Another server's token: same world, same request, a different signing secret.
    async with (
        serve(Simulator(world, seed=2)) as other,
        get_session().create_client("greengrassv2", endpoint_url=other.endpoint) as client,
    ):
        foreign = await first_token(client, "ListDeployments", historyFilter="ALL")
    bad = gg.list_deployments(historyFilter="ALL", nextToken=foreign)
    assert await error_of(bad) == "ValidationException"


@dataclass(frozen=True, slots=True)
class FilterSwap:
    operation: str
    first: dict[str, Any]
    second: dict[str, Any]


async def test_a_token_only_continues_its_own_filters(gg: Any, state: RegionState) -> None:
    groups = sorted(state.deployments.by_target, key=lambda t: -len(state.deployments.by_target[t]))
    things = sorted(state.devices)
    component = state.private[sorted(state.private)[0]]
    swaps = [
        FilterSwap(
            "ListDeployments",
            {"targetArn": groups[0], "historyFilter": "ALL"},
            {"targetArn": groups[1], "historyFilter": "ALL"},
        ),
        FilterSwap("ListDeployments", {"historyFilter": "ALL"}, {"historyFilter": "LATEST_ONLY"}),
        FilterSwap("ListDeployments", {"historyFilter": "ALL"}, {"parentTargetArn": groups[0]}),
        FilterSwap("ListCoreDevices", {"status": "HEALTHY"}, {"status": "UNHEALTHY"}),
        FilterSwap("ListCoreDevices", {}, {"thingGroupArn": GROUP + sorted(state.groups)[0]}),
        FilterSwap("ListComponents", {"scope": "PRIVATE"}, {"scope": "PUBLIC"}),
        FilterSwap(
            "ListComponentVersions", {"arn": component.arn}, {"arn": state.public[NUCLEUS].arn}
        ),
        FilterSwap(
            "ListInstalledComponents",
            {"coreDeviceThingName": things[0]},
            {"coreDeviceThingName": things[0], "topologyFilter": "ALL"},
        ),
        FilterSwap(
            "ListInstalledComponents",
            {"coreDeviceThingName": things[0]},
            {"coreDeviceThingName": things[1]},
        ),
    ]
    for swap in swaps:
        token = await first_token(gg, swap.operation, **swap.first)
        method = getattr(gg, snake(swap.operation))
        await method(nextToken=token, maxResults=5, **swap.first)  # a new page size is fine
        assert await error_of(method(nextToken=token, **swap.second)) == "ValidationException", swap


# -- accounts and Regions -----------------------------------------------------------------------


async def test_another_region_sees_no_private_things(
    gg: Any, open_gg: ClientOpener, state: RegionState
) -> None:
    dep = next(iter(state.deployments.latest.values()))
    thing = sorted(state.devices)[0]
    version = next(iter(state.private.values())).latest()
    async with open_gg(region="eu-central-1") as other:
        assert (await drain(other, "ListComponents")).items == []
        assert (await drain(other, "ListDeployments", historyFilter="ALL")).items == []
        assert (await drain(other, "ListCoreDevices")).items == []
        not_found = [
            other.get_deployment(deploymentId=dep.deployment_id),
            other.get_core_device(coreDeviceThingName=thing),
            other.describe_component(arn=version.arn),
            other.list_installed_components(coreDeviceThingName=thing),
        ]
        for call in not_found:
            assert await error_of(call) == "ResourceNotFoundException"
    # The home Region still has them.
    assert (await gg.get_deployment(deploymentId=dep.deployment_id))["deploymentId"]


@pytest.mark.parametrize(
    "fleet_spec",
    [FleetSpec(seed=3, accounts=2, devices=12, deployments=20, private_components=3)],
)
async def test_the_access_key_selects_the_account(
    gg: Any, open_gg: ClientOpener, world: World
) -> None:
    home = world.region(SIM_ACCOUNT, SIM_REGION)
    (second,) = [s for s in world.states() if s.account != SIM_ACCOUNT]
    async with open_gg(key=access_key(1)) as other:
        theirs = await drain(other, "ListComponents", 2)
        assert set(theirs.keys("componentName")) == set(second.private)
        assert all(f":{second.account}:components:" in arn for arn in theirs.keys("arn"))
        deployments = await drain(other, "ListDeployments", 5, historyFilter="ALL")
        assert set(deployments.keys("deploymentId")) == set(second.deployments.by_id)
        public = await drain(other, "ListComponents", 5, scope="PUBLIC")
        assert all(":aws:components:" in arn for arn in public.keys("arn"))
    mine = await drain(gg, "ListDeployments", 5, historyFilter="ALL")
    assert set(mine.keys("deploymentId")) == set(home.deployments.by_id)
    assert not set(mine.keys("deploymentId")) & set(second.deployments.by_id)
