"""ResolveComponentCandidates: refused to IAM callers on the control plane (or served, by the
reading `candidates_for_iam`), answered to core devices on the data-plane listener.

Every call goes over HTTP. The data plane is reached by a real aiobotocore greengrassv2 client
pointed at the data-plane port (`endpoint_url`), which names its core device in the
`x-amzn-iot-thingname` header through botocore's documented event system (`before-sign`),
standing for the device certificate a real device presents; header cases use aiohttp
directly. Versions are made through CreateComponentVersion and DeleteComponent, guidance
through POST /_sim/guidance; expected values come from the `world` fixture, the object the
simulator serves.
"""

from __future__ import annotations

import argparse
import base64
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from ggwatch.sim import cli
from ggwatch.sim.dataplane import ACCOUNT_HEADER, REGION_HEADER, THING_HEADER
from ggwatch.sim.fleet import FleetError, build
from ggwatch.sim.server import DataPlaneListenError, Running, Simulator, serve
from ggwatch.sim.store import CoreDevice, RegionState, World
from tests.sim.conftest import SIM_ACCOUNT, SIM_REGION, Wire, device_client

NUCLEUS = "aws.greengrass.Nucleus"
LOG_MANAGER = "aws.greengrass.LogManager"
PATH = "/greengrass/v2/resolveComponentCandidates"
LINUX_AMD64 = {"name": "linux", "attributes": {"os": "linux", "architecture": "amd64"}}
OTHER_ACCOUNT = "210987654321"
Knobs = Callable[..., Awaitable[dict[str, Any]]]


def candidate(name: str, requirements: dict[str, str], version: str | None = None) -> Any:
    out: dict[str, Any] = {"componentName": name, "versionRequirements": requirements}
    if version is not None:
        out["componentVersion"] = version
    return out


async def resolve(
    client: Any, name: str, requirements: dict[str, str], platform: Any = None
) -> dict[str, Any]:
    """The one resolved version of one candidate, its recipe decoded."""
    answer = await client.resolve_component_candidates(
        platform=platform or LINUX_AMD64, componentCandidates=[candidate(name, requirements)]
    )
    (resolved,) = answer["resolvedComponentVersions"]
    return dict(resolved)


def error_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int, str]:
    response = caught.value.response
    return (
        response["Error"]["Code"],
        response["ResponseMetadata"]["HTTPStatusCode"],
        response["Error"]["Message"],
    )


def recipe(name: str, version: str, platforms: list[dict[str, str]] | None = None) -> bytes:
    manifests = [
        {"Platform": p, "Lifecycle": {"Run": "echo hi"}} for p in platforms or [{"os": "linux"}]
    ]
    doc = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": version,
        "ComponentPublisher": "tests",
        "ComponentDependencies": {NUCLEUS: {"VersionRequirement": ">=2.0.0 <3.0.0"}},
        "Manifests": manifests,
    }
    return json.dumps(doc).encode()


@pytest.fixture
def state(world: World) -> RegionState:
    return world.region(SIM_ACCOUNT, SIM_REGION)


@pytest.fixture
def thing(state: RegionState) -> str:
    """A core device of the fleet, on linux/amd64."""
    return next(n for n, d in sorted(state.devices.items()) if d.architecture == "amd64")


@pytest.fixture
async def device(sim: Running, thing: str, wire: Wire) -> AsyncIterator[Any]:
    async with device_client(sim.data_plane_endpoint, {THING_HEADER: thing}, wire) as client:
        yield client


@pytest.fixture
async def published(gg: Any, no_quota: None) -> str:
    """com.example.Resolve 1.0.0, 1.4.0, 1.5.0-rc.1, 2.0.0 (linux), 1.6.0 (windows only)."""
    name = "com.example.Resolve"
    for version in ("1.0.0", "1.4.0", "1.5.0-rc.1", "2.0.0"):
        await gg.create_component_version(inlineRecipe=recipe(name, version))
    await gg.create_component_version(inlineRecipe=recipe(name, "1.6.0", [{"os": "windows"}]))
    return name


