"""Fleets for the simulator: a seeded generator, and a loader for readable YAML fleet files.

Both build the same `World`. Consistency holds by construction: devices' installed components
are computed from the latest deployments of their targets (the device itself and its thing
groups) by the store's own `recompute`, and vendor guidance is assigned after deployments were
made, as in life: a version is withdrawn while fleets still run it.
"""

from __future__ import annotations

import bisect
import random
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ggwatch.sim import catalog
from ggwatch.sim.store import (
    PUBLIC_OWNER,
    Component,
    ComponentVersion,
    CoreDevice,
    Deployment,
    EffectiveDeployment,
    Installed,
    RegionState,
    World,
    component_arn,
    thing_arn,
    thing_group_arn,
    version_key,
)

DAY = 86_400.0
DEFAULT_ACCOUNT = "123456789012"
SITES = (
    "berlin",
    "austin",
    "osaka",
    "lyon",
    "pune",
    "monterrey",
    "gdansk",
    "ohio",
    "perth",
    "porto",
    "busan",
    "leeds",
)
PRIVATE_NAMES = (
    "Telemetry",
    "CameraIngest",
    "ModbusAdapter",
    "EdgeInference",
    "OpcUaBridge",
    "LocalHistorian",
    "AlarmRouter",
    "FirmwareAgent",
    "VisionQA",
    "EnergyMeter",
    "PlcGateway",
    "LabelPrinter",
)
PUBLIC_STACK = (
    "aws.greengrass.Cli",
    "aws.greengrass.LogManager",
    "aws.greengrass.ShadowManager",
    "aws.greengrass.StreamManager",
    "aws.greengrass.clientdevices.Auth",
    "aws.greengrass.SecureTunneling",
    "aws.greengrass.DeviceDefender",
    "aws.iot.SiteWiseEdgePublisher",
    "aws.greengrass.SecretManager",
)


class FleetError(Exception):
    """A fleet file or generator setting that cannot be used; the message names the place."""


@dataclass(frozen=True, slots=True)
class FleetSpec:
    """What to generate. Counts are per account and Region."""

    seed: int = 1
    accounts: int = 1
    regions: tuple[str, ...] = ("us-west-2",)
    devices: int = 50
    deployments: int | None = None  # history included; default: twice the devices
    thing_groups: int | None = None  # default: one per 25 devices
    private_components: int = 8
    private_versions: int = 6
    discontinued_share: float = 0.05  # of versions that are not the newest of their component
    deleted_share: float = 0.02
    max_age_days: float = 540.0

    def check(self) -> None:
        problems = []
        if self.accounts < 1 or not self.regions:
            problems.append("accounts must be >= 1 and regions not empty")
        if self.devices < 0:
            problems.append("devices must be >= 0")
        if self.deployments is not None and self.deployments < 0:
            problems.append("deployments must be >= 0")
        if self.thing_groups is not None and self.thing_groups < 1:
            problems.append("thing groups must be >= 1")
        if not 1 <= self.private_components <= 5000 or self.private_versions < 1:
            problems.append("private components must be 1..5000 with >= 1 version each")
        if self.discontinued_share < 0 or self.deleted_share < 0:
            problems.append("shares must be >= 0")
        if self.discontinued_share + self.deleted_share > 1:
            problems.append("discontinued and deleted shares must add up to at most 1")
        if self.max_age_days <= 1:
            problems.append("max age must be more than one day")
        if problems:
            raise FleetError("; ".join(problems))


def account_ids(count: int, rng: random.Random) -> list[str]:
    ids = [DEFAULT_ACCOUNT]
    while len(ids) < count:
        candidate = str(rng.randrange(10**11, 10**12))
        if candidate not in ids:
            ids.append(candidate)
    return ids


def access_key(index: int) -> str:
    """Access key ids that select accounts: the first account also takes any unknown key."""
    return f"AKIASIM{index:013d}"


def generate(spec: FleetSpec, now: float, clock: Callable[[], float] | None = None) -> World:
    """A deterministic fleet: the same spec and `now` give the same world."""
    spec.check()
    rng = random.Random(spec.seed)
    world = World(lambda: now)  # frozen while generating, so the same `now` gives the same world
    world.default_region = spec.regions[0]
    for region in spec.regions:
        _public_catalog(world.public_catalog(region), region, spec, now, rng)
    for index, account in enumerate(account_ids(spec.accounts, rng)):
        world.access_keys[access_key(index)] = account
        for region in spec.regions:
            _Generator(world.region(account, region), spec, now, rng).run()
    finish_public(world)
    world.set_clock(clock or moving_from(now))
    return world


