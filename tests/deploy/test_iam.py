"""deploy/iam/: the policies against ggwatch's operation registry, the AWS models and the simulator.

What the policies grant, and why (sources as read when they were written):

- greengrass: exactly READ_OPERATIONS (readonly) or READ | CLEANUP_OPERATIONS (cleanup), the
  registry `AioGreengrass.call` enforces. Resource "*" only for ListComponents, ListCoreDevices
  and ListDeployments, which the Service Authorization Reference gives no resource type; every
  other action is scoped to its required resource type (component, componentVersion,
  deployment, coreDevice). The ARNs name the `aws` partition: China and GovCloud need `aws-cn`
  or `aws-us-gov` there.
- iot: Greengrass V2 reaches AWS IoT with the caller's own identity (forward access sessions).
  DeleteDeployment deletes the deployment's IoT job (the API reference: "Deleting the AWS IoT
  job associated with a deployment may take time ... Only 10 jobs may have status
  DELETION_IN_PROGRESS"; botocore's documentation string for DeleteDeployment does not say so).
  The Service Authorization Reference listed iot:DeleteJob as DeleteDeployment's dependent action,
  and iot:DescribeJob, iot:DescribeThing, iot:DescribeThingGroup, iot:GetThingShadow for
  GetDeployment and ListDeployments; its current page lists no dependent actions for Greengrass
  V2 at all, so this is not settled by one source. CloudFormation's AWS::GreengrassV2::Deployment
  handlers (cfn-lint ships their schema; checked below) need the same IoT reads for read and
  list, and iot:CancelJob, iot:DeleteJob, iot:DescribeJob for delete; iot:CancelJob belongs to
  CancelDeployment, which ggwatch never calls (recheck skips ACTIVE deployments). So: iot:DeleteJob
  for cleanup, the four reads for both, each statement with aws:ViaAWSService=true, so that only
  Greengrass acting for ggwatch can use them, never ggwatch directly.
- iot, ggwatch's own: exactly IOT_OPERATIONS (thing-group membership for dependency
  resolution), the registry `AioIot.call` enforces, each on the resource type the Service
  Authorization Reference requires: ListThingsInThingGroup on thinggroup, ListThingGroupsForThing
  on thing. No aws:ViaAWSService condition: ggwatch calls them itself.
- apply (`ggwatch apply`, a reviewed human step): readonly plus greengrass:CreateDeployment
  (Resource "*": a deployment to be created has no ARN yet) and what CloudFormation's
  AWS::GreengrassV2::Deployment create handler needs besides (cfn-lint's schema, checked
  below): greengrass:TagResource for the tags a revision keeps, and the IoT job and shadow
  actions Greengrass performs for the caller, with aws:ViaAWSService=true.
- s3 (cleanup only): s3:PutObject and, for HeadObject in `exists` and GetObject of a record
  another writer holds, s3:GetObject, on the archive
  prefix only (ARCHIVE_BUCKET/ARCHIVE_PREFIX placeholders). SSE-S3 needs no KMS permission. No
  s3:ListBucket: without it S3 answers HeadObject of a missing key with 403, not 404; exists()
  raises ArchiveError and the executor takes that as "not archived", the same answer.
"""

from __future__ import annotations

import ast
import datetime as dt
import json
import re
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import botocore
import botocore.session
import pytest

from ggwatch.archive.files import FileArchive
from ggwatch.aws import s3_archive as archive
from ggwatch.aws.api import (
    APPLY_OPERATIONS,
    CLEANUP_OPERATIONS,
    IOT_OPERATIONS,
    OPERATIONS,
    READ_OPERATIONS,
)
from ggwatch.aws.callguard import CallCounter, RetryPolicy
from ggwatch.aws.clients import Target, greengrass_clients, new_session
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.aws.iot import AioIot
from ggwatch.aws.quota import TokenBucket
from ggwatch.cleanup.executor import Cleaner
from ggwatch.cleanup.policy import Policy
from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.scan import scan_once, utcnow
from ggwatch.settings import Settings
from ggwatch.sim.fleet import load
from ggwatch.sim.server import Running
from ggwatch.sim.store import World
from ggwatch.tracker import OpenFinding

