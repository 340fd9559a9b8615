"""Fleets: the seeded generator and the YAML loader build consistent, reproducible worlds.

Most tests read the built `World` directly (no server). One reads a small fleet back through
the real API, as ggwatch will, and checks the same invariants from what the API answers.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ggwatch.sim import catalog, resolution, versions
from ggwatch.sim.fleet import FleetError, FleetSpec, generate, load
from ggwatch.sim.store import CoreDevice, Deployment, RegionState, World
from tests.sim.helpers_faults import ACCOUNT, REGION, set_knobs

NOW = 1_790_000_000.0
NUCLEUS = catalog.NUCLEUS
TOKEN_EXCHANGE = catalog.TOKEN_EXCHANGE
# The range whose versions of the first private component the generator deletes on purpose
# (ggwatch/sim/fleet/cases.py), once devices installed them.
CASE_RANGE = "~1.0.0"
SAMPLE = Path(__file__).resolve().parents[2] / "config" / "sample-fleet.yaml"


# -- what a world holds, independent of how the store keeps it --------------------------------


def dump(world: World) -> dict[str, Any]:
    """A canonical, comparable picture of a world's public data."""
    states: dict[str, Any] = {}
    for state in world.states():
        states[f"{state.account}/{state.region}"] = {
            "deployments": sorted(
                (
                    d.deployment_id,
                    d.revision_id,
                    d.target_arn,
                    d.name,
                    d.created,
                    d.status,
                    d.is_latest,
                    sorted((n, s["componentVersion"]) for n, s in d.components.items()),
                    sorted(d.tags.items()),
                )
                for d in state.deployments.by_id.values()
            ),
            "devices": sorted(
                (
                    d.thing_name,
                    d.status,
                    d.last_update,
                    d.thing_groups,
                    d.architecture,
                    sorted(
                        (i.name, i.version, i.is_root, i.source, i.state)
                        for i in d.installed.values()
                    ),
                )
                for d in state.devices.values()
            ),
            "versions": guidance(state.private.values()),
            "deleted": sorted((n, v) for n, gone in state.deleted_versions.items() for v in gone),
        }
    return {
        "access_keys": sorted(world.access_keys.items()),
        "public": {
            region: guidance(pool.values()) for region, pool in sorted(world.public.items())
        },
        "states": states,
    }


def guidance(components: Iterable[Any]) -> list[tuple[Any, ...]]:
    return sorted(
        (c.name, v.version, v.created, v.vendor_guidance, v.guidance_message)
        for c in components
        for v in c.versions.values()
    )


def targets(state: RegionState, device: CoreDevice) -> list[str]:
    prefix = f"arn:aws:iot:{state.region}:{state.account}"
    return [f"{prefix}:thing/{device.thing_name}"] + [
        f"{prefix}:thinggroup/{g}" for g in device.thing_groups
    ]


def merge(deployments: Iterable[Deployment]) -> dict[str, tuple[str, str]]:
    """name -> (version, deployment id): later creation wins, FAILED ones install nothing."""
    wanted: dict[str, tuple[str, str]] = {}
    for dep in sorted((d for d in deployments if d.status != "FAILED"), key=lambda d: d.created):
        for name, spec in dep.components.items():
            wanted[name] = (spec["componentVersion"], dep.deployment_id)
    return wanted


