"""What a daemon keeps between scans of one target, so that a steady fleet costs little.

Every entry is named: what was read, and when (on the clock of the scan that read it).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal, NamedTuple

from ggwatch.model import (
    CoreDevice,
    Deployment,
    DeploymentDetail,
    InstalledComponent,
    Recipe,
    VersionRef,
    VersionStatus,
)


class DescribedVersion(NamedTuple):
    """A DescribeComponent answer, and when it was read."""

    status: VersionStatus
    read_at: dt.datetime


class InstalledRead(NamedTuple):
    """A device's installed components, and the lastStatusUpdateTimestamp they answer."""

    last_status_update: dt.datetime | None
    installed: tuple[InstalledComponent, ...]
    read_at: dt.datetime


class ListedVersions(NamedTuple):
    """A component's versions (ListComponentVersions, newest first), and when they were read."""

    versions: tuple[str, ...]
    read_at: dt.datetime


class Recommendation(NamedTuple):
    """The newest ACTIVE version of a flagged component (None: there is none)."""

    version: str | None
    calls: int  # the calls a full scan needs to find it
    found_at: dt.datetime


NestedReach = Literal["direct", "inherited"]
EXPIRED = dt.datetime.min.replace(tzinfo=dt.UTC)  # a read_at that is never fresh


class MembershipRead(NamedTuple):
    """AWS IoT thing-group membership as the last read found it (ggwatch.inventory.membership).

    It covers the targeted `groups` and the core devices `things` it was read for; `by_thing`
    holds each covered device's groups among them (absent: none), `members` the things each
    group was seen to hold (what its listing's pages are estimated from).
    """

    nested: NestedReach
    groups: frozenset[str]
    things: frozenset[str]
    by_thing: Mapping[str, frozenset[str]]
    members: Mapping[str, int]
    read_at: dt.datetime


@dataclass
class RegionCache:
    """What a daemon keeps between scans of one target, so that a steady fleet costs little.

    - details: GetDeployment by id, forever (a deployment's components never change);
    - versions: DescribeComponent answers, re-described after `describe_refresh` seconds;
    - installed: each device's components, re-read when its lastStatusUpdateTimestamp moves
      (devices report on every deployment and component failure) or after `device_refresh`;
    - recommended: the newest ACTIVE version per flagged component, refreshed with guidance;
    - recipes: GetComponent's recipe by version, forever (a recipe never changes; None: the
      version is gone, which it stays);
    - listed: the versions of each component a dependency reaches, refreshed with guidance;
    - membership: AWS IoT thing-group membership of the core devices, re-read after
      `membership_refresh` (a device's own groups at once when an event names it); a group or
      device newly listed is read on its own.
    Every entry is dropped once its deployment, device or version is no longer listed or
    used, so the caches are bounded by the fleet. A one-shot scan starts with an empty cache:
    that is a full scan.
    """

    describe_refresh: float = 900.0
    device_refresh: float = 86_400.0
    membership_refresh: float = 900.0
    details: dict[str, DeploymentDetail] = field(default_factory=dict)
    versions: dict[VersionRef, DescribedVersion] = field(default_factory=dict)
    installed: dict[str, InstalledRead] = field(default_factory=dict)
    recommended: dict[str, Recommendation] = field(default_factory=dict)
    recipes: dict[VersionRef, Recipe | None] = field(default_factory=dict)
    listed: dict[str, ListedVersions] = field(default_factory=dict)
    membership: MembershipRead | None = None
    # The fewest calls the last scan found a full scan needs: the next scan's deadline makes
    # room for them from its start.
    minimal_calls: int = 0

    def fresh(self, when: dt.datetime, now: dt.datetime, seconds: float) -> bool:
        return (now - when).total_seconds() < seconds

    def expire_guidance(self) -> None:
        """Forget every guidance read (an AWS Health notice says one changed): the next scan
        re-describes every version in use and looks up where to move again."""
        self.versions.clear()
        self.recommended.clear()

    def expire_membership(self) -> None:
        """Read all thing-group membership again at the next scan; the group sizes it saw still
        guide the choice of how."""
        if self.membership is not None:
            self.membership = self.membership._replace(read_at=EXPIRED)

    def sizes(self) -> tuple[tuple[str, int], ...]:
        return (
            ("deployment_details", len(self.details)),
            ("installed_components", len(self.installed)),
            ("recipes", len(self.recipes)),
            ("recommended_versions", len(self.recommended)),
            ("thing_group_members", len(self.membership.by_thing) if self.membership else 0),
            ("version_lists", len(self.listed)),
            ("vendor_guidance", len(self.versions)),
        )

    def prune(
        self,
        deployments: Iterable[Deployment],
        devices: Iterable[CoreDevice],
        referenced: set[VersionRef],
        flagged: set[str],
        reached: set[VersionRef] | None = None,
    ) -> None:
        """After a complete scan: forget what is no longer listed or used (bounds the caches)."""
        listed = {d.deployment_id for d in deployments if d.in_force}
        for key in [k for k in self.details if k not in listed]:
            del self.details[key]
        things = {d.thing_name for d in devices}
        for key in [k for k in self.installed if k not in things]:
            del self.installed[key]
        for ref in [r for r in self.versions if r not in referenced]:
            del self.versions[ref]
        for name in [n for n in self.recommended if n not in flagged]:
            del self.recommended[name]
        if reached is not None:  # the recipes resolution read: what it no longer reaches goes
            for ref in [r for r in self.recipes if r not in reached]:
                del self.recipes[ref]
            names = {r.name for r in reached}
            for name in [n for n in self.listed if n not in names]:
                del self.listed[name]