ROOT = Path(__file__).parents[2]
READONLY = ROOT / "deploy" / "iam" / "ggwatch-readonly.json"
CLEANUP = ROOT / "deploy" / "iam" / "ggwatch-cleanup.json"
SAMPLE = ROOT / "config" / "sample-fleet.yaml"
APPLY = ROOT / "deploy" / "iam" / "ggwatch-apply.json"
GRANTS = {
    READONLY: READ_OPERATIONS,
    CLEANUP: READ_OPERATIONS | CLEANUP_OPERATIONS,
    APPLY: READ_OPERATIONS | APPLY_OPERATIONS,
}
IDS = ["readonly", "cleanup", "apply"]
# Greengrass actions an operation needs besides its own (CloudFormation's create handler).
DEPENDENT = {"CreateDeployment": frozenset({"TagResource"})}

ARCHIVE_OBJECTS = "arn:aws:s3:::ARCHIVE_BUCKET/ARCHIVE_PREFIX/*"
ALL = "*"
# The resource type each Greengrass V2 action requires (Service Authorization Reference), as ARN.
COMPONENTS = "arn:aws:greengrass:*:*:components:*"  # also components:NAME:versions:VERSION
RESOURCES = {
    "ListComponents": ALL,
    "ListCoreDevices": ALL,
    "ListDeployments": ALL,
    "ListComponentVersions": COMPONENTS,
    "DescribeComponent": COMPONENTS,
    "GetComponent": COMPONENTS,
    "GetDeployment": "arn:aws:greengrass:*:*:deployments:*",
    "DeleteDeployment": "arn:aws:greengrass:*:*:deployments:*",
    "CreateDeployment": ALL,
    "TagResource": "arn:aws:greengrass:*:*:deployments:*",
    "ListInstalledComponents": "arn:aws:greengrass:*:*:coreDevices:*",
}
# The resource type each AWS IoT action ggwatch calls itself requires, as ARN.
IOT_OWN_RESOURCES = {
    "ListThingsInThingGroup": "arn:aws:iot:*:*:thinggroup/*",
    "ListThingGroupsForThing": "arn:aws:iot:*:*:thing/*",
}
# AWS IoT actions Greengrass V2 performs with the caller's identity (see the module docstring).
IOT_READS = frozenset(
    {"iot:DescribeJob", "iot:DescribeThing", "iot:DescribeThingGroup", "iot:GetThingShadow"}
)
FORWARDED = {
    "GetDeployment": IOT_READS,
    "ListDeployments": IOT_READS,
    "DeleteDeployment": frozenset({"iot:DeleteJob"}),
    "CreateDeployment": IOT_READS
    | {
        "iot:CancelJob",
        "iot:CreateJob",
        "iot:UpdateJob",
        "iot:DeleteThingShadow",
        "iot:UpdateThingShadow",
    },
}
# A job's actions also name the things and groups it targets.
JOB_TARGETS = {"arn:aws:iot:*:*:job/*", "arn:aws:iot:*:*:thing/*", "arn:aws:iot:*:*:thinggroup/*"}
IOT_RESOURCES = {
    "iot:DescribeJob": "arn:aws:iot:*:*:job/*",
    "iot:DeleteJob": "arn:aws:iot:*:*:job/*",
    "iot:DescribeThing": "arn:aws:iot:*:*:thing/*",
    "iot:GetThingShadow": "arn:aws:iot:*:*:thing/*",
    "iot:DescribeThingGroup": "arn:aws:iot:*:*:thinggroup/*",
    "iot:DeleteThingShadow": "arn:aws:iot:*:*:thing/*",
    "iot:UpdateThingShadow": "arn:aws:iot:*:*:thing/*",
}
JOB_ACTIONS = frozenset({"iot:CancelJob", "iot:CreateJob", "iot:UpdateJob"})
VIA_GREENGRASS_ONLY = {"Bool": {"aws:ViaAWSService": "true"}}
# The IAM action that authorizes each S3 operation the archive may call.
S3_ACTIONS = {
    "PutObject": "s3:PutObject",
    "HeadObject": "s3:GetObject",
    "GetObject": "s3:GetObject",
}