def check_consistent(world: World) -> int:
    """The invariants every built world keeps; answers how many devices were checked."""
    checked = 0
    for state in world.states():
        index = state.deployments
        for target, entries in index.by_target.items():
            latest = [d for _, d in entries if d.is_latest]
            assert latest == [index.latest[target]], target
            assert latest[0].created == max(d.created for _, d in entries)
            is_group = ":thinggroup/" in target
            allowed = {"ACTIVE", "CANCELED"} if is_group else {"COMPLETED", "FAILED", "CANCELED"}
            assert latest[0].status in allowed, (target, latest[0].status)
            for _, dep in entries:
                if not dep.is_latest:
                    assert dep.status in {"INACTIVE", "CANCELED", "FAILED"}, dep
        for device in state.devices.values():
            # Each latest deployment reached it and was resolved there: installed or failed.
            for t in targets(state, device):
                if t in index.latest:
                    received = device.effective[index.latest[t].deployment_id]
                    assert received.status in {"SUCCEEDED", "FAILED"}, device.thing_name
            # Roots: what the deployments it runs name; all it runs is the resolution of those.
            wanted = {n: v for a in device.running.values() for n, v in a.components}
            sources = {a.deployment_id for a in device.running.values()}
            got_roots = {i.name: i.version for i in device.installed.values() if i.is_root}
            assert got_roots == wanted, device.thing_name
            assert all(i.source in sources for i in device.installed.values() if i.is_root), (
                device.thing_name
            )
            deployments = {
                t.rpartition(":")[2]: dict(a.components) for t, a in device.running.items()
            }
            local = {n: i.version for n, i in device.installed.items()}
            again = resolution.resolve(
                deployments,
                state.installer.catalogue(),
                resolution.Platform(device.platform, device.architecture),
                local,
            )
            assert again.ok, (device.thing_name, again.failure)
            others = {i.name: i.version for i in device.installed.values() if not i.is_root}
            assert NUCLEUS in device.installed, device.thing_name
            assert {**again.picks, NUCLEUS: local[NUCLEUS]} == {
                **local,
                NUCLEUS: local[NUCLEUS],
            }, device.thing_name
            assert (NUCLEUS in others) == (NUCLEUS not in wanted)
            checked += 1
    return checked


# -- the generator ---------------------------------------------------------------------------


def test_same_spec_and_now_give_the_same_world() -> None:
    spec = FleetSpec(seed=42, accounts=2, regions=("us-west-2", "cn-north-1"), devices=60)
    first, second = dump(generate(spec, now=NOW)), dump(generate(spec, now=NOW))
    assert first == second
    assert len(first["states"]) == 4
    other = dump(generate(FleetSpec(seed=43, accounts=2, regions=spec.regions, devices=60), NOW))
    assert other["access_keys"] != first["access_keys"]  # the extra accounts are drawn too
    assert other["states"][f"{ACCOUNT}/{REGION}"] != first["states"][f"{ACCOUNT}/{REGION}"]


def test_different_seed_gives_different_deployments() -> None:
    ids = [
        {
            d.deployment_id
            for d in generate(FleetSpec(seed=s), now=NOW)
            .region(ACCOUNT, REGION)
            .deployments.by_id.values()
        }
        for s in (1, 2)
    ]
    assert ids[0].isdisjoint(ids[1])


def check_withdrawn(state: RegionState, spec: FleetSpec) -> None:
    """How the generator withdrew private versions, by the reading `private_guidance`: on,
    they stay and carry DISCONTINUED or DELETED guidance; off, DeleteComponent removed the
    deleted share (kept in `deleted_versions`), never a component's newest, and every private
    version stays ACTIVE. Either way the first component's 1.0.x go (cases.py) when the
    fleet deletes any and has four components or more and a later line of the first."""
    gone_from = state.deleted_versions
    assert set(gone_from) <= set(state.private)
    for name, component in state.private.items():
        gone = gone_from.get(name, {})
        assert len(component.versions) + len(gone) == spec.private_versions, name
        assert not set(gone) & set(component.versions), name
        newest = component.versions[component.order[0]]
        assert newest.vendor_guidance == "ACTIVE", newest
        if spec.private_guidance:
            assert not gone, name
            continue
        assert {v.vendor_guidance for v in component.versions.values()} == {"ACTIVE"}, name
        assert all(v.guidance_message is None for v in component.versions.values()), name
        top = versions.sort_key(newest.version)
        assert all(versions.sort_key(v) < top for v in gone), name
    first = state.private[next(iter(state.private))]
    every = {*first.versions, *gone_from.get(first.name, {})}
    line = {v for v in every if versions.satisfies(v, CASE_RANGE)}
    if len(state.private) >= 4 and spec.deleted_share > 0 and line != every:
        assert line
        if spec.private_guidance:
            assert {first.versions[v].vendor_guidance for v in line} == {"DELETED"}
        else:
            assert line <= set(gone_from[first.name])


