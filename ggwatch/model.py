"""Immutable, typed values of a fleet as one scan saw it. Nothing here talks to AWS.

The AWS adapter turns response dicts into these at once; everything downstream (rules,
tracker, report, sinks) reads only these.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import NamedTuple

EMPTY: Mapping[str, str] = MappingProxyType({})
DEFAULT_ALIAS = "default"  # the target of the SDK's own credentials, when none is configured


class TargetId(NamedTuple):
    """One watched account and Region, by the alias the configuration gives the account.

    The alias, not the account id, keys a target: the id of the SDK's own account is known
    only once a scan has read an ARN, and a target must have a name before its first scan.
    """

    alias: str
    region: str

    def __str__(self) -> str:
        return f"{self.alias}/{self.region}"

    def label(self, account: str | None) -> str:
        """How people read a target: `account/region`, with the alias unless it is the default."""
        where = f"{account or '?'}/{self.region}"
        return where if self.alias == DEFAULT_ALIAS else f"{self.alias}:{where}"


class Guidance(StrEnum):
    """DescribeComponent's status.vendorGuidance; absent means ACTIVE."""

    ACTIVE = "ACTIVE"
    DISCONTINUED = "DISCONTINUED"
    DELETED = "DELETED"


@dataclass(frozen=True, slots=True, order=True)
class VersionRef:
    """A component version by name, as deployments and devices name it."""

    name: str
    version: str


@dataclass(frozen=True, slots=True)
class VersionStatus:
    """What DescribeComponent said about one version (or that it no longer exists)."""

    ref: VersionRef
    arn: str
    guidance: Guidance
    message: str | None = None
    exists: bool = True

    @property
    def flagged(self) -> bool:
        return self.guidance is not Guidance.ACTIVE


@dataclass(frozen=True, slots=True)
class Deployment:
    """One ListDeployments item (all revisions, historyFilter=ALL)."""

    deployment_id: str
    name: str | None
    target_arn: str
    revision_id: str | None
    status: str
    is_latest: bool
    created: dt.datetime
    parent_target_arn: str | None = None

    @property
    def in_force(self) -> bool:
        """Latest for its target and not cancelled: what devices are told to run."""
        return self.is_latest and self.status != "CANCELED"


@dataclass(frozen=True, slots=True)
class DeploymentDetail:
    """GetDeployment's immutable part: the components it names, and its tags when read."""

    deployment_id: str
    components: tuple[VersionRef, ...]
    tags: Mapping[str, str] = field(default_factory=lambda: EMPTY)


@dataclass(frozen=True, slots=True)
class InstalledComponent:
    name: str
    version: str
    is_root: bool
    lifecycle_state: str | None = None
    installation_source: str | None = None

    @property
    def ref(self) -> VersionRef:
        return VersionRef(self.name, self.version)


@dataclass(frozen=True, slots=True)
class CoreDevice:
    thing_name: str
    status: str | None
    last_status_update: dt.datetime | None
    # None: not read in this scan (a failed call), which is not the same as nothing installed.
    installed: tuple[InstalledComponent, ...] | None = None
    # ListCoreDevices' `platform` and `architecture` (None: not given): what recipes must claim.
    platform: str | None = None
    architecture: str | None = None


@dataclass(frozen=True, slots=True)
class RecipeDependency:
    """One entry of a recipe's ComponentDependencies."""

    name: str
    requirement: str  # an npm-style range, as the recipe writes it
    kind: str = "HARD"  # DependencyType: HARD or SOFT


@dataclass(frozen=True, slots=True)
class Recipe:
    """What a version's recipe says resolution needs (GetComponent; a recipe never changes)."""

    ref: VersionRef
    component_type: str | None
    dependencies: tuple[RecipeDependency, ...]  # in the recipe's order
    # Each manifest's Platform attributes, sorted pairs; none: the recipe claims no platform.
    platforms: tuple[tuple[tuple[str, str], ...], ...] = ()


@dataclass(frozen=True, slots=True)
class TargetError:
    """A failure met while collecting one target; the target is then incomplete."""

    operation: str
    code: str
    message: str


@dataclass(frozen=True, slots=True)
class CallCount:
    operation: str
    outcome: str  # "ok", or the AWS error code, or "Unreachable"
    count: int


def versions_in_use(
    details: Iterable[DeploymentDetail], devices: Iterable[CoreDevice]
) -> set[VersionRef]:
    """The versions these deployments name and these devices run."""
    refs = {ref for detail in details for ref in detail.components}
    refs |= {c.ref for device in devices for c in device.installed or ()}
    return refs


@dataclass(frozen=True, slots=True)
class TargetSnapshot:
    """One account and Region as one scan saw them."""

    target: TargetId
    account: str | None
    complete: bool
    errors: tuple[TargetError, ...]
    deployments: tuple[Deployment, ...]
    details: Mapping[str, DeploymentDetail]
    devices: tuple[CoreDevice, ...]
    versions: Mapping[VersionRef, VersionStatus]
    # Newest ACTIVE version of each component that has a flagged version in use.
    recommended: Mapping[str, str | None]

    private_components: frozenset[str]
    calls: tuple[CallCount, ...]
    started: dt.datetime
    finished: dt.datetime
    # The fewest calls a full scan of this fleet needs, and so its time at the request budget.
    minimal_calls: int = 0
    floor_seconds: float = 0.0
    # Entries the daemon's caches hold for this target after the scan.
    cache_sizes: tuple[tuple[str, int], ...] = ()
    # What resolution needs: the recipes of the versions in force and of those their
    # dependencies can reach (GetComponent), and each reached component's versions.
    recipes: Mapping[VersionRef, Recipe] = field(default_factory=lambda: MappingProxyType({}))
    candidates: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: MappingProxyType({}))
    # The thing groups whose deployments reach each core device (AWS IoT membership), by thing
    # name, each sorted. None: not read in this scan, which is not the same as no groups; a
    # device absent from a read mapping belongs to no group that any deployment targets.
    membership: Mapping[str, tuple[str, ...]] | None = None

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def alias(self) -> str:
        return self.target.alias

    def versions_in_use(self) -> set[VersionRef]:
        """What the deployments in force name and the devices run."""
        in_force = {d.deployment_id for d in self.deployments if d.in_force}
        named = (v for k, v in self.details.items() if k in in_force)
        return versions_in_use(named, self.devices)

    @property
    def api_calls(self) -> int:
        return sum(c.count for c in self.calls)

    @property
    def throttled_calls(self) -> int:
        return sum(c.count for c in self.calls if c.outcome == "ThrottlingException")


@dataclass(frozen=True, slots=True)
class Snapshot:
    targets: tuple[TargetSnapshot, ...]

    @property
    def complete(self) -> bool:
        return all(t.complete for t in self.targets)