def statements(path: Path) -> list[dict[str, Any]]:
    document = json.loads(path.read_text())
    assert document["Version"] == "2012-10-17"
    assert set(document) == {"Version", "Statement"}
    return list(document["Statement"])


def as_list(value: str | list[str]) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def grants(path: Path) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """(action, resource, statement) for every pair a policy allows."""
    for statement in statements(path):
        for action in as_list(statement["Action"]):
            for resource in as_list(statement["Resource"]):
                yield action, resource, statement


def actions(path: Path, service: str) -> set[str]:
    return {a.split(":", 1)[1] for a, _, _ in grants(path) if a.split(":", 1)[0] == service}


@pytest.fixture(scope="module")
def greengrass_model() -> Any:
    return botocore.session.get_session().get_service_model("greengrassv2")


@pytest.fixture(scope="module")
def iot_model() -> Any:
    return botocore.session.get_session().get_service_model("iot")


# -- the policies, read as documents ------------------------------------------------------------


@pytest.mark.parametrize(("path", "registry"), GRANTS.items(), ids=IDS)
def test_greengrass_actions_are_the_registry(path: Path, registry: frozenset[str]) -> None:
    dependent = set().union(*(DEPENDENT.get(op, frozenset()) for op in registry))
    assert actions(path, "greengrass") == registry | dependent


def test_registry_and_policies_name_real_greengrass_operations(greengrass_model: Any) -> None:
    known = set(greengrass_model.operation_names)
    assert READ_OPERATIONS.isdisjoint(CLEANUP_OPERATIONS)
    assert known >= OPERATIONS
    for path in GRANTS:
        assert actions(path, "greengrass") <= known, path.name


def test_every_registered_operation_has_a_resource_decision() -> None:
    # A new operation in the registry must be placed here (scoped, or "*" with a reason).
    assert set(RESOURCES) == OPERATIONS | DEPENDENT["CreateDeployment"]
    assert set(FORWARDED) <= OPERATIONS
    assert set(IOT_OWN_RESOURCES) == IOT_OPERATIONS


def test_iot_registry_names_real_iot_operations(iot_model: Any) -> None:
    assert set(iot_model.operation_names) >= IOT_OPERATIONS


@pytest.mark.parametrize("path", GRANTS, ids=IDS)
def test_greengrass_resources_are_scoped_where_aws_allows(path: Path) -> None:
    for action, resource, _ in grants(path):
        if action.startswith("greengrass:"):
            assert resource == RESOURCES[action.split(":", 1)[1]], action


@pytest.mark.parametrize(("path", "registry"), GRANTS.items(), ids=IDS)
def test_iot_is_the_iot_registry_and_what_greengrass_does_on_our_behalf(
    path: Path, registry: frozenset[str]
) -> None:
    needed = set().union(*(FORWARDED.get(op, frozenset()) for op in registry))
    own = {f"iot:{op}" for op in IOT_OPERATIONS}
    assert {f"iot:{a}" for a in actions(path, "iot")} == needed | own
    for statement in statements(path):
        named = as_list(statement["Action"])
        if not any(a.startswith("iot:") for a in named):
            continue
        assert all(a.startswith("iot:") for a in named), statement["Sid"]
        if set(named) <= own:  # ggwatch's own calls: each on its resource type, unconditioned
            expected = {IOT_OWN_RESOURCES[a.split(":", 1)[1]] for a in named}
            assert set(as_list(statement["Resource"])) == expected, statement["Sid"]
            assert "Condition" not in statement, statement["Sid"]
        elif set(named) <= JOB_ACTIONS:  # through Greengrass V2: the job and its targets
            assert set(as_list(statement["Resource"])) == JOB_TARGETS, statement["Sid"]
            assert statement.get("Condition") == VIA_GREENGRASS_ONLY, statement["Sid"]
        else:  # only through Greengrass V2, never ggwatch directly
            assert set(as_list(statement["Resource"])) == {IOT_RESOURCES[a] for a in named}
            assert statement.get("Condition") == VIA_GREENGRASS_ONLY, statement["Sid"]


