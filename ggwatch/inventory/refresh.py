"""Incremental re-reads: what events named, on top of the target's previous snapshot.

A device's installed components and (alongside, with AWS IoT) its thing groups, then the
guidance of versions it newly runs; the rest of the target is the previous snapshot's. Only a
full scan (ggwatch.inventory.collect) lists.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Collection
from dataclasses import replace
from types import MappingProxyType

import anyio

from ggwatch.aws.api import GreengrassAPI, IotAPI
from ggwatch.errors import AWSError, NotFound
from ggwatch.inventory.arns import ArnResolver
from ggwatch.inventory.cache import InstalledRead, NestedReach, RegionCache
from ggwatch.inventory.calls import Collector, bounded_each
from ggwatch.inventory.guidance import GuidanceFound, Wanted, read_guidance
from ggwatch.inventory.membership import Resolving, refresh_membership
from ggwatch.model import CallCount, CoreDevice, TargetSnapshot, versions_in_use


async def refresh_devices(
    api: GreengrassAPI,
    cache: RegionCache,
    previous: TargetSnapshot,
    things: Collection[str],
    *,
    max_in_flight: int,
    clock: Callable[[], dt.datetime],
    resolving: Resolving | None = None,
) -> TargetSnapshot | None:
    """Re-read what events named: the installed components of `things` and, with an IoT
    adapter in `resolving`, their
    thing groups (ListThingGroupsForThing: an event may be a device joining or leaving one),
    then the guidance of versions they newly run. The rest of the target is the previous
    snapshot's; membership the last scan did not read stays unread.

    None when only a full scan can answer: a device the last scan did not list (the listing
    gives its status), or a device that is gone.
    """
    started = clock()
    known = {d.thing_name: d for d in previous.devices}
    if any(thing not in known for thing in things):
        return None
    c = Collector(max_in_flight)
    gone = False
    fresh: dict[str, CoreDevice] = {}

    async def reread(thing: str) -> None:
        nonlocal gone
        try:
            found = await api.list_installed_components(thing)
        except NotFound:
            gone = True
            return
        except AWSError as exc:
            c.record(exc)
            return
        device = known[thing]
        # The cached timestamp stays the listed one: the next poll sees it move, and re-reads.
        cache.installed[thing] = InstalledRead(device.last_status_update, found, started)
        fresh[thing] = replace(device, installed=found)  # platform and status as listed

    membership = previous.membership

    iot = resolving.iot if resolving is not None else None

    async def regroup(reader: IotAPI, nested: NestedReach) -> None:
        nonlocal membership
        membership = await refresh_membership(
            reader, c, cache, previous.membership, previous.deployments, things, nested=nested
        )

    async with anyio.create_task_group() as group:
        if resolving is not None and iot is not None and previous.membership is not None:
            group.start_soon(regroup, iot, resolving.nested)
        group.start_soon(bounded_each, sorted(things), reread, c.limit)
    if gone:
        return None
    devices = tuple(fresh.get(d.thing_name, d) for d in previous.devices)
    referenced = versions_in_use(previous.details.values(), devices)
    arns = ArnResolver(previous.region, previous.account, None, None)
    versions = dict(previous.versions)
    recommended = dict(previous.recommended)
    await read_guidance(
        api, c, cache, arns, Wanted(referenced), GuidanceFound(versions, recommended), started
    )
    return replace(
        previous,
        complete=previous.complete and not c.errors,
        errors=c.found(),
        devices=devices,
        versions=MappingProxyType(versions),
        recommended=MappingProxyType(recommended),
        membership=membership,
        calls=tuple(
            CallCount(op, outcome, n) for (op, outcome), n in sorted(api.counter.counts.items())
        ),
        started=started,
        finished=clock(),
        cache_sizes=cache.sizes(),
    )