async def set_guidance(
    control: aiohttp.ClientSession, name: str, version: str, guidance: str, message: str
) -> None:
    body = {
        "componentName": name,
        "componentVersion": version,
        "vendorGuidance": guidance,
        "message": message,
    }
    async with control.post("/_sim/guidance", json=body) as resp:
        assert resp.status == 200, await resp.text()


async def post_raw(
    sim: Running, body: Any, headers: Mapping[str, str], path: str = PATH, method: str = "POST"
) -> tuple[int, dict[str, str], Any]:
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, sim.data_plane_endpoint + path, json=body, headers=headers) as r,
    ):
        return r.status, {k.lower(): v for k, v in r.headers.items()}, await r.json()


# -- the control plane: an IAM caller ----------------------------------------------------------


async def test_an_iam_caller_is_refused_on_the_control_plane(gg: Any, sim_calls: Any) -> None:
    with pytest.raises(ClientError) as caught:
        await gg.resolve_component_candidates(
            platform=LINUX_AMD64, componentCandidates=[candidate(NUCLEUS, {"a": ">=2.0.0"})]
        )
    code, status, message = error_of(caught)
    assert (code, status) == ("AccessDeniedException", 403)
    assert "data-plane endpoint" in message
    assert "device certificate" in message
    (call,) = await sim_calls(0)
    assert (call["operation"], call["error"]) == (
        "ResolveComponentCandidates",
        "AccessDeniedException",
    )


async def test_the_served_reading_answers_on_the_control_plane(
    gg: Any, device: Any, knobs: Knobs
) -> None:
    assert (await knobs(candidates_for_iam="served"))["candidates_for_iam"] == "served"
    wanted = {"thinggroup/a": ">=2.12.0 <2.13.0"}
    from_iam = await resolve(gg, NUCLEUS, wanted)
    assert from_iam["componentVersion"] == "2.12.6"
    assert from_iam == await resolve(device, NUCLEUS, wanted)  # as the data plane answers


# -- the data plane: what a core device is answered ----------------------------------------------


async def test_the_highest_satisfying_version_is_picked(
    device: Any, published: str, state: RegionState
) -> None:
    wanted = {"thinggroup/site": ">=1.0.0 <2.0.0", "com.example.App": "^1.2.0"}
    got = await resolve(device, published, wanted)
    # 1.6.0 runs on Windows only; 1.5.0-rc.1 is a pre-release that no range names; 2.0.0 is out.
    record = state.private[published].versions["1.4.0"]
    assert got["componentVersion"] == "1.4.0"
    assert got["arn"] == record.arn
    assert got["componentName"] == published
    assert got["vendorGuidance"] == "ACTIVE"
    assert "message" not in got
    document = json.loads(got["recipe"])  # botocore decoded the blob; the recipe is JSON
    assert (document["ComponentName"], document["ComponentVersion"]) == (published, "1.4.0")
    assert document["ComponentDependencies"][NUCLEUS]["VersionRequirement"] == ">=2.0.0 <3.0.0"
    # No requirement beyond the component: the highest version for the platform.
    assert (await resolve(device, published, {}))["componentVersion"] == "2.0.0"
    # The version the device has is no requirement (the nucleus sends its local candidate).
    answer = await device.resolve_component_candidates(
        platform=LINUX_AMD64,
        componentCandidates=[candidate(published, {"x": "^1.0.0"}, version="1.0.0")],
    )
    assert answer["resolvedComponentVersions"][0]["componentVersion"] == "1.4.0"


