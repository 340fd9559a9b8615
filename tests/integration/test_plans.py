"""Plan, apply and preflight over real HTTP: the sample fleet in the simulator, ggwatch's own
code against it, and the outcome read with plain aiobotocore clients (ListDeployments,
ListEffectiveDeployments, ListInstalledComponents, DescribeComponent, IoT membership), never
with ggwatch's code. The simulator's devices resolve every deployment they receive with the
simulator's resolver, so what they report after `apply` is an independent witness.

The sample fleet's two ok plans (one Region, as the plain clients read it):
- thing/gg-austin-00003: aws.greengrass.clientdevices.Auth 2.3.0 (DISCONTINUED, and its
  recipe wants a nucleus the device cannot have) -> 2.5.2;
- thinggroup/berlin-line-01: aws.greengrass.Nucleus 2.14.0 (DELETED) -> 2.15.0.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import pytest

from ggwatch.errors import PlanError
from ggwatch.findings import Finding, Rule
from ggwatch.remediate import files
from ggwatch.remediate.applying import MOVED, Action, Outcome, apply_plans
from ggwatch.remediate.files import Entry
from ggwatch.remediate.planning import plan_fleet
from ggwatch.remediate.preflight import PROPOSED_ID, predict, read_proposal
from ggwatch.report import ScanResult
from ggwatch.scan import scan_once
from ggwatch.settings import Settings
from ggwatch.sim.server import Running
from tests.conftest import ACCOUNT, REGION
from tests.integration.conftest import everything

ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}:"
AUSTIN = f"{ARN}thing/gg-austin-00003"
BERLIN = f"{ARN}thinggroup/berlin-line-01"
OSAKA = f"{ARN}thinggroup/osaka-line-01"
# (target, component, from, to) of each ok plan the sample fleet gives.
EXPECTED = {
    (AUSTIN, "aws.greengrass.clientdevices.Auth", "2.3.0", "2.5.2"),
    (BERLIN, "aws.greengrass.Nucleus", "2.14.0", "2.15.0"),
}
# What each plan is made to clear, as the scan before it found.
ADDRESSED = {
    AUSTIN: {Rule.DEPLOYMENT_DISCONTINUED, Rule.DEVICE_UNRESOLVABLE},
    BERLIN: {Rule.DEPLOYMENT_DELETED, Rule.DEPLOYMENT_UNRESOLVABLE, Rule.DEVICE_DELETED},
}
DEPLOYMENT_RULES = {
    Rule.DEPLOYMENT_DELETED,
    Rule.DEPLOYMENT_DISCONTINUED,
    Rule.DEPLOYMENT_UNRESOLVABLE,
}
DEVICE_COMPONENT_RULES = {Rule.DEVICE_DELETED, Rule.DEVICE_DISCONTINUED}
WITHDRAWN = {"DISCONTINUED", "DELETED"}


@pytest.fixture
def settings() -> Settings:
    # One Region: the plain clients that read the truth are the environment's, in REGION.
    return Settings(
        regions=(REGION,), service_rate=1000.0, iot_rate=1000.0, quota_share=1.0, max_attempts=10
    )


@pytest.fixture
async def unthrottled(control: aiohttp.ClientSession) -> None:
    """Lift the simulator's quota: these tests are about what is created, not pacing, and the
    plain clients make one attempt per call."""
    async with control.patch("/_sim/knobs", json={"rate_limit": 0, "iot_rate": 0}) as answer:
        assert answer.status == 200, await answer.text()


@dataclass(frozen=True, slots=True)
class Planned:
    before: ScanResult  # the scan `ggwatch plan` made
    directory: Path
    entries: list[Entry]

    @property
    def ok(self) -> list[Entry]:
        return [e for e in self.entries if e.verdict == "ok"]


@pytest.fixture
async def planned(sim: Running, unthrottled: None, settings: Settings, tmp_path: Path) -> Planned:
    """`ggwatch plan --output-dir`, in-process: the plans written and read back."""
    run = await plan_fleet(settings)
    assert run.result.snapshot.complete, [t.errors for t in run.result.snapshot.targets]
    directory = tmp_path / "plans"
    files.write_plans(directory, run.plans, run.result.generated_at)
    return Planned(run.result, directory, files.read_plans(directory))


def moves(entry: Entry) -> set[tuple[str, str, str, str]]:
    return {
        (str(entry.plan["target_arn"]), c["component_name"], c["from_version"], c["to_version"])
        for c in entry.plan["changes"]
    }


def moved(entry: Entry) -> dict[str, str]:
    """component -> the version the plan moves it to."""
    return {c["component_name"]: c["to_version"] for c in entry.plan["changes"]}


class Listed(NamedTuple):
    """A deployment as ListDeployments lists it: what a create or a supersede changes."""

    target_arn: str
    revision_id: str | None
    status: str
    latest: bool


async def deployments(gg: Any) -> dict[str, Listed]:
    """Every deployment ListDeployments knows, by id."""
    listed = await everything(gg.list_deployments, "deployments", historyFilter="ALL")
    return {
        d["deploymentId"]: Listed(
            d["targetArn"], d.get("revisionId"), d["deploymentStatus"], d["isLatestForTarget"]
        )
        for d in listed
    }


async def reached(clients: tuple[Any, Any], target_arn: str) -> list[str]:
    """The core devices a target reaches, as IoT and ListCoreDevices say (a deployment to a
    group reaches its direct members)."""
    gg, iot = clients
    cores = {
        d["coreDeviceThingName"] for d in await everything(gg.list_core_devices, "coreDevices")
    }
    kind, _, name = target_arn.rpartition(":")[2].partition("/")
    if kind == "thing":
        return [name] if name in cores else []
    things = await everything(iot.list_things_in_thing_group, "things", thingGroupName=name)
    return sorted(set(things) & cores)


async def effective_of(gg: Any, thing: str, deployment_id: str) -> dict[str, Any]:
    """What a core device reports of one deployment (ListEffectiveDeployments)."""
    effective = await everything(
        gg.list_effective_deployments, "effectiveDeployments", coreDeviceThingName=thing
    )
    (outcome,) = [e for e in effective if e["deploymentId"] == deployment_id]
    return dict(outcome)


async def guidance(gg: Any, name: str, version: str) -> str:
    """DescribeComponent's vendorGuidance of a version, the account's or AWS's."""
    for owner in (ACCOUNT, "aws"):
        arn = f"arn:aws:greengrass:{REGION}:{owner}:components:{name}:versions:{version}"
        try:
            answer = await gg.describe_component(arn=arn)
        except gg.exceptions.ResourceNotFoundException:
            continue
        return str(answer["status"].get("vendorGuidance", "ACTIVE"))
    return "DELETED"  # DeleteComponent: gone


