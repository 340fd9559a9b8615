"""Steps 3 and 4 of a collection, shared by full scans and refreshes: the vendor guidance of
every version in use (DescribeComponent), and for each component with a flagged version in
use the newest ACTIVE version, where to move (ListComponentVersions, newest first)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import NamedTuple

from ggwatch.aws.api import GreengrassAPI
from ggwatch.errors import AWSError
from ggwatch.inventory.arns import ArnResolver
from ggwatch.inventory.cache import DescribedVersion, Recommendation, RegionCache
from ggwatch.inventory.calls import Collector, bounded_each
from ggwatch.model import Guidance, VersionRef, VersionStatus


@dataclass(frozen=True, slots=True)
class GuidanceFound:
    """What a guidance read fills in, on top of what the caller already knows.

    - versions: the vendor guidance by version (DescribeComponent);
    - recommended: the newest ACTIVE version of each component with a flagged version in use
      (None: there is none);
    - walk_cost: the calls a full scan needs to find each of those.
    """

    versions: dict[VersionRef, VersionStatus]
    recommended: dict[str, str | None]
    walk_cost: dict[str, int] = field(default_factory=dict)


class Wanted(NamedTuple):
    """The versions to describe: those in use (a flagged one gets a recommendation), and those
    resolution may pick, whose guidance decides a pick but which nothing uses yet."""

    in_use: set[VersionRef]
    reachable: frozenset[VersionRef] = frozenset()
    recommend: bool = True  # False: the guidance only, no newest-ACTIVE walk yet

    def every(self) -> set[VersionRef]:
        return self.in_use | self.reachable


async def read_guidance(
    api: GreengrassAPI,
    c: Collector,
    cache: RegionCache,
    arns: ArnResolver,
    wanted: Wanted,
    found: GuidanceFound,
    started: dt.datetime,
) -> set[str]:
    """Fill `found.versions` for every wanted version not in it yet, then `found.recommended`
    (and `found.walk_cost`) for every component with a flagged version in use that has none
    yet: from the cache when fresh (`wanted.recommend` False: the guidance only). Returns the
    names of the components with a flagged version in use.

    A walk's cost counts the versions it describes that nothing else wanted, so that what a
    full scan needs is each version described once."""
    versions, recommended, walk_cost = found.versions, found.recommended, found.walk_cost
    referenced = wanted.in_use
    described = wanted.every()

    async def describe(ref: VersionRef) -> None:
        seen = cache.versions.get(ref)
        if seen is not None and cache.fresh(seen.read_at, started, cache.describe_refresh):
            versions[ref] = seen.status
            return
        status = await c.guarded(lambda: api.describe_component(ref, arns.version(ref)))
        if status is not None:
            versions[ref] = status
            cache.versions[ref] = DescribedVersion(status, started)

    await bounded_each(sorted(wanted.every() - versions.keys()), describe, c.limit)

    async def newest_active(name: str) -> None:
        seen = cache.recommended.get(name)
        if seen is not None and cache.fresh(seen.found_at, started, cache.describe_refresh):
            recommended[name], walk_cost[name] = seen.version, seen.calls
            return

        async def walk() -> tuple[str | None, int]:
            cost = 1  # the first page of versions, newest first
            async for version, arn in api.component_versions(arns.component(name)):
                ref = VersionRef(name, version)
                status = versions.get(ref)
                if status is None:
                    status = await api.describe_component(ref, arn)
                    versions[ref] = status
                cost += ref not in described
                if status.exists and status.guidance is Guidance.ACTIVE:
                    return version, cost
            return None, cost

        try:
            newest, cost = await walk()
        except AWSError as exc:
            c.record(exc)
            return
        recommended[name], walk_cost[name] = newest, cost
        cache.recommended[name] = Recommendation(newest, cost, started)

    flagged = {s.ref.name for s in versions.values() if s.flagged and s.ref in referenced}
    if wanted.recommend:
        await bounded_each(sorted(flagged - recommended.keys()), newest_active, c.limit)
    return flagged