async def test_a_deleted_version_is_never_answered(
    device: Any, gg: Any, published: str, state: RegionState, control: aiohttp.ClientSession
) -> None:
    # AWS's nucleus 2.14.0 is DELETED: the range it alone satisfies has no usable version.
    with pytest.raises(ClientError) as caught:
        await resolve(device, NUCLEUS, {"thing/x": "=2.14.0"})
    code, status, message = error_of(caught)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "no usable version" in message
    assert "2.14.0" in message
    assert (await resolve(device, NUCLEUS, {"a": ">=2.13.0 <2.14.1"}))["componentVersion"] == (
        "2.13.0"
    )
    # Versions DeleteComponent removed (a team's way to withdraw its own) are no longer offered.
    for version in ("1.4.0", "1.0.0"):
        await gg.delete_component(arn=state.private[published].versions[version].arn)
    with pytest.raises(ClientError) as caught:
        await resolve(device, published, {"a": "<1.5.0"})
    code, _, message = error_of(caught)
    assert code == "ResourceNotFoundException"
    assert "no usable version" in message
    assert "only DELETED versions do (1.4.0, 1.0.0)" in message
    assert (await resolve(device, published, {"a": "*"}))["componentVersion"] == "2.0.0"
    # Nor is a version AWS marks DELETED from now on (vendor guidance is AWS's to set).
    await set_guidance(control, NUCLEUS, "2.13.0", "DELETED", "Gone.")
    with pytest.raises(ClientError) as caught:
        await resolve(device, NUCLEUS, {"a": ">=2.13.0 <2.14.1"})
    code, _, message = error_of(caught)
    assert code == "ResourceNotFoundException"
    assert "only DELETED versions do (2.14.0, 2.13.0)" in message


async def test_a_discontinued_version_is_answered_with_its_guidance(
    device: Any, control: aiohttp.ClientSession, state: RegionState
) -> None:
    got = await resolve(device, NUCLEUS, {"thinggroup/a": "=2.12.3"})
    assert got["vendorGuidance"] == "DISCONTINUED"
    assert got["message"] == state.public[NUCLEUS].versions["2.12.3"].guidance_message
    # AWS discontinues the newest version of one of its components: still the pick.
    newest = state.public[LOG_MANAGER].order[0]
    await set_guidance(control, LOG_MANAGER, newest, "DISCONTINUED", "Use 3.x when it ships.")
    got = await resolve(device, LOG_MANAGER, {"a": ">=2.0.0"})
    assert (got["componentVersion"], got["vendorGuidance"]) == (newest, "DISCONTINUED")
    assert got["message"] == "Use 3.x when it ships."


async def test_no_version_for_the_platform_is_not_found(device: Any, published: str) -> None:
    windows = {"name": "windows", "attributes": {"os": "windows", "architecture": "amd64"}}
    assert (await resolve(device, published, {"a": "^1.0.0"}, windows))["componentVersion"] == (
        "1.6.0"
    )
    with pytest.raises(ClientError) as caught:
        await resolve(device, published, {"a": ">=1.6.0 <2.0.0"})  # 1.6.0 claims Windows only
    code, status, message = error_of(caught)
    assert (code, status) == ("ResourceNotFoundException", 404)
    assert "claim platform" in message
    assert "os=linux" in message
    qnx = {"name": "qnx", "attributes": {"os": "qnx", "architecture": "amd64"}}
    with pytest.raises(ClientError) as caught:
        await resolve(device, NUCLEUS, {"a": ">=2.0.0"}, qnx)
    assert "claim platform" in error_of(caught)[2]


async def test_a_component_the_account_does_not_have_is_not_found(device: Any) -> None:
    with pytest.raises(ClientError) as caught:
        await resolve(device, "com.example.Nowhere", {"a": "^1.0.0"})
    code, _, message = error_of(caught)
    assert code == "ResourceNotFoundException"
    assert "no usable version" in message
    assert caught.value.response["resourceType"] == "component"


async def test_the_device_resolves_in_its_own_account_and_region(
    sim: Running, published: str, world: World
) -> None:
    other = world.region(OTHER_ACCOUNT, SIM_REGION)
    other.add_device(CoreDevice("elsewhere-1", "HEALTHY", 0.0, ()))
    async with device_client(sim.data_plane_endpoint, {THING_HEADER: "elsewhere-1"}) as client:
        # AWS's components are every account's; the other account's own are not its.
        got = await resolve(client, NUCLEUS, {"a": "=2.15.0"})
        assert got["arn"].startswith(f"arn:aws:greengrass:{SIM_REGION}:aws:")
        with pytest.raises(ClientError) as caught:
            await resolve(client, published, {"a": "^1.0.0"})
        assert error_of(caught)[0] == "ResourceNotFoundException"