async def assert_resolved(clients: tuple[Any, Any], entry: Entry, created: str) -> None:
    """Every device the plan's target reaches processed the new revision successfully and runs
    only ACTIVE versions of what the plan moved."""
    gg, _ = clients
    in_force = {i for i, listed in (await deployments(gg)).items() if listed.latest}
    devices = await reached(clients, str(entry.plan["target_arn"]))
    assert devices, entry.plan
    assert len(devices) == entry.plan["devices"]
    for thing in devices:
        effective = await everything(
            gg.list_effective_deployments, "effectiveDeployments", coreDeviceThingName=thing
        )
        latest = max(
            (e for e in effective if e["deploymentId"] in in_force),
            key=lambda e: (e["modifiedTimestamp"], e["creationTimestamp"]),
        )
        assert latest["deploymentId"] == created, (thing, latest)
        assert latest["coreDeviceExecutionStatus"] == "SUCCEEDED", (thing, latest)
        installed = await everything(
            gg.list_installed_components,
            "installedComponents",
            coreDeviceThingName=thing,
            topologyFilter="ALL",
        )
        running = {c["componentName"]: c["componentVersion"] for c in installed}
        for name, version in moved(entry).items():
            assert running.get(name) == version, (thing, name, running)
            assert await guidance(gg, name, version) not in WITHDRAWN, (thing, name, version)


