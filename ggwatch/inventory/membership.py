"""AWS IoT thing-group membership: the thing groups whose deployments reach each core device.

Only groups some listed deployment targets (`arn:PARTITION:iot:REGION:ACCOUNT:thinggroup/NAME`)
matter, and only the core devices ListCoreDevices lists. ListCoreDevices' own `thingGroupArn`
filter is no answer: it keeps devices that have left the group. Two ways to read it, and a scan
takes whichever costs fewer calls:

- per targeted group, ListThingsInThingGroup: ceil(members / 250) pages each, at least one,
  estimated from the previous reading (a group not seen before: one page);
- per core device, ListThingGroupsForThing: one call each (a thing joins at most 10 groups).

Whether a deployment to a parent group reaches the devices of its child groups is not settled
by any AWS document (`nested_group_deployments`): `direct` reads only direct membership;
`inherited` reads each targeted group with `recursive`, the one listing that answers it (a
device's own groups do not name their parents).

The reading is cached (RegionCache.membership) and re-read after `membership_refresh` seconds;
while it is fresh, a scan reads only the groups newly targeted and (direct) the devices newly
listed, when that costs less than reading it all again. An event about a device re-reads that
device's groups (`refresh_membership`). A failed call is recorded, which makes the target
incomplete, ends the read (the other calls would fail alike), and the membership is then None:
not read.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Iterable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from types import MappingProxyType
from typing import Literal

import anyio

from ggwatch.aws.api import IOT_PAGE_SIZE, IotAPI
from ggwatch.errors import AWSError
from ggwatch.inventory.cache import MembershipRead, NestedReach, RegionCache
from ggwatch.inventory.calls import Collector, bounded_each
from ggwatch.model import CoreDevice, Deployment, VersionRef

Membership = Mapping[str, tuple[str, ...]]
UpgradePolicy = Literal["patch", "minor", "major"]


@dataclass(frozen=True, slots=True)
class Resolving:
    """What a pass reads for dependency resolution besides Greengrass V2's recipes: thing-group
    membership through `iot` (None: not read), `nested` saying how far a group's deployments
    reach. A pass given none reads nothing for resolution."""

    iot: IotAPI | None = None
    nested: NestedReach = "direct"
    # Versions to read as if a deployment in force named them (`ggwatch preflight`'s).
    extra: tuple[VersionRef, ...] = ()
    upgrade_policy: UpgradePolicy = "minor"


RECIPES_ONLY = Resolving()


def group_name(target_arn: str) -> str | None:
    """NAME of a thing-group target ARN (arn:PARTITION:iot:REGION:ACCOUNT:thinggroup/NAME);
    None for a thing or anything else."""
    parts = target_arn.split(":", 5)
    if len(parts) == 6 and parts[0] == "arn" and parts[2] == "iot":
        kind, _, name = parts[5].partition("/")
        if kind == "thinggroup" and name:
            return name
    return None


def targeted_groups(deployments: Iterable[Deployment]) -> frozenset[str]:
    """The thing groups the deployments target, by name."""
    return frozenset(name for d in deployments if (name := group_name(d.target_arn)) is not None)


def group_pages(members: int) -> int:
    """ListThingsInThingGroup's pages for a group of `members` things: at least one."""
    return max(1, -(-members // IOT_PAGE_SIZE))


@dataclass(frozen=True, slots=True)
class Plan:
    """What one read calls: the groups to list, the things to ask, and its estimated cost.
    `top_up`: it completes the cached reading rather than replacing it."""

    groups: tuple[str, ...] = ()
    things: tuple[str, ...] = ()
    calls: int = 0
    top_up: bool = False


def full_plan(
    groups: frozenset[str],
    things: frozenset[str],
    members: Mapping[str, int],
    nested: NestedReach,
) -> Plan:
    """The cheaper of the two ways to read it all (inherited: the group listing only)."""
    if not groups or not things:
        return Plan()  # no group is targeted, or no device could be in one: nothing to read
    by_group = sum(group_pages(members.get(g, 0)) for g in groups)
    if nested == "inherited" or by_group <= len(things):
        return Plan(groups=tuple(sorted(groups)), calls=by_group)
    return Plan(things=tuple(sorted(things)), calls=len(things))


def plan(
    groups: frozenset[str],
    things: frozenset[str],
    fresh: MembershipRead | None,
    members: Mapping[str, int],
    nested: NestedReach,
) -> Plan:
    """What to read: it all, or (with a fresh reading) only what it does not cover yet,
    whichever costs fewer calls. `members` are the group sizes last seen, fresh or not."""
    full = full_plan(groups, things, members, nested)
    if fresh is None:
        return full
    new_groups, new_things = groups - fresh.groups, things - fresh.things
    if nested == "inherited" and new_things:
        return full  # which nested groups hold a new device, only the listings say
    asked = () if nested == "inherited" else tuple(sorted(new_things))
    top = Plan(tuple(sorted(new_groups)), asked, len(new_groups) + len(asked), top_up=True)
    return top if top.calls <= full.calls else full


@dataclass(frozen=True, slots=True)
class MembershipFound:
    """The membership read (None: a call failed), and what a full read of it costs at the
    least: the scan's minimal calls for it."""

    membership: Membership | None
    calls: int


async def read_membership(
    iot: IotAPI,
    c: Collector,
    cache: RegionCache,
    deployments: Iterable[Deployment],
    devices: Iterable[CoreDevice],
    *,
    nested: NestedReach,
    started: dt.datetime,
) -> MembershipFound:
    """The core devices' targeted groups, from the cache where it is fresh."""
    groups = targeted_groups(deployments)
    things = frozenset(d.thing_name for d in devices)
    seen = cache.membership
    previous = dict(seen.members) if seen is not None else {}
    fresh = seen if seen is not None and _fresh(cache, seen, nested, started) else None
    todo = plan(groups, things, fresh, previous, nested)
    iot.expect_calls(todo.calls)
    listed, asked = await _read(iot, c, todo, nested == "inherited")
    if listed is None or asked is None:
        return MembershipFound(None, full_plan(groups, things, previous, nested).calls)

    by_thing: dict[str, set[str]] = {}
    if todo.top_up and fresh is not None:
        by_thing = {t: set(g & groups) for t, g in fresh.by_thing.items() if t in things}
    for group, members in listed.items():
        for thing in things.intersection(members):
            by_thing.setdefault(thing, set()).add(group)
    for thing, found in asked.items():
        by_thing[thing] = set(groups.intersection(found))
    sizes = _sizes(groups, listed, by_thing, previous, todo.top_up)
    read_at = fresh.read_at if todo.top_up and fresh is not None else started
    cache.membership = MembershipRead(
        nested,
        groups,
        things,
        MappingProxyType({t: frozenset(g) for t, g in by_thing.items() if g}),
        MappingProxyType(sizes),
        read_at,
    )
    return MembershipFound(_mapping(by_thing), full_plan(groups, things, sizes, nested).calls)


async def refresh_membership(
    iot: IotAPI,
    c: Collector,
    cache: RegionCache,
    previous: Membership | None,
    deployments: Iterable[Deployment],
    things: Collection[str],
    *,
    nested: NestedReach,
) -> Membership | None:
    """The membership after re-reading the groups of `things` (ListThingGroupsForThing, one
    call each), the rest kept. None: it was not read, or a call failed.

    `inherited` membership cannot be re-read per device (its groups do not name their
    parents): it is kept as it was, and the next scan reads it all again.
    """
    if previous is None:
        return None
    if nested == "inherited":
        cache.expire_membership()
        return previous
    _, asked = await _read(iot, c, Plan(things=tuple(sorted(things))), recursive=False)
    if asked is None:
        return None
    groups = targeted_groups(deployments)
    out = {t: set(g) for t, g in previous.items()}
    for thing, found in asked.items():
        out[thing] = set(groups.intersection(found))
    seen = cache.membership
    if seen is not None and seen.nested == nested:
        by_thing = dict(seen.by_thing)
        for thing, found in asked.items():
            by_thing[thing] = seen.groups.intersection(found)
        cache.membership = seen._replace(
            by_thing=MappingProxyType({t: g for t, g in by_thing.items() if g})
        )
    return _mapping(out)


async def _read(
    iot: IotAPI, c: Collector, todo: Plan, recursive: bool
) -> tuple[dict[str, tuple[str, ...]] | None, dict[str, tuple[str, ...]] | None]:
    """Each planned group's things and each planned thing's groups, at most `c.limit` calls
    in flight each. The first failure is recorded and ends the read, calls in flight and all
    (the rest would fail alike, and a partial membership is no membership): (None, None)."""
    listed: dict[str, tuple[str, ...]] = {}
    asked: dict[str, tuple[str, ...]] = {}
    failed = False

    async with anyio.create_task_group() as group:

        async def attempt(call: Callable[[], Awaitable[tuple[str, ...]]]) -> tuple[str, ...]:
            nonlocal failed
            try:
                return await call()
            except AWSError as exc:
                if not failed:
                    failed = True
                    c.record(exc)
                group.cancel_scope.cancel()
                raise _Stopped from None

        async def list_group(name: str) -> None:
            with suppress(_Stopped):
                listed[name] = await attempt(lambda: iot.things_in_group(name, recursive))

        async def ask_thing(name: str) -> None:
            with suppress(_Stopped):
                asked[name] = await attempt(lambda: iot.groups_of_thing(name))

        group.start_soon(bounded_each, todo.groups, list_group, c.limit)
        group.start_soon(bounded_each, todo.things, ask_thing, c.limit)
    return (None, None) if failed else (listed, asked)


class _Stopped(Exception):
    """A membership call failed: the read ends (the failure is recorded already)."""


def _sizes(
    groups: frozenset[str],
    listed: Mapping[str, tuple[str, ...]],
    by_thing: Mapping[str, set[str]],
    previous: Mapping[str, int],
    top_up: bool,
) -> dict[str, int]:
    """The things each group holds, for the next read's estimate: counted by its listing where
    it was listed, else the core devices found in it (a top-up keeps a larger earlier count)."""
    counted = Counter(g for found in by_thing.values() for g in found)
    sizes: dict[str, int] = {}
    for group in groups:
        if group in listed:
            sizes[group] = len(listed[group])
        else:
            sizes[group] = max(counted[group], previous.get(group, 0)) if top_up else counted[group]
    return sizes


def _fresh(cache: RegionCache, seen: MembershipRead, nested: NestedReach, now: dt.datetime) -> bool:
    return seen.nested == nested and cache.fresh(seen.read_at, now, cache.membership_refresh)


def _mapping(by_thing: Mapping[str, Collection[str]]) -> Membership:
    """Each device with a group, its groups sorted: what TargetSnapshot.membership holds."""
    return MappingProxyType({t: tuple(sorted(g)) for t, g in sorted(by_thing.items()) if g})
