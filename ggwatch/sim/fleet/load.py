"""Readable YAML fleet files (see config/sample-fleet.yaml): read, validate, build a world.

Every problem is a FleetError whose message names the place in the file (fleet.accounts[0]...).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from ggwatch.sim import catalog
from ggwatch.sim.fleet import recipes
from ggwatch.sim.fleet.base import (
    DAY,
    DEFAULT_ACCOUNT,
    FleetError,
    FleetSpec,
    finish_public,
    install_latest,
    moving_from,
    new_version,
    public_catalog,
    read_platform,
)
from ggwatch.sim.regions import check_enabled
from ggwatch.sim.store import (
    CANDIDATES_READINGS,
    CONFLICT_READINGS,
    ComponentVersion,
    CoreDevice,
    Deployment,
    RegionState,
    World,
)


def load(
    path: Path,
    now: float,
    clock: Callable[[], float] | None = None,
    *,
    conflicts: str | None = None,
) -> World:
    """Read a fleet file (see config/sample-fleet.yaml for the format). `conflicts` overrides
    the file's key: the devices of the fleet resolve under it as it is made."""
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
    return build(_mapping(data, "fleet"), now, clock, conflicts=conflicts)


def build(
    data: Mapping[str, Any],
    now: float,
    clock: Callable[[], float] | None = None,
    *,
    conflicts: str | None = None,
) -> World:
    _only(
        data,
        "fleet",
        {
            "accounts",
            "regions",
            "public_guidance",
            "private_guidance",
            "candidates_for_iam",
            "conflicts",
            "enabled_regions",
        },
    )
    regions = _strings(data.get("regions", ["us-west-2"]), "fleet.regions")
    world = World(lambda: now)
    private_guidance = data.get("private_guidance", False)
    if not isinstance(private_guidance, bool):
        raise FleetError("fleet.private_guidance: must be true or false")
    world.readings.private_guidance = private_guidance
    candidates_for_iam = data.get("candidates_for_iam", world.readings.candidates_for_iam)
    if candidates_for_iam not in CANDIDATES_READINGS:
        raise FleetError("fleet.candidates_for_iam: must be denied or served")
    world.readings.candidates_for_iam = candidates_for_iam
    conflicts = conflicts or data.get("conflicts", world.readings.conflicts)
    if conflicts not in CONFLICT_READINGS:
        raise FleetError("fleet.conflicts: must be deferred or eager")
    world.readings.conflicts = conflicts
    # The opt-in Regions enabled, as the Account API's ListRegions answers them.
    enabled = _strings(data.get("enabled_regions", []), "fleet.enabled_regions")
    try:
        world.enabled_regions = check_enabled(enabled)
    except ValueError as exc:
        raise FleetError(f"fleet.enabled_regions: {exc}") from None
    world.default_region = regions[0]
    spec = FleetSpec(regions=tuple(regions))
    rng = random.Random(0)
    for region in regions:
        public_catalog(world.public_catalog(region), region, spec, now, rng)
    for i, item in enumerate(_list(data.get("accounts", []), "fleet.accounts")):
        _load_account(
            world, _mapping(item, f"fleet.accounts[{i}]"), f"fleet.accounts[{i}]", regions, now
        )
    # Guidance comes after the devices installed, as in life: a version is withdrawn while
    # fleets still run it.
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


PRIVATE_KEYS = {
    "version",
    "age_days",
    "vendor_guidance",
    "message",
    "depends_on",
    "platforms",
    "deleted",
}


