"""One pass over all targets: collect snapshots in parallel, then evaluate them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

import anyio
import structlog

from ggwatch.aws.clients import (
    Session,
    Target,
    greengrass_clients,
    new_session,
    target_sessions,
    targets_to_watch,
)
from ggwatch.aws.greengrass import AioGreengrass, CallCounter, RetryPolicy
from ggwatch.aws.quota import TokenBucket, service_rate
from ggwatch.inventory import RegionCache, collect, failed_snapshot
from ggwatch.model import Snapshot, TargetId, TargetSnapshot
from ggwatch.report import ScanResult
from ggwatch.rules import evaluate
from ggwatch.settings import Settings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def guidance_max_age(settings: Settings) -> float:
    """How old a cached vendor guidance read may be at the start of a scan.

    Reads are checked only when a scan starts, so a read younger than the refresh interval
    is kept until the next scan, up to one poll interval (with jitter) later. Taking that
    interval off keeps every guidance read the daemon evaluates younger than
    `describe_refresh_seconds` by the time the next scan could replace it, so a guidance flip
    is seen within one refresh interval (plus the scan that sees it).
    """
    longest_wait = settings.poll_interval_seconds * (1 + settings.poll_jitter)
    return max(0.0, settings.describe_refresh_seconds - longest_wait)


@dataclass
class ScanState:
    """What outlives one scan in a process: each target's caches and request bucket.

    Buckets are per account and Region, as AWS's quotas are.
    """

    caches: dict[TargetId, RegionCache]
    buckets: dict[TargetId, TokenBucket]

    @classmethod
    def new(cls) -> ScanState:
        return cls(caches={}, buckets={})

    def cache(self, where: TargetId, settings: Settings) -> RegionCache:
        if where not in self.caches:
            self.caches[where] = RegionCache(
                describe_refresh=guidance_max_age(settings),
                device_refresh=settings.device_refresh_seconds,
            )
        return self.caches[where]

    def bucket(self, where: TargetId, settings: Settings) -> TokenBucket:
        if where not in self.buckets:
            budget = settings.service_rate or service_rate(where.region)
            self.buckets[where] = TokenBucket(budget * settings.quota_share)
        return self.buckets[where]

    def api(self, target: Target, client: object, settings: Settings) -> AioGreengrass:
        """A fresh adapter (and call counter) for one pass over the target."""
        return AioGreengrass(
            client,
            target.id.region,
            self.bucket(target.id, settings),
            CallCounter(),
            RetryPolicy(max_attempts=settings.max_attempts),
        )


async def collect_target(
    target: Target,
    api: AioGreengrass,
    state: ScanState,
    settings: Settings,
    clock: Callable[[], dt.datetime],
) -> TargetSnapshot:
    """One target's snapshot; a failure outside any AWS call is an incomplete snapshot too."""
    try:
        snapshot = await collect(
            api,
            api.counter,
            state.cache(target.id, settings),
            max_in_flight=settings.max_in_flight,
            clock=clock,
        )
    except Exception as exc:  # a bug or a payload nobody expected: report it, carry on
        log = structlog.get_logger("ggwatch.poller")
        log.exception("scan.crashed", target=str(target.id), error=type(exc).__name__)
        snapshot = failed_snapshot(target.id.region, api.counter, exc, clock())
    return replace(snapshot, alias=target.id.alias, account=snapshot.account or target.account_id)


async def scan_once(
    settings: Settings,
    state: ScanState | None = None,
    *,
    session: Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> ScanResult:
    state = state or ScanState.new()
    session = session or new_session()
    targets = targets_to_watch(settings, session)
    started = time.monotonic()
    found: dict[TargetId, TargetSnapshot] = {}
    async with greengrass_clients(
        targets,
        target_sessions(targets, session, settings),
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        pool_size=settings.max_in_flight * 2,
    ) as clients:

        async def one(target: Target) -> None:
            api = state.api(target, clients[target.id], settings)
            found[target.id] = await collect_target(target, api, state, settings, clock)

        # Every target at once: each is paced by its own account and Region's bucket.
        async with anyio.create_task_group() as group:
            for target in targets:
                group.start_soon(one, target)

    snapshot = Snapshot(tuple(found[t.id] for t in targets))
    now = clock()
    findings = evaluate(snapshot, settings.rules_config, now)
    return ScanResult(snapshot, findings, now, time.monotonic() - started)
