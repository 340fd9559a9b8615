"""Deployment lifecycle through the real client: supersession, delivery, failure, cancel, delete.

Most tests use a "probe" corner of the generated fleet made through the control API: two
private components and two core devices in a thing group that no generated deployment targets,
so what the devices run follows from the test's own deployments alone.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from ggwatch.sim.fleet import FleetSpec, access_key
from ggwatch.sim.server import Running
from ggwatch.sim.store import Deployment, RegionState, World
from tests.sim.helpers_faults import (
    ACCOUNT,
    REGION,
    code,
    control_post,
    get_calls,
    http_status,
    one_attempt,
    open_client,
    set_knobs,
)

NUCLEUS = "aws.greengrass.Nucleus"
LOG_MANAGER = "aws.greengrass.LogManager"
TOKEN_EXCHANGE = "aws.greengrass.TokenExchangeService"
PROBE = "com.test.Probe"
EXTRA = "com.test.Extra"
NEEDS = "com.test.Needs"  # its recipe requires com.test.Probe =2.0.0 (publish_needs)


@dataclass(frozen=True)
class Probe:
    group: str
    things: tuple[str, ...]

    @property
    def group_arn(self) -> str:
        return f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{self.group}"

    def thing_arn(self, thing: str) -> str:
        return f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{thing}"


@pytest.fixture
async def gg1(sim: Running) -> AsyncIterator[Any]:
    """One attempt, no retries: every error the simulator sends reaches the test."""
    async with open_client(one_attempt()) as client:
        yield client


@pytest.fixture
async def probe(control: aiohttp.ClientSession) -> Probe:
    for name, version in ((PROBE, "1.0.0"), (PROBE, "2.0.0"), (EXTRA, "1.0.0")):
        body: dict[str, Any] = {"componentName": name, "componentVersion": version}
        await control_post(control, "/_sim/components", body)
    things = ("probe-a", "probe-b")
    for thing in things:
        body = {"thingName": thing, "thingGroups": ["probe-line"], "nucleusVersion": "2.13.0"}
        added = await control_post(control, "/_sim/devices", body)
        assert added["installed"] == [NUCLEUS]
    return Probe("probe-line", things)


async def deploy(client: Any, target: str, components: dict[str, str]) -> str:
    answer = await client.create_deployment(
        targetArn=target,
        components={name: {"componentVersion": v} for name, v in components.items()},
    )
    return str(answer["deploymentId"])


async def publish_needs(control: aiohttp.ClientSession) -> None:
    """com.test.Needs 1.0.0, whose recipe requires com.test.Probe =2.0.0."""
    recipe = {"ComponentDependencies": {PROBE: {"VersionRequirement": "=2.0.0"}}}
    body = {"componentName": NEEDS, "componentVersion": "1.0.0", "recipe": recipe}
    await control_post(control, "/_sim/components", body)


async def delete_version(client: Any, name: str, version: str) -> None:
    """DeleteComponent, as a team withdraws its own version: from then on it answers 404."""
    arn = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{name}:versions:{version}"
    await client.delete_component(arn=arn)
    await expect_error(client.describe_component(arn=arn), "ResourceNotFoundException", 404)


async def installed(client: Any, thing: str) -> dict[str, dict[str, Any]]:
    """Everything on a device, dependencies included: name -> ListInstalledComponents item."""
    items: dict[str, dict[str, Any]] = {}
    paginator = client.get_paginator("list_installed_components")
    async for page in paginator.paginate(coreDeviceThingName=thing, topologyFilter="ALL"):
        for item in page["installedComponents"]:
            items[item["componentName"]] = item
    return items


def roots(items: dict[str, dict[str, Any]]) -> dict[str, str]:
    return {n: i["componentVersion"] for n, i in items.items() if i["isRoot"]}


def footprint(items: dict[str, dict[str, Any]]) -> dict[str, tuple[str, bool, str]]:
    return {
        n: (i["componentVersion"], i["isRoot"], i["lastInstallationSource"])
        for n, i in items.items()
    }


async def last_update(client: Any, thing: str) -> datetime:
    device = await client.get_core_device(coreDeviceThingName=thing)
    stamp: datetime = device["lastStatusUpdateTimestamp"]
    return stamp


async def status_of(client: Any, deployment_id: str) -> tuple[str, bool]:
    got = await client.get_deployment(deploymentId=deployment_id)
    return got["deploymentStatus"], got["isLatestForTarget"]


async def expect_error(call: Any, error_code: str, status: int) -> ClientError:
    with pytest.raises(ClientError) as caught:
        await call
    assert code(caught.value) == error_code
    assert http_status(caught.value) == status
    return caught.value


# -- supersession ------------------------------------------------------------------------------


@pytest.mark.parametrize("reading", ["INACTIVE", "CANCELED"])
async def test_group_revision_supersedes_the_previous_one(
    control: aiohttp.ClientSession, gg1: Any, probe: Probe, reading: str
) -> None:
    await set_knobs(control, superseded_status=reading)
    first = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    assert await status_of(gg1, first) == ("ACTIVE", True)
    second = await deploy(gg1, probe.group_arn, {PROBE: "2.0.0"})
    assert await status_of(gg1, first) == (reading, False)
    assert await status_of(gg1, second) == ("ACTIVE", True)  # thing groups stay ACTIVE

    latest = await gg1.list_deployments(targetArn=probe.group_arn)
    assert [d["deploymentId"] for d in latest["deployments"]] == [second]
    history = await gg1.list_deployments(targetArn=probe.group_arn, historyFilter="ALL")
    revisions = {d["deploymentId"]: d["revisionId"] for d in history["deployments"]}
    assert revisions == {first: "1", second: "2"}


@pytest.mark.parametrize("reading", ["INACTIVE", "CANCELED"])
async def test_thing_deployments_complete_and_are_superseded(
    control: aiohttp.ClientSession, gg1: Any, probe: Probe, reading: str
) -> None:
    await set_knobs(control, superseded_status=reading)
    target = probe.thing_arn(probe.things[0])
    first = await deploy(gg1, target, {EXTRA: "1.0.0"})
    assert await status_of(gg1, first) == ("COMPLETED", True)
    second = await deploy(gg1, target, {PROBE: "1.0.0"})
    assert await status_of(gg1, first) == (reading, False)
    assert await status_of(gg1, second) == ("COMPLETED", True)


async def test_superseding_keeps_a_canceled_status(gg1: Any, probe: Probe) -> None:
    first = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    await gg1.cancel_deployment(deploymentId=first)
    assert await status_of(gg1, first) == ("CANCELED", True)  # canceled, still latest
    await deploy(gg1, probe.group_arn, {PROBE: "2.0.0"})
    assert await status_of(gg1, first) == ("CANCELED", False)


async def test_one_latest_deployment_per_target_after_many_revisions(
    gg1: Any, probe: Probe, world: World
) -> None:
    group = sorted(world.region(ACCOUNT, REGION).groups)[0]
    target = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{group}"
    made = [await deploy(gg1, target, {PROBE: v}) for v in ("1.0.0", "2.0.0", "1.0.0")]
    history = await gg1.list_deployments(targetArn=target, historyFilter="ALL", maxResults=100)
    latest = [d["deploymentId"] for d in history["deployments"] if d["isLatestForTarget"]]
    assert latest == [made[-1]]
    revisions = [int(d["revisionId"]) for d in history["deployments"]]
    assert revisions == sorted(revisions, reverse=True)  # newest first, numbered upwards


# -- delivery to devices -----------------------------------------------------------------------


async def test_devices_run_the_latest_revision(gg1: Any, probe: Probe) -> None:
    stamps = {t: await last_update(gg1, t) for t in probe.things}
    first = await deploy(
        gg1, probe.group_arn, {PROBE: "1.0.0", EXTRA: "1.0.0", LOG_MANAGER: "2.3.9"}
    )
    for thing in probe.things:
        items = await installed(gg1, thing)
        assert roots(items) == {PROBE: "1.0.0", EXTRA: "1.0.0", LOG_MANAGER: "2.3.9"}
        assert {items[n]["lastInstallationSource"] for n in roots(items)} == {first}
        # Dependencies come in as non-root components: the token exchange and the nucleus.
        assert not items[TOKEN_EXCHANGE]["isRoot"]
        assert not items[NUCLEUS]["isRoot"]
        assert items[NUCLEUS]["componentVersion"] == "2.13.0"
        stamp = await last_update(gg1, thing)
        assert stamp > stamps[thing]
        stamps[thing] = stamp

    second = await deploy(gg1, probe.group_arn, {PROBE: "2.0.0"})
    for thing in probe.things:
        items = await installed(gg1, thing)
        # Components the new revision no longer names are removed, with their dependencies.
        assert roots(items) == {PROBE: "2.0.0"}
        assert set(items) == {PROBE, NUCLEUS}
        assert items[PROBE]["lastInstallationSource"] == second
        assert await last_update(gg1, thing) > stamps[thing]
        effective = await gg1.list_effective_deployments(coreDeviceThingName=thing)
        statuses = {
            e["deploymentId"]: e["coreDeviceExecutionStatus"]
            for e in effective["effectiveDeployments"]
        }
        assert statuses == {first: "SUCCEEDED", second: "SUCCEEDED"}


async def test_thing_and_group_deployments_merge_and_conflicts_fail(gg1: Any, probe: Probe) -> None:
    thing, other = probe.things
    await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    own = await deploy(gg1, probe.thing_arn(thing), {EXTRA: "1.0.0"})
    items = await installed(gg1, thing)
    assert roots(items) == {PROBE: "1.0.0", EXTRA: "1.0.0"}
    assert items[EXTRA]["lastInstallationSource"] == own
    assert roots(await installed(gg1, other)) == {PROBE: "1.0.0"}
    # Two targets requiring different versions of one component conflict (the device resolves
    # them together): the deployment fails there and the device keeps what it ran.
    clash = await deploy(gg1, probe.thing_arn(thing), {PROBE: "2.0.0"})
    assert roots(await installed(gg1, thing)) == {PROBE: "1.0.0", EXTRA: "1.0.0"}
    effective = await gg1.list_effective_deployments(coreDeviceThingName=thing)
    by_id = {e["deploymentId"]: e for e in effective["effectiveDeployments"]}
    assert by_id[clash]["coreDeviceExecutionStatus"] == "FAILED"
    assert await status_of(gg1, clash) == ("FAILED", True)


@pytest.mark.parametrize("kind", ["group", "thing"])
async def test_deployment_naming_a_deleted_version_fails(
    control: aiohttp.ClientSession, gg1: Any, probe: Probe, kind: str
) -> None:
    target = probe.group_arn if kind == "group" else probe.thing_arn(probe.things[0])
    things = probe.things if kind == "group" else probe.things[:1]
    await publish_needs(control)
    first = await deploy(gg1, target, {PROBE: "1.0.0"})
    before = {t: footprint(await installed(gg1, t)) for t in things}
    await delete_version(gg1, PROBE, "2.0.0")

    # It names Needs, whose recipe requires the deleted version: no device here has it.
    failed = await deploy(gg1, target, {NEEDS: "1.0.0", EXTRA: "1.0.0"})
    # A thing group's deployment stays ACTIVE while its devices fail; a thing's fails.
    assert await status_of(gg1, failed) == ("ACTIVE" if kind == "group" else "FAILED", True)
    for thing in things:
        assert footprint(await installed(gg1, thing)) == before[thing]  # they keep what they had
        effective = await gg1.list_effective_deployments(coreDeviceThingName=thing)
        by_id = {e["deploymentId"]: e for e in effective["effectiveDeployments"]}
        assert by_id[failed]["coreDeviceExecutionStatus"] == "FAILED"
        assert "No local or cloud component version" in by_id[failed]["reason"]
        assert "requires =2.0.0" in by_id[failed]["reason"]
        assert by_id[first]["coreDeviceExecutionStatus"] == "SUCCEEDED"


async def test_devices_keep_the_revision_before_a_failed_one(
    control: aiohttp.ClientSession, gg1: Any, probe: Probe
) -> None:
    """They roll back to it, and a later deployment to another target merges with it."""
    await publish_needs(control)
    first = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    await delete_version(gg1, PROBE, "2.0.0")
    await deploy(gg1, probe.group_arn, {NEEDS: "1.0.0"})  # fails: it requires Probe 2.0.0
    thing = probe.things[0]
    own = await deploy(gg1, probe.thing_arn(thing), {EXTRA: "1.0.0"})
    items = await installed(gg1, thing)
    assert roots(items) == {PROBE: "1.0.0", EXTRA: "1.0.0"}
    assert items[PROBE]["lastInstallationSource"] == first
    assert items[EXTRA]["lastInstallationSource"] == own


# -- cancel and delete -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("reading", "error_code", "status"),
    [("conflict", "ConflictException", 409), ("validation", "ValidationException", 400)],
)
async def test_deleting_an_active_deployment_is_refused(
    control: aiohttp.ClientSession,
    gg1: Any,
    probe: Probe,
    reading: str,
    error_code: str,
    status: int,
) -> None:
    await set_knobs(control, delete_active_error=reading)
    active = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    error = await expect_error(gg1.delete_deployment(deploymentId=active), error_code, status)
    assert "cancel" in error.response["Error"]["Message"]
    assert await status_of(gg1, active) == ("ACTIVE", True)


async def test_cancel_then_delete(gg1: Any, probe: Probe) -> None:
    active = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0", LOG_MANAGER: "2.3.9"})
    before = {t: footprint(await installed(gg1, t)) for t in probe.things}

    canceled = await gg1.cancel_deployment(deploymentId=active)
    assert active in canceled["message"]
    assert await status_of(gg1, active) == ("CANCELED", True)
    deleted = await gg1.delete_deployment(deploymentId=active)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204

    error = await expect_error(
        gg1.get_deployment(deploymentId=active), "ResourceNotFoundException", 404
    )
    assert error.response["resourceId"] == active
    await expect_error(gg1.delete_deployment(deploymentId=active), "ResourceNotFoundException", 404)
    history = await gg1.list_deployments(targetArn=probe.group_arn, historyFilter="ALL")
    assert history["deployments"] == []
    # Deleting a deployment does not touch the devices that run it.
    for thing in probe.things:
        assert footprint(await installed(gg1, thing)) == before[thing]


async def test_devices_keep_a_deleted_deployment_through_later_ones(gg1: Any, probe: Probe) -> None:
    group_dep = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    await gg1.cancel_deployment(deploymentId=group_dep)
    await gg1.delete_deployment(deploymentId=group_dep)
    thing = probe.things[0]
    own = await deploy(gg1, probe.thing_arn(thing), {EXTRA: "1.0.0"})
    items = await installed(gg1, thing)
    assert roots(items) == {PROBE: "1.0.0", EXTRA: "1.0.0"}
    assert items[PROBE]["lastInstallationSource"] == group_dep
    assert items[EXTRA]["lastInstallationSource"] == own


async def test_completed_thing_deployment_deletes_without_cancel(gg1: Any, probe: Probe) -> None:
    thing = probe.things[0]
    done = await deploy(gg1, probe.thing_arn(thing), {PROBE: "1.0.0"})
    before = footprint(await installed(gg1, thing))
    await gg1.delete_deployment(deploymentId=done)
    await expect_error(gg1.get_deployment(deploymentId=done), "ResourceNotFoundException", 404)
    assert footprint(await installed(gg1, thing)) == before


async def test_unknown_deployment_is_not_found(gg1: Any, sim: Running) -> None:
    unknown = str(uuid.uuid4())
    for call in (
        gg1.delete_deployment(deploymentId=unknown),
        gg1.get_deployment(deploymentId=unknown),
        gg1.cancel_deployment(deploymentId=unknown),
    ):
        error = await expect_error(call, "ResourceNotFoundException", 404)
        assert error.response["resourceId"] == unknown


async def deletable(client: Any, count: int) -> list[str]:
    """Ids of `count` deployments that may be deleted without cancelling first."""
    found: list[str] = []
    paginator = client.get_paginator("list_deployments")
    async for page in paginator.paginate(historyFilter="ALL"):
        found += [
            d["deploymentId"] for d in page["deployments"] if d["deploymentStatus"] != "ACTIVE"
        ]
    assert len(found) >= count, "the fleet fixture must hold enough superseded deployments"
    return found[:count]


@pytest.mark.parametrize(
    "fleet_spec", [FleetSpec(seed=5, accounts=2, devices=20, deployments=40, private_components=3)]
)
async def test_at_most_ten_deletions_in_progress_per_account(
    control: aiohttp.ClientSession, gg1: Any, world: World
) -> None:
    await set_knobs(control, deletion_seconds=600)  # deletions stay in progress
    victims = await deletable(gg1, 11)
    for deployment_id in victims[:10]:
        await gg1.delete_deployment(deploymentId=deployment_id)
    error = await expect_error(
        gg1.delete_deployment(deploymentId=victims[10]), "ThrottlingException", 429
    )
    assert error.response["retryAfterSeconds"] >= 1
    assert (await gg1.get_deployment(deploymentId=victims[10]))["deploymentId"] == victims[10]
    # The ceiling is the account's: the second account still deletes.
    async with open_client(one_attempt(), key=access_key(1)) as other:
        for deployment_id in await deletable(other, 2):
            await other.delete_deployment(deploymentId=deployment_id)
    calls = (await get_calls(control))["counts"]["DeleteDeployment"]
    assert calls == {"ok": 12, "ThrottlingException": 1}
    assert world.access_keys[access_key(1)] != ACCOUNT


async def test_deletion_slots_free_again(control: aiohttp.ClientSession, gg1: Any) -> None:
    await set_knobs(control, deletion_slots=2, deletion_seconds=0.3)
    victims = await deletable(gg1, 3)
    await gg1.delete_deployment(deploymentId=victims[0])
    await gg1.delete_deployment(deploymentId=victims[1])
    await expect_error(gg1.delete_deployment(deploymentId=victims[2]), "ThrottlingException", 429)
    await asyncio.sleep(0.35)
    await gg1.delete_deployment(deploymentId=victims[2])
    await expect_error(
        gg1.get_deployment(deploymentId=victims[2]), "ResourceNotFoundException", 404
    )


# -- the control API ---------------------------------------------------------------------------


async def test_guidance_flips_describe_component(
    control: aiohttp.ClientSession, gg1: Any, world: World
) -> None:
    # An AWS-provided version: only AWS sets vendor guidance.
    component = world.region(ACCOUNT, REGION).public[LOG_MANAGER]
    version = component.versions[component.order[0]]  # the newest: ACTIVE

    async def status() -> dict[str, Any]:
        described = await gg1.describe_component(arn=version.arn)
        return dict(described["status"])

    assert (await status()).get("vendorGuidance", "ACTIVE") == "ACTIVE"
    body = {
        "componentName": version.name,
        "componentVersion": version.version,
        "vendorGuidance": "DISCONTINUED",
        "message": "Upgrade to 9.9.9.",
    }
    answer = await control_post(control, "/_sim/guidance", body)
    assert answer["arn"] == version.arn
    now = await status()
    assert now["vendorGuidance"] == "DISCONTINUED"
    assert now["vendorGuidanceMessage"] == "Upgrade to 9.9.9."

    body.update(vendorGuidance="ACTIVE", message="")
    await control_post(control, "/_sim/guidance", body)
    now = await status()
    assert now["vendorGuidance"] == "ACTIVE"
    assert "vendorGuidanceMessage" not in now

    await control_post(control, "/_sim/guidance", {**body, "vendorGuidance": "GONE"}, expect=400)
    await control_post(control, "/_sim/guidance", {**body, "componentVersion": "0.0.0"}, expect=404)


async def test_guidance_for_a_public_version(control: aiohttp.ClientSession, gg1: Any) -> None:
    body = {"componentName": NUCLEUS, "componentVersion": "2.13.0", "vendorGuidance": "DELETED"}
    answer = await control_post(control, "/_sim/guidance", body)
    assert ":aws:components:" in answer["arn"]
    described = await gg1.describe_component(arn=answer["arn"])
    assert described["status"]["vendorGuidance"] == "DELETED"


def resolved_alone(state: RegionState, target: str, deployment: Deployment) -> bool:
    """Whether a device in this group only resolved the deployment (so a new one will too)."""
    return any(
        len(d.thing_groups) == 1
        and (e := d.effective.get(deployment.deployment_id)) is not None
        and e.status == "SUCCEEDED"
        for d in state.devices_for_target(target)
    )


async def test_added_device_gets_its_groups_latest_deployments(
    control: aiohttp.ClientSession, gg1: Any, world: World
) -> None:
    state = world.region(ACCOUNT, REGION)
    group, latest = next(
        (t.rpartition("/")[2], d)
        for t, d in sorted(state.deployments.latest.items())
        if ":thinggroup/" in t and d.status == "ACTIVE" and resolved_alone(state, t, d)
    )
    body = {"thingName": "added-1", "thingGroups": [group], "nucleusVersion": "2.12.6"}
    await control_post(control, "/_sim/devices", body)
    items = await installed(gg1, "added-1")
    expected = {n: s["componentVersion"] for n, s in latest.components.items()}
    assert roots(items) == expected
    assert {items[n]["lastInstallationSource"] for n in expected} == {latest.deployment_id}
    device = await gg1.get_core_device(coreDeviceThingName="added-1")
    assert device["coreVersion"] == expected.get(NUCLEUS, "2.12.6")
    group_arn = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{group}"
    listed = await gg1.list_core_devices(thingGroupArn=group_arn, maxResults=100)
    assert "added-1" in {d["coreDeviceThingName"] for d in listed["coreDevices"]}

    await control_post(control, "/_sim/devices", body, expect=409)
    await control_post(control, "/_sim/devices", {"thingName": "x", "status": "OK"}, expect=400)


async def test_canceled_group_deployment_skips_devices_added_later(
    control: aiohttp.ClientSession, gg1: Any, probe: Probe
) -> None:
    canceled = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    await gg1.cancel_deployment(deploymentId=canceled)
    body = {"thingName": "late", "thingGroups": [probe.group], "nucleusVersion": "2.13.0"}
    await control_post(control, "/_sim/devices", body)
    assert set(await installed(gg1, "late")) == {NUCLEUS}
    # Devices that had it keep it; the late one does not pick it up with its own deployment.
    assert roots(await installed(gg1, probe.things[0])) == {PROBE: "1.0.0"}
    await deploy(gg1, probe.thing_arn("late"), {EXTRA: "1.0.0"})
    assert roots(await installed(gg1, "late")) == {EXTRA: "1.0.0"}


async def test_added_device_leaves_the_rest_of_the_group_alone(
    control: aiohttp.ClientSession, gg1: Any, probe: Probe
) -> None:
    running = await deploy(gg1, probe.group_arn, {PROBE: "1.0.0"})
    before = {
        t: (await last_update(gg1, t), footprint(await installed(gg1, t))) for t in probe.things
    }
    # Deleted (DeleteComponent) while the fleet runs it: a device that joins now cannot get it.
    await delete_version(gg1, PROBE, "1.0.0")
    body = {"thingName": "late", "thingGroups": [probe.group], "nucleusVersion": "2.13.0"}
    await control_post(control, "/_sim/devices", body)

    assert set(await installed(gg1, "late")) == {NUCLEUS}
    effective = await gg1.list_effective_deployments(coreDeviceThingName="late")
    assert [
        (e["deploymentId"], e["coreDeviceExecutionStatus"])
        for e in effective["effectiveDeployments"]
    ] == [(running, "FAILED")]
    assert await status_of(gg1, running) == ("ACTIVE", True)
    for thing in probe.things:
        assert (await last_update(gg1, thing), footprint(await installed(gg1, thing))) == before[
            thing
        ]


async def test_set_installed_changes_a_device(
    control: aiohttp.ClientSession, gg1: Any, probe: Probe
) -> None:
    thing = probe.things[0]
    before = await last_update(gg1, thing)
    body = {"componentName": PROBE, "componentVersion": "1.0.0", "lifecycleState": "BROKEN"}
    await control_post(control, f"/_sim/devices/{thing}/installed", body)
    items = await installed(gg1, thing)
    assert items[PROBE]["componentVersion"] == "1.0.0"
    assert items[PROBE]["lifecycleState"] == "BROKEN"
    assert items[PROBE]["lastInstallationSource"] == "LOCAL"
    moved = await last_update(gg1, thing)
    assert moved > before

    await control_post(
        control,
        f"/_sim/devices/{thing}/installed",
        {"componentName": PROBE, "componentVersion": None},
    )
    assert PROBE not in await installed(gg1, thing)
    assert await last_update(gg1, thing) > moved

    await control_post(
        control, "/_sim/devices/nobody/installed", {"componentName": PROBE}, expect=404
    )
    bad = {"componentName": PROBE, "componentVersion": "1.0.0", "lifecycleState": "HAPPY"}
    await control_post(control, f"/_sim/devices/{thing}/installed", bad, expect=400)


async def test_calls_since_returns_only_newer_calls(
    control: aiohttp.ClientSession, gg1: Any
) -> None:
    await gg1.list_components()
    await gg1.list_core_devices()
    mark = (await get_calls(control))["last"]
    await gg1.list_deployments()
    newer = await get_calls(control, since=mark)
    assert [c["operation"] for c in newer["calls"]] == ["ListDeployments"]
    assert newer["calls"][0]["seq"] == mark + 1
    assert newer["last"] == mark + 1
    everything = await get_calls(control)
    assert [c["operation"] for c in everything["calls"]] == [
        "ListComponents",
        "ListCoreDevices",
        "ListDeployments",
    ]
    async with control.get("/_sim/calls", params={"since": "soon"}) as resp:
        assert resp.status == 400
