"""The real AWS CLI against the simulator: what a user who follows the banner sees.

`aws` is the venv's AWS CLI v1 (the `awscli` package of the dev extra), which carries its own
copy of botocore and of the greengrassv2 model: a second client, independent of the
aiobotocore the other tests use. It runs as a subprocess, configured only through the
environment (AWS_ENDPOINT_URL_GREENGRASSV2, the simulator's access key, empty config and
credentials files), with `--output json`; each test asserts on the exit code and the parsed
output. CLI v1 prints timestamps as they came off the wire (its `cli_timestamp_format` is
`none` by default), so the output also shows what the simulator sent.

The simulator runs in the test's event loop (the `sim` fixture), so the CLI is awaited with
asyncio's subprocess API.
"""

from __future__ import annotations

import asyncio
import base64
import json
import sys
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

from ggwatch.sim.fleet import access_key
from ggwatch.sim.server import Running
from ggwatch.sim.store import RegionState, World
from tests.sim.conftest import SIM_ACCOUNT, SIM_REGION, SIM_SECRET, RawSender

AWS = Path(sys.executable).with_name("aws")  # the venv's AWS CLI
DEFAULT_POLICIES = {
    "failureHandlingPolicy": "ROLLBACK",
    "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
    "configurationValidationPolicy": {"timeoutInSeconds": 30},
}
# awscli v1 exits 255 when the service answers an error (v2 would say 254).
SERVICE_ERROR = 255

# Each `aws` process takes about a second of CPU to start, and this file runs a dozen or more:
# slow, and serial, so they do not starve the timing-sensitive daemon tests of the parallel run.
F = TypeVar("F", bound=Callable[..., Any])


def slow(test: F) -> F:
    marked: F = pytest.mark.serial(pytest.mark.slow(test))
    return marked


@dataclass(frozen=True, slots=True)
class Result:
    rc: int
    stdout: str
    stderr: str

    def json(self) -> Any:
        assert self.rc == 0, (self.rc, self.stderr)
        return json.loads(self.stdout) if self.stdout.strip() else None


Aws = Callable[..., Awaitable[Result]]


def cli_env(home: Path, **extra: str) -> dict[str, str]:
    """The AWS CLI's environment: nothing from this machine's configuration, one attempt per
    call (every error the simulator sends reaches the test), the simulator's key."""
    config, credentials = home / "aws-config", home / "aws-credentials"
    config.write_text("")
    credentials.write_text("")
    return {
        "PATH": str(AWS.parent),
        "HOME": str(home),
        "LC_ALL": "C.UTF-8",
        "AWS_CONFIG_FILE": str(config),
        "AWS_SHARED_CREDENTIALS_FILE": str(credentials),
        "AWS_EC2_METADATA_DISABLED": "true",
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": SIM_SECRET,
        "AWS_DEFAULT_REGION": SIM_REGION,
        "AWS_RETRY_MODE": "standard",
        "AWS_MAX_ATTEMPTS": "1",
        **extra,
    }


async def run_cli(service: str, env: dict[str, str], cwd: Path, *args: str) -> Result:
    """`aws SERVICE ... --output json`, within a minute."""
    assert AWS.exists(), f"no AWS CLI at {AWS}: pip install -e '.[dev]'"
    process = await asyncio.create_subprocess_exec(
        str(AWS),
        service,
        *args,
        "--output",
        "json",
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
        cwd=cwd,
    )
    try:
        out, err = await asyncio.wait_for(process.communicate(), timeout=60)
    except TimeoutError:
        process.kill()
        await process.wait()
        raise
    assert process.returncode is not None
    return Result(process.returncode, out.decode(), err.decode())


@pytest.fixture
def aws(sim: Running, tmp_path: Path) -> Aws:
    """Run `aws greengrassv2 ... --output json` against the simulator; one attempt per call."""
    env = cli_env(
        tmp_path,
        AWS_ENDPOINT_URL_GREENGRASSV2=sim.endpoint,
        AWS_ENDPOINT_URL_IOT=sim.endpoint,
    )

    async def run(*args: str) -> Result:
        return await run_cli("greengrassv2", env, tmp_path, *args)

    return run


def assert_millisecond_epoch(value: Any) -> None:
    """A REST-JSON body timestamp: epoch seconds, a number with at most 3 decimals."""
    assert isinstance(value, int | float), value
    assert not isinstance(value, bool), value
    assert 1_000_000_000 < value < 4_102_444_800, value
    assert round(value, 3) == value, value


def region_of(world: World) -> RegionState:
    return world.region(SIM_ACCOUNT, SIM_REGION)