async def test_an_unknown_device_is_refused(
    sim: Running, thing: str, world: World, sim_calls: Any
) -> None:
    body = {"platform": LINUX_AMD64, "componentCandidates": [candidate(NUCLEUS, {"a": "*"})]}
    cases: list[tuple[dict[str, str], str]] = [
        ({}, THING_HEADER),
        ({THING_HEADER: "no-such-thing"}, "no-such-thing is not a core device"),
        ({THING_HEADER: thing, ACCOUNT_HEADER: OTHER_ACCOUNT}, OTHER_ACCOUNT),
        ({THING_HEADER: thing, REGION_HEADER: "eu-west-1"}, "eu-west-1"),
    ]
    for headers, said in cases:
        status, got, answer = await post_raw(sim, body, headers)
        assert (status, got["x-amzn-errortype"]) == (403, "AccessDeniedException"), headers
        assert said in answer["message"]
    # The same thing name in two places: the headers say which.
    world.region(OTHER_ACCOUNT, SIM_REGION).add_device(CoreDevice(thing, "HEALTHY", 0.0, ()))
    status, _, answer = await post_raw(sim, body, {THING_HEADER: thing})
    assert status == 403
    assert ACCOUNT_HEADER in answer["message"]
    status, _, answer = await post_raw(
        sim, body, {THING_HEADER: thing, ACCOUNT_HEADER: SIM_ACCOUNT}
    )
    assert status == 200, answer
    assert [(c["account"], c["operation"]) for c in await sim_calls(0)] == [
        (SIM_ACCOUNT, "ResolveComponentCandidates")  # refused identities are not calls
    ]


async def test_malformed_requests_are_invalid(device: Any, sim: Running, thing: str) -> None:
    one = [candidate(NUCLEUS, {"a": ">=2.0.0"})]
    bad: list[tuple[dict[str, Any], str]] = [
        ({"componentCandidates": one}, "platform"),
        ({"platform": LINUX_AMD64}, "componentCandidates"),
        ({"platform": LINUX_AMD64, "componentCandidates": []}, "componentCandidates"),
        (
            {"platform": LINUX_AMD64, "componentCandidates": [{"versionRequirements": {}}]},
            "componentCandidates[0].componentName",
        ),
        (
            {"platform": LINUX_AMD64, "componentCandidates": [candidate(NUCLEUS, {"a": "2.x.y"})]},
            "componentCandidates[0].versionRequirements.a",
        ),
    ]
    for kwargs, field in bad:
        with pytest.raises(ClientError) as caught:
            await device.resolve_component_candidates(**kwargs)
        code, status, message = error_of(caught)
        assert (code, status) == ("ValidationException", 400), kwargs
        assert caught.value.response["fields"][0]["name"] == field
        assert field in message
    # What botocore's own validation would stop, sent raw: the model's shapes decide.
    for body in (
        {"platform": LINUX_AMD64, "componentCandidates": one, "extra": 1},
        {"platform": LINUX_AMD64, "componentCandidates": {"componentName": NUCLEUS}},
        {"platform": {"name": ""}, "componentCandidates": one},
    ):
        status, headers, answer = await post_raw(sim, body, {THING_HEADER: thing})
        assert (status, headers["x-amzn-errortype"]) == (400, "ValidationException"), body
        assert answer["reason"] == "FIELD_VALIDATION_FAILED"


async def test_several_candidates_are_resolved_each_on_its_own(device: Any, published: str) -> None:
    answer = await device.resolve_component_candidates(
        platform=LINUX_AMD64,
        componentCandidates=[
            candidate(NUCLEUS, {"a": "~2.11.0"}),
            candidate(published, {"b": "^1.0.0"}),
        ],
    )
    got = [(v["componentName"], v["componentVersion"]) for v in answer["resolvedComponentVersions"]]
    assert got == [(NUCLEUS, "2.11.3"), (published, "1.4.0")]


