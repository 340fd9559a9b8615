"""Collect one account and Region into an immutable TargetSnapshot.

1. In parallel: components (PRIVATE and PUBLIC), every deployment (historyFilter=ALL) and
   every core device.
2. GetDeployment for each in-force deployment not seen before (a deployment's components never
   change, so the cache is kept for the life of the process), and each device's installed
   components (topologyFilter=ALL) unless its lastStatusUpdateTimestamp has not moved since
   the cached read (see RegionCache).
3. DescribeComponent for every version those name, unless described within the refresh.
4. For each component with a DISCONTINUED or DELETED version in use, the newest ACTIVE version.
5. What dependency resolution needs (unless `resolve` is off): the recipes (recipes.py), and,
   alongside steps 2 to 5 from the listings on, AWS IoT thing-group membership (membership.py),
   paced by IoT's own budget.

Calls run at most `max_in_flight` at a time, all in task groups of this function; the token
bucket in the adapter keeps them within the quota share. A failed call is recorded and the
target marked incomplete; what was collected stays in the snapshot, and what could not be read
is absent (never "empty"), so nothing downstream mistakes a failure for a clean fleet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import replace
from types import MappingProxyType
from typing import NamedTuple

import anyio

from ggwatch.aws.api import PAGE_SIZE, GreengrassAPI, IotAPI
from ggwatch.aws.shapes import ComponentSummary
from ggwatch.inventory.arns import ArnResolver
from ggwatch.inventory.cache import InstalledRead, NestedReach, RegionCache
from ggwatch.inventory.calls import Collector, bounded_each
from ggwatch.inventory.guidance import GuidanceFound, Wanted, read_guidance
from ggwatch.inventory.membership import RECIPES_ONLY, MembershipFound, Resolving, read_membership
from ggwatch.inventory.recipes import RecipeReader, RecipesFound
from ggwatch.model import (
    CallCount,
    CoreDevice,
    Deployment,
    DeploymentDetail,
    InstalledComponent,
    TargetId,
    TargetSnapshot,
    versions_in_use,
)
from ggwatch.resolution import ranges
from ggwatch.rules.recommend import upgrade_allowed


def _pages(items: int) -> int:
    return max(1, -(-items // PAGE_SIZE))


class _Listings(NamedTuple):
    """Step 1's answers; None where the listing failed."""

    private: tuple[ComponentSummary, ...] | None
    public: tuple[ComponentSummary, ...] | None
    deployments: tuple[Deployment, ...] | None
    devices: tuple[CoreDevice, ...] | None

    def pages(self) -> int:
        """The page calls the listings took, at the least."""
        return sum(_pages(len(x or ())) for x in self)


class _Reads(NamedTuple):
    """Step 2's answers: in-force deployments' details by id, and listed devices with their
    installed components by thing name (absent where the read failed)."""

    details: dict[str, DeploymentDetail]
    installed: dict[str, CoreDevice]