def addressed(
    findings: tuple[Finding, ...], plan: Mapping[str, Any], ids: set[str], devices: list[str]
) -> list[Finding]:
    """The findings a plan is made to clear: about its deployment (the base or the new
    revision), the versions it moves away from on the devices it reaches, and those devices'
    resolution."""
    moved_from = {(c["component_name"], c["from_version"]) for c in plan["changes"]}
    out = []
    for f in findings:
        component = (f.details.component_name, f.details.component_version)
        if f.rule in DEPLOYMENT_RULES:
            hit = f.resource_id in ids
        elif f.rule in DEVICE_COMPONENT_RULES:
            hit = f.resource_id in devices and component in moved_from
        else:
            hit = f.rule is Rule.DEVICE_UNRESOLVABLE and f.resource_id in devices
        if hit:
            out.append(f)
    return out


def only(outcomes: list[Outcome], action: Action) -> list[Outcome]:
    assert {o.action for o in outcomes} == {action}, outcomes
    return outcomes


# -- plan and apply --------------------------------------------------------------------------


async def test_plan_gives_the_ok_plans_with_requests_made_from_their_base(
    planned: Planned,
) -> None:
    assert {m for e in planned.ok for m in moves(e)} == EXPECTED
    assert len(planned.ok) == len(EXPECTED)  # one plan per deployment
    for entry in planned.ok:
        assert entry.request is not None
        assert entry.base is not None
        request, base = entry.request, entry.base
        assert request["targetArn"] == base["targetArn"] == entry.plan["target_arn"]
        assert base["deploymentId"] == entry.deployment_id
        assert request["deploymentPolicies"] == base["deploymentPolicies"]
        components = {n: s["componentVersion"] for n, s in request["components"].items()}
        was = {n: s["componentVersion"] for n, s in base["components"].items()}
        assert components == {**was, **moved(entry)}
        assert (planned.directory / f"{entry.deployment_id}.json").is_file()
        assert (planned.directory / f"{entry.deployment_id}.base.json").is_file()


async def test_apply_creates_the_ok_revisions_and_clears_what_they_address(
    planned: Planned, settings: Settings, clients: tuple[Any, Any]
) -> None:
    gg, _ = clients
    before = await deployments(gg)
    reaches = {
        e.deployment_id: await reached(clients, str(e.plan["target_arn"])) for e in planned.ok
    }
    for entry in planned.ok:
        ids, devices = {entry.deployment_id}, reaches[entry.deployment_id]
        found = {f.rule for f in addressed(planned.before.findings, entry.plan, ids, devices)}
        assert found >= ADDRESSED[str(entry.plan["target_arn"])], found

    dry = only(await apply_plans(settings, planned.ok, confirm=False), Action.WOULD_CREATE)
    assert all(o.new_deployment_id is None for o in dry)
    assert await deployments(gg) == before  # nothing created without --confirm

    outcomes = only(await apply_plans(settings, planned.ok, confirm=True), Action.CREATED)
    created = {o.deployment_id: o.new_deployment_id for o in outcomes}
    after = await deployments(gg)
    assert set(after) - set(before) == {i for i in created.values() if i}
    for entry in planned.ok:
        new = created[entry.deployment_id]
        assert new is not None
        assert entry.request is not None
        assert after[new].target_arn == entry.plan["target_arn"]
        assert after[new].latest  # the latest for its target
        assert not after[entry.deployment_id].latest  # the base is superseded
        got = await gg.get_deployment(deploymentId=new)
        for member in ("targetArn", "deploymentName", "components", "deploymentPolicies"):
            assert got[member] == entry.request[member], member
        await assert_resolved(clients, entry, new)

    rescan = await scan_once(settings)
    assert rescan.snapshot.complete
    for entry in planned.ok:
        ids = {entry.deployment_id, str(created[entry.deployment_id])}
        left = addressed(rescan.findings, entry.plan, ids, reaches[entry.deployment_id])
        assert not left, [f.message for f in left]
    assert not {p.target_arn for p in rescan.plans} & {
        str(e.plan["target_arn"]) for e in planned.ok
    }


async def test_applying_the_same_directory_again_refuses_every_plan_as_stale(
    planned: Planned, settings: Settings, clients: tuple[Any, Any]
) -> None:
    gg, _ = clients
    only(await apply_plans(settings, planned.ok, confirm=True), Action.CREATED)
    between = await deployments(gg)
    again = files.read_plans(planned.directory)
    refused = only(await apply_plans(settings, again, confirm=True), Action.REFUSED)
    assert all(MOVED in o.detail and o.new_deployment_id is None for o in refused), refused
    assert {o.deployment_id for o in refused} == {e.deployment_id for e in planned.ok}
    assert await deployments(gg) == between