def test_forwarded_iot_actions_agree_with_cloudformation_handlers() -> None:
    """CloudFormation's GreengrassV2 Deployment handlers call these operations and need these."""
    schema = pytest.importorskip("cfnlint.schema")
    handlers = schema.PROVIDER_SCHEMA_MANAGER.get_resource_schema(
        "us-east-1", "AWS::GreengrassV2::Deployment"
    ).schema["handlers"]

    def iot(handler: str) -> set[str]:
        return {p for p in handlers[handler]["permissions"] if p.startswith("iot:")}

    assert iot("read") == FORWARDED["GetDeployment"]
    assert iot("list") == FORWARDED["ListDeployments"]
    # Delete also calls GetDeployment, and CancelDeployment (iot:CancelJob): ggwatch never cancels.
    assert FORWARDED["DeleteDeployment"] <= iot("delete")
    assert iot("delete") - {"iot:CancelJob"} <= FORWARDED["DeleteDeployment"] | IOT_READS
    create = set(handlers["create"]["permissions"])
    assert {p for p in create if p.startswith("iot:")} == FORWARDED["CreateDeployment"]
    assert {p for p in create if p.startswith("greengrass:")} == {
        "greengrass:CreateDeployment",
        "greengrass:GetDeployment",
        *(f"greengrass:{a}" for a in DEPENDENT["CreateDeployment"]),
    }


def s3_operations_the_archive_calls() -> set[str]:
    """The S3 operations S3Archive calls (`self.client.<method>(...)`), as model names."""
    tree = ast.parse(Path(archive.__file__).read_text())
    (s3_archive,) = [n for n in tree.body if isinstance(n, ast.ClassDef) and n.name == "S3Archive"]
    methods = {
        node.func.attr
        for node in ast.walk(s3_archive)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and ast.unparse(node.func.value) == "self.client"
    }
    model = botocore.session.get_session().get_service_model("s3")
    by_method = {botocore.xform_name(op): op for op in model.operation_names}
    assert methods <= set(by_method), methods - set(by_method)
    return {by_method[m] for m in methods}


def test_s3_is_exactly_what_the_archive_calls_on_the_prefix_only() -> None:
    called = s3_operations_the_archive_calls()
    # A new call must be mapped to its IAM action.
    assert called == {"PutObject", "HeadObject", "GetObject"}
    assert {f"s3:{a}" for a in actions(CLEANUP, "s3")} == {S3_ACTIONS[op] for op in called}
    assert {r for a, r, _ in grants(CLEANUP) if a.startswith("s3:")} == {ARCHIVE_OBJECTS}
    assert actions(READONLY, "s3") == set()


@pytest.mark.parametrize("path", GRANTS, ids=IDS)
def test_nothing_else(path: Path) -> None:
    found = statements(path)
    sids = [s["Sid"] for s in found]
    assert len(set(sids)) == len(sids)
    for statement in found:
        assert set(statement) <= {"Sid", "Effect", "Action", "Resource", "Condition"}, statement
        assert statement["Effect"] == "Allow"
        assert re.fullmatch(r"[A-Za-z0-9]+", statement["Sid"])
    for action, resource, _ in grants(path):
        service, name = action.split(":", 1)
        assert service in {"greengrass", "iot", "s3"}, action
        assert not set(name) & {"*", "?"}, action
        assert resource == ALL or resource.startswith(f"arn:aws:{service}:"), resource


def test_apply_is_readonly_plus_the_apply_statements() -> None:
    readonly, apply = statements(READONLY), statements(APPLY)
    assert apply[: len(readonly)] == readonly
    assert actions(APPLY, "greengrass") - actions(READONLY, "greengrass") == set(
        APPLY_OPERATIONS | DEPENDENT["CreateDeployment"]
    )


def test_cleanup_is_readonly_plus_the_cleanup_statements() -> None:
    readonly, cleanup = statements(READONLY), statements(CLEANUP)
    assert cleanup[: len(readonly)] == readonly
    assert actions(CLEANUP, "greengrass") - actions(READONLY, "greengrass") == set(
        CLEANUP_OPERATIONS
    )