async def test_the_data_plane_serves_nothing_else(sim: Running, thing: str) -> None:
    status, headers, answer = await post_raw(
        sim, None, {THING_HEADER: thing}, path="/greengrass/v2/coreDevices", method="GET"
    )
    assert (status, headers["x-amzn-errortype"]) == (404, "UnknownOperationException")
    assert "serves only ResolveComponentCandidates" in answer["message"]


async def test_the_data_plane_meets_the_knobs(
    device: Any, knobs: Knobs, sim_calls: Any, wire: Wire
) -> None:
    await knobs(access_denied=["ResolveComponentCandidates"])  # the device's IoT policy
    with pytest.raises(ClientError) as caught:
        await resolve(device, NUCLEUS, {"a": "*"})
    assert error_of(caught)[:2] == ("AccessDeniedException", 403)
    await knobs(access_denied=[], error_rate=1.0)
    with pytest.raises(ClientError) as caught:
        await resolve(device, NUCLEUS, {"a": "*"})
    assert error_of(caught)[:2] == ("InternalServerException", 500)
    assert wire.last().headers["retry-after"] == "1"
    calls = await sim_calls(0)
    assert [c["error"] for c in calls] == ["AccessDeniedException", "InternalServerException"]


# -- wiring: the reading in fleet files and on the command line, the listener ------------------


def test_a_fleet_file_sets_the_reading() -> None:
    assert build({"regions": [SIM_REGION]}, now=0.0).readings.candidates_for_iam == "denied"
    served = build({"regions": [SIM_REGION], "candidates_for_iam": "served"}, now=0.0)
    assert served.readings.candidates_for_iam == "served"
    assert Simulator(served).knobs.readings.candidates_for_iam == "served"
    with pytest.raises(FleetError, match="candidates_for_iam"):
        build({"regions": [SIM_REGION], "candidates_for_iam": "maybe"}, now=0.0)


def test_the_command_line_takes_the_reading_and_the_data_plane_port() -> None:
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    defaults = parser.parse_args([])
    assert (defaults.candidates_for_iam, defaults.data_plane_port) == (None, 0)
    args = parser.parse_args(["--candidates-for-iam", "served", "--data-plane-port", "8443"])
    assert (args.candidates_for_iam, args.data_plane_port) == ("served", 8443)
    with pytest.raises(SystemExit):
        parser.parse_args(["--candidates-for-iam", "maybe"])


async def test_serve_starts_the_data_plane_and_the_banner_shows_it(world: World) -> None:
    async with serve(Simulator(world)) as running:
        assert running.data_plane_port not in (0, running.port)
        assert running.data_plane_endpoint == f"http://127.0.0.1:{running.data_plane_port}"
        lines = cli.banner(running).splitlines()
        assert lines[0].endswith(running.endpoint)
        assert running.data_plane_endpoint in lines[1]
        assert any(THING_HEADER in line for line in lines)
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        taken = busy.getsockname()[1]
        with pytest.raises(DataPlaneListenError):
            async with serve(Simulator(world), data_plane_port=taken):
                pass


async def test_the_recipe_is_a_base64_blob_on_the_wire(sim: Running, thing: str) -> None:
    body = {"platform": LINUX_AMD64, "componentCandidates": [candidate(NUCLEUS, {"a": "2.15.0"})]}
    status, headers, answer = await post_raw(sim, body, {THING_HEADER: thing})
    assert status == 200
    assert headers["content-type"].startswith("application/json")
    assert headers["x-amzn-requestid"]
    (resolved,) = answer["resolvedComponentVersions"]
    document = json.loads(base64.b64decode(resolved["recipe"], validate=True))
    assert (document["ComponentName"], document["ComponentVersion"]) == (NUCLEUS, "2.15.0")
    assert document.get("ComponentType") == "aws.greengrass.nucleus"
