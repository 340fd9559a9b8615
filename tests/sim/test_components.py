"""Components and recipes through a real aiobotocore client: semver order, GetComponent,
DeleteComponent, CreateComponentVersion, and the private-guidance switch.

Every call goes over HTTP; expected values are read from the `world` fixture (the same object
the simulator serves), which a test may also use to move the simulated clock.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from botocore.exceptions import ClientError

from ggwatch.sim import catalog, versions
from ggwatch.sim.fleet import FleetError, FleetSpec, build, generate
from ggwatch.sim.store import RegionState, World
from tests.sim.conftest import SIM_ACCOUNT, SIM_REGION

Knobs = Callable[..., Awaitable[dict[str, Any]]]
NUCLEUS = "aws.greengrass.Nucleus"
PREFIX = f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:components:"


@pytest.fixture
def state(world: World) -> RegionState:
    return world.region(SIM_ACCOUNT, SIM_REGION)


def recipe(name: str, version: str, **extra: Any) -> bytes:
    doc: dict[str, Any] = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": version,
        "ComponentPublisher": "tests",
        "ComponentDependencies": {
            NUCLEUS: {"VersionRequirement": ">=2.0.0 <3.0.0", "DependencyType": "SOFT"},
            "com.example.Telemetry": {"VersionRequirement": "^1.0.0"},
        },
        "Manifests": [
            {"Platform": {"os": "linux", "architecture": "aarch64"}, "Lifecycle": {"Run": "x"}}
        ],
    }
    doc.update(extra)
    return json.dumps(doc).encode()


def code_of(caught: pytest.ExceptionInfo[ClientError]) -> tuple[str, int]:
    response = caught.value.response
    return response["Error"]["Code"], response["ResponseMetadata"]["HTTPStatusCode"]


async def versions_of(gg: Any, arn: str) -> list[str]:
    out: list[str] = []
    kwargs: dict[str, Any] = {"arn": arn, "maxResults": 1}
    while True:  # one per page: the keyset cursor must follow semver order too
        page = await gg.list_component_versions(**kwargs)
        out += [v["componentVersion"] for v in page["componentVersions"]]
        if not page.get("nextToken"):
            return out
        kwargs["nextToken"] = page["nextToken"]


async def latest_of(gg: Any, name: str) -> str | None:
    page = await gg.list_components(maxResults=100)
    found = [c for c in page["components"] if c["componentName"] == name]
    return found[0]["latestVersion"]["componentVersion"] if found else None


# -- semver order --------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_quota")
async def test_versions_are_listed_by_semver_precedence(
    gg: Any, control: aiohttp.ClientSession
) -> None:
    name = "com.example.Semver"
    for version in ("1.9.0", "1.10.0-rc.1", "1.2.0", "1.10.0-beta.11", "1.10.0-beta.2"):
        async with control.post(
            "/_sim/components", json={"componentName": name, "componentVersion": version}
        ) as resp:
            assert resp.status == 200, await resp.text()
    expected = ["1.10.0-rc.1", "1.10.0-beta.11", "1.10.0-beta.2", "1.9.0", "1.2.0"]
    assert await versions_of(gg, PREFIX + name) == expected
    assert await latest_of(gg, name) == "1.10.0-rc.1"  # a pre-release is newer than 1.9.0
    async with control.post(
        "/_sim/components", json={"componentName": name, "componentVersion": "1.10.0"}
    ) as resp:
        assert resp.status == 200
    assert (await versions_of(gg, PREFIX + name))[:2] == ["1.10.0", "1.10.0-rc.1"]
    assert await latest_of(gg, name) == "1.10.0"
    async with control.post(
        "/_sim/components", json={"componentName": name, "componentVersion": "1.10"}
    ) as resp:
        assert resp.status == 400  # not a semantic version


@pytest.mark.usefixtures("no_quota")
async def test_public_histories_are_newest_first(gg: Any, state: RegionState) -> None:
    nucleus = state.public[NUCLEUS]
    listed = await versions_of(gg, nucleus.arn)
    assert listed == versions.newest_first(catalog.versions(NUCLEUS))
    assert listed[:3] == ["2.15.0", "2.14.3", "2.14.2"]
    assert listed[-1] == "2.0.0"


# -- GetComponent --------------------------------------------------------------------------------


@pytest.mark.usefixtures("no_quota")
async def test_get_component_answers_the_recipe_in_json_and_yaml(
    gg: Any, state: RegionState
) -> None:
    log_manager = state.public["aws.greengrass.LogManager"].versions["2.3.9"]
    as_json = await gg.get_component(arn=log_manager.arn, recipeOutputFormat="JSON")
    assert as_json["recipeOutputFormat"] == "JSON"
    doc = json.loads(as_json["recipe"])  # botocore decoded the base64 blob
    as_yaml = await gg.get_component(arn=log_manager.arn, recipeOutputFormat="YAML")
    assert as_yaml["recipeOutputFormat"] == "YAML"
    assert yaml.safe_load(as_yaml["recipe"]) == doc
    default = await gg.get_component(arn=log_manager.arn)
    assert default["recipeOutputFormat"] == "YAML"
    assert default["recipe"] == as_yaml["recipe"]
    assert doc["RecipeFormatVersion"] == "2020-01-25"
    assert (doc["ComponentName"], doc["ComponentVersion"]) == ("aws.greengrass.LogManager", "2.3.9")
    assert doc["ComponentPublisher"] == "AWS"
    assert doc["ComponentType"] == "aws.greengrass.plugin"
    deps = doc["ComponentDependencies"]
    assert deps["aws.greengrass.TokenExchangeService"] == {
        "VersionRequirement": "^2.0.0",
        "DependencyType": "HARD",
    }
    assert deps[NUCLEUS]["DependencyType"] == "SOFT"
    assert versions.satisfies("2.15.0", deps[NUCLEUS]["VersionRequirement"])
    platforms = [m["Platform"] for m in doc["Manifests"]]
    assert {"os": "linux", "architecture": "armv7"} in platforms
    assert {"os": "windows", "architecture": "amd64"} in platforms
    nucleus = await gg.get_component(
        arn=state.public[NUCLEUS].versions["2.12.6"].arn, recipeOutputFormat="JSON"
    )
    assert json.loads(nucleus["recipe"])["ComponentType"] == "aws.greengrass.nucleus"


def test_public_recipes_constrain_the_nucleus_plausibly(state: RegionState) -> None:
    nucleus = catalog.versions(NUCLEUS)
    for name, component in state.public.items():
        newest = component.latest()
        for record in component.versions.values():
            requirement = record.requirements.get(NUCLEUS)
            if name in catalog.NO_NUCLEUS_RANGE:
                assert requirement is None, name
                continue
            assert requirement is not None, name
            assert requirement[1] == "SOFT", name
            assert versions.max_satisfying(nucleus, requirement[0]), (name, record.version)
        assert versions.satisfies("2.15.0", newest.requirements.get(NUCLEUS, ("*", ""))[0]), name
    sitewise = state.public["aws.iot.SiteWiseEdgePublisher"].latest().requirements
    assert sitewise[catalog.STREAM_MANAGER] == ("^2.0.0", "HARD")


# -- DeleteComponent -----------------------------------------------------------------------------


@pytest.mark.usefixtures("no_quota")
async def test_a_deleted_version_is_gone_but_deployments_and_devices_keep_it(
    gg: Any, state: RegionState
) -> None:
    device = next(
        d
        for _, d in sorted(state.devices.items())
        if any(i.is_root and i.name in state.private for i in d.installed.values())
    )
    installed = next(i for i in device.installed.values() if i.is_root and i.name in state.private)
    component = state.private[installed.name]
    arn = component.versions[installed.version].arn
    deployment_id = installed.source
    before = await gg.get_deployment(deploymentId=deployment_id)
    assert before["components"][installed.name]["componentVersion"] == installed.version
    was_latest = component.order[0]
    await gg.delete_component(arn=arn)
    for call in (gg.describe_component, gg.get_component):
        with pytest.raises(ClientError) as caught:
            await call(arn=arn)
        assert code_of(caught) == ("ResourceNotFoundException", 404)
    assert installed.version not in await versions_of(gg, component.arn)
    after = await gg.get_deployment(deploymentId=deployment_id)
    assert after["components"] == before["components"]
    running = await gg.list_installed_components(
        coreDeviceThingName=device.thing_name, topologyFilter="ALL"
    )
    assert {
        (i["componentName"], i["componentVersion"]) for i in running["installedComponents"]
    } >= {(installed.name, installed.version)}
    expected_latest = component.order[0] if component.order else None
    assert await latest_of(gg, installed.name) == expected_latest
    if installed.version == was_latest:
        assert expected_latest != was_latest


@pytest.mark.usefixtures("no_quota")
async def test_deleting_the_newest_and_the_last_versions(gg: Any, state: RegionState) -> None:
    name = sorted(state.private)[-1]
    component = state.private[name]
    remaining = list(component.order)
    while remaining:
        assert await latest_of(gg, name) == remaining[0]
        response = await gg.delete_component(arn=component.versions[remaining[0]].arn)
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
        remaining.pop(0)
    assert await latest_of(gg, name) is None  # the component left ListComponents
    with pytest.raises(ClientError) as caught:
        await gg.list_component_versions(arn=PREFIX + name)
    assert code_of(caught) == ("ResourceNotFoundException", 404)


@pytest.mark.usefixtures("no_quota")
async def test_deleting_a_public_version_is_refused(gg: Any, state: RegionState) -> None:
    arn = state.public[NUCLEUS].versions["2.15.0"].arn
    with pytest.raises(ClientError) as caught:
        await gg.delete_component(arn=arn)
    assert code_of(caught) == ("AccessDeniedException", 403)
    assert (await gg.describe_component(arn=arn))["componentVersion"] == "2.15.0"


# -- CreateComponentVersion ----------------------------------------------------------------------


@pytest.mark.usefixtures("no_quota")
async def test_a_created_version_is_requested_then_deployable(gg: Any) -> None:
    created = await gg.create_component_version(
        inlineRecipe=recipe("com.example.New", "1.0.0"), tags={"team": "edge"}
    )
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    arn = PREFIX + "com.example.New:versions:1.0.0"
    assert created["arn"] == arn
    assert created["status"]["componentState"] == "REQUESTED"
    assert created["status"]["vendorGuidance"] == "ACTIVE"
    described = await gg.describe_component(arn=arn)
    assert described["status"]["componentState"] == "DEPLOYABLE"
    assert described["platforms"] == [
        {"name": "linux", "attributes": {"os": "linux", "architecture": "aarch64"}}
    ]
    assert described["tags"] == {"team": "edge"}
    got = await gg.get_component(arn=arn, recipeOutputFormat="JSON")
    assert json.loads(got["recipe"]) == json.loads(recipe("com.example.New", "1.0.0"))
    assert await latest_of(gg, "com.example.New") == "1.0.0"
    listed = await gg.list_components()
    item = next(c for c in listed["components"] if c["componentName"] == "com.example.New")
    assert item["latestVersion"]["platforms"] == described["platforms"]


@pytest.mark.usefixtures("no_quota")
async def test_create_refuses_an_existing_version_a_big_recipe_and_lambdas(
    gg: Any, state: RegionState
) -> None:
    name = sorted(state.private)[0]
    existing = state.private[name].order[0]
    attempts: list[tuple[dict[str, Any], tuple[str, int], str]] = [
        ({"inlineRecipe": recipe(name, existing)}, ("ConflictException", 409), "exists"),
        (
            {"inlineRecipe": recipe("com.example.Big", "1.0.0", Pad="x" * 16_384)},
            ("ValidationException", 400),
            "at most 16384",
        ),
        (
            {"lambdaFunction": {"lambdaArn": "arn:aws:lambda:us-west-2:1:function:f:1"}},
            ("ValidationException", 400),
            "lambdaFunction is not supported by the simulator",
        ),
        ({}, ("ValidationException", 400), "inlineRecipe"),
    ]
    for params, expected, words in attempts:
        with pytest.raises(ClientError) as caught:
            await gg.create_component_version(**params)
        assert code_of(caught) == expected
        assert words in caught.value.response["Error"]["Message"]
    empty = recipe("com.example.Fits", "1.0.0", Pad="")
    padded = recipe("com.example.Fits", "1.0.0", Pad="x" * (16_384 - len(empty)))
    assert len(padded) == 16_384
    await gg.create_component_version(inlineRecipe=padded)


@pytest.mark.usefixtures("no_quota")
async def test_client_tokens_answer_the_same_response_for_8_hours(
    gg: Any, world: World, state: RegionState
) -> None:
    body = recipe("com.example.Once", "1.0.0")
    first = await gg.create_component_version(inlineRecipe=body, clientToken="tok-1")
    again = await gg.create_component_version(inlineRecipe=body, clientToken="tok-1")
    for key in ("arn", "componentName", "componentVersion", "creationTimestamp", "status"):
        assert again[key] == first[key], key
    with pytest.raises(ClientError) as caught:  # same token, another request
        await gg.create_component_version(
            inlineRecipe=recipe("com.example.Once", "2.0.0"), clientToken="tok-1"
        )
    assert code_of(caught) == ("ConflictException", 409)
    later = state.clock() + 8 * 3600 + 1
    world.set_clock(lambda: later)
    with pytest.raises(ClientError) as caught:  # the token is forgotten: a new request
        await gg.create_component_version(inlineRecipe=body, clientToken="tok-1")
    assert code_of(caught) == ("ConflictException", 409)
    assert "already exists" in caught.value.response["Error"]["Message"]


async def test_create_has_its_own_quota_of_one_per_second(gg: Any, knobs: Knobs) -> None:
    await gg.create_component_version(inlineRecipe=recipe("com.example.Fast", "1.0.0"))
    with pytest.raises(ClientError) as caught:
        await gg.create_component_version(inlineRecipe=recipe("com.example.Fast", "1.0.1"))
    assert code_of(caught) == ("ThrottlingException", 429)
    assert int(caught.value.response["ResponseMetadata"]["HTTPHeaders"]["retry-after"]) >= 1
    await gg.list_components()  # the shared budget of 30/s is not spent
    await asyncio.sleep(1.05)
    await gg.create_component_version(inlineRecipe=recipe("com.example.Fast", "1.0.1"))
    await knobs(component_version_rate=0)
    for patch in range(2, 5):
        await gg.create_component_version(inlineRecipe=recipe("com.example.Fast", f"1.0.{patch}"))


# -- private vendor guidance ---------------------------------------------------------------------


@pytest.mark.usefixtures("no_quota")
async def test_private_guidance_can_be_switched_off(
    control: aiohttp.ClientSession, knobs: Knobs, state: RegionState
) -> None:
    private = sorted(state.private)[0]
    body = {
        "componentName": private,
        "componentVersion": state.private[private].order[-1],
        "vendorGuidance": "DISCONTINUED",
    }
    async with control.post("/_sim/guidance", json=body) as resp:
        assert resp.status == 400  # the default: refused, as no AWS API does it
        assert "no AWS API" in (await resp.json())["error"]
    assert (await knobs(private_guidance=True))["private_guidance"] is True
    async with control.post("/_sim/guidance", json=body) as resp:
        assert resp.status == 200
    assert (await knobs(private_guidance=False))["private_guidance"] is False
    async with control.post("/_sim/guidance", json=body) as resp:
        assert resp.status == 400
        assert "no AWS API" in (await resp.json())["error"]
    public = {"componentName": NUCLEUS, "componentVersion": "2.11.0", "vendorGuidance": "DELETED"}
    async with control.post("/_sim/guidance", json=public) as resp:
        assert resp.status == 200


# -- fleet files and the generator ---------------------------------------------------------------


def test_fleet_files_express_dependencies_and_platforms() -> None:
    components = {
        "com.example.Base": [{"version": "1.0.0"}, {"version": "1.1.0"}, {"version": "2.0.0"}],
        "com.example.App": [
            {
                "version": "1.0.0",
                "platforms": ["linux/amd64", {"os": "windows"}],
                "depends_on": {
                    "com.example.Base": "^1.0.0",
                    "aws.greengrass.TokenExchangeService": {"requirement": "2.0.3", "type": "SOFT"},
                    NUCLEUS: ">=2.0.0 <2.16.0",
                },
            }
        ],
    }
    fleet = {"accounts": [{"regions": {"us-west-2": {"components": components}}}]}
    world = build(fleet, now=time.time())
    app = world.region(SIM_ACCOUNT, SIM_REGION).private["com.example.App"].versions["1.0.0"]
    assert app.requirements["com.example.Base"] == ("^1.0.0", "HARD")
    assert app.requirements["aws.greengrass.TokenExchangeService"] == ("2.0.3", "SOFT")
    assert app.dependencies == {
        "com.example.Base": "1.1.0",
        "aws.greengrass.TokenExchangeService": "2.0.3",
    }
    assert [p["attributes"] for p in app.platforms] == [
        {"os": "linux", "architecture": "amd64"},
        {"os": "windows"},
    ]
    bad = {"com.example.App": [{"version": "1.0.0", "depends_on": {"com.example.X": "^1"}}]}
    for broken, words in [
        (bad, "no version of com.example.X"),
        ({"com.example.A": [{"version": "1.0"}]}, "not a semantic version"),
        ({"com.example.A": [{"version": "1.0.0", "depends_on": {"B": "nope"}}]}, "npm range"),
    ]:
        with pytest.raises(FleetError, match=words):
            build({"accounts": [{"regions": {"us-west-2": {"components": broken}}}]}, now=0.0)


def test_a_fleet_file_can_refuse_private_guidance(tmp_path: Path) -> None:
    entry = {"version": "1.0.0", "vendor_guidance": "DISCONTINUED"}
    fleet = {
        "private_guidance": False,
        "accounts": [{"regions": {"us-west-2": {"components": {"com.example.A": [entry]}}}}],
    }
    with pytest.raises(FleetError, match="private_guidance is false"):
        build(fleet, now=0.0)
    entry["vendor_guidance"] = "ACTIVE"
    assert build(fleet, now=0.0).readings.private_guidance is False


def test_the_sample_fleet_loads_with_recipes() -> None:
    sample = Path(__file__).parents[2] / "config" / "sample-fleet.yaml"
    world = build(yaml.safe_load(sample.read_text()), now=time.time())
    assert world.readings.private_guidance is False  # the default: AWS's lifecycle
    state = world.region(SIM_ACCOUNT, SIM_REGION)
    assert any(v.requirements for c in state.private.values() for v in c.versions.values())


def test_generated_recipes_are_deterministic_and_acyclic() -> None:
    spec = FleetSpec(seed=11, devices=5, private_components=14, private_versions=3)
    one, two = generate(spec, now=1.7e9), generate(spec, now=1.7e9)
    a, b = one.region(SIM_ACCOUNT, SIM_REGION), two.region(SIM_ACCOUNT, SIM_REGION)
    facts = [
        (n, v.version, v.requirements, v.platforms)
        for n, c in sorted(a.private.items())
        for v in c.versions.values()
    ]
    assert facts == [
        (n, v.version, v.requirements, v.platforms)
        for n, c in sorted(b.private.items())
        for v in c.versions.values()
    ]
    made = list(a.private)
    for index, name in enumerate(made):
        for dep in a.private[name].latest().requirements:
            assert dep not in a.private or made.index(dep) < index, (name, dep)
    assert any(d in a.private for c in a.private.values() for d in c.latest().requirements)
    without = generate(
        FleetSpec(
            seed=11, devices=5, private_components=14, private_versions=3, private_guidance=False
        ),
        now=1.7e9,
    )
    guidance = {
        v.vendor_guidance
        for c in without.region(SIM_ACCOUNT, SIM_REGION).private.values()
        for v in c.versions.values()
    }
    assert guidance <= {"ACTIVE", None}


def test_a_recipe_blob_is_base64_on_the_wire() -> None:
    from ggwatch.sim.model import load_model

    model = load_model()
    shape = model.output_shape("GetComponent")
    assert shape is not None
    out = model.serialize(shape, {"recipeOutputFormat": "YAML", "recipe": b"a: 1\n"})
    assert base64.b64decode(out["recipe"]) == b"a: 1\n"