@pytest.mark.parametrize(
    "spec",
    [
        FleetSpec(seed=7, devices=40, deployments=90, private_components=6),
        FleetSpec(seed=3, accounts=3, regions=("us-west-2", "eu-central-1"), devices=80),
        FleetSpec(seed=9, devices=30, deployments=5, thing_groups=8),
        FleetSpec(seed=4, devices=25, deployments=400, private_components=20, private_versions=12),
        FleetSpec(seed=5, devices=0, deployments=0),
    ],
)
def test_generated_worlds_are_consistent(spec: FleetSpec) -> None:
    assert spec.private_guidance is False  # the default: the lifecycle AWS offers
    for each in (spec, dataclasses.replace(spec, private_guidance=True)):
        world = generate(each, now=NOW)
        states = list(world.states())
        assert len(states) == each.accounts * len(each.regions)
        assert len({s.account for s in states}) == each.accounts
        expected = each.deployments if each.deployments is not None else 2 * each.devices
        for state in states:
            assert len(state.devices) == each.devices
            assert len(state.deployments) == expected
            assert len(state.private) == each.private_components
            check_withdrawn(state, each)
        assert check_consistent(world) == each.devices * len(states)


def test_each_account_has_its_access_key() -> None:
    world = generate(FleetSpec(seed=8, accounts=3, devices=3), now=NOW)
    assert sorted(world.access_keys) == [f"AKIASIM{i:013d}" for i in range(3)]
    assert world.access_keys["AKIASIM0000000000000"] == ACCOUNT
    assert len(set(world.access_keys.values())) == 3
    assert all(re.fullmatch(r"\d{12}", a) for a in world.access_keys.values())


def test_withdrawal_shares_are_roughly_as_asked() -> None:
    spec = FleetSpec(
        seed=12,
        devices=0,
        deployments=0,
        private_components=60,
        private_versions=20,
        discontinued_share=0.2,
        deleted_share=0.1,
    )
    # By default, as AWS offers it: the deleted share is removed with DeleteComponent, the
    # discontinued share is nothing (no API marks a private version DISCONTINUED).
    state = generate(spec, now=NOW).region(ACCOUNT, REGION)
    check_withdrawn(state, spec)
    records = [
        *(v for c in state.private.values() for v in c.versions.values()),
        *(v for gone in state.deleted_versions.values() for v in gone.values()),
    ]
    assert {(v.vendor_guidance, v.guidance_message) for v in records} == {("ACTIVE", None)}
    first = next(iter(state.private))
    assert {"1.0.0", "1.0.1", "1.0.2", "1.0.3"} <= set(state.deleted_versions[first])
    # The share, beyond the first component (whose 1.0.x the generator deletes on purpose).
    deleted = sum(len(gone) for name, gone in state.deleted_versions.items() if name != first)
    older = sum(spec.private_versions - 1 for name in state.private if name != first)
    assert older == 59 * 19
    assert abs(deleted / older - 0.1) < 0.04
    removed = {(n, v) for n, gone in state.deleted_versions.items() for v in gone}

    # With the undocumented reading on, as guidance on versions that stay.
    spec = dataclasses.replace(spec, private_guidance=True)
    state = generate(spec, now=NOW).region(ACCOUNT, REGION)
    assert state.deleted_versions == {}
    # The same draws: the versions marked DELETED are those DeleteComponent removed above.
    marked = {
        (c.name, v.version)
        for c in state.private.values()
        for v in c.versions.values()
        if v.vendor_guidance == "DELETED"
    }
    assert marked == removed
    shares: Counter[str | None] = Counter()
    for component in state.private.values():
        newest = component.versions[component.order[0]]
        assert newest.vendor_guidance == "ACTIVE", newest
        for version in component.order[1:]:
            record = component.versions[version]
            shares[record.vendor_guidance] += 1
            if record.vendor_guidance in ("DISCONTINUED", "DELETED"):
                assert record.guidance_message
                assert component.order[0] in record.guidance_message  # names the way out
    older = sum(shares.values())
    assert older == 60 * 19
    assert abs(shares["DISCONTINUED"] / older - 0.2) < 0.05
    assert abs(shares["DELETED"] / older - 0.1) < 0.04