def moving_from(now: float) -> Callable[[], float]:
    """The wall clock, never earlier than `now`: the world lives on after it was made."""
    return lambda: max(now, time.time())


def _new_version(
    state_region: str, owner: str, name: str, version: str, created: float, publisher: str
) -> ComponentVersion:
    arn = f"{component_arn(state_region, owner, name)}:versions:{version}"
    description = catalog.DESCRIPTIONS.get(name, f"{name} component.")
    return ComponentVersion(name, version, arn, created, publisher, description)


def _public_catalog(
    pool: dict[str, Component], region: str, spec: FleetSpec, now: float, rng: random.Random
) -> None:
    oldest = now - max(spec.max_age_days, 30.0) * DAY * 1.5
    for name in catalog.SERIES:
        component = Component(name, component_arn(region, PUBLIC_OWNER, name), PUBLIC_OWNER)
        series = catalog.versions(name)
        step = (now - 14 * DAY - oldest) / max(1, len(series))
        for i, version in enumerate(series):
            created = oldest + step * (i + rng.random() * 0.5)
            record = _new_version(region, PUBLIC_OWNER, name, version, created, "AWS")
            if name in catalog.NEEDS_TOKEN_EXCHANGE:
                record.dependencies[catalog.TOKEN_EXCHANGE] = catalog.versions(
                    catalog.TOKEN_EXCHANGE
                )[-1]
            component.versions[version] = record
        component.order = sorted(component.versions, key=version_key, reverse=True)
        pool[name] = component