async def test_a_plan_whose_target_version_was_discontinued_since_is_refused(
    planned: Planned, settings: Settings, clients: tuple[Any, Any], control: aiohttp.ClientSession
) -> None:
    gg, _ = clients
    withdrawn = {"componentName": "aws.greengrass.clientdevices.Auth", "componentVersion": "2.5.2"}
    body = {"region": REGION, **withdrawn, "vendorGuidance": "DISCONTINUED"}
    async with control.post("/_sim/guidance", json=body) as answer:
        assert answer.status == 200, await answer.text()
    before = await deployments(gg)

    outcomes = {o.target_arn: o for o in await apply_plans(settings, planned.ok, confirm=True)}

    assert outcomes[AUSTIN].action is Action.REFUSED
    assert outcomes[AUSTIN].detail == "aws.greengrass.clientdevices.Auth 2.5.2 is now DISCONTINUED"
    assert outcomes[BERLIN].action is Action.CREATED  # the other plan is not held back
    new = set(await deployments(gg)) - set(before)
    assert new == {outcomes[BERLIN].new_deployment_id}


def _with(request: dict[str, Any], name: str, spec: dict[str, Any] | None) -> dict[str, Any]:
    """The request with one component's spec replaced (None: left out)."""
    components = {n: c for n, c in request["components"].items() if n != name}
    return {**request, "components": {**components, **({name: spec} if spec else {})}}


NUCLEUS, CAMERA = "aws.greengrass.Nucleus", "com.example.CameraIngest"
# Hand edits of the berlin plan's request, and why apply refuses each.
EDITS: list[tuple[Callable[[dict[str, Any]], dict[str, Any]], str]] = [
    (
        lambda r: {**r, "targetArn": f"{ARN}thinggroup/osaka-line-01"},
        "the request's targetArn is not the plan's",
    ),
    (
        lambda r: _with(r, NUCLEUS, {"componentVersion": "2.14.1"}),
        f"the request does not move {NUCLEUS} to 2.15.0",
    ),
    (
        lambda r: _with(r, CAMERA, {"componentVersion": "2.1.0"}),
        f"the request names {CAMERA} 2.1.0, not 2.0.0 as planned",
    ),
    (
        lambda r: _with(r, "aws.greengrass.Cli", {"componentVersion": "2.15.0"}),
        "the request adds aws.greengrass.Cli, which the plan does not",
    ),
    (lambda r: _with(r, CAMERA, None), f"the request drops {CAMERA}"),
    (
        lambda r: {**r, "components": list(r["components"])},
        "the request is not a valid CreateDeployment input: Invalid type for parameter components",
    ),
]


async def test_a_request_file_edited_by_hand_is_refused(
    planned: Planned, settings: Settings, clients: tuple[Any, Any]
) -> None:
    gg, _ = clients
    (berlin,) = [e for e in planned.ok if e.plan["target_arn"] == BERLIN]
    path = planned.directory / f"{berlin.deployment_id}.json"
    original = json.loads(path.read_text())
    before = await deployments(gg)

    def berlin_only() -> list[Entry]:
        entries = files.read_plans(planned.directory)
        return [e for e in entries if e.deployment_id == berlin.deployment_id]

    for edit, why in EDITS:
        path.write_text(json.dumps(edit(original)))
        (outcome,) = await apply_plans(settings, berlin_only(), confirm=True)
        assert outcome.action is Action.REFUSED, (why, outcome)
        assert outcome.detail.startswith(why), outcome.detail
    assert await deployments(gg) == before

    path.write_text(json.dumps(original))  # undone, the plan goes ahead
    (outcome,) = await apply_plans(settings, berlin_only(), confirm=True)
    assert outcome.action is Action.CREATED, outcome


# -- preflight -------------------------------------------------------------------------------