async def collect(
    api: GreengrassAPI,
    cache: RegionCache,
    *,
    target: TargetId,
    account: str,
    max_in_flight: int,
    clock: Callable[[], dt.datetime],
    resolving: Resolving | None = RECIPES_ONLY,
) -> TargetSnapshot:
    """One target's snapshot. `resolving` None: neither recipes nor membership are read (the
    snapshot's are empty and None); without its `iot`, membership is not read (None)."""
    started = clock()
    c = Collector(max_in_flight)
    api.expect_calls(cache.minimal_calls)

    # 1. Listings, in parallel: each is a chain of page calls.
    listings = await _list_all(api, c)
    deployments, devices = listings.deployments or (), listings.devices or ()

    # The listings tell the least the rest needs: a GetDeployment per deployment in force and
    # a ListInstalledComponents per device.
    listed = listings.pages()
    api.expect_calls(listed + sum(1 for d in deployments if d.in_force) + len(devices))

    # 5, in part: membership needs only the deployments and the devices, and IoT's own budget.
    members = MembershipFound(None, 0)

    iot = resolving.iot if resolving is not None else None

    async def membership(reader: IotAPI, nested: NestedReach) -> None:
        nonlocal members
        members = await read_membership(
            reader, c, cache, deployments, devices, nested=nested, started=started
        )

    async with anyio.create_task_group() as group:
        if (
            resolving is not None
            and iot is not None
            and None
            not in (
                listings.deployments,
                listings.devices,
            )
        ):
            group.start_soon(membership, iot, resolving.nested)

        # 2. Details of in-force deployments (once per process) and devices' components.
        in_force = [d for d in deployments if d.in_force]
        reads = await _read_details(api, c, cache, in_force, devices, started)

        # 3. Vendor guidance of every version in force or installed, and the newest ACTIVE
        # version of each component with a flagged one in use.
        arns = ArnResolver(target.region, account, listings.private, listings.public)
        extra = set(resolving.extra) if resolving is not None else set()
        referenced = versions_in_use(reads.details.values(), reads.installed.values()) | extra
        found = GuidanceFound({}, {})
        wanted = Wanted(referenced, recommend=False)
        flagged = await read_guidance(api, c, cache, arns, wanted, found, started)

        # 4. The recipes resolution needs: of what the deployments in force name, of the
        # versions a flagged one may move to, and of what their dependencies reach; then the
        # guidance of what they reach.
        recipes = RecipesFound()
        if resolving is not None:
            named = {ref for detail in reads.details.values() for ref in detail.components}
            named |= extra
            reader = RecipeReader(api, c, cache, arns, started)
            policy = resolving.upgrade_policy
            named |= await reader.candidates(
                referenced, flagged, lambda now, to: upgrade_allowed(policy, now, to)
            )
            recipes = await reader.read(named, ranges.satisfies)
        reachable = frozenset(r for r, recipe in recipes.recipes.items() if recipe is not None)
        await read_guidance(api, c, cache, arns, Wanted(referenced, reachable), found, started)

    if not c.errors:
        kept = (
            set(recipes.recipes) if resolving is not None else None
        )  # off: the recipes cached stay
        cache.prune(deployments, devices, referenced | reachable, flagged, kept)
    # What a full scan of this fleet needs at the least, and so its time at the budgets: the
    # Greengrass V2 calls at its budget and the IoT calls at IoT's, which are spent alongside.
    minimal = listed + len(in_force) + len(referenced | reachable) + recipes.calls
    minimal += sum(found.walk_cost.values())
    minimal += sum(_pages(len(d.installed or ())) for d in reads.installed.values())
    floor = minimal / api.budget
    if iot is not None:
        floor = max(floor, members.calls / iot.budget)
    minimal += members.calls
    if not c.errors:
        cache.minimal_calls = minimal
    device_list = tuple(reads.installed.get(d.thing_name, d) for d in devices)
    return TargetSnapshot(
        target=target,
        account=account,
        complete=not c.errors,
        errors=c.found(),
        deployments=tuple(sorted(deployments, key=lambda d: d.deployment_id)),
        details=MappingProxyType(reads.details),
        devices=tuple(sorted(device_list, key=lambda d: d.thing_name)),
        versions=MappingProxyType(found.versions),
        recommended=MappingProxyType(found.recommended),
        # The account's own components, those gone from ListComponents included.
        private_components=frozenset(s.name for s in listings.private or ())
        | {ref.name for ref in referenced if arns.owned(ref.name)},
        recipes=MappingProxyType(
            {r: recipe for r, recipe in recipes.recipes.items() if recipe is not None}
        ),
        candidates=MappingProxyType(recipes.candidates),
        calls=tuple(
            CallCount(op, outcome, n) for (op, outcome), n in sorted(api.counter.counts.items())
        ),
        started=started,
        finished=clock(),
        minimal_calls=minimal,
        floor_seconds=floor,
        cache_sizes=cache.sizes(),
        membership=members.membership,
    )


async def _list_all(api: GreengrassAPI, c: Collector) -> _Listings:
    """Step 1: the four listings, in parallel; a failed one is recorded and None."""
    private: tuple[ComponentSummary, ...] | None = None
    public: tuple[ComponentSummary, ...] | None = None
    deployments: tuple[Deployment, ...] | None = None
    devices: tuple[CoreDevice, ...] | None = None

    async def list_private() -> None:
        nonlocal private
        private = await c.guarded(lambda: api.list_components("PRIVATE"))

    async def list_public() -> None:
        nonlocal public
        public = await c.guarded(lambda: api.list_components("PUBLIC"))

    async def list_deployments() -> None:
        nonlocal deployments
        deployments = await c.guarded(api.list_deployments)

    async def list_devices() -> None:
        nonlocal devices
        devices = await c.guarded(api.list_core_devices)

    async with anyio.create_task_group() as group:
        for task in (list_private, list_public, list_deployments, list_devices):
            group.start_soon(task)
    return _Listings(private, public, deployments, devices)


async def _read_details(
    api: GreengrassAPI,
    c: Collector,
    cache: RegionCache,
    in_force: list[Deployment],
    devices: tuple[CoreDevice, ...],
    started: dt.datetime,
) -> _Reads:
    """Step 2, both halves at once: GetDeployment for each in-force deployment not in the
    cache, and ListInstalledComponents for each device whose cached read is stale."""
    reads = _Reads({}, {})

    async def detail(deployment: Deployment) -> None:
        known = cache.details.get(deployment.deployment_id)
        if known is None:
            known = await c.guarded(lambda: api.get_deployment(deployment.deployment_id))
            if known is None:
                return
            cache.details[deployment.deployment_id] = known
        reads.details[deployment.deployment_id] = known

    async def device_components(device: CoreDevice) -> None:
        seen = cache.installed.get(device.thing_name)
        if (
            seen is not None
            and seen.last_status_update == device.last_status_update
            and cache.fresh(seen.read_at, started, cache.device_refresh)
        ):
            found: tuple[InstalledComponent, ...] | None = seen.installed
        else:
            found = await c.guarded(lambda: api.list_installed_components(device.thing_name))
            if found is not None:
                cache.installed[device.thing_name] = InstalledRead(
                    device.last_status_update, found, started
                )
        if found is not None:
            reads.installed[device.thing_name] = replace(device, installed=found)

    async with anyio.create_task_group() as group:
        group.start_soon(bounded_each, in_force, detail, c.limit)
        group.start_soon(bounded_each, devices, device_components, c.limit)
    return reads