@dataclass(slots=True)
class _Generator:
    state: RegionState
    spec: FleetSpec
    now: float
    rng: random.Random
    timeline: dict[str, tuple[list[float], list[str]]] = field(default_factory=dict)

    def run(self) -> None:
        self.private_components()
        groups = self.devices()
        targets = self.targets(groups)
        self.deployments(targets)
        self.install()
        self.withdraw()

    def private_components(self) -> None:
        spec, state = self.spec, self.state
        oldest = self.now - spec.max_age_days * DAY
        for i in range(spec.private_components):
            base = PRIVATE_NAMES[i % len(PRIVATE_NAMES)]
            suffix = "" if i < len(PRIVATE_NAMES) else str(i // len(PRIVATE_NAMES) + 1)
            name = f"com.example.{base}{suffix}"
            step = (self.now - 2 * DAY - oldest) / spec.private_versions
            for v in range(spec.private_versions):
                version = f"1.{v // 4}.{v % 4}" if v < 8 else f"{1 + v // 8}.{v % 8 // 4}.{v % 4}"
                created = oldest + step * (v + self.rng.random() * 0.8)
                state.add_private_version(
                    _new_version(state.region, state.account, name, version, created, "Example")
                )

    def devices(self) -> list[str]:
        spec, state, rng = self.spec, self.state, self.rng
        n_groups = spec.thing_groups or max(1, spec.devices // 25)
        groups = [
            f"{SITES[g % len(SITES)]}-line-{g // len(SITES) + 1:02d}" for g in range(n_groups)
        ]
        canary = "canary"
        nucleus = catalog.versions(catalog.NUCLEUS)
        for i in range(spec.devices):
            group = groups[i % n_groups]
            member_of = (group, canary) if rng.random() < 0.05 else (group,)
            name = f"gg-{group.split('-')[0]}-{i:05d}"
            provisioned = self.now - rng.uniform(30, spec.max_age_days) * DAY
            device = CoreDevice(
                name,
                "HEALTHY" if rng.random() < 0.95 else "UNHEALTHY",
                provisioned,
                member_of,
                architecture=rng.choice(("amd64", "aarch64", "arm")),
            )
            start = nucleus[rng.randrange(len(nucleus) // 2, len(nucleus))]
            device.installed[catalog.NUCLEUS] = Installed(
                catalog.NUCLEUS, start, False, "LOCAL", provisioned, provisioned
            )
            state.add_device(device)
        return (
            [*groups, canary]
            if any(canary in d.thing_groups for d in state.devices.values())
            else groups
        )

    def targets(self, groups: list[str]) -> list[str]:
        state, spec, rng = self.state, self.spec, self.rng
        total = spec.deployments if spec.deployments is not None else 2 * spec.devices
        group_arns = [thing_group_arn(state.region, state.account, g) for g in groups]
        things = sorted(state.devices)
        rng.shuffle(things)
        room = max(0, total - len(group_arns))
        thing_arns = [
            thing_arn(state.region, state.account, t)
            for t in things[: min(room, len(things) // 10)]
        ]
        targets = (group_arns + thing_arns)[:total]
        extra = total - len(targets)
        depth = dict.fromkeys(targets, 1)
        if targets and extra > 0:
            weights = [8.0 if ":thinggroup/" in t else 1.0 for t in targets]
            for target in rng.choices(targets, weights=weights, k=extra):
                depth[target] += 1
        return [t for t in targets for _ in range(depth[t])]

    def version_at(self, name: str, when: float) -> str:
        """The version a team would have picked at `when`: mostly the newest, sometimes older."""
        if name not in self.timeline:
            component = self.state.component(name)
            assert component is not None
            records = sorted(component.versions.values(), key=lambda v: v.created)
            self.timeline[name] = ([v.created for v in records], [v.version for v in records])
        times, names = self.timeline[name]
        index = max(0, bisect.bisect_right(times, when) - 1)
        if self.rng.random() < 0.3:
            index = max(0, index - self.rng.randint(1, 3))
        return names[index]

    def deployments(self, revisions: list[str]) -> None:
        state, spec, rng = self.state, self.spec, self.rng
        by_target: dict[str, int] = {}
        for target in revisions:
            by_target[target] = by_target.get(target, 0) + 1
        privates = sorted(state.private)
        made: list[Deployment] = []
        for target, depth in by_target.items():
            is_group = ":thinggroup/" in target
            if is_group:
                stack = rng.sample(PUBLIC_STACK, rng.randint(1, 3)) + rng.sample(
                    privates, min(len(privates), rng.randint(1, 4))
                )
                if rng.random() < 0.5:
                    stack.append(catalog.NUCLEUS)
            else:
                stack = rng.sample(privates, min(len(privates), rng.randint(1, 2)))
            start = self.now - rng.uniform(0.2, 1.0) * spec.max_age_days * DAY
            times = sorted(rng.uniform(start, self.now - 3600.0) for _ in range(depth))
            for revision, created in enumerate(times, start=1):
                last = revision == depth
                components = {
                    name: {"componentVersion": self.version_at(name, created)}
                    for name in sorted(stack)
                }
                made.append(
                    Deployment(
                        deployment_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
                        revision_id=str(revision),
                        target_arn=target,
                        name=f"Deployment for {target.rpartition('/')[2]}",
                        created=created,
                        status=self.status(is_group, last),
                        components=components,
                        account=state.account,
                        region=state.region,
                        is_latest=last,
                    )
                )
        for dep in sorted(made, key=lambda d: d.created):
            state.deployments.add(dep)

    def status(self, is_group: bool, latest: bool) -> str:
        roll = self.rng.random()
        if latest:
            if roll < 0.03:
                return "CANCELED"
            return "ACTIVE" if is_group else ("FAILED" if roll < 0.06 else "COMPLETED")
        if roll < 0.08:
            return "CANCELED"
        if roll < 0.12:
            return "FAILED"
        return self.state.readings.superseded_status

    def install(self) -> None:
        state = self.state
        for device in state.devices.values():
            install_latest(state, device, self.rng.uniform(0, DAY))

    def withdraw(self) -> None:
        """Mark a share of versions DISCONTINUED or DELETED, never a component's newest."""
        spec, rng = self.spec, self.rng
        for name in sorted(self.state.private):
            component = self.state.private[name]
            for version in component.order[1:]:
                roll = rng.random()
                record = component.versions[version]
                if roll < spec.deleted_share:
                    record.vendor_guidance = "DELETED"
                    record.guidance_message = f"Removed: upgrade to {component.order[0]}."
                elif roll < spec.deleted_share + spec.discontinued_share:
                    record.vendor_guidance = "DISCONTINUED"
                    record.guidance_message = f"Discontinued: upgrade to {component.order[0]}."
                elif roll > 0.9:
                    record.vendor_guidance = None  # some versions carry no guidance at all


def install_latest(state: RegionState, device: CoreDevice, report_delay: float) -> None:
    """Install what the latest deployments of the device's targets name, as of their time."""
    latest = [state.deployments.latest.get(t) for t in state.targets_of(device)]
    applied = [d for d in latest if d is not None]
    if not applied:
        return
    when = max(d.created for d in applied) + 60.0
    for dep in applied:
        group = dep.target_arn.rpartition("/")[2] if ":thinggroup/" in dep.target_arn else None
        if group:
            device.deployed_groups.add(group)
        status = "FAILED" if dep.status == "FAILED" else "SUCCEEDED"
        device.effective[dep.deployment_id] = EffectiveDeployment(
            dep.deployment_id, dep.name, dep.target_arn, status, dep.created, dep.created + 60.0
        )
    state.recompute(device, when)
    device.last_update = max(device.last_update, min(when + report_delay, state.clock()))


def _apply_withdrawals(world: World, region: str) -> None:
    pool = world.public_catalog(region)
    for name, version, guidance, message in catalog.WITHDRAWN:
        record = pool[name].versions.get(version)
        if record is not None:
            record.vendor_guidance = guidance
            record.guidance_message = message


def finish_public(world: World) -> None:
    """Apply AWS's documented withdrawals to every Region's public catalog."""
    for region in sorted(world.public):
        _apply_withdrawals(world, region)


# -- YAML fleet files -----------------------------------------------------------------------


def load(path: Path, now: float, clock: Callable[[], float] | None = None) -> World:
    """Read a fleet file (see config/sample-fleet.yaml for the format)."""
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise FleetError(f"cannot read fleet file {path}: {exc.strerror}") from None
    except UnicodeDecodeError as exc:
        raise FleetError(f"fleet file {path} is not UTF-8 text (byte {exc.start})") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise FleetError(f"fleet file {path} is not valid YAML{where}") from None
    return build(_mapping(data, "fleet"), now, clock)


def build(data: Mapping[str, Any], now: float, clock: Callable[[], float] | None = None) -> World:
    _only(data, "fleet", {"accounts", "regions", "public_guidance"})
    regions = _strings(data.get("regions", ["us-west-2"]), "fleet.regions")
    world = World(lambda: now)
    world.default_region = regions[0]
    spec = FleetSpec(regions=tuple(regions))
    rng = random.Random(0)
    for region in regions:
        _public_catalog(world.public_catalog(region), region, spec, now, rng)
    finish_public(world)
    for i, item in enumerate(_list(data.get("public_guidance", []), "fleet.public_guidance")):
        where = f"fleet.public_guidance[{i}]"
        entry = _mapping(item, where)
        _only(entry, where, {"component", "version", "vendor_guidance", "message"})
        for region in regions:
            component = world.public_catalog(region).get(_str(entry, "component", where))
            record = component.versions.get(str(entry.get("version"))) if component else None
            if record is None:
                raise FleetError(
                    f"{where}: no public component version "
                    f"{entry.get('component')} {entry.get('version')}"
                )
            record.vendor_guidance = _guidance(entry, where)
            record.guidance_message = entry.get("message")
    for i, item in enumerate(_list(data.get("accounts", []), "fleet.accounts")):
        _load_account(
            world, _mapping(item, f"fleet.accounts[{i}]"), f"fleet.accounts[{i}]", regions, now
        )
    world.set_clock(clock or moving_from(now))
    return world


def _load_account(
    world: World, data: Mapping[str, Any], where: str, regions: Sequence[str], now: float
) -> None:
    _only(data, where, {"id", "access_keys", "regions"})
    account = str(data.get("id", DEFAULT_ACCOUNT))
    if not (account.isdigit() and len(account) == 12):
        raise FleetError(f"{where}.id: an account id is 12 digits, got {account!r}")
    for key in _strings(data.get("access_keys", []), f"{where}.access_keys"):
        world.access_keys[key] = account
    per_region = _mapping(data.get("regions", {}), f"{where}.regions")
    for region, body in per_region.items():
        if region not in regions:
            raise FleetError(f"{where}.regions.{region}: not listed in fleet.regions")
        _load_region(
            world.region(account, region),
            _mapping(body, f"{where}.regions.{region}"),
            f"{where}.regions.{region}",
            now,
        )


def _load_region(state: RegionState, data: Mapping[str, Any], where: str, now: float) -> None:
    _only(data, where, {"components", "devices", "deployments"})
    for name, versions in _mapping(data.get("components", {}), f"{where}.components").items():
        for j, item in enumerate(_list(versions, f"{where}.components.{name}")):
            at = f"{where}.components.{name}[{j}]"
            entry = _mapping(item, at)
            _only(entry, at, {"version", "age_days", "vendor_guidance", "message", "depends_on"})
            record = _new_version(
                state.region,
                state.account,
                name,
                _str(entry, "version", at),
                now - _days(entry, at) * DAY,
                "Example",
            )
            record.vendor_guidance = _guidance(entry, at)
            record.guidance_message = entry.get("message")
            for dep, version in _mapping(entry.get("depends_on", {}), f"{at}.depends_on").items():
                record.dependencies[str(dep)] = str(version)
            state.add_private_version(record)
    for j, item in enumerate(_list(data.get("devices", []), f"{where}.devices")):
        at = f"{where}.devices[{j}]"
        entry = _mapping(item, at)
        _only(entry, at, {"name", "groups", "nucleus", "status", "platform", "architecture"})
        provisioned = now - 400 * DAY
        device = CoreDevice(
            _str(entry, "name", at),
            str(entry.get("status", "HEALTHY")),
            provisioned,
            tuple(_strings(entry.get("groups", []), f"{at}.groups")),
            platform=str(entry.get("platform", "linux")),
            architecture=str(entry.get("architecture", "amd64")),
        )
        if device.status not in ("HEALTHY", "UNHEALTHY"):
            raise FleetError(f"{at}.status: must be HEALTHY or UNHEALTHY")
        nucleus = str(entry.get("nucleus", catalog.versions(catalog.NUCLEUS)[-1]))
        device.installed[catalog.NUCLEUS] = Installed(
            catalog.NUCLEUS, nucleus, False, "LOCAL", provisioned, provisioned
        )
        state.add_device(device)
    for j, item in enumerate(_list(data.get("deployments", []), f"{where}.deployments")):
        _load_deployment(
            state, _mapping(item, f"{where}.deployments[{j}]"), f"{where}.deployments[{j}]", now, j
        )
    for device in state.devices.values():
        install_latest(state, device, 3600.0)


def _load_deployment(
    state: RegionState, entry: Mapping[str, Any], at: str, now: float, index: int
) -> None:
    _only(entry, at, {"id", "name", "target", "age_days", "status", "components", "tags"})
    target = _str(entry, "target", at)
    kind, _, name = target.partition("/")
    if kind not in ("thing", "thinggroup") or not name:
        raise FleetError(f"{at}.target: write thing/NAME or thinggroup/NAME, got {target!r}")
    target_arn = f"arn:aws:iot:{state.region}:{state.account}:{target}"
    components: dict[str, dict[str, Any]] = {}
    for comp, version in _mapping(entry.get("components", {}), f"{at}.components").items():
        component = state.component(str(comp))
        if component is None or str(version) not in component.versions:
            raise FleetError(f"{at}.components.{comp}: no such component version {version}")
        components[str(comp)] = {"componentVersion": str(version)}
    previous = state.deployments.latest.get(target_arn)
    is_group = kind == "thinggroup"
    status = str(entry.get("status", "ACTIVE" if is_group else "COMPLETED"))
    if status not in ("ACTIVE", "COMPLETED", "CANCELED", "FAILED", "INACTIVE"):
        raise FleetError(f"{at}.status: not a deployment status: {status}")
    # Stable across loads, distinct across accounts and Regions, as AWS's UUIDs are.
    default_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{state.account}/{state.region}/{index}")
    deployment_id = str(entry.get("id", default_id))
    tags = {str(k): str(v) for k, v in _mapping(entry.get("tags", {}), f"{at}.tags").items()}
    dep = Deployment(
        deployment_id=deployment_id,
        revision_id=str(int(previous.revision_id) + 1) if previous else "1",
        target_arn=target_arn,
        name=str(entry.get("name", f"Deployment for {name}")),
        created=now - _days(entry, at) * DAY,
        status=status,
        components=components,
        account=state.account,
        region=state.region,
        tags=tags,
    )
    if deployment_id in state.deployments.by_id:
        raise FleetError(f"{at}.id: deployment id {deployment_id} is used twice")
    state.add_deployment(dep, apply=False)


def _guidance(entry: Mapping[str, Any], at: str) -> str | None:
    value = entry.get("vendor_guidance", "ACTIVE")
    if value is None:
        return None
    if value not in ("ACTIVE", "DISCONTINUED", "DELETED"):
        raise FleetError(f"{at}.vendor_guidance: must be ACTIVE, DISCONTINUED or DELETED")
    return str(value)


def _days(entry: Mapping[str, Any], at: str) -> float:
    value = entry.get("age_days", 0)
    if isinstance(value, bool) or not isinstance(value, int | float) or value < 0:
        raise FleetError(f"{at}.age_days: must be a number >= 0")
    return float(value)


def _only(data: Mapping[str, Any], where: str, allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise FleetError(
            f"{where}: unknown key {unknown[0]!r} (known: {', '.join(sorted(allowed))})"
        )


def _mapping(value: Any, where: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FleetError(f"{where}: expected a mapping")
    return value


def _list(value: Any, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise FleetError(f"{where}: expected a list")
    return value


def _str(data: Mapping[str, Any], key: str, where: str) -> str:
    value = data.get(key)
    if value is None or isinstance(value, dict | list) or str(value) == "":
        raise FleetError(f"{where}.{key}: required")
    return str(value)


def _strings(value: Any, where: str) -> list[str]:
    items = _list(value, where)
    if not all(isinstance(v, str) and v for v in items):
        raise FleetError(f"{where}: expected a list of names")
    return list(items)
