"""The simulator against botocore's Greengrass V2 model (and the `iot` model for the two AWS IoT
operations it serves), byte for byte on the wire.

The model is loaded from the installed botocore when the tests run; no shape is copied here.
Raw response bodies come off the wire through botocore's `before-parse` event (before the
client decodes anything) or from raw SigV4-signed requests, and are walked against the model
by a checker written here, separately from the simulator's own validator, so that the two
cannot share a mistake.
"""

from __future__ import annotations

import base64
import json
import math
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import quote

import aiohttp
import botocore.session
import pytest
from aiobotocore.session import get_session
from botocore.exceptions import ClientError
from botocore.model import ServiceModel, Shape

from ggwatch.sim.dataplane import THING_HEADER
from ggwatch.sim.operations import HANDLERS, IOT_HANDLERS
from ggwatch.sim.server import Running
from ggwatch.sim.store import Deployment, RegionState, World
from tests.conftest import client_config
from tests.sim.conftest import SIM_ACCOUNT, SIM_REGION, RawSender, Wire, device_client

# Errors AWS's shared front door answers for any operation, modelled there or not.
FRONT_DOOR = frozenset({"ThrottlingException", "AccessDeniedException"})
REQUIRED_OPERATIONS = frozenset(
    {
        "ListComponents",
        "ListComponentVersions",
        "DescribeComponent",
        "ListDeployments",
        "GetDeployment",
        "CreateDeployment",
        "CancelDeployment",
        "DeleteDeployment",
        "ListCoreDevices",
        "ListInstalledComponents",
        "ListEffectiveDeployments",
        "TagResource",
        "ListTagsForResource",
    }
)
THING_PREFIX = f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:thing/"
GROUP_PREFIX = f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:thinggroup/"


@cache
def service_model() -> ServiceModel:
    """botocore's greengrassv2 model, read from the installed botocore's data files."""
    return botocore.session.get_session().get_service_model("greengrassv2")


@cache
def iot_model() -> ServiceModel:
    """botocore's iot model: ListThingsInThingGroup and ListThingGroupsForThing."""
    return botocore.session.get_session().get_service_model("iot")


def model_of(operation: str) -> ServiceModel:
    return iot_model() if operation in IOT_HANDLERS else service_model()


# -- an independent checker: a JSON value against a botocore Shape ---------------------------


