"""Devices resolve what reaches them, seen only through the API: real aiobotocore clients for
Greengrass V2, versions published with CreateComponentVersion and removed with
DeleteComponent, devices and thing groups made with the control API.

One case each from dependency-resolution.md: a conflict across thing groups, a range only a
deleted version satisfies (older members keep running it, a device that joins later fails), a
component with no version for the device's platform, a DISCONTINUED version picked as a
dependency, and a device leaving a group.
"""

from __future__ import annotations

from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from ggwatch.sim.store import World
from tests.sim.conftest import SIM_ACCOUNT, SIM_REGION
from tests.sim.helpers_faults import control_post
from tests.sim.test_components import code_of, recipe

pytestmark = pytest.mark.usefixtures("no_quota")  # CreateComponentVersion: 1 request/second

NUCLEUS = "aws.greengrass.Nucleus"
CLI = "aws.greengrass.Cli"
TUNNELING = "aws.greengrass.SecureTunneling"
GROUPS = f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:thinggroup/"
NO_VERSION = "No local or cloud component version satisfies the requirements."


async def publish(
    gg: Any, name: str, version: str, needs: dict[str, str] | None = None, arch: str = "amd64"
) -> str:
    """A private version with these dependencies (name -> range), for linux/`arch`; its ARN."""
    dependencies = {dep: {"VersionRequirement": rng} for dep, rng in (needs or {}).items()}
    manifests = [{"Platform": {"os": "linux", "architecture": arch}, "Lifecycle": {"Run": "x"}}]
    created = await gg.create_component_version(
        inlineRecipe=recipe(name, version, ComponentDependencies=dependencies, Manifests=manifests)
    )
    return str(created["arn"])


async def device(
    control: aiohttp.ClientSession,
    thing: str,
    groups: list[str],
    nucleus: str = "2.14.3",
    platform: str = "linux/amd64",
) -> None:
    body = {"thingName": thing, "thingGroups": groups, "nucleusVersion": nucleus}
    await control_post(control, "/_sim/devices", {**body, "platform": platform})


async def deploy(gg: Any, group: str, components: dict[str, str]) -> str:
    created = await gg.create_deployment(
        targetArn=GROUPS + group,
        components={n: {"componentVersion": v} for n, v in components.items()},
    )
    return str(created["deploymentId"])


async def outcome(gg: Any, thing: str, deployment_id: str) -> dict[str, Any]:
    """The device's ListEffectiveDeployments item for one deployment."""
    answer = await gg.list_effective_deployments(coreDeviceThingName=thing)
    found = [e for e in answer["effectiveDeployments"] if e["deploymentId"] == deployment_id]
    assert len(found) == 1, answer["effectiveDeployments"]
    return dict(found[0])


async def running(gg: Any, thing: str, topology: str = "ALL") -> dict[str, tuple[str, bool]]:
    """What ListInstalledComponents says the device runs: name -> (version, isRoot)."""
    answer = await gg.list_installed_components(coreDeviceThingName=thing, topologyFilter=topology)
    return {
        i["componentName"]: (i["componentVersion"], i["isRoot"])
        for i in answer["installedComponents"]
    }


def assert_failed(item: dict[str, Any], message: str) -> None:
    assert item["coreDeviceExecutionStatus"] == "FAILED"
    assert item["reason"] == message
    details = item["statusDetails"]
    assert details["errorStack"][0] == "DEPLOYMENT_FAILURE"
    assert details["errorTypes"]
    assert item["iotJobId"] != item["deploymentId"]
    assert item["iotJobArn"].endswith(f":job/{item['iotJobId']}")


async def test_a_nucleus_pinned_by_one_group_conflicts_with_the_cli_of_another(
    gg: Any, control: aiohttp.ClientSession
) -> None:
    await device(control, "conflicted", ["pins-nucleus", "tools"])
    await device(control, "pinned-only", ["pins-nucleus"])
    tools = await deploy(gg, "tools", {CLI: "2.14.3"})
    assert (await outcome(gg, "conflicted", tools))["coreDeviceExecutionStatus"] == "SUCCEEDED"

    pinned = await deploy(gg, "pins-nucleus", {NUCLEUS: "2.15.0"})
    assert_failed(
        await outcome(gg, "conflicted", pinned),
        f"{NO_VERSION} Component {NUCLEUS} version constraints: "
        f"thinggroup/pins-nucleus requires =2.15.0, {CLI} requires >=2.14.0 <2.15.0.",
    )
    # It keeps what it had; the device in one group only takes the new nucleus, as a root.
    assert await running(gg, "conflicted") == {CLI: ("2.14.3", True), NUCLEUS: ("2.14.3", False)}
    assert await running(gg, "conflicted", "ROOT") == {CLI: ("2.14.3", True)}
    assert (await outcome(gg, "pinned-only", pinned))["coreDeviceExecutionStatus"] == "SUCCEEDED"
    assert await running(gg, "pinned-only") == {NUCLEUS: ("2.15.0", True)}
    core = await gg.get_core_device(coreDeviceThingName="pinned-only")
    assert core["coreVersion"] == "2.15.0"


