"""One pass over all targets: collect snapshots in parallel, then evaluate them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio

from ggwatch.aws.clients import Session, greengrass_clients, new_session, regions_to_watch
from ggwatch.aws.greengrass import AioGreengrass, CallCounter, RetryPolicy
from ggwatch.aws.quota import TokenBucket, service_rate
from ggwatch.inventory import RegionCache, collect
from ggwatch.model import Snapshot, TargetSnapshot
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
    """What outlives one scan in a process: the per-Region caches and request buckets."""

    caches: dict[str, RegionCache]
    buckets: dict[str, TokenBucket]

    @classmethod
    def new(cls) -> ScanState:
        return cls(caches={}, buckets={})

    def cache(self, region: str, settings: Settings) -> RegionCache:
        if region not in self.caches:
            self.caches[region] = RegionCache(
                describe_refresh=guidance_max_age(settings),
                device_refresh=settings.device_refresh_seconds,
            )
        return self.caches[region]

    def bucket(self, region: str, settings: Settings) -> TokenBucket:
        if region not in self.buckets:
            budget = settings.service_rate or service_rate(region)
            self.buckets[region] = TokenBucket(budget * settings.quota_share)
        return self.buckets[region]


async def scan_once(
    settings: Settings,
    state: ScanState | None = None,
    *,
    session: Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> ScanResult:
    state = state or ScanState.new()
    session = session or new_session()
    regions = regions_to_watch(settings.regions, session)
    started = time.monotonic()
    targets: dict[str, TargetSnapshot] = {}
    policy = RetryPolicy(max_attempts=settings.max_attempts)
    async with greengrass_clients(
        regions,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        pool_size=settings.max_in_flight * 2,
        session=session,
    ) as clients:

        async def one(region: str) -> None:
            api = AioGreengrass(
                clients[region],
                region,
                state.bucket(region, settings),
                CallCounter(),
                policy,
            )
            targets[region] = await collect(
                api,
                api.counter,
                state.cache(region, settings),
                max_in_flight=settings.max_in_flight,
                clock=clock,
            )

        async with anyio.create_task_group() as group:
            for region in regions:
                group.start_soon(one, region)

    snapshot = Snapshot(tuple(targets[r] for r in regions))
    now = clock()
    findings = evaluate(snapshot, settings.rules_config, now)
    return ScanResult(snapshot, findings, now, time.monotonic() - started)
