"""Collect one account and Region into an immutable TargetSnapshot.

1. In parallel: components (PRIVATE and PUBLIC), every deployment (historyFilter=ALL) and
   every core device.
2. GetDeployment for each in-force deployment not seen before (a deployment's components never
   change, so the cache is kept for the life of the process), and each device's installed
   components (topologyFilter=ALL) unless its lastStatusUpdateTimestamp has not moved since
   the cached read (see RegionCache).
3. DescribeComponent for every version those name, unless described within the refresh.
4. For each component with a DISCONTINUED or DELETED version in use, the newest ACTIVE version.

Calls run at most `max_in_flight` at a time, all in task groups of this function; the token
bucket in the adapter keeps them within the quota share. A failed call is recorded and the
target marked incomplete; what was collected stays in the snapshot, and what could not be read
is absent (never "empty"), so nothing downstream mistakes a failure for a clean fleet.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Iterable
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import TypeVar

import anyio

from ggwatch.aws.greengrass import (
    CIRCUIT_OPEN,
    DEADLINE,
    PAGE_SIZE,
    CallCounter,
    ComponentSummary,
    GreengrassAPI,
)
from ggwatch.errors import AWSError, NotFound
from ggwatch.model import (
    CallCount,
    CoreDevice,
    Deployment,
    DeploymentDetail,
    Guidance,
    InstalledComponent,
    TargetError,
    TargetSnapshot,
    VersionRef,
    VersionStatus,
)

T = TypeVar("T")
R = TypeVar("R")


def partition(region: str) -> str:
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


async def bounded_each(
    items: Iterable[T], func: Callable[[T], Awaitable[None]], limit: int
) -> None:
    """Run func over items with at most `limit` in flight: a fixed pool of workers, no gather."""
    source = iter(items)

    async def worker() -> None:
        for item in source:  # the workers share one iterator; each item is taken once
            await func(item)

    async with anyio.create_task_group() as group:
        for _ in range(max(1, limit)):
            group.start_soon(worker)


@dataclass
class _Collector:
    """The failures met while collecting one target, and the calls in flight allowed."""

    limit: int
    errors: list[TargetError] = field(default_factory=list)

    def record(self, exc: AWSError) -> None:
        # Once the breaker is open or the deadline passed, every call left fails alike: one
        # error says so, not one per device.
        if exc.code in (CIRCUIT_OPEN, DEADLINE) and any(e.code == exc.code for e in self.errors):
            return
        self.errors.append(TargetError(exc.operation, exc.code, exc.message))

    def found(self) -> tuple[TargetError, ...]:
        """The errors, causes first: a call cut short by the breaker or the deadline may
        finish before the failure that opened it, and the first error is the one reported."""
        return tuple(sorted(self.errors, key=lambda e: e.code in (CIRCUIT_OPEN, DEADLINE)))

    async def guarded(self, call: Callable[[], Awaitable[R]]) -> R | None:
        try:
            return await call()
        except AWSError as exc:
            self.record(exc)
            return None


@dataclass
class RegionCache:
    """What a daemon keeps between scans of one target, so that a steady fleet costs little.

    - details: GetDeployment by id, forever (a deployment's components never change);
    - versions: DescribeComponent answers, re-described after `describe_refresh` seconds;
    - installed: each device's components, re-read when its lastStatusUpdateTimestamp moves
      (devices report on every deployment and component failure) or after `device_refresh`;
    - recommended: the newest ACTIVE version per flagged component, refreshed with guidance.
    Every entry is dropped once its deployment, device or version is no longer listed or
    used, so the caches are bounded by the fleet. A one-shot scan starts with an empty cache:
    that is a full scan.
    """

    describe_refresh: float = 900.0
    device_refresh: float = 86_400.0
    details: dict[str, DeploymentDetail] = field(default_factory=dict)
    versions: dict[VersionRef, tuple[VersionStatus, dt.datetime]] = field(default_factory=dict)
    installed: dict[str, tuple[dt.datetime | None, tuple[InstalledComponent, ...], dt.datetime]] = (
        field(default_factory=dict)
    )
    # name -> (recommended version, calls a full scan needs to find it, when found)
    recommended: dict[str, tuple[str | None, int, dt.datetime]] = field(default_factory=dict)
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

    def sizes(self) -> tuple[tuple[str, int], ...]:
        return (
            ("deployment_details", len(self.details)),
            ("installed_components", len(self.installed)),
            ("recommended_versions", len(self.recommended)),
            ("vendor_guidance", len(self.versions)),
        )


def _pages(items: int) -> int:
    return max(1, -(-items // PAGE_SIZE))


async def collect(
    api: GreengrassAPI,
    counter: CallCounter,
    cache: RegionCache,
    *,
    account: str,
    max_in_flight: int,
    clock: Callable[[], dt.datetime],
) -> TargetSnapshot:
    started = clock()
    c = _Collector(max_in_flight)
    region = api.region
    api.expect_calls(cache.minimal_calls)

    # 1. Listings, in parallel: each is a chain of page calls.
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

    # The listings tell the least the rest needs: a GetDeployment per deployment in force and
    # a ListInstalledComponents per device.
    listed = sum(_pages(len(x or ())) for x in (private, public, deployments, devices))
    api.expect_calls(listed + sum(1 for d in deployments or () if d.in_force) + len(devices or ()))

    # 2. Details of in-force deployments (once per process) and devices' installed components.
    in_force = [d for d in deployments or () if d.in_force]
    details: dict[str, DeploymentDetail] = {}
    installed: dict[str, CoreDevice] = {}

    async def detail(deployment: Deployment) -> None:
        known = cache.details.get(deployment.deployment_id)
        if known is None:
            known = await c.guarded(lambda: api.get_deployment(deployment.deployment_id))
            if known is None:
                return
            cache.details[deployment.deployment_id] = known
        details[deployment.deployment_id] = known

    async def device_components(device: CoreDevice) -> None:
        seen = cache.installed.get(device.thing_name)
        if (
            seen is not None
            and seen[0] == device.last_status_update
            and cache.fresh(seen[2], started, cache.device_refresh)
        ):
            found: tuple[InstalledComponent, ...] | None = seen[1]
        else:
            found = await c.guarded(lambda: api.list_installed_components(device.thing_name))
            if found is not None:
                cache.installed[device.thing_name] = (device.last_status_update, found, started)
        if found is not None:
            installed[device.thing_name] = CoreDevice(
                device.thing_name, device.status, device.last_status_update, found
            )

    async with anyio.create_task_group() as group:
        group.start_soon(bounded_each, in_force, detail, c.limit)
        group.start_soon(bounded_each, devices or (), device_components, c.limit)

    # 3 and 4. Vendor guidance of every version in force or installed, and where to move.
    arns = _ArnResolver(region, account, private, public)
    referenced = {ref for d in details.values() for ref in d.components}
    referenced |= {i.ref for d in installed.values() for i in d.installed or ()}
    versions: dict[VersionRef, VersionStatus] = {}
    recommended: dict[str, str | None] = {}
    walk_cost: dict[str, int] = {}
    flagged = await _guidance(
        api, c, cache, arns, referenced, versions, recommended, walk_cost, started
    )

    device_list = tuple(installed.get(d.thing_name, d) for d in devices or ())
    if not c.errors:
        _prune(cache, deployments or (), devices or (), referenced, flagged)
    # What a full scan of this fleet needs at the least, and so its time at the budget.
    minimal = listed
    minimal += len(in_force) + len(referenced) + sum(walk_cost.values())
    minimal += sum(_pages(len(d.installed or ())) for d in installed.values())
    if not c.errors:
        cache.minimal_calls = minimal
    return TargetSnapshot(
        region=region,
        account=account,
        complete=not c.errors,
        errors=c.found(),
        deployments=tuple(sorted(deployments or (), key=lambda d: d.deployment_id)),
        details=MappingProxyType(details),
        devices=tuple(sorted(device_list, key=lambda d: d.thing_name)),
        versions=MappingProxyType(versions),
        recommended=MappingProxyType(recommended),
        private_components=frozenset(s.name for s in private or ()),
        calls=tuple(
            CallCount(op, outcome, n) for (op, outcome), n in sorted(counter.counts.items())
        ),
        started=started,
        finished=clock(),
        minimal_calls=minimal,
        floor_seconds=minimal / api.budget,
        cache_sizes=cache.sizes(),
    )


async def _guidance(
    api: GreengrassAPI,
    c: _Collector,
    cache: RegionCache,
    arns: _ArnResolver,
    referenced: set[VersionRef],
    versions: dict[VersionRef, VersionStatus],
    recommended: dict[str, str | None],
    walk_cost: dict[str, int],
    started: dt.datetime,
) -> set[str]:
    """Fill `versions` for every referenced version not in it yet, then `recommended` for
    every component with a flagged version that has none yet: from the cache when fresh.
    Returns the names of the components with a flagged version in use."""

    async def describe(ref: VersionRef) -> None:
        seen = cache.versions.get(ref)
        if seen is not None and cache.fresh(seen[1], started, cache.describe_refresh):
            versions[ref] = seen[0]
            return
        status = await c.guarded(lambda: api.describe_component(ref, arns.version(ref)))
        if status is not None:
            versions[ref] = status
            cache.versions[ref] = (status, started)

    await bounded_each(sorted(referenced - versions.keys()), describe, c.limit)

    async def recommend(name: str) -> None:
        seen = cache.recommended.get(name)
        if seen is not None and cache.fresh(seen[2], started, cache.describe_refresh):
            recommended[name], walk_cost[name] = seen[0], seen[1]
            return

        async def walk() -> tuple[str | None, int]:
            cost = 1  # the first page of versions, newest first
            async for version, arn in api.component_versions(arns.component(name)):
                ref = VersionRef(name, version)
                status = versions.get(ref)
                if status is None:
                    status = await api.describe_component(ref, arn)
                    versions[ref] = status
                cost += ref not in referenced
                if status.exists and status.guidance is Guidance.ACTIVE:
                    return version, cost
            return None, cost

        try:
            found, cost = await walk()
        except AWSError as exc:
            c.record(exc)
            return
        recommended[name], walk_cost[name] = found, cost
        cache.recommended[name] = (found, cost, started)

    flagged = {s.ref.name for s in versions.values() if s.flagged and s.ref in referenced}
    await bounded_each(sorted(flagged - recommended.keys()), recommend, c.limit)
    return flagged


async def refresh_devices(
    api: GreengrassAPI,
    counter: CallCounter,
    cache: RegionCache,
    previous: TargetSnapshot,
    things: Collection[str],
    *,
    max_in_flight: int,
    clock: Callable[[], dt.datetime],
) -> TargetSnapshot | None:
    """Re-read what events named: the installed components of `things`, then the guidance of
    versions they newly run. The rest of the target is the previous snapshot's.

    None when only a full scan can answer: a device the last scan did not list (the listing
    gives its status), or a device that is gone.
    """
    started = clock()
    known = {d.thing_name: d for d in previous.devices}
    if any(thing not in known for thing in things):
        return None
    c = _Collector(max_in_flight)
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
        cache.installed[thing] = (device.last_status_update, found, started)
        fresh[thing] = CoreDevice(
            device.thing_name, device.status, device.last_status_update, found
        )

    await bounded_each(sorted(things), reread, c.limit)
    if gone:
        return None
    devices = tuple(fresh.get(d.thing_name, d) for d in previous.devices)
    referenced = {ref for d in previous.details.values() for ref in d.components}
    referenced |= {i.ref for d in devices for i in d.installed or ()}
    arns = _ArnResolver(previous.region, previous.account, None, None)
    versions = dict(previous.versions)
    recommended = dict(previous.recommended)
    await _guidance(api, c, cache, arns, referenced, versions, recommended, {}, started)
    return replace(
        previous,
        complete=previous.complete and not c.errors,
        errors=c.found(),
        devices=devices,
        versions=MappingProxyType(versions),
        recommended=MappingProxyType(recommended),
        calls=tuple(
            CallCount(op, outcome, n) for (op, outcome), n in sorted(counter.counts.items())
        ),
        started=started,
        finished=clock(),
        cache_sizes=cache.sizes(),
    )


def _prune(
    cache: RegionCache,
    deployments: Iterable[Deployment],
    devices: Iterable[CoreDevice],
    referenced: set[VersionRef],
    flagged: set[str],
) -> None:
    """After a complete scan: forget what is no longer listed or used (bounds the caches)."""
    listed = {d.deployment_id for d in deployments if d.in_force}
    for key in [k for k in cache.details if k not in listed]:
        del cache.details[key]
    things = {d.thing_name for d in devices}
    for key in [k for k in cache.installed if k not in things]:
        del cache.installed[key]
    for ref in [r for r in cache.versions if r not in referenced]:
        del cache.versions[ref]
    for name in [n for n in cache.recommended if n not in flagged]:
        del cache.recommended[name]


class _ArnResolver:
    """A name resolves to the account's own component first, then AWS's public one."""

    def __init__(
        self,
        region: str,
        account: str | None,
        private: Iterable[ComponentSummary] | None,
        public: Iterable[ComponentSummary] | None,
    ) -> None:
        self.region = region
        self.account = account
        self.private = {c.name: c.arn for c in private or ()}
        self.public = {c.name: c.arn for c in public or ()}

    def component(self, name: str) -> str:
        if name in self.private:
            return self.private[name]
        if name in self.public:
            return self.public[name]
        # Listed nowhere (gone, or a listing failed): guess as AWS would name it.
        owner = "aws" if name.startswith("aws.") or self.account is None else self.account
        return f"arn:{partition(self.region)}:greengrass:{self.region}:{owner}:components:{name}"

    def version(self, ref: VersionRef) -> str:
        return f"{self.component(ref.name)}:versions:{ref.version}"


def failed_snapshot(
    region: str, account: str | None, counter: CallCounter, exc: Exception, now: dt.datetime
) -> TargetSnapshot:
    """An incomplete, empty snapshot for a scan that could not start (its account unknown) or
    failed outside any AWS call."""
    if isinstance(exc, AWSError):
        error = TargetError(exc.operation, exc.code, exc.message)
    else:
        text = str(exc).splitlines()[0] if str(exc) else ""
        error = TargetError("scan", type(exc).__name__, text)
    return TargetSnapshot(
        region=region,
        account=account,
        complete=False,
        errors=(error,),
        deployments=(),
        details=MappingProxyType({}),
        devices=(),
        versions=MappingProxyType({}),
        recommended=MappingProxyType({}),
        private_components=frozenset(),
        calls=tuple(CallCount(op, out, n) for (op, out), n in sorted(counter.counts.items())),
        started=now,
        finished=now,
    )
