"""What the fleet generator and the fleet file loader share: the spec, the error, the parts.

Both build a `World` the same way: AWS's public catalogue in every Region (with its documented
withdrawals), private versions made by `new_version`, and devices whose installed components
receive the latest deployments of their targets and resolve them (`install_latest`, through
the store's own `Installer`).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass

from ggwatch.sim import catalog, versions
from ggwatch.sim.store import (
    CONFLICT_READINGS,
    PUBLIC_OWNER,
    Component,
    ComponentVersion,
    CoreDevice,
    EffectiveDeployment,
    RegionState,
    World,
    component_arn,
    pin,
)

DAY = 86_400.0
DEFAULT_ACCOUNT = "123456789012"


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
    # Whether private versions may carry DISCONTINUED or DELETED guidance, which no AWS API
    # sets (an undocumented reading; see Readings.private_guidance).
    private_guidance: bool = False
    # When a conflict fails a device's resolution (Readings.conflicts); the devices of the
    # fleet being made resolve under it too.
    conflicts: str = "deferred"

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
        if self.conflicts not in CONFLICT_READINGS:
            problems.append("conflicts must be deferred or eager")
        if problems:
            raise FleetError("; ".join(problems))


def access_key(index: int) -> str:
    """Access key ids that select accounts: the first account also takes any unknown key."""
    return f"AKIASIM{index:013d}"


def moving_from(now: float) -> Callable[[], float]:
    """The wall clock, never earlier than `now`: the world lives on after it was made."""
    return lambda: max(now, time.time())


def new_version(
    state_region: str, owner: str, name: str, version: str, created: float, publisher: str
) -> ComponentVersion:
    arn = f"{component_arn(state_region, owner, name)}:versions:{version}"
    description = catalog.DESCRIPTIONS.get(name, f"{name} component.")
    return ComponentVersion(name, version, arn, created, publisher, description)


def public_catalog(
    pool: dict[str, Component], region: str, spec: FleetSpec, now: float, rng: random.Random
) -> None:
    oldest = now - max(spec.max_age_days, 30.0) * DAY * 1.5
    for name in catalog.SERIES:
        component = Component(name, component_arn(region, PUBLIC_OWNER, name), PUBLIC_OWNER)
        series = catalog.versions(name)
        step = (now - 14 * DAY - oldest) / max(1, len(series))
        for i, version in enumerate(series):
            created = oldest + step * (i + rng.random() * 0.5)
            record = new_version(region, PUBLIC_OWNER, name, version, created, "AWS")
            record.requirements = catalog.requirements(name, version)
            record.platforms = catalog.platforms(name)
            record.component_type = catalog.component_type(name)
            component.versions[version] = record
        component.order = versions.newest_first(component.versions)
        pool[name] = component
    # Devices install only the token exchange service as a dependency, as before recipes had
    # ranges; the other edges are the recipes' until devices resolve them.
    for component in pool.values():
        for record in component.versions.values():
            pin(record, pool.get, only=(catalog.TOKEN_EXCHANGE,))


def install_latest(
    state: RegionState, device: CoreDevice, report_delay: float, *, at: float | None = None
) -> None:
    """The device receives the latest deployment of each of its targets, oldest first, a
    minute after it was made (or all `at`, for a device that joined later), and resolves it;
    one the fleet marks FAILED installs nothing."""
    latest = [state.deployments.latest.get(t) for t in state.targets_of(device)]
    applied = sorted((d for d in latest if d is not None), key=lambda d: d.created)
    if not applied:
        return
    when = max(d.created for d in applied) + 60.0 if at is None else at
    for dep in applied:
        received = dep.created + 60.0 if at is None else at
        if dep.status != "FAILED":
            state.installer.deliver(device, dep, received)
            continue
        if ":thinggroup/" in dep.target_arn:
            device.deployed_groups.add(dep.target_arn.rpartition("/")[2])
        device.effective[dep.deployment_id] = EffectiveDeployment(
            dep.deployment_id, dep.name, dep.target_arn, "FAILED", dep.created, received
        )
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
    catalogue_changed(world)


def catalogue_changed(world: World) -> None:
    """Guidance changed behind the store's back (a fleet being made): devices resolve afresh."""
    for state in world.states():
        state.installer.changed()


def read_platform(text: str, architecture: str | None = None) -> tuple[str, str]:
    """`linux/aarch64` (or `linux` with `architecture`, default amd64) as (os, architecture)."""
    os, _, arch = text.partition("/")
    return os, arch or architecture or "amd64"