def _load_region(state: RegionState, data: Mapping[str, Any], where: str, now: float) -> None:
    _only(data, where, {"components", "devices", "deployments", "thing_groups"})
    _load_groups(state, _list(data.get("thing_groups", []), f"{where}.thing_groups"), where)
    guidance, deleted = _load_components(
        state, _mapping(data.get("components", {}), f"{where}.components"), where, now
    )
    recipes.pin_loaded(state, where)
    for j, item in enumerate(_list(data.get("devices", []), f"{where}.devices")):
        at = f"{where}.devices[{j}]"
        entry = _mapping(item, at)
        _only(entry, at, {"name", "groups", "nucleus", "status", "platform", "architecture"})
        provisioned = now - 400 * DAY
        # `platform: linux/aarch64`; a bare `linux` takes `architecture` (default amd64).
        os, arch = read_platform(
            str(entry.get("platform", "linux")),
            str(entry["architecture"]) if "architecture" in entry else None,
        )
        if not os or not arch:
            raise FleetError(f"{at}.platform: write OS/ARCHITECTURE such as linux/aarch64")
        device = CoreDevice(
            _str(entry, "name", at),
            str(entry.get("status", "HEALTHY")),
            provisioned,
            tuple(_strings(entry.get("groups", []), f"{at}.groups")),
            platform=os,
            architecture=arch,
        )
        if device.status not in ("HEALTHY", "UNHEALTHY"):
            raise FleetError(f"{at}.status: must be HEALTHY or UNHEALTHY")
        nucleus = str(entry.get("nucleus", catalog.versions(catalog.NUCLEUS)[-1]))
        device.provision(nucleus, provisioned)
        state.add_device(device)
    for j, item in enumerate(_list(data.get("deployments", []), f"{where}.deployments")):
        _load_deployment(
            state, _mapping(item, f"{where}.deployments[{j}]"), f"{where}.deployments[{j}]", now, j
        )
    for device in state.devices.values():
        install_latest(state, device, 3600.0)
    for record, given in guidance:
        record.vendor_guidance = given
    for record in deleted:
        state.delete_private_version(record)
    state.installer.changed()


def _load_components(
    state: RegionState, components: Mapping[str, Any], where: str, now: float
) -> tuple[list[tuple[ComponentVersion, str | None]], list[ComponentVersion]]:
    """The private versions; their guidance and the deleted ones, for after the installs."""
    guidance: list[tuple[ComponentVersion, str | None]] = []
    deleted: list[ComponentVersion] = []  # DeleteComponent, once devices installed them
    for name, versions in components.items():
        for j, item in enumerate(_list(versions, f"{where}.components.{name}")):
            at = f"{where}.components.{name}[{j}]"
            entry = _mapping(item, at)
            _only(entry, at, PRIVATE_KEYS)
            record = new_version(
                state.region,
                state.account,
                name,
                recipes.check_version(_str(entry, "version", at), at),
                now - _days(entry, at) * DAY,
                "Example",
            )
            given = _guidance(entry, at)
            if given in ("DISCONTINUED", "DELETED") and not state.readings.private_guidance:
                raise FleetError(
                    f"{at}.vendor_guidance: no AWS API marks a private version {given} "
                    "(fleet.private_guidance is false; `deleted: true` deletes the version)"
                )
            guidance.append((record, given))
            record.guidance_message = entry.get("message")
            record.requirements = recipes.read_depends_on(
                entry.get("depends_on"), f"{at}.depends_on"
            )
            record.platforms = recipes.read_platforms(entry.get("platforms"), f"{at}.platforms")
            if entry.get("deleted", False) is not False:
                if entry["deleted"] is not True:
                    raise FleetError(f"{at}.deleted: must be true or false")
                deleted.append(record)
            state.add_private_version(record)
    return guidance, deleted


def _load_groups(state: RegionState, items: list[Any], where: str) -> None:
    """Thing groups declared with an optional `parent`, parents listed before their children
    (a group a device names without declaring it is a top-level group)."""
    for j, item in enumerate(items):
        at = f"{where}.thing_groups[{j}]"
        entry = _mapping(item, at)
        _only(entry, at, {"name", "parent"})
        name, parent = _str(entry, "name", at), entry.get("parent")
        if state.thing_groups.exists(name):
            raise FleetError(f"{at}.name: thing group {name} is declared twice")
        if parent is not None and not state.thing_groups.exists(str(parent)):
            raise FleetError(f"{at}.parent: {parent} is not declared above it")
        state.thing_groups.create(name, None if parent is None else str(parent))


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