def test_no_withdrawals_when_none_are_asked() -> None:
    spec = FleetSpec(seed=12, devices=10, discontinued_share=0.0, deleted_share=0.0)
    state = generate(spec, now=NOW).region(ACCOUNT, REGION)
    found = {v.vendor_guidance for c in state.private.values() for v in c.versions.values()}
    assert found <= {"ACTIVE", None}


def test_documented_withdrawals_carry_their_guidance() -> None:
    world = generate(FleetSpec(seed=1, regions=("us-west-2", "eu-west-1"), devices=5), now=NOW)
    for region in ("us-west-2", "eu-west-1"):
        pool = world.public[region]
        for name, version, status, message in catalog.WITHDRAWN:
            record = pool[name].versions[version]
            assert (record.vendor_guidance, record.guidance_message) == (status, message)
            assert pool[name].order[0] != version  # never the newest
            assert record.arn == (
                f"arn:aws:greengrass:{region}:aws:components:{name}:versions:{version}"
            )
        nucleus = pool[NUCLEUS]
        assert nucleus.versions[nucleus.order[0]].vendor_guidance == "ACTIVE"


def test_bad_specs_are_refused() -> None:
    for spec in (
        FleetSpec(devices=-1),
        FleetSpec(accounts=0),
        FleetSpec(regions=()),
        FleetSpec(private_components=0),
        FleetSpec(discontinued_share=0.7, deleted_share=0.5),
        FleetSpec(max_age_days=1),
    ):
        with pytest.raises(FleetError):
            generate(spec, now=NOW)


@pytest.mark.slow
def test_generates_a_large_fleet() -> None:
    spec = FleetSpec(devices=10_000, deployments=20_000)
    state = generate(spec, now=NOW).region(ACCOUNT, REGION)
    assert len(state.devices) == 10_000
    assert len(state.deployments) == 20_000
    assert len(state.deployments.latest) == len(state.deployments.by_target)
    latest = sum(d.is_latest for d in state.deployments.by_id.values())
    assert latest == len(state.deployments.by_target)
    assert all(NUCLEUS in d.installed for d in state.devices.values())


# -- the same invariants through the real API --------------------------------------------------