# -- components -----------------------------------------------------------------------------


@slow
async def test_list_components_public_and_private(aws: Aws, world: World) -> None:
    state = region_of(world)
    public = (await aws("list-components", "--scope", "PUBLIC")).json()["components"]
    assert {c["componentName"] for c in public} == set(state.public)
    assert all(f":{SIM_REGION}:aws:components:" in c["arn"] for c in public)
    private = (await aws("list-components", "--scope", "PRIVATE")).json()["components"]
    assert {c["componentName"] for c in private} == set(state.private)
    for component in private:
        latest = component["latestVersion"]
        assert component["arn"].startswith(f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:")
        assert latest["componentVersion"] == state.private[component["componentName"]].order[0]
        assert_millisecond_epoch(latest["creationTimestamp"])


@slow
async def test_get_component_returns_the_recipe(aws: Aws, world: World) -> None:
    state = region_of(world)
    component = state.private[sorted(state.private)[0]]
    version = component.latest()
    result = await aws("get-component", "--arn", version.arn, "--recipe-output-format", "JSON")
    got = result.json()
    assert got["recipeOutputFormat"] == "JSON"
    recipe = base64.b64decode(got["recipe"]).decode()  # the CLI prints a blob as base64
    assert component.name in recipe
    assert version.version in recipe


@slow
async def test_create_then_delete_a_component_version(aws: Aws, tmp_path: Path) -> None:
    name = "com.example.AwsCliMade"
    recipe = tmp_path / "recipe.json"
    recipe.write_text(
        json.dumps(
            {
                "RecipeFormatVersion": "2020-01-25",
                "ComponentName": name,
                "ComponentVersion": "1.0.0",
                "ComponentPublisher": "tests",
                "Manifests": [{"Platform": {"os": "linux"}, "Lifecycle": {"run": "echo hi"}}],
            }
        )
    )
    created = (await aws("create-component-version", "--inline-recipe", f"fileb://{recipe}")).json()
    assert created["componentName"] == name
    assert created["componentVersion"] == "1.0.0"
    assert created["arn"].endswith(f":{SIM_ACCOUNT}:components:{name}:versions:1.0.0")
    assert_millisecond_epoch(created["creationTimestamp"])
    private = (await aws("list-components", "--scope", "PRIVATE")).json()["components"]
    assert name in {c["componentName"] for c in private}
    deleted = await aws("delete-component", "--arn", created["arn"])
    assert deleted.json() is None  # 204, no body: the CLI prints nothing


# -- deployments ----------------------------------------------------------------------------


@slow
async def test_list_deployments_all_history(aws: Aws, world: World) -> None:
    state = region_of(world)
    listed = (await aws("list-deployments", "--history-filter", "ALL")).json()["deployments"]
    assert {d["deploymentId"] for d in listed} == {
        d.deployment_id for _, d in state.deployments.all
    }
    assert any(not d["isLatestForTarget"] for d in listed)  # history, not only the latest
    for item in listed:
        assert_millisecond_epoch(item["creationTimestamp"])


@slow
async def test_get_deployment_carries_policies_and_empty_tags(aws: Aws, world: World) -> None:
    state = region_of(world)
    dep = next(d for _, d in state.deployments.all if not d.tags)
    got = (await aws("get-deployment", "--deployment-id", dep.deployment_id)).json()
    assert got["deploymentId"] == dep.deployment_id
    assert got["targetArn"] == dep.target_arn
    assert got["deploymentPolicies"] == DEFAULT_POLICIES  # AWS's defaults
    assert got["tags"] == {}
    assert_millisecond_epoch(got["creationTimestamp"])


@slow
async def test_create_deployment_keeps_the_policies_it_was_given(aws: Aws, world: World) -> None:
    thing = sorted(region_of(world).devices)[0]
    target = f"arn:aws:iot:{SIM_REGION}:{SIM_ACCOUNT}:thing/{thing}"
    policies = {
        "failureHandlingPolicy": "DO_NOTHING",
        "componentUpdatePolicy": {"timeoutInSeconds": 120, "action": "SKIP_NOTIFY_COMPONENTS"},
        "configurationValidationPolicy": {"timeoutInSeconds": 90},
    }
    created = (
        await aws(
            "create-deployment",
            "--target-arn",
            target,
            "--deployment-name",
            "from-the-cli",
            "--deployment-policies",
            json.dumps(policies),
            "--tags",
            "team=cli",
        )
    ).json()
    got = (await aws("get-deployment", "--deployment-id", created["deploymentId"])).json()
    assert got["deploymentPolicies"] == policies
    assert got["deploymentName"] == "from-the-cli"
    assert got["tags"] == {"team": "cli"}


@slow
@pytest.mark.usefixtures("no_quota")
async def test_the_cli_follows_next_tokens_across_pages(
    aws: Aws,
    world: World,
    knobs: Callable[..., Awaitable[dict[str, Any]]],
    sim_calls: Callable[[int], Awaitable[list[dict[str, Any]]]],
) -> None:
    """--page-size asks for 5 a page, the page cap gives 3: the CLI must follow nextToken."""
    await knobs(page_cap=3)
    everything = {d.deployment_id for _, d in region_of(world).deployments.all}
    first = (
        await aws(
            "list-deployments", "--history-filter", "ALL", "--page-size", "5", "--max-items", "10"
        )
    ).json()
    assert len(first["deployments"]) == 10
    assert "NextToken" in first  # the CLI's own token: where --max-items stopped
    rest = (
        await aws(
            "list-deployments",
            "--history-filter",
            "ALL",
            "--page-size",
            "5",
            "--starting-token",
            first["NextToken"],
        )
    ).json()
    assert "NextToken" not in rest
    ids = [d["deploymentId"] for d in first["deployments"] + rest["deployments"]]
    assert len(ids) == len(set(ids))
    assert set(ids) == everything
    calls = [c for c in await sim_calls(0) if c["operation"] == "ListDeployments"]
    assert len(calls) >= len(everything) // 3
    assert all(c["params"]["maxResults"] == 5 for c in calls)
    assert sum("nextToken" in c["params"] for c in calls) >= len(calls) - 1


# -- core devices ---------------------------------------------------------------------------


@slow
async def test_list_core_devices(aws: Aws, world: World) -> None:
    state = region_of(world)
    devices = (await aws("list-core-devices")).json()["coreDevices"]
    assert {d["coreDeviceThingName"] for d in devices} == set(state.devices)
    for device in devices:
        assert device["status"] == state.devices[device["coreDeviceThingName"]].status
        assert_millisecond_epoch(device["lastStatusUpdateTimestamp"])


@slow
async def test_list_installed_components_all_topology(aws: Aws, world: World) -> None:
    state = region_of(world)
    thing = sorted(state.devices)[0]
    installed = (
        await aws(
            "list-installed-components",
            "--core-device-thing-name",
            thing,
            "--topology-filter",
            "ALL",
        )
    ).json()["installedComponents"]
    expected = {(c.name, c.version) for c in state.devices[thing].installed.values()}
    assert {(c["componentName"], c["componentVersion"]) for c in installed} == expected


@slow
async def test_empty_tags_are_an_empty_map(aws: Aws, world: World) -> None:
    state = region_of(world)
    thing = next(name for name, device in sorted(state.devices.items()) if not device.tags)
    device = (await aws("get-core-device", "--core-device-thing-name", thing)).json()
    assert device["tags"] == {}
    arn = f"arn:aws:greengrass:{SIM_REGION}:{SIM_ACCOUNT}:coreDevices:{thing}"
    assert (await aws("list-tags-for-resource", "--resource-arn", arn)).json() == {"tags": {}}


# -- ResolveComponentCandidates: the data plane's, refused to an IAM caller --------------------


@slow
async def test_resolve_component_candidates_is_refused_to_an_iam_caller(
    aws: Aws, sim_calls: Callable[[int], Awaitable[list[dict[str, Any]]]]
) -> None:
    """AWS serves it only on the data-plane endpoint, to core devices' certificates: a user's
    CLI with IAM credentials on the control-plane endpoint is refused (the default reading)."""
    platform = {"name": "linux", "attributes": {"os": "linux", "architecture": "amd64"}}
    candidates = [
        {
            "componentName": "aws.greengrass.Nucleus",
            "componentVersion": "2.12.0",
            "versionRequirements": {"thinggroup/fleet": ">=2.12.0 <2.13.0"},
        }
    ]
    result = await aws(
        "resolve-component-candidates",
        "--platform",
        json.dumps(platform),
        "--component-candidates",
        json.dumps(candidates),
    )
    assert result.rc == SERVICE_ERROR, result
    assert "(AccessDeniedException)" in result.stderr
    assert "data-plane endpoint" in result.stderr
    (call,) = await sim_calls(0)
    assert (call["operation"], call["status"]) == ("ResolveComponentCandidates", 403)


# -- members whose wire name differs from the member name ------------------------------------


@slow
async def test_associate_service_role_reaches_not_implemented(
    aws: Aws, sim_calls: Callable[[int], Awaitable[list[dict[str, Any]]]]
) -> None:
    """`roleArn` travels as `RoleArn`: the request validates, then meets "not implemented"."""
    role = f"arn:aws:iam::{SIM_ACCOUNT}:role/service-role/Greengrass_ServiceRole"
    result = await aws("associate-service-role-to-account", "--role-arn", role)
    assert result.rc == SERVICE_ERROR, result
    assert "(ValidationException)" in result.stderr
    assert "does not implement AssociateServiceRoleToAccount" in result.stderr
    (call,) = await sim_calls(0)
    assert call["params"] == {"roleArn": role}  # read by its wire name, handed on by its own


@slow
async def test_update_connectivity_info_reaches_not_implemented(aws: Aws, world: World) -> None:
    """`connectivityInfo` travels as `ConnectivityInfo`, its items' members capitalised."""
    thing = sorted(region_of(world).devices)[0]
    result = await aws(
        "update-connectivity-info",
        "--thing-name",
        thing,
        "--connectivity-info",
        "id=local,hostAddress=127.0.0.1,portNumber=8883,metadata=x",
    )
    assert result.rc == SERVICE_ERROR, result
    assert "does not implement UpdateConnectivityInfo" in result.stderr
    assert "validation error detected" not in result.stderr


async def test_member_names_are_not_wire_names(raw_call: RawSender) -> None:
    """A body must use the wire names: the member name of a renamed member is rejected."""
    role = f"arn:aws:iam::{SIM_ACCOUNT}:role/r"
    right = await raw_call("PUT", "/greengrass/servicerole", body={"RoleArn": role})
    assert right.status == 400
    assert right.json()["reason"] == "UNKNOWN_OPERATION"  # validated; not served
    wrong = await raw_call("PUT", "/greengrass/servicerole", body={"roleArn": role})
    assert wrong.json()["reason"] == "FIELD_VALIDATION_FAILED"
    nested = await raw_call(
        "PUT",
        "/greengrass/things/t1/connectivityInfo",
        body={"ConnectivityInfo": [{"hostAddress": "127.0.0.1"}]},
    )
    assert nested.json()["reason"] == "FIELD_VALIDATION_FAILED"
    assert nested.json()["fields"][0]["name"] == "connectivityInfo.hostAddress"
    ok = await raw_call(
        "PUT",
        "/greengrass/things/t1/connectivityInfo",
        body={"ConnectivityInfo": [{"HostAddress": "127.0.0.1", "PortNumber": 8883}]},
    )
    assert ok.json()["reason"] == "UNKNOWN_OPERATION"


# -- ggwatch plan's request files ------------------------------------------------------------


def _sample_world() -> World:
    """The sample fleet, whose in-force deployments name flagged versions (a generated fleet
    this small may have none to plan)."""
    import time

    from ggwatch.sim.fleet import load

    return load(Path(__file__).parents[2] / "config" / "sample-fleet.yaml", now=time.time() - 60)


@slow
@pytest.mark.parametrize("world", [pytest.param(_sample_world(), id="sample-fleet")])
async def test_create_deployment_takes_a_plan_request_file(
    aws: Aws, knobs: Callable[..., Awaitable[dict[str, Any]]], tmp_path: Path
) -> None:
    """`aws greengrassv2 create-deployment --cli-input-json file://DIR/<id>.json`, with the
    file `ggwatch plan` wrote, is accepted by the AWS CLI's own botocore and creates the
    revision the plan describes."""
    from ggwatch.remediate import files
    from ggwatch.remediate.planning import plan_fleet
    from ggwatch.settings import Settings

    await knobs(rate_limit=0, iot_rate=0)  # the plan's scan is not what this test measures
    settings = Settings(regions=(SIM_REGION,), service_rate=1000.0, iot_rate=1000.0)
    run = await plan_fleet(settings)
    directory = tmp_path / "plans"
    files.write_plans(directory, run.plans, run.result.generated_at)
    ok = [w for w in run.plans if w.request is not None]
    assert ok, [w.plan.reason for w in run.plans]
    for written in ok:
        path = directory / f"{written.plan.deployment_id}.json"
        created = (await aws("create-deployment", "--cli-input-json", f"file://{path}")).json()
        got = (await aws("get-deployment", "--deployment-id", created["deploymentId"])).json()
        request = json.loads(path.read_text())
        assert got["targetArn"] == written.plan.target_arn
        assert got["isLatestForTarget"] is True
        for member in ("deploymentName", "components", "deploymentPolicies"):
            assert got[member] == request[member], member
        versions = {n: s["componentVersion"] for n, s in got["components"].items()}
        assert versions.items() >= dict(written.plan.moves).items()