@pytest.mark.parametrize("path", GRANTS, ids=IDS)
def test_policies_pass_cfn_lint(path: Path) -> None:
    """cfn-lint knows every IAM action name (W3037) and IAM's grammar for identity policies."""
    api = pytest.importorskip("cfnlint.api")
    template = {
        "AWSTemplateFormatVersion": "2010-09-09",
        "Resources": {
            "Policy": {
                "Type": "AWS::IAM::ManagedPolicy",
                "Properties": {"PolicyDocument": json.loads(path.read_text())},
            }
        },
    }
    config = api.ManualArgs(regions=["us-east-1"], include_checks=["I"])
    assert [str(m) for m in api.lint(json.dumps(template), config=config)] == []


# -- the registry, enforced ---------------------------------------------------------------------


class Untouchable:
    """Stands for the client and the token bucket: a refused call must touch neither."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"touched {name}")


async def test_iot_call_refuses_every_unregistered_operation(iot_model: Any) -> None:
    counter = CallCounter()
    api = AioIot(Untouchable(), "us-west-2", Untouchable(), counter)  # type: ignore[arg-type]
    others = sorted(set(iot_model.operation_names) - IOT_OPERATIONS)
    assert {"ListThingGroups", "AddThingToThingGroup", "DescribeThing"} <= set(others)
    for operation in [*others, *sorted(READ_OPERATIONS), "list_things_in_thing_group"]:
        with pytest.raises(ValueError, match="not a registered AWS IoT operation"):
            await api.call(operation, thingName="x")
    assert not counter.counts


async def test_call_refuses_every_unregistered_operation(greengrass_model: Any) -> None:
    counter = CallCounter()
    api = AioGreengrass(Untouchable(), "us-west-2", Untouchable(), counter)  # type: ignore[arg-type]
    others = sorted(set(greengrass_model.operation_names) - OPERATIONS)
    assert {"CancelDeployment", "CreateComponentVersion"} <= set(others)
    for operation in [*others, "NoSuchOperation", "list_components"]:
        with pytest.raises(ValueError, match="not a registered"):
            await api.call(operation, deploymentId="x")
    assert not counter.counts


# -- the registry against what the simulator receives ------------------------------------------


@pytest.fixture
def world() -> World:
    return load(SAMPLE, now=time.time() - 60.0)


async def received(sim: Running, since: int = 0) -> tuple[set[str], int]:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.endpoint}/_sim/calls", params={"since": str(since)}) as response,
    ):
        body = await response.json()
    return {c["operation"] for c in body["calls"]}, int(body["last"])


async def test_registry_matches_what_a_scan_and_a_cleanup_call(
    sim: Running, tmp_path: Path
) -> None:
    settings = Settings(
        regions=("us-west-2", "eu-central-1"), service_rate=1000.0, iot_rate=1000.0, quota_share=1.0
    )
    result = await scan_once(settings)
    assert result.snapshot.complete
    scanned, last = await received(sim)
    # Every read is needed, and nothing else is called. The sample fleet has fewer targeted
    # thing groups than core devices: membership is read group by group (a refresh reads a
    # device's groups: tests/integration/test_refresh.py).
    assert scanned == READ_OPERATIONS | {"ListThingsInThingGroup"}
    assert scanned <= READ_OPERATIONS | IOT_OPERATIONS

    region = "us-west-2"
    (target,) = [t for t in result.snapshot.targets if t.region == region]
    since = utcnow() - dt.timedelta(hours=2)
    policy = Policy(stale_after_days=30, grace_seconds=0, max_percent=50, max_per_cycle=10)
    here = Target(TargetId(DEFAULT_ALIAS, region))
    async with greengrass_clients(
        [here], {here.id: new_session()}, connect_timeout=5, read_timeout=30, pool_size=4
    ) as clients:
        admin = AioGreengrass(
            clients[here.id], region, TokenBucket(1000.0), CallCounter(), RetryPolicy(5)
        )
        archive = FileArchive(tmp_path)
        enforce = replace(policy, mode="enforce", rate_per_second=100.0)
        cleaner = Cleaner(enforce, {here.id: admin}, archive, utcnow)
        outcomes = await cleaner.cycle(target, [OpenFinding(f, since) for f in result.findings])
    assert [o.action for o in outcomes].count("deleted") == 2
    cleaned, _ = await received(sim, last)
    assert CLEANUP_OPERATIONS <= cleaned <= READ_OPERATIONS | CLEANUP_OPERATIONS