async def test_a_range_only_a_deleted_version_satisfies(
    gg: Any, control: aiohttp.ClientSession
) -> None:
    lib = await publish(gg, "com.test.Lib", "1.0.0")
    await publish(gg, "com.test.Lib", "2.0.0")
    await publish(gg, "com.test.App", "1.0.0", {"com.test.Lib": "^1.0.0"})
    await device(control, "old-member", ["line"])
    deployed = await deploy(gg, "line", {"com.test.App": "1.0.0"})
    assert (await running(gg, "old-member"))["com.test.Lib"] == ("1.0.0", False)

    await gg.delete_component(arn=lib)
    with pytest.raises(ClientError) as caught:
        await gg.describe_component(arn=lib)
    assert code_of(caught) == ("ResourceNotFoundException", 404)
    named = await gg.get_deployment(deploymentId=deployed)
    assert named["components"] == {"com.test.App": {"componentVersion": "1.0.0"}}

    # A device that joins the group now cannot get Lib 1.0.0; the old member keeps running it.
    await device(control, "new-member", [])
    await control_post(control, "/_sim/devices/new-member/groups", {"add": ["line"]})
    assert_failed(
        await outcome(gg, "new-member", deployed),
        f"{NO_VERSION} Component com.test.Lib version constraints: com.test.App requires ^1.0.0.",
    )
    assert "com.test.App" not in await running(gg, "new-member")
    assert (await outcome(gg, "old-member", deployed))["coreDeviceExecutionStatus"] == "SUCCEEDED"
    assert (await running(gg, "old-member"))["com.test.Lib"] == ("1.0.0", False)


@pytest.mark.parametrize("reading", ["deferred", "eager"])
async def test_when_a_conflict_fails_follows_the_reading(
    gg: Any, control: aiohttp.ClientSession, world: World, reading: str
) -> None:
    """Lib meets {App 2.0.0: ^2.0.0, Mid: ^1.0.0} while App, which Mid bounds below 2.0.0, waits
    to be re-picked; App 1.0.0 drops the ^2.0.0. No source says whether the nucleus fails there
    (eager) or only once App has moved (deferred), so the simulator plays either."""
    world.readings.conflicts = reading
    for version in ("1.0.0", "2.0.0"):
        await publish(gg, "com.test.Lib", version)
    await publish(gg, "com.test.App", "1.0.0")
    await publish(gg, "com.test.App", "2.0.0", {"com.test.Lib": "^2.0.0"})
    await publish(gg, "com.test.Mid", "1.0.0", {"com.test.App": "<2.0.0", "com.test.Lib": "^1.0.0"})
    await publish(gg, "com.test.Gateway", "1.0.0", {"com.test.App": ">=1.0.0"})
    await publish(gg, "com.test.Line", "1.0.0", {"com.test.Mid": "*"})
    await device(control, "both", ["gateways", "lines"])
    first = await deploy(gg, "gateways", {"com.test.Gateway": "1.0.0"})
    assert (await outcome(gg, "both", first))["coreDeviceExecutionStatus"] == "SUCCEEDED"
    assert (await running(gg, "both"))["com.test.Lib"] == ("2.0.0", False)

    second = await deploy(gg, "lines", {"com.test.Line": "1.0.0"})
    item = await outcome(gg, "both", second)
    if reading == "deferred":
        assert item["coreDeviceExecutionStatus"] == "SUCCEEDED"
        now = await running(gg, "both")
        assert (now["com.test.App"], now["com.test.Lib"]) == (("1.0.0", False), ("1.0.0", False))
    else:
        assert item["coreDeviceExecutionStatus"] == "FAILED"
        assert item["reason"].startswith(
            f"{NO_VERSION} Component com.test.Lib version constraints: "
        )
        assert "com.test.App requires ^2.0.0" in item["reason"]
        assert "com.test.Mid requires ^1.0.0" in item["reason"]
        assert (await running(gg, "both"))["com.test.Lib"] == ("2.0.0", False)