async def pages(client: Any, operation: str, key: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    async for page in client.get_paginator(operation).paginate(**params):
        items.extend(page[key])
    return items


@pytest.mark.parametrize(
    "fleet_spec",
    [FleetSpec(seed=21, devices=15, deployments=35, private_components=4, thing_groups=3)],
)
async def test_generated_fleet_is_consistent_through_the_api(
    control: aiohttp.ClientSession, gg: Any, fleet_spec: FleetSpec
) -> None:
    await set_knobs(control, rate_limit=0)
    history = await pages(
        gg,
        "list_deployments",
        "deployments",
        historyFilter="ALL",
        PaginationConfig={"PageSize": 10},
    )
    assert len(history) == fleet_spec.deployments
    assert len({d["deploymentId"] for d in history}) == len(history)
    per_target = Counter(d["targetArn"] for d in history if d["isLatestForTarget"])
    assert set(per_target) == {d["targetArn"] for d in history}
    assert set(per_target.values()) == {1}
    latest_only = await pages(gg, "list_deployments", "deployments")
    assert {d["deploymentId"] for d in latest_only} == {
        d["deploymentId"] for d in history if d["isLatestForTarget"]
    }

    latest: dict[str, dict[str, Any]] = {}
    for item in latest_only:
        latest[item["targetArn"]] = await gg.get_deployment(deploymentId=item["deploymentId"])
    members: dict[str, set[str]] = {}
    for target in (t for t in latest if ":thinggroup/" in t):
        listed = await pages(gg, "list_core_devices", "coreDevices", thingGroupArn=target)
        for device in listed:
            members.setdefault(device["coreDeviceThingName"], set()).add(target)

    devices = await pages(gg, "list_core_devices", "coreDevices")
    assert len(devices) == fleet_spec.devices
    for device in devices:
        thing = device["coreDeviceThingName"]
        mine = [f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/{thing}", *members.get(thing, ())]
        applied = sorted(
            (latest[t] for t in mine if t in latest and latest[t]["deploymentStatus"] != "FAILED"),
            key=lambda d: d["creationTimestamp"],
        )
        wanted: dict[str, tuple[str, str]] = {}
        for dep in applied:
            for name, spec in dep["components"].items():
                wanted[name] = (spec["componentVersion"], dep["deploymentId"])
        items = await pages(
            gg,
            "list_installed_components",
            "installedComponents",
            coreDeviceThingName=thing,
            topologyFilter="ALL",
        )
        got = {
            i["componentName"]: (i["componentVersion"], i["lastInstallationSource"])
            for i in items
            if i["isRoot"]
        }
        # A deployment that failed on the device (its resolution) installed nothing.
        effective = await pages(
            gg, "list_effective_deployments", "effectiveDeployments", coreDeviceThingName=thing
        )
        succeeded = {
            e["deploymentId"] for e in effective if e["coreDeviceExecutionStatus"] == "SUCCEEDED"
        }
        wanted = {
            name: (spec["componentVersion"], dep["deploymentId"])
            for dep in applied
            if dep["deploymentId"] in succeeded
            for name, spec in dep["components"].items()
        }
        assert {n: v for n, (v, _) in got.items()} == {n: v for n, (v, _) in wanted.items()}
        assert {s for _, s in got.values()} <= succeeded, thing
        others = {i["componentName"] for i in items if not i["isRoot"]}
        assert NUCLEUS in others | set(got)
        needs_tes = (
            any(n in catalog.NEEDS_TOKEN_EXCHANGE for n in got) and TOKEN_EXCHANGE not in got
        )
        assert (TOKEN_EXCHANGE in others) == needs_tes, thing


async def test_withdrawn_public_versions_through_the_api(gg: Any) -> None:
    for name, version, status, message in catalog.WITHDRAWN:
        arn = f"arn:aws:greengrass:{REGION}:aws:components:{name}:versions:{version}"
        described = await gg.describe_component(arn=arn)
        assert described["status"]["vendorGuidance"] == status
        assert described["status"]["vendorGuidanceMessage"] == message


# -- the YAML loader -------------------------------------------------------------------------

VALID = """
regions: [us-west-2, eu-central-1]
public_guidance:
  - {component: aws.greengrass.Cli, version: 2.15.0, vendor_guidance: DISCONTINUED,
     message: "Test says so."}
accounts:
  - id: "123456789012"
    access_keys: [AKIATESTFIRST0000000]
    regions:
      us-west-2:
        components:
          com.example.App:
            - {version: 1.0.0, age_days: 100}
            - {version: 1.1.0, age_days: 50, deleted: true}
            - {version: 2.0.0, age_days: 10,
               depends_on: {aws.greengrass.TokenExchangeService: 2.0.3}}
        devices:
          - {name: dev-1, groups: [line-1], nucleus: 2.13.0}
          - {name: dev-2, groups: [line-1], status: UNHEALTHY, architecture: aarch64}
        deployments:
          - name: first
            target: thinggroup/line-1
            age_days: 90
            components: {com.example.App: 1.0.0}
          - name: second
            target: thinggroup/line-1
            age_days: 40
            tags: {owner: ops}
            components: {com.example.App: 1.1.0, aws.greengrass.Cli: 2.15.0}
          - name: own
            target: thing/dev-2
            age_days: 5
            components: {com.example.App: 2.0.0}
  - id: "210987654321"
    access_keys: [AKIATESTSECOND000000]
    regions:
      eu-central-1:
        devices: [{name: dev-eu}]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def by_name(state: RegionState) -> dict[str, Deployment]:
    return {d.name: d for d in state.deployments.by_id.values()}


def test_a_valid_file_loads(tmp_path: Path) -> None:
    world = load(write(tmp_path, VALID), now=NOW)
    assert world.access_keys == {
        "AKIATESTFIRST0000000": "123456789012",
        "AKIATESTSECOND000000": "210987654321",
    }
    state = world.region("123456789012", "us-west-2")
    deps = by_name(state)
    assert (deps["first"].revision_id, deps["first"].status, deps["first"].is_latest) == (
        "1",
        "INACTIVE",
        False,
    )
    assert (deps["second"].revision_id, deps["second"].status, deps["second"].is_latest) == (
        "2",
        "ACTIVE",
        True,
    )
    assert deps["second"].tags == {"owner": "ops"}
    assert deps["second"].created == NOW - 40 * 86_400
    assert (deps["own"].status, deps["own"].is_latest) == ("COMPLETED", True)

    one, two = state.devices["dev-1"], state.devices["dev-2"]
    assert (two.status, two.architecture, two.thing_groups) == ("UNHEALTHY", "aarch64", ("line-1",))

    def roots(device: CoreDevice) -> dict[str, tuple[str, str]]:
        return {i.name: (i.version, i.source) for i in device.installed.values() if i.is_root}

    second, own = deps["second"].deployment_id, deps["own"].deployment_id
    # Devices resolve: the CLI 2.15.0 needs nucleus 2.15, which dev-1 (2.13.0) may not move
    # to unless a deployment names the nucleus; dev-2's own App 2.0.0 conflicts with the
    # group's App 1.1.0. Each keeps what it had.
    assert roots(one) == {}
    assert one.effective[second].status == "FAILED"
    assert "UNAUTHORIZED_NUCLEUS_MINOR_VERSION_UPDATE" in str(one.effective[second].reason)
    assert roots(two) == {
        "com.example.App": ("1.1.0", second),
        "aws.greengrass.Cli": ("2.15.0", second),
    }
    assert two.effective[own].status == "FAILED"
    assert "thing/dev-2 requires =2.0.0" in str(two.effective[own].reason)
    assert one.installed[NUCLEUS].version == "2.13.0"
    assert two.installed[NUCLEUS].version == catalog.versions(NUCLEUS)[-1]
    assert TOKEN_EXCHANGE not in two.installed  # App 1.1.0 depends on nothing
    assert TOKEN_EXCHANGE not in one.installed

    # App 1.1.0 was deleted (DeleteComponent) after the devices installed it: it left the
    # component's versions, the deployment still names it and dev-2 keeps running it.
    app = state.private["com.example.App"]
    assert app.order == ["2.0.0", "1.0.0"]
    assert list(state.deleted_versions["com.example.App"]) == ["1.1.0"]
    assert deps["second"].components["com.example.App"] == {"componentVersion": "1.1.0"}
    assert world.readings.private_guidance is False
    for region in ("us-west-2", "eu-central-1"):
        cli = world.public[region]["aws.greengrass.Cli"].versions["2.15.0"]
        assert (cli.vendor_guidance, cli.guidance_message) == ("DISCONTINUED", "Test says so.")
        assert world.public[region][NUCLEUS].versions["2.14.0"].vendor_guidance == "DELETED"
    assert set(world.region("210987654321", "eu-central-1").devices) == {"dev-eu"}
    assert check_consistent(world) == 3

    # With the undocumented reading `private_guidance` on, a file may mark it instead.
    marked = VALID.replace(
        "deleted: true", 'vendor_guidance: DISCONTINUED, message: "Upgrade to 2.0.0."'
    )
    world = load(write(tmp_path, "private_guidance: true\n" + marked), now=NOW)
    assert world.readings.private_guidance is True
    state = world.region("123456789012", "us-west-2")
    app = state.private["com.example.App"]
    assert app.order == ["2.0.0", "1.1.0", "1.0.0"]
    assert (app.versions["1.1.0"].vendor_guidance, app.versions["1.1.0"].guidance_message) == (
        "DISCONTINUED",
        "Upgrade to 2.0.0.",
    )
    assert state.deleted_versions == {}
    assert check_consistent(world) == 3


def test_loading_is_stable(tmp_path: Path) -> None:
    path = write(tmp_path, VALID)
    assert dump(load(path, now=NOW)) == dump(load(path, now=NOW))


def test_the_sample_fleet_loads_consistently() -> None:
    if not SAMPLE.exists():
        pytest.skip("config/sample-fleet.yaml is not written yet")
    world = load(SAMPLE, now=NOW)
    assert check_consistent(world) >= 1


def region_doc(body: str) -> str:
    """A one-account, one-Region file whose Region section is `body` (indented YAML)."""
    head = (
        "regions: [us-west-2]\naccounts:\n  - id: '123456789012'\n    regions:\n      us-west-2:\n"
    )
    return head + "".join(f"        {line}\n" for line in body.strip("\n").splitlines())


APP = "components:\n  com.example.App:\n    - {version: 1.0.0}\n"
WHERE = "fleet.accounts[0].regions.us-west-2"


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("regions: [us-west-2]\ncolour: red\n", "fleet: unknown key 'colour'"),
        ("- just\n- a list\n", "fleet: expected a mapping"),
        ("regions: [us-west-2\naccounts: {\n", "is not valid YAML at line"),
        ("accounts:\n  - id: '12345'\n", "fleet.accounts[0].id: an account id is 12 digits"),
        ("accounts:\n  - {id: '1234567890ab'}\n", "fleet.accounts[0].id"),
        (
            "accounts:\n  - regions: {eu-west-1: {}}\n",
            "regions.eu-west-1: not listed in fleet.regions",
        ),
        (region_doc("devices:\n  - {nam: gg-1}"), f"{WHERE}.devices[0]: unknown key 'nam'"),
        (
            region_doc("devices:\n  - {name: gg-1, status: ASLEEP}"),
            f"{WHERE}.devices[0].status: must be HEALTHY or UNHEALTHY",
        ),
        (
            region_doc(APP + "deployments:\n  - {target: thinggroup/g, status: DONE}"),
            f"{WHERE}.deployments[0].status: not a deployment status: DONE",
        ),
        (
            region_doc(
                APP
                + "deployments:\n  - {target: thinggroup/g, components: {com.example.App: 9.9.9}}"
            ),
            f"{WHERE}.deployments[0].components.com.example.App: no such component version 9.9.9",
        ),
        (
            region_doc("deployments:\n  - {target: group/g}"),
            f"{WHERE}.deployments[0].target: write thing/NAME or thinggroup/NAME",
        ),
        (
            region_doc(
                "deployments:\n  - {id: d-1, target: thing/a}\n  - {id: d-1, target: thing/b}"
            ),
            f"{WHERE}.deployments[1].id: deployment id d-1 is used twice",
        ),
        (
            region_doc(
                "components:\n  com.example.App:\n    - {version: 1.0.0, vendor_guidance: GONE}"
            ),
            f"{WHERE}.components.com.example.App[0].vendor_guidance",
        ),
        (
            region_doc("components:\n  com.example.App:\n    - {version: 1.0.0, age_days: -3}"),
            f"{WHERE}.components.com.example.App[0].age_days: must be a number >= 0",
        ),
        (
            "public_guidance:\n  - {component: aws.greengrass.Cli, version: 0.0.1}\n",
            "fleet.public_guidance[0]: no public component version aws.greengrass.Cli 0.0.1",
        ),
        ("regions: us-west-2\n", "fleet.regions: expected a list"),
    ],
)
def test_invalid_files_name_the_place(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(FleetError, match=re.escape(message)):
        load(write(tmp_path, text), now=NOW)


def test_a_missing_file_is_a_fleet_error(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match="cannot read fleet file"):
        load(tmp_path / "absent.yaml", now=NOW)


def test_a_generated_world_keeps_the_reading_it_was_made_under() -> None:
    spec = FleetSpec(seed=3, devices=5)
    assert generate(spec, now=NOW).readings.private_guidance is False
    on = generate(dataclasses.replace(spec, private_guidance=True), now=NOW)
    assert on.readings.private_guidance is True


CONFLICT_DOC = region_doc("""
components:
  com.example.Lib:
    - {version: 1.0.0}
    - {version: 2.0.0}
  com.example.App:
    - {version: 1.0.0}
    - {version: 2.0.0, depends_on: {com.example.Lib: ^2.0.0}}
  com.example.Mid:
    - {version: 1.0.0, depends_on: {com.example.App: <2.0.0, com.example.Lib: ^1.0.0}}
  com.example.Gateway:
    - {version: 1.0.0, depends_on: {com.example.App: '>=1.0.0'}}
  com.example.Line:
    - {version: 1.0.0, depends_on: {com.example.Mid: '*'}}
devices:
  - {name: dev-1, groups: [gateways, lines]}
deployments:
  - {name: gateways, target: thinggroup/gateways, age_days: 20,
     components: {com.example.Gateway: 1.0.0}}
  - {name: lines, target: thinggroup/lines, age_days: 10,
     components: {com.example.Line: 1.0.0}}
""")


@pytest.mark.parametrize(
    ("key", "override", "status"),
    [
        (None, None, "SUCCEEDED"),
        ("eager", None, "FAILED"),
        (None, "eager", "FAILED"),
        ("eager", "deferred", "SUCCEEDED"),  # the command line wins over the file
    ],
)
def test_the_devices_of_a_fleet_file_resolve_under_the_conflict_reading(
    tmp_path: Path, key: str | None, override: str | None, status: str
) -> None:
    # Lib meets App 2.0.0's ^2.0.0 and Mid's ^1.0.0 while App waits to be re-picked below 2.
    text = CONFLICT_DOC if key is None else f"conflicts: {key}\n{CONFLICT_DOC}"
    world = load(write(tmp_path, text), now=NOW, conflicts=override)
    assert world.readings.conflicts == (override or key or "deferred")
    state = world.region("123456789012", "us-west-2")
    lines = by_name(state)["lines"].deployment_id
    received = state.devices["dev-1"].effective[lines]
    assert received.status == status
    if status == "FAILED":
        assert "Component com.example.Lib version constraints" in str(received.reason)


def test_a_conflict_reading_that_is_neither_is_refused(tmp_path: Path) -> None:
    with pytest.raises(FleetError, match=re.escape("fleet.conflicts: must be deferred or eager")):
        load(write(tmp_path, f"conflicts: later\n{CONFLICT_DOC}"), now=NOW)
    with pytest.raises(FleetError, match="conflicts must be deferred or eager"):
        generate(FleetSpec(devices=1, conflicts="later"), now=NOW)
    assert generate(FleetSpec(devices=1, conflicts="eager"), now=NOW).readings.conflicts == "eager"