CONFLICT = f"""\
# The CLI 2.15.0 needs nucleus 2.15; this file pins 2.14.3.
targetArn: {OSAKA}
deploymentName: osaka pin the nucleus
components:
  aws.greengrass.Nucleus: {{componentVersion: 2.14.3}}
  aws.greengrass.Cli: {{componentVersion: 2.15.0}}
  com.example.Telemetry: {{componentVersion: 1.2.0}}
"""
CONFLICT_REQUIREMENTS = {
    "thinggroup/osaka-line-01": "=2.14.3",
    "aws.greengrass.Cli": ">=2.15.0 <2.16.0",
}


async def test_preflight_of_a_conflicting_file_names_the_conflict(
    sim: Running, unthrottled: None, settings: Settings, tmp_path: Path, clients: tuple[Any, Any]
) -> None:
    gg, _ = clients
    path = tmp_path / "osaka.yaml"
    path.write_text(CONFLICT)
    before = await deployments(gg)

    result = await predict(settings, read_proposal(path))

    assert await deployments(gg) == before  # a prediction creates nothing
    by_rule: dict[Rule, list[Finding]] = {}
    for f in result.findings:
        by_rule.setdefault(f.rule, []).append(f)
    assert set(by_rule) == {Rule.DEPLOYMENT_UNRESOLVABLE, Rule.DEVICE_UNRESOLVABLE}, [
        f.message for f in result.findings
    ]
    for f in by_rule[Rule.DEPLOYMENT_UNRESOLVABLE]:
        assert f.resource_id == PROPOSED_ID
        assert f.details.component_name == "aws.greengrass.Nucleus"
        assert dict(f.details.requirements or ()) == CONFLICT_REQUIREMENTS
        assert "thinggroup/osaka-line-01 requires =2.14.3" in f.message
        assert "aws.greengrass.Cli requires >=2.15.0 <2.16.0" in f.message
    members = await reached(clients, OSAKA)
    assert {f.resource_id for f in by_rule[Rule.DEVICE_UNRESOLVABLE]} == set(members)
    for f in by_rule[Rule.DEVICE_UNRESOLVABLE]:
        assert f.details.component_name == "aws.greengrass.Nucleus"
        requirements = dict(f.details.requirements or ())
        assert requirements.items() >= CONFLICT_REQUIREMENTS.items(), requirements
        assert PROPOSED_ID in (f.details.deployment_ids or ())

    # The witness: created for real, the deployment fails on exactly those devices.
    created = (await gg.create_deployment(**read_proposal(path).request))["deploymentId"]
    failed = set()
    for thing in members:
        outcome = await effective_of(gg, thing, created)
        if outcome["coreDeviceExecutionStatus"] == "FAILED":
            assert "thinggroup/osaka-line-01 requires =2.14.3" in outcome["reason"]
            failed.add(thing)
    assert failed == {f.resource_id for f in by_rule[Rule.DEVICE_UNRESOLVABLE]}


async def test_preflight_of_a_clean_file_finds_nothing(
    sim: Running, unthrottled: None, settings: Settings, tmp_path: Path, clients: tuple[Any, Any]
) -> None:
    gg, _ = clients
    (base,) = [
        d for d in await everything(gg.list_deployments, "deployments") if d["targetArn"] == BERLIN
    ]
    current = await gg.get_deployment(deploymentId=base["deploymentId"])
    components = {**current["components"], "aws.greengrass.Nucleus": {"componentVersion": "2.15.0"}}
    path = tmp_path / "berlin.json"
    path.write_text(json.dumps({"targetArn": BERLIN, "components": components}))

    result = await predict(settings, read_proposal(path))

    assert result.findings == (), [f.message for f in result.findings]
    # The witness: created for real, it succeeds on every member.
    created = (await gg.create_deployment(**read_proposal(path).request))["deploymentId"]
    for thing in await reached(clients, BERLIN):
        outcome = await effective_of(gg, thing, created)
        assert outcome["coreDeviceExecutionStatus"] == "SUCCEEDED", outcome


async def test_preflight_of_an_unwatched_account_says_so(
    sim: Running, unthrottled: None, settings: Settings, tmp_path: Path
) -> None:
    path = tmp_path / "elsewhere.json"
    target = f"arn:aws:iot:{REGION}:210987654321:thinggroup/berlin-line-01"
    path.write_text(json.dumps({"targetArn": target, "components": {}}))
    with pytest.raises(PlanError, match=r"elsewhere\.json.*210987654321"):
        await predict(settings, read_proposal(path))