async def test_no_version_for_the_devices_platform(gg: Any, control: aiohttp.ClientSession) -> None:
    await publish(gg, "com.test.Vision", "1.0.0", arch="amd64")
    await device(control, "on-amd64", ["cameras"])
    await device(control, "on-armv7", ["cameras"], platform="linux/armv7")
    deployed = await deploy(gg, "cameras", {"com.test.Vision": "1.0.0"})
    assert (await outcome(gg, "on-amd64", deployed))["coreDeviceExecutionStatus"] == "SUCCEEDED"
    assert_failed(
        await outcome(gg, "on-armv7", deployed),
        "The latest version of Component com.test.Vision doesn't claim platform "
        "{os=linux, architecture=armv7} compatibility. Component com.test.Vision version "
        "constraints: thinggroup/cameras requires =1.0.0.",
    )
    core = await gg.get_core_device(coreDeviceThingName="on-armv7")
    assert (core["platform"], core["architecture"]) == ("linux", "armv7")


async def test_a_discontinued_version_picked_as_a_dependency(
    gg: Any, control: aiohttp.ClientSession
) -> None:
    await publish(gg, "com.test.Remote", "1.0.0", {TUNNELING: ">=1.1.0 <1.1.3"})
    await device(control, "remote", ["field"])
    deployed = await deploy(gg, "field", {"com.test.Remote": "1.0.0"})
    assert (await outcome(gg, "remote", deployed))["coreDeviceExecutionStatus"] == "SUCCEEDED"
    assert (await running(gg, "remote"))[TUNNELING] == ("1.1.2", False)
    arn = f"arn:aws:greengrass:{SIM_REGION}:aws:components:{TUNNELING}:versions:1.1.2"
    described = await gg.describe_component(arn=arn)
    assert described["status"]["vendorGuidance"] == "DISCONTINUED"


async def test_leaving_a_group_removes_its_components_from_nucleus_2_5_on(
    gg: Any, control: aiohttp.ClientSession
) -> None:
    await publish(gg, "com.test.Agent", "1.0.0")
    await device(control, "recent", ["fleet"], nucleus="2.14.3")
    await device(control, "older", ["fleet"], nucleus="2.4.0")
    await deploy(gg, "fleet", {"com.test.Agent": "1.0.0"})
    for thing in ("recent", "older"):
        assert (await running(gg, thing))["com.test.Agent"] == ("1.0.0", True)
        await control_post(control, f"/_sim/devices/{thing}/groups", {"remove": ["fleet"]})
    assert "com.test.Agent" not in await running(gg, "recent")
    assert (await running(gg, "older"))["com.test.Agent"] == ("1.0.0", True)
    # ListCoreDevices' documented quirk: both stay listed under the group they left.
    listed = await gg.list_core_devices(thingGroupArn=GROUPS + "fleet")
    assert {"recent", "older"} <= {d["coreDeviceThingName"] for d in listed["coreDevices"]}


async def test_a_version_aws_publishes_is_resolved_from_then_on(
    gg: Any, control: aiohttp.ClientSession
) -> None:
    def broker(version: str, below: str) -> dict[str, Any]:
        dependencies = {NUCLEUS: {"VersionRequirement": f">=2.0.0 <{below}"}}
        return {
            "componentName": "aws.test.Broker",
            "componentVersion": version,
            "public": True,
            "recipe": {
                "ComponentDependencies": dependencies,
                "ComponentType": "aws.greengrass.plugin",
            },
        }

    await control_post(control, "/_sim/components", broker("1.0.0", "2.15.0"))
    await publish(gg, "com.test.Uses", "1.0.0", {"aws.test.Broker": "^1.0.0"})
    await device(control, "newest", ["brokers"], nucleus="2.15.0")
    first = await deploy(gg, "brokers", {"com.test.Uses": "1.0.0"})
    assert (await outcome(gg, "newest", first))["coreDeviceExecutionStatus"] == "FAILED"

    await control_post(control, "/_sim/components", broker("1.1.0", "2.16.0"))
    again = await deploy(gg, "brokers", {"com.test.Uses": "1.0.0"})
    assert (await outcome(gg, "newest", again))["coreDeviceExecutionStatus"] == "SUCCEEDED"
    assert (await running(gg, "newest"))["aws.test.Broker"] == ("1.1.0", False)
    bad = {**broker("1.2.0", "2.16.0"), "recipe": {"ComponentDependencies": {"x": "^1"}}}
    await control_post(control, "/_sim/components", bad, expect=400)