class WireContract:
    """Walks a decoded JSON body next to its Shape and lists every way the two disagree.

    Unlike a validator that stops at the first problem, this collects them all (with a
    JSONPath-like location) so one failing test shows the whole picture.
    """

    # Members bound to something other than the JSON body never appear in it.
    NOT_IN_BODY = frozenset({"header", "headers", "statusCode", "uri", "querystring"})

    def __init__(self) -> None:
        self.problems: list[str] = []

    def run(self, shape: Shape, value: Any, where: str = "$") -> list[str]:
        self._visit(shape, value, where)
        return self.problems

    def _fail(self, where: str, text: str) -> None:
        self.problems.append(f"{where}: {text}")

    def _visit(self, shape: Shape, value: Any, where: str) -> None:
        if value is None:
            self._fail(where, f"null where the model has a {shape.type_name} ({shape.name})")
            return
        visitors: dict[str, Callable[[Shape, Any, str], None]] = {
            "structure": self._structure,
            "list": self._list,
            "map": self._map,
            "string": self._string,
            "integer": self._integral,
            "long": self._integral,
            "double": self._real,
            "float": self._real,
            "boolean": self._boolean,
            "timestamp": self._timestamp,
            "blob": self._blob,
        }
        visitor = visitors.get(shape.type_name)
        if visitor is None:
            self._fail(where, f"the checker has no rule for type {shape.type_name}")
            return
        visitor(shape, value, where)

    def _structure(self, shape: Shape, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            self._fail(where, f"{shape.name} must be a JSON object, got {type(value).__name__}")
            return
        on_wire: dict[str, tuple[str, Shape]] = {}
        for name, member in shape.members.items():
            if member.serialization.get("location") in self.NOT_IN_BODY:
                continue
            on_wire[member.serialization.get("name", name)] = (name, member)
        for key in value:
            if key not in on_wire:
                self._fail(f"{where}.{key}", f"not a body member of {shape.name}")
        for required in shape.required_members:
            member = shape.members[required]
            if member.serialization.get("location") in self.NOT_IN_BODY:
                continue
            if value.get(member.serialization.get("name", required)) is None:
                self._fail(f"{where}.{required}", f"required by {shape.name} but missing")
        for key, item in value.items():
            if key in on_wire:
                self._visit(on_wire[key][1], item, f"{where}.{key}")

    def _list(self, shape: Shape, value: Any, where: str) -> None:
        if not isinstance(value, list):
            self._fail(where, f"{shape.name} must be a JSON array")
            return
        self._bounds(shape, len(value), where, "items")
        for index, item in enumerate(value):
            self._visit(shape.member, item, f"{where}[{index}]")

    def _map(self, shape: Shape, value: Any, where: str) -> None:
        if not isinstance(value, dict):
            self._fail(where, f"{shape.name} must be a JSON object")
            return
        if value:
            # AWS answers an empty TagMap as {} though its min is 1 (the min binds requests,
            # TagResource): the AWS CLI's examples of get-deployment and get-core-device show
            # "tags": {}. So only a map with entries is held to its bounds.
            self._bounds(shape, len(value), where, "entries")
        for key, item in value.items():
            self._visit(shape.key, key, f"{where}<key {key!r}>")
            self._visit(shape.value, item, f"{where}[{key!r}]")

    def _string(self, shape: Shape, value: Any, where: str) -> None:
        if not isinstance(value, str):
            self._fail(where, f"{shape.name} must be a string, got {value!r}")
            return
        self._bounds(shape, len(value), where, "characters")
        enum = shape.metadata.get("enum")
        if enum and value not in enum:
            self._fail(where, f"{value!r} is not one of {shape.name}'s values {enum}")
        pattern = shape.metadata.get("pattern")
        if pattern and re.fullmatch(pattern, value) is None:
            self._fail(where, f"{value!r} does not match {shape.name}'s pattern {pattern}")

    def _integral(self, shape: Shape, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            self._fail(where, f"{shape.name} must be a whole number, got {value!r}")
            return
        self._bounds(shape, value, where, "as a value")

    def _real(self, shape: Shape, value: Any, where: str) -> None:
        if isinstance(value, bool) or not isinstance(value, int | float):
            self._fail(where, f"{shape.name} must be a number, got {value!r}")
            return
        if not math.isfinite(value):
            self._fail(where, f"{shape.name} must be finite")
        self._bounds(shape, value, where, "as a value")

    def _boolean(self, shape: Shape, value: Any, where: str) -> None:
        if not isinstance(value, bool):
            self._fail(where, f"{shape.name} must be true or false, got {value!r}")

    def _timestamp(self, shape: Shape, value: Any, where: str) -> None:
        wire_format = shape.serialization.get("timestampFormat", "unixTimestamp")
        if wire_format != "unixTimestamp":
            self._fail(where, f"the checker expects epoch timestamps, the model says {wire_format}")
        elif isinstance(value, bool) or not isinstance(value, int | float):
            self._fail(where, f"a rest-json body timestamp is epoch seconds, got {value!r}")
        elif not 0 < value < 4_102_444_800:  # 2100-01-01: epoch seconds, not milliseconds
            self._fail(where, f"{value!r} is not a plausible epoch-seconds timestamp")

    def _blob(self, shape: Shape, value: Any, where: str) -> None:
        """A rest-json body carries a blob as base64 text (GetComponent's recipe)."""
        if not isinstance(value, str):
            self._fail(where, f"{shape.name} must be base64 text, got {value!r}")
            return
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            self._fail(where, f"{shape.name} is not valid base64: {value[:40]!r}")

    def _bounds(self, shape: Shape, size: float, where: str, unit: str) -> None:
        low, high = shape.metadata.get("min"), shape.metadata.get("max")
        if low is not None and size < low:
            self._fail(where, f"{shape.name} needs at least {low} {unit}, has {size}")
        if high is not None and size > high:
            self._fail(where, f"{shape.name} allows at most {high} {unit}, has {size}")


def body_problems(shape: Shape | None, body: bytes) -> list[str]:
    """Every way a raw body disagrees with an operation's output (or error) shape."""
    if shape is None:
        return [] if body == b"" else [f"no output is modelled, but the body is {body[:80]!r}"]
    try:
        value = json.loads(body)
    except ValueError:
        return [f"the body is not JSON: {body[:80]!r}"]
    return WireContract().run(shape, value)


def error_code(headers: Mapping[str, str], body: bytes) -> str:
    """The error code as a rest-json client reads it: the x-amzn-ErrorType header first."""
    code = headers.get("x-amzn-errortype", "")
    if not code and body:
        data = json.loads(body)
        code = str(data.get("code") or data.get("__type") or "")
    return code.split(":", 1)[0].rpartition("#")[2]


def error_problems(
    operation: str, status: int, headers: Mapping[str, str], body: bytes
) -> list[str]:
    """Problems with one error answer: status, required members, and being a listed error."""
    code = error_code(headers, body)
    model = model_of(operation)
    listed = {shape.name for shape in model.operation_model(operation).error_shapes}
    problems: list[str] = []
    if code not in listed | FRONT_DOOR:
        problems.append(f"{operation} answered {code}, which is not among its errors {listed}")
    if code not in model.shape_names:
        return [*problems, f"{code} is not a shape of the model"]
    shape = model.shape_for(code)
    if not shape.metadata.get("exception"):
        problems.append(f"{code} is not an exception shape")
        return problems
    modelled_status = shape.metadata["error"]["httpStatusCode"]
    if status != modelled_status:
        problems.append(f"{code} came with HTTP {status}, the model says {modelled_status}")
    problems.extend(body_problems(shape, body))
    for name, member in shape.members.items():
        where = member.serialization
        if where.get("location") == "header" and where["name"].lower() in headers:
            raw = headers[where["name"].lower()]
            if member.type_name == "integer" and not raw.isdigit():
                problems.append(f"header {where['name']}: {raw!r} is not a whole number")
        elif where.get("location") == "header" and name in shape.required_members:
            problems.append(f"header {where['name']} is required by {code} but missing")
    return problems


def success_problems(operation: str, status: int, body: bytes) -> list[str]:
    op = model_of(operation).operation_model(operation)
    problems = []
    expected = int(op.http.get("responseCode", 200))
    if status != expected:
        problems.append(f"{operation} answered HTTP {status}, the model says {expected}")
    return problems + body_problems(op.output_shape, body)


def test_the_checker_catches_what_it_should() -> None:
    """The checker must be able to say no: one mistake of every kind it knows about."""
    model = service_model()
    bad_list = {
        "components": [
            {
                "arn": "arn:aws:greengrass:us-west-2:someone:components:x",  # pattern
                "componentName": "",  # min length
                "latestVersion": {
                    "creationTimestamp": "2024-01-01",  # not epoch seconds
                    "platforms": [{"name": "linux", "attributes": {"os": 3}}],  # type
                    "colour": "blue",  # unknown member
                },
            }
        ],
        "nextToken": None,  # null
    }
    problems = WireContract().run(model.shape_for("ListComponentsResponse"), bad_list)
    assert len(problems) == 6, problems
    bad_effective = {"effectiveDeployments": [{"deploymentId": "x", "reason": 1}]}
    problems = WireContract().run(
        model.shape_for("ListEffectiveDeploymentsResponse"), bad_effective
    )
    assert sum("missing" in p for p in problems) == 5, problems
    assert any("reason" in p for p in problems)
    deployment = {"deploymentStatus": "DONE", "isLatestForTarget": "true", "tags": {}}
    problems = WireContract().run(model.shape_for("GetDeploymentResponse"), deployment)
    assert len(problems) == 2, problems  # enum, boolean; an empty TagMap is how AWS says none
    too_many = {"tags": {f"k{i}": "v" for i in range(201)}}
    problems = WireContract().run(model.shape_for("GetDeploymentResponse"), too_many)
    assert len(problems) == 1, problems  # TagMap max 200
    assert body_problems(None, b"{}")
    assert not body_problems(None, b"")


# -- the fleet the scenarios use ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Picks:
    """Resources of the generated fleet that the scenarios call operations on."""

    state: RegionState
    thing: str
    group_arn: str
    private_arn: str
    private_version_arn: str
    public_arn: str
    public_version_arn: str
    active: Deployment
    finished: Deployment

    @property
    def thing_arn(self) -> str:
        return THING_PREFIX + self.thing

    def deployment_arn(self, dep: Deployment) -> str:
        return f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:deployments:{dep.deployment_id}"


@pytest.fixture
def picks(world: World) -> Picks:
    state = world.region(SIM_ACCOUNT, SIM_REGION)
    deployments = [dep for _, dep in state.deployments.all]
    private = state.private[sorted(state.private)[0]]
    nucleus = state.public["aws.greengrass.Nucleus"]
    return Picks(
        state=state,
        thing=sorted(state.devices)[0],
        group_arn=GROUP_PREFIX + sorted(state.groups)[0],
        private_arn=private.arn,
        private_version_arn=private.versions[private.order[-1]].arn,
        public_arn=nucleus.arn,
        public_version_arn=nucleus.versions["2.12.3"].arn,
        active=next(d for d in deployments if d.status == "ACTIVE"),
        finished=next(d for d in deployments if d.status != "ACTIVE"),
    )


def rich_deployment(picks: Picks, **overrides: Any) -> dict[str, Any]:
    """A CreateDeployment request that uses every nested member the output can echo back."""
    private = picks.state.private[sorted(picks.state.private)[0]]
    request: dict[str, Any] = {
        "targetArn": picks.thing_arn,
        "deploymentName": "contract-rich",
        "components": {
            private.name: {
                "componentVersion": private.order[0],
                "configurationUpdate": {"merge": '{"interval": 5}', "reset": ["/old", ""]},
                "runWith": {
                    "posixUser": "ggc_user:ggc_group",
                    "systemResourceLimits": {"memory": 102400, "cpus": 0.5},
                },
            },
            "aws.greengrass.Cli": {"componentVersion": "2.15.0"},
        },
        "deploymentPolicies": {
            "failureHandlingPolicy": "ROLLBACK",
            "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
            "configurationValidationPolicy": {"timeoutInSeconds": 30},
        },
        "iotJobConfiguration": {
            "jobExecutionsRolloutConfig": {
                "exponentialRate": {
                    "baseRatePerMinute": 5,
                    "incrementFactor": 2.0,
                    "rateIncreaseCriteria": {"numberOfNotifiedThings": 10},
                },
                "maximumPerMinute": 50,
            },
            "abortConfig": {
                "criteriaList": [
                    {
                        "failureType": "FAILED",
                        "action": "CANCEL",
                        "thresholdPercentage": 10.0,
                        "minNumberOfExecutedThings": 2,
                    }
                ]
            },
            "timeoutConfig": {"inProgressTimeoutInMinutes": 120},
        },
        "parentTargetArn": picks.group_arn,
        "tags": {"team": "contract", "empty": ""},
    }
    request.update(overrides)
    return request


# -- scenarios: calls that succeed, and calls that must fail, per operation -------------------

Call = Callable[[Any, Picks], Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class Scenario:
    ok: tuple[Call, ...]
    # (call, the error code it must end in, or None for a setup call that must succeed)
    bad: tuple[tuple[Call, str | None], ...]


async def _list_components(gg: Any, p: Picks) -> None:
    await gg.list_components()
    await gg.list_components(scope="PUBLIC", maxResults=7)
    first = await gg.list_components(scope="PUBLIC", maxResults=5)
    await gg.list_components(scope="PUBLIC", maxResults=5, nextToken=first["nextToken"])


async def _list_versions(gg: Any, p: Picks) -> None:
    await gg.list_component_versions(arn=p.private_arn)
    first = await gg.list_component_versions(arn=p.public_arn, maxResults=4)
    await gg.list_component_versions(arn=p.public_arn, nextToken=first["nextToken"])


async def _describe(gg: Any, p: Picks) -> None:
    for arn in (p.private_version_arn, p.public_version_arn):
        await gg.describe_component(arn=arn)
    nucleus = p.state.public["aws.greengrass.Nucleus"]
    await gg.describe_component(arn=nucleus.versions["2.14.0"].arn)  # DELETED
    await gg.tag_resource(resourceArn=p.private_version_arn, tags={"k": "v"})
    await gg.describe_component(arn=p.private_version_arn)  # now with tags
    for component in p.state.private.values():  # some versions carry no guidance at all
        await gg.describe_component(arn=component.versions[component.order[-1]].arn)


async def _list_deployments(gg: Any, p: Picks) -> None:
    await gg.list_deployments()
    await gg.list_deployments(historyFilter="ALL", maxResults=100)
    await gg.list_deployments(targetArn=p.group_arn, historyFilter="ALL")
    await gg.create_deployment(**rich_deployment(p))
    await gg.list_deployments(parentTargetArn=p.group_arn)


async def _get_deployment(gg: Any, p: Picks) -> None:
    created = await gg.create_deployment(**rich_deployment(p))
    await gg.get_deployment(deploymentId=created["deploymentId"])
    for _, dep in p.state.deployments.all[:30]:
        await gg.get_deployment(deploymentId=dep.deployment_id)


async def _create(gg: Any, p: Picks) -> None:
    await gg.create_deployment(**rich_deployment(p, clientToken="contract-1"))
    await gg.create_deployment(**rich_deployment(p, clientToken="contract-1"))  # idempotent
    await gg.create_deployment(targetArn=p.group_arn)


async def _cancel(gg: Any, p: Picks) -> None:
    await gg.cancel_deployment(deploymentId=p.active.deployment_id)


async def _delete(gg: Any, p: Picks) -> None:
    await gg.delete_deployment(deploymentId=p.finished.deployment_id)


async def _list_devices(gg: Any, p: Picks) -> None:
    await gg.list_core_devices()
    await gg.list_core_devices(status="UNHEALTHY", maxResults=2)
    await gg.list_core_devices(thingGroupArn=p.group_arn, maxResults=10)


async def _get_device(gg: Any, p: Picks) -> None:
    for thing in sorted(p.state.devices)[:10]:
        await gg.get_core_device(coreDeviceThingName=thing)


async def _installed(gg: Any, p: Picks) -> None:
    await gg.list_installed_components(coreDeviceThingName=p.thing)
    await gg.list_installed_components(coreDeviceThingName=p.thing, topologyFilter="ALL")
    await gg.list_installed_components(coreDeviceThingName=p.thing, maxResults=1)


async def _effective(gg: Any, p: Picks) -> None:
    for thing in sorted(p.state.devices)[:10]:
        await gg.list_effective_deployments(coreDeviceThingName=thing)


async def _tag(gg: Any, p: Picks) -> None:
    for arn in (p.deployment_arn(p.active), p.private_arn, p.private_version_arn):
        await gg.tag_resource(resourceArn=arn, tags={"owner": "contract", "blank": ""})


async def _untag(gg: Any, p: Picks) -> None:
    arn = p.deployment_arn(p.active)
    await gg.tag_resource(resourceArn=arn, tags={"a": "1", "b": "2"})
    await gg.untag_resource(resourceArn=arn, tagKeys=["a", "never-set"])


async def _list_tags(gg: Any, p: Picks) -> None:
    arn = p.deployment_arn(p.active)
    await gg.list_tags_for_resource(resourceArn=arn)  # no tags yet
    await gg.tag_resource(resourceArn=arn, tags={"a": "1"})
    await gg.list_tags_for_resource(resourceArn=arn)
    await gg.list_tags_for_resource(
        resourceArn=f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:coreDevices:{p.thing}"
    )


async def _get_component(gg: Any, p: Picks) -> None:
    for arn in (p.private_version_arn, p.public_version_arn):
        await gg.get_component(arn=arn)  # no format asked for
        await gg.get_component(arn=arn, recipeOutputFormat="JSON")
    await gg.tag_resource(resourceArn=p.private_version_arn, tags={"k": "v"})
    await gg.get_component(arn=p.private_version_arn, recipeOutputFormat="YAML")  # with tags


async def _delete_component(gg: Any, p: Picks) -> None:
    await gg.delete_component(arn=p.private_version_arn)


def contract_recipe(name: str, version: str, **extra: Any) -> bytes:
    """A small JSON recipe as a publisher would upload it."""
    recipe: dict[str, Any] = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": name,
        "ComponentVersion": version,
        "ComponentPublisher": "contract",
        "ComponentDependencies": {
            "aws.greengrass.Nucleus": {"VersionRequirement": ">=2.0.0 <3.0.0"},
            "aws.greengrass.TokenExchangeService": {
                "VersionRequirement": "^2.0.0",
                "DependencyType": "HARD",
            },
        },
        "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"Run": "echo hi"}}],
    }
    recipe.update(extra)
    return json.dumps(recipe).encode()


async def _create_component_version(gg: Any, p: Picks) -> None:
    first = contract_recipe("com.contract.Created", "1.0.0")
    await gg.create_component_version(inlineRecipe=first, clientToken="cv-1", tags={"t": "1"})
    await gg.create_component_version(inlineRecipe=first, clientToken="cv-1", tags={"t": "1"})
    yaml_recipe = (
        "RecipeFormatVersion: '2020-01-25'\n"
        "ComponentName: com.contract.Created\n"
        "ComponentVersion: 1.1.0-rc.1\n"
        "Manifests:\n"
        "  - Platform: {os: windows}\n"
    )
    await gg.create_component_version(inlineRecipe=yaml_recipe.encode())


CANDIDATES_PLATFORM = {"name": "linux", "attributes": {"os": "linux", "architecture": "amd64"}}


def candidates_request(
    name: str, requirement: str, platform: dict[str, Any] | None = None
) -> dict[str, Any]:
    """ResolveComponentCandidates as the nucleus asks: one component, its requirements."""
    return {
        "platform": platform or CANDIDATES_PLATFORM,
        "componentCandidates": [
            {"componentName": name, "versionRequirements": {"thinggroup/contract": requirement}}
        ],
    }


async def _resolve_candidates(client: Any, p: Picks) -> None:
    """Answers with and without guidance (and its message), AWS's versions and the account's."""
    nucleus = "aws.greengrass.Nucleus"
    for requirement in (">=2.12.0 <2.13.0", "=2.12.3"):  # ACTIVE; DISCONTINUED with a message
        await client.resolve_component_candidates(**candidates_request(nucleus, requirement))
    for component in p.state.private.values():  # some versions carry no guidance at all
        for version in component.order:
            if component.versions[version].vendor_guidance != "DELETED":
                await client.resolve_component_candidates(
                    **candidates_request(component.name, f"={version}")
                )
    both = candidates_request(nucleus, "^2.0.0")
    both["componentCandidates"].append(
        {"componentName": "aws.greengrass.Cli", "componentVersion": "2.12.0"}
    )
    await client.resolve_component_candidates(**both)


async def _resolve_candidates_as_iam(gg: Any, p: Picks) -> None:
    p.state.readings.candidates_for_iam = "served"  # the control plane answers as the data plane
    await _resolve_candidates(gg, p)


async def _candidates_refused_to_iam(gg: Any, p: Picks) -> None:
    p.state.readings.candidates_for_iam = "denied"
    await gg.resolve_component_candidates(**candidates_request("aws.greengrass.Nucleus", "*"))


CANDIDATES_ERRORS: tuple[tuple[Call, str | None], ...] = (
    (
        lambda c, _p: c.resolve_component_candidates(
            **candidates_request("aws.greengrass.Nucleus", ">=99.0.0")
        ),
        "ResourceNotFoundException",
    ),
    (
        lambda c, _p: c.resolve_component_candidates(
            **candidates_request("aws.greengrass.Nucleus", "=2.14.0")  # DELETED
        ),
        "ResourceNotFoundException",
    ),
    (
        lambda c, _p: c.resolve_component_candidates(
            **candidates_request(
                "aws.greengrass.Nucleus", "*", {"name": "qnx", "attributes": {"os": "qnx"}}
            )
        ),
        "ResourceNotFoundException",
    ),
    (
        lambda c, _p: c.resolve_component_candidates(
            componentCandidates=[{"componentName": "aws.greengrass.Nucleus"}]
        ),
        "ValidationException",
    ),
    (
        lambda c, _p: c.resolve_component_candidates(
            **candidates_request("aws.greengrass.Nucleus", "not a range")
        ),
        "ValidationException",
    ),
)


MISSING_ID = "00000000-0000-4000-8000-000000000000"
MISSING_VERSION = (
    f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:components:com.none:versions:1.0.0"
)
MISSING_COMPONENT = f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:components:com.none"
MISSING_DEPLOYMENT_ARN = f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:deployments:{MISSING_ID}"
OTHER_GROUP = "arn:aws:iot:us-west-2:999999999999:thinggroup/elsewhere"


def _bad_token(operation: str) -> Call:
    method = re.sub(r"(?<!^)([A-Z])", r"_\1", operation).lower()

    async def call(gg: Any, p: Picks) -> Any:
        kwargs: dict[str, Any] = {"nextToken": "bm90LWEtdG9rZW4"}
        if operation == "ListComponentVersions":
            kwargs["arn"] = p.private_arn
        elif operation in ("ListInstalledComponents", "ListEffectiveDeployments"):
            kwargs["coreDeviceThingName"] = p.thing
        return await getattr(gg, method)(**kwargs)

    return call


SCENARIOS: dict[str, Scenario] = {
    "ListComponents": Scenario(
        (_list_components,),
        (
            (lambda gg, _p: gg.list_components(maxResults=101), "ValidationException"),
            (lambda gg, _p: gg.list_components(scope="SHARED"), "ValidationException"),
            (_bad_token("ListComponents"), "ValidationException"),
        ),
    ),
    "ListComponentVersions": Scenario(
        (_list_versions,),
        (
            (
                lambda gg, _p: gg.list_component_versions(arn=MISSING_COMPONENT),
                "ResourceNotFoundException",
            ),
            (lambda gg, _p: gg.list_component_versions(arn="not-an-arn"), "ValidationException"),
            (_bad_token("ListComponentVersions"), "ValidationException"),
        ),
    ),
    "DescribeComponent": Scenario(
        (_describe,),
        (
            (
                lambda gg, _p: gg.describe_component(arn=MISSING_VERSION),
                "ResourceNotFoundException",
            ),
            (lambda gg, p: gg.describe_component(arn=p.private_arn), "ValidationException"),
        ),
    ),
    "ListDeployments": Scenario(
        (_list_deployments,),
        (
            (lambda gg, _p: gg.list_deployments(targetArn="arn:aws:iot:x"), "ValidationException"),
            (lambda gg, _p: gg.list_deployments(historyFilter="SOME"), "ValidationException"),
            (_bad_token("ListDeployments"), "ValidationException"),
        ),
    ),
    "GetDeployment": Scenario(
        (_get_deployment,),
        ((lambda gg, _p: gg.get_deployment(deploymentId=MISSING_ID), "ResourceNotFoundException"),),
    ),
    "CreateDeployment": Scenario(
        (_create,),
        (
            (
                lambda gg, p: gg.create_deployment(
                    targetArn=p.thing_arn, components={"com.none": {"componentVersion": "1.0.0"}}
                ),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, p: gg.create_deployment(targetArn=p.thing_arn, clientToken="t-1"),
                None,  # succeeds, and sets the token up for the next call
            ),
            (
                lambda gg, p: gg.create_deployment(targetArn=p.group_arn, clientToken="t-1"),
                "ConflictException",
            ),
            (lambda gg, _p: gg.create_deployment(targetArn=OTHER_GROUP), "ValidationException"),
            (
                lambda gg, p: gg.create_deployment(targetArn=p.thing_arn, clientToken="no_under"),
                "ValidationException",
            ),
        ),
    ),
    "CancelDeployment": Scenario(
        (_cancel,),
        (
            (
                lambda gg, _p: gg.cancel_deployment(deploymentId=MISSING_ID),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, p: gg.cancel_deployment(deploymentId=p.finished.deployment_id),
                "ConflictException",
            ),
        ),
    ),
    "DeleteDeployment": Scenario(
        (_delete,),
        (
            (
                lambda gg, _p: gg.delete_deployment(deploymentId=MISSING_ID),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, p: gg.delete_deployment(deploymentId=p.active.deployment_id),
                "ConflictException",
            ),
        ),
    ),
    "ListCoreDevices": Scenario(
        (_list_devices,),
        (
            (lambda gg, _p: gg.list_core_devices(status="SICK"), "ValidationException"),
            (lambda gg, _p: gg.list_core_devices(thingGroupArn=OTHER_GROUP), "ValidationException"),
            (_bad_token("ListCoreDevices"), "ValidationException"),
        ),
    ),
    "GetCoreDevice": Scenario(
        (_get_device,),
        (
            (
                lambda gg, _p: gg.get_core_device(coreDeviceThingName="no-such-thing"),
                "ResourceNotFoundException",
            ),
        ),
    ),
    "ListInstalledComponents": Scenario(
        (_installed,),
        (
            (
                lambda gg, _p: gg.list_installed_components(coreDeviceThingName="no-such-thing"),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, p: gg.list_installed_components(
                    coreDeviceThingName=p.thing, topologyFilter="LEAVES"
                ),
                "ValidationException",
            ),
            (_bad_token("ListInstalledComponents"), "ValidationException"),
        ),
    ),
    "ListEffectiveDeployments": Scenario(
        (_effective,),
        (
            (
                lambda gg, _p: gg.list_effective_deployments(coreDeviceThingName="no-such-thing"),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, p: gg.list_effective_deployments(
                    coreDeviceThingName=p.thing, maxResults=101
                ),
                "ValidationException",
            ),
            (_bad_token("ListEffectiveDeployments"), "ValidationException"),
        ),
    ),
    "TagResource": Scenario(
        (_tag,),
        (
            (
                lambda gg, _p: gg.tag_resource(resourceArn=MISSING_DEPLOYMENT_ARN, tags={"a": "b"}),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, p: gg.tag_resource(
                    resourceArn=p.deployment_arn(p.active), tags={f"k{i}": "v" for i in range(201)}
                ),
                "ValidationException",
            ),
            (
                lambda gg, _p: gg.tag_resource(resourceArn="arn:aws:s3:::bucket", tags={"a": "b"}),
                "ValidationException",
            ),
        ),
    ),
    "UntagResource": Scenario(
        (_untag,),
        (
            (
                lambda gg, _p: gg.untag_resource(resourceArn=MISSING_DEPLOYMENT_ARN, tagKeys=["a"]),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, _p: gg.untag_resource(resourceArn="arn:aws:s3:::bucket", tagKeys=["a"]),
                "ValidationException",
            ),
        ),
    ),
    "GetComponent": Scenario(
        (_get_component,),
        (
            (lambda gg, _p: gg.get_component(arn=MISSING_VERSION), "ResourceNotFoundException"),
            (lambda gg, p: gg.get_component(arn=p.private_arn), "ValidationException"),
            (
                lambda gg, p: gg.get_component(arn=p.private_version_arn, recipeOutputFormat="XML"),
                "ValidationException",
            ),
        ),
    ),
    "DeleteComponent": Scenario(
        (_delete_component,),
        (
            (  # the version the ok call deleted
                lambda gg, p: gg.delete_component(arn=p.private_version_arn),
                "ResourceNotFoundException",
            ),
            (lambda gg, p: gg.delete_component(arn=p.public_version_arn), "AccessDeniedException"),
            (lambda gg, p: gg.delete_component(arn=p.private_arn), "ValidationException"),
        ),
    ),
    "CreateComponentVersion": Scenario(
        (_create_component_version,),
        (
            (
                lambda gg, p: gg.create_component_version(
                    inlineRecipe=contract_recipe(*p.private_version_arn.split(":")[6::2])
                ),
                "ConflictException",
            ),
            (
                lambda gg, _p: gg.create_component_version(
                    lambdaFunction={"lambdaArn": "arn:aws:lambda:us-west-2:1:function:f:1"}
                ),
                "ValidationException",
            ),
            (
                lambda gg, _p: gg.create_component_version(
                    inlineRecipe=contract_recipe("com.contract.Big", "1.0.0", Pad="x" * 17_000)
                ),
                "ValidationException",
            ),
            (
                lambda gg, _p: gg.create_component_version(inlineRecipe=b"{not: [json"),
                "ValidationException",
            ),
            (
                lambda gg, _p: gg.create_component_version(
                    inlineRecipe=contract_recipe("com.contract.Bad", "1.0")
                ),
                "ValidationException",
            ),
        ),
    ),
    "ResolveComponentCandidates": Scenario(
        (_resolve_candidates_as_iam,),
        (*CANDIDATES_ERRORS, (_candidates_refused_to_iam, "AccessDeniedException")),
    ),
    "ListTagsForResource": Scenario(
        (_list_tags,),
        (
            (
                lambda gg, _p: gg.list_tags_for_resource(resourceArn=MISSING_DEPLOYMENT_ARN),
                "ResourceNotFoundException",
            ),
            (
                lambda gg, _p: gg.list_tags_for_resource(resourceArn="arn:aws:s3:::bucket"),
                "ValidationException",
            ),
        ),
    ),
}

ALL_OPERATIONS = sorted(set(HANDLERS) | set(SCENARIOS) | REQUIRED_OPERATIONS)


def test_the_required_operations_are_implemented_and_modelled() -> None:
    model = service_model()
    assert set(HANDLERS) >= REQUIRED_OPERATIONS, sorted(REQUIRED_OPERATIONS - set(HANDLERS))
    assert set(HANDLERS) <= set(model.operation_names), set(HANDLERS) - set(model.operation_names)
    assert set(IOT_HANDLERS) <= set(iot_model().operation_names)
    assert set(IOT_HANDLERS) == set(IOT_SCENARIOS)


@pytest.mark.parametrize("operation", ALL_OPERATIONS)
@pytest.mark.usefixtures("no_quota")
async def test_answers_follow_the_model(
    operation: str, gg_once: Any, wire: Wire, picks: Picks, sim_calls: Any
) -> None:
    """Raw answers to calls that succeed, then to calls that must fail, against the model."""
    assert operation in HANDLERS, f"the simulator does not implement {operation}"
    assert operation in SCENARIOS, f"no contract scenario exercises {operation}"
    await _scenario_follows_the_model(operation, SCENARIOS[operation], gg_once, wire, picks)
    await _only_listed_errors(sim_calls)


async def _scenario_follows_the_model(
    operation: str, scenario: Scenario, client: Any, wire: Wire, picks: Picks
) -> None:
    assert scenario.bad, f"no error scenario for {operation}"
    for call in scenario.ok:
        await call(client, picks)
    answers = [e for e in wire.take() if e.operation == operation]
    assert answers, f"no {operation} answer was captured"
    problems = [
        f"call {i}: {problem}"
        for i, answer in enumerate(answers)
        for problem in success_problems(operation, answer.status, answer.body)
    ]
    problems += [
        f"call {i}: Content-Type {answer.headers.get('content-type')!r}"
        for i, answer in enumerate(answers)
        if answer.body and not answer.headers.get("content-type", "").startswith("application/json")
    ]
    for index, (call, expected) in enumerate(scenario.bad):
        if expected is None:
            await call(client, picks)
            wire.take()
            continue
        with pytest.raises(ClientError) as caught:
            await call(client, picks)
        assert caught.value.response["Error"]["Code"] == expected, index
        (answer,) = wire.take()
        problems.extend(
            f"bad call {index}: {problem}"
            for problem in error_problems(operation, answer.status, answer.headers, answer.body)
        )
    assert problems == []


async def _only_listed_errors(sim_calls: Any) -> None:
    """Every error the simulator logged is one the model lists for its operation."""
    for record in await sim_calls(0):
        if record["error"] is None:
            continue
        operation = model_of(record["operation"]).operation_model(record["operation"])
        listed = {s.name for s in operation.error_shapes}
        assert record["error"] in listed | FRONT_DOOR, record


# -- AWS IoT's thing group operations, against botocore's iot model -------------------------


async def _things_in_group(iot: Any, p: Picks) -> None:
    group = p.group_arn.rpartition("/")[2]
    await iot.list_things_in_thing_group(thingGroupName=group)
    await iot.list_things_in_thing_group(thingGroupName=group, recursive=True)
    first = await iot.list_things_in_thing_group(thingGroupName=group, maxResults=2)
    await iot.list_things_in_thing_group(
        thingGroupName=group, maxResults=2, nextToken=first["nextToken"]
    )
    p.state.thing_groups.create("contract-empty")
    await iot.list_things_in_thing_group(thingGroupName="contract-empty")


async def _groups_for_thing(iot: Any, p: Picks) -> None:
    for thing in sorted(p.state.devices)[:5]:
        await iot.list_thing_groups_for_thing(thingName=thing)
    await iot.list_thing_groups_for_thing(thingName=p.thing, maxResults=1)


IOT_SCENARIOS: dict[str, Scenario] = {
    "ListThingsInThingGroup": Scenario(
        (_things_in_group,),
        (
            (
                lambda iot, _p: iot.list_things_in_thing_group(thingGroupName="no-such-group"),
                "ResourceNotFoundException",
            ),
            (
                lambda iot, _p: iot.list_things_in_thing_group(thingGroupName="no spaces"),
                "InvalidRequestException",
            ),
            (
                lambda iot, p: iot.list_things_in_thing_group(
                    thingGroupName=p.group_arn.rpartition("/")[2], nextToken="bm90LWEtdG9rZW4"
                ),
                "InvalidRequestException",
            ),
        ),
    ),
    "ListThingGroupsForThing": Scenario(
        (_groups_for_thing,),
        (
            (
                lambda iot, _p: iot.list_thing_groups_for_thing(thingName="no-such-thing"),
                "ResourceNotFoundException",
            ),
            (
                lambda iot, p: iot.list_thing_groups_for_thing(thingName=p.thing, maxResults=251),
                "InvalidRequestException",
            ),
        ),
    ),
}


@pytest.fixture
async def iot_once(sim: Running, monkeypatch: pytest.MonkeyPatch, wire: Wire) -> AsyncIterator[Any]:
    """An iot client (AWS_ENDPOINT_URL_IOT) that makes one attempt and records raw answers."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOT", sim.endpoint)
    async with get_session().create_client("iot", config=client_config()) as client:
        client.meta.events.register("before-parse.iot", wire.capture)
        yield client


@pytest.mark.parametrize("operation", sorted(IOT_SCENARIOS))
@pytest.mark.usefixtures("no_quota")
async def test_iot_answers_follow_the_model(
    operation: str, iot_once: Any, wire: Wire, picks: Picks, sim_calls: Any
) -> None:
    assert operation in IOT_HANDLERS, f"the simulator does not implement {operation}"
    await _scenario_follows_the_model(operation, IOT_SCENARIOS[operation], iot_once, wire, picks)
    await _only_listed_errors(sim_calls)


# -- the data plane: ResolveComponentCandidates as core devices are answered --------------------


@pytest.fixture
async def device_once(sim: Running, picks: Picks, wire: Wire) -> AsyncIterator[Any]:
    """A greengrassv2 client on the data-plane port, as the fleet's first core device."""
    async with device_client(sim.data_plane_endpoint, {THING_HEADER: picks.thing}, wire) as c:
        yield c


@pytest.mark.usefixtures("no_quota")
async def test_data_plane_answers_follow_the_model(
    sim: Running, device_once: Any, wire: Wire, picks: Picks, sim_calls: Any
) -> None:
    assert picks.state.readings.candidates_for_iam == "denied"  # the control plane's, not this
    scenario = Scenario((_resolve_candidates,), CANDIDATES_ERRORS)
    operation = "ResolveComponentCandidates"
    await _scenario_follows_the_model(operation, scenario, device_once, wire, picks)
    path = service_model().operation_model(operation).http["requestUri"]
    body = json.dumps(candidates_request("aws.greengrass.Nucleus", "*")).encode()
    problems: list[str] = []
    async with aiohttp.ClientSession() as session:
        for headers in ({}, {THING_HEADER: "no-such-thing"}):  # refused identities
            async with session.post(
                sim.data_plane_endpoint + path, data=body, headers=headers
            ) as resp:
                raw, got = await resp.read(), {k.lower(): v for k, v in resp.headers.items()}
                assert error_code(got, raw) == "AccessDeniedException", headers
                problems += error_problems(operation, resp.status, got, raw)
        async with session.patch(
            sim.data_plane_endpoint + path, data=body, headers={THING_HEADER: picks.thing}
        ) as resp:
            got = {k.lower(): v for k, v in resp.headers.items()}
            assert resp.status == 404
            assert error_code(got, await resp.read()) == "UnknownOperationException"
    assert problems == []
    await _only_listed_errors(sim_calls)


# -- errors every operation can meet at the front door ------------------------------------------


def request_for(operation: str, p: Picks) -> tuple[str, str, list[tuple[str, str]], Any]:
    """Method, encoded path, query and body for a minimal valid call, all from the model."""
    op = service_model().operation_model(operation)
    labels = {
        "arn": (
            p.private_version_arn
            if operation in ("DescribeComponent", "GetComponent", "DeleteComponent")
            else p.private_arn
        ),
        "deploymentId": (
            p.finished.deployment_id if operation == "DeleteDeployment" else p.active.deployment_id
        ),
        "coreDeviceThingName": p.thing,
        "resourceArn": p.deployment_arn(p.active),
    }
    template = op.http["requestUri"].split("?", 1)[0]

    def fill(match: re.Match[str]) -> str:
        name, greedy = match.group(1), match.group(2)
        return quote(labels[name], safe="/" if greedy else "")

    path = re.sub(r"\{([^}+]+)(\+?)\}", fill, template)
    query: list[tuple[str, str]] = []
    body: Any = None
    if operation == "UntagResource":
        query = [("tagKeys", "a")]
    elif operation == "TagResource":
        body = {"tags": {"a": "1"}}
    elif operation == "CreateComponentVersion":
        recipe = contract_recipe("com.contract.Routed", "1.0.0")
        body = {"inlineRecipe": base64.b64encode(recipe).decode()}
    elif operation == "CreateDeployment":
        body = {"targetArn": p.thing_arn}
    elif operation == "ResolveComponentCandidates":
        body = candidates_request("aws.greengrass.Nucleus", ">=2.0.0")
    # Only the required members are filled in; anything else the model asks for is a gap here.
    for name in op.input_shape.required_members if op.input_shape else ():
        location = op.input_shape.members[name].serialization.get("location")
        assert location == "uri" or (operation, name) in {
            ("UntagResource", "tagKeys"),
            ("TagResource", "tags"),
            ("CreateDeployment", "targetArn"),
        }, (operation, name)
    return op.http["method"], path, query, body


@pytest.mark.parametrize("operation", ALL_OPERATIONS)
@pytest.mark.usefixtures("no_quota")
async def test_routes_come_from_the_model(
    operation: str, raw_call: RawSender, picks: Picks, sim_calls: Any
) -> None:
    """The model's method and path reach the operation; another method on the path does not."""
    assert operation in HANDLERS
    picks.state.readings.candidates_for_iam = "served"  # ResolveComponentCandidates answers
    method, path, query, body = request_for(operation, picks)
    answer = await raw_call(method, path, query=query, body=body)
    expected = int(service_model().operation_model(operation).http.get("responseCode", 200))
    assert answer.status == expected, answer.body
    assert success_problems(operation, answer.status, answer.body) == []
    assert answer.headers.get("x-amzn-requestid")
    (record,) = await sim_calls(0)
    assert (record["operation"], record["status"], record["error"]) == (operation, expected, None)
    wrong = await raw_call("PATCH", path, query=query, body=body)
    assert wrong.status == 404
    assert error_code(wrong.headers, wrong.body) == "UnknownOperationException"
    assert len(await sim_calls(0)) == 1


@dataclass(frozen=True, slots=True)
class FrontDoor:
    code: str
    knobs: dict[str, Any]


FRONT_DOOR_CASES = [
    FrontDoor("AccessDeniedException", {"access_denied": ["*"]}),
    FrontDoor("InternalServerException", {"error_rate": 1.0}),
]


@pytest.mark.parametrize("case", FRONT_DOOR_CASES, ids=lambda c: c.code)
@pytest.mark.usefixtures("no_quota")
async def test_injected_errors_follow_the_model_for_every_operation(
    case: FrontDoor, raw_call: RawSender, picks: Picks, knobs: Any
) -> None:
    await knobs(**case.knobs)
    picks.state.readings.candidates_for_iam = "served"  # ResolveComponentCandidates answers
    problems: list[str] = []
    for operation in sorted(HANDLERS):
        method, path, query, body = request_for(operation, picks)
        answer = await raw_call(method, path, query=query, body=body)
        assert error_code(answer.headers, answer.body) == case.code, operation
        problems += [
            f"{operation}: {p}"
            for p in error_problems(operation, answer.status, answer.headers, answer.body)
        ]
    assert problems == []


@pytest.mark.usefixtures("no_quota")
async def test_throttling_follows_the_model(raw_call: RawSender, picks: Picks, knobs: Any) -> None:
    await knobs(rate_limit=1, burst=1)
    first = await raw_call("GET", "/greengrass/v2/coreDevices")
    assert first.status == 200
    answer = await raw_call("GET", "/greengrass/v2/coreDevices")
    assert error_code(answer.headers, answer.body) == "ThrottlingException"
    assert error_problems("ListCoreDevices", answer.status, answer.headers, answer.body) == []
    assert int(answer.headers["retry-after"]) >= 1
    # TagResource does not list ThrottlingException; AWS's front door sends it all the same.
    method, path, query, body = request_for("TagResource", picks)
    answer = await raw_call(method, path, query=query, body=body)
    assert answer.status == 429
    assert error_problems("TagResource", answer.status, answer.headers, answer.body) == []


def test_unlisted_errors_are_reported() -> None:
    """error_problems must object to an error the operation does not list."""
    body = json.dumps({"message": "x", "resourceId": "a", "resourceType": "b"}).encode()
    headers = {"x-amzn-errortype": "ConflictException"}
    assert error_problems("ListDeployments", 409, headers, body)
    assert not error_problems("CancelDeployment", 409, headers, body)
    assert error_problems("CancelDeployment", 400, headers, body)  # wrong status
    assert error_problems("CancelDeployment", 409, headers, b'{"message": "x"}')  # members
