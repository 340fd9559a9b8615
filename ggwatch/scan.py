"""One pass over all targets: collect snapshots in parallel, then evaluate them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass

import anyio
import structlog

from ggwatch.aws.callguard import CallCounter, CallGuard, RetryPolicy
from ggwatch.aws.clients import (
    Session,
    Target,
    caller_account,
    greengrass_clients,
    new_session,
    target_sessions,
    targets_to_watch,
)
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.aws.quota import TokenBucket, service_rate
from ggwatch.errors import AWSError
from ggwatch.inventory.cache import RegionCache
from ggwatch.inventory.collect import collect, failed_snapshot
from ggwatch.model import Snapshot, TargetId, TargetSnapshot
from ggwatch.report import ScanResult
from ggwatch.rules import evaluate
from ggwatch.settings import ClientSection, PollSection, Settings


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def guidance_max_age(poll: PollSection) -> float:
    """How old a cached vendor guidance read may be at the start of a scan.

    Reads are checked only when a scan starts, so a read younger than the refresh interval
    is kept until the next scan, up to one poll interval (with jitter) later. Taking that
    interval off keeps every guidance read the daemon evaluates younger than
    `describe_refresh_seconds` by the time the next scan could replace it, so a guidance flip
    is seen within one refresh interval (plus the scan that sees it).
    """
    longest_wait = poll.interval_seconds * (1 + poll.jitter)
    return max(0.0, poll.describe_refresh_seconds - longest_wait)


@dataclass
class ScanState:
    """What outlives one scan in a process: each target's caches, request bucket and account.

    Buckets are per account and Region, as AWS's quotas are. An account id, once known, never
    changes: findings are keyed by it. The sections of the settings it needs are read once.
    """

    client: ClientSection
    poll: PollSection
    caches: dict[TargetId, RegionCache]
    buckets: dict[TargetId, TokenBucket]
    accounts: dict[TargetId, str]

    @classmethod
    def new(cls, settings: Settings) -> ScanState:
        return cls(settings.client, settings.poll, caches={}, buckets={}, accounts={})

    async def account(self, target: Target, session: Session) -> str:
        """The target's account id: configured, or asked of STS once (AWSError if it fails)."""
        known = target.account_id or self.accounts.get(target.id)
        if known is None:
            known = await caller_account(
                session,
                target.id.region,
                connect_timeout=self.client.connect_timeout_seconds,
                read_timeout=self.client.read_timeout_seconds,
            )
        self.accounts[target.id] = known
        return known

    def cache(self, where: TargetId) -> RegionCache:
        if where not in self.caches:
            self.caches[where] = RegionCache(
                describe_refresh=guidance_max_age(self.poll),
                device_refresh=self.poll.device_refresh_seconds,
            )
        return self.caches[where]

    def bucket(self, where: TargetId) -> TokenBucket:
        if where not in self.buckets:
            budget = self.client.service_rate or service_rate(where.region)
            self.buckets[where] = TokenBucket(budget * self.client.quota_share)
        return self.buckets[where]

    def api(self, target: Target, client: object) -> AioGreengrass:
        """A fresh adapter (call counter, breaker and deadline) for one pass over the target."""
        bucket = self.bucket(target.id)
        guard = CallGuard(
            started=anyio.current_time(),
            minimum=deadline_floor(self.client, self.poll),
            budget=bucket.ceiling,
            fixed=self.client.scan_deadline_seconds,
        )
        return AioGreengrass(
            client,
            target.id.region,
            bucket,
            CallCounter(),
            RetryPolicy(max_attempts=self.client.max_attempts),
            guard=guard,
        )


async def collect_target(
    target: Target,
    api: AioGreengrass,
    state: ScanState,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    session: Session,
) -> TargetSnapshot:
    """One target's snapshot; a failure outside any AWS call is an incomplete snapshot too.

    The account id comes first: without it findings would have no stable identity, so a target
    whose account cannot be learned is not scanned (incomplete, with the STS error).
    """
    account: str | None = None
    try:
        account = await state.account(target, session)
        snapshot = await collect(
            api,
            api.counter,
            state.cache(target.id),
            target=target.id,
            account=account,
            max_in_flight=settings.max_in_flight,
            clock=clock,
        )
    except AWSError as exc:
        snapshot = failed_snapshot(target.id, account, api.counter, exc, clock())
    except Exception as exc:  # a bug or a payload nobody expected: report it, carry on
        log = structlog.get_logger("ggwatch.poller")
        log.exception("scan.crashed", target=str(target.id), error=type(exc).__name__)
        snapshot = failed_snapshot(target.id, account, api.counter, exc, clock())
    return snapshot


async def scan_once(
    settings: Settings,
    state: ScanState | None = None,
    *,
    session: Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> ScanResult:
    state = state or ScanState.new(settings)
    session = session or new_session()
    targets = targets_to_watch(settings, session)
    started = time.monotonic()
    found: dict[TargetId, TargetSnapshot] = {}
    sessions = target_sessions(targets, session, settings)
    async with greengrass_clients(
        targets,
        sessions,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        pool_size=settings.max_in_flight * 2,
    ) as clients:

        async def one(target: Target) -> None:
            api = state.api(target, clients[target.id])
            found[target.id] = await collect_target(
                target, api, state, settings, clock, sessions[target.id]
            )

        # Every target at once: each is paced by its own account and Region's bucket.
        async with anyio.create_task_group() as group:
            for target in targets:
                group.start_soon(one, target)

    snapshot = Snapshot(tuple(found[t.id] for t in targets))
    now = clock()
    findings = evaluate(snapshot, settings.rules_config, now)
    return ScanResult(snapshot, findings, now, time.monotonic() - started)


def deadline_floor(client: ClientSection, poll: PollSection) -> float:
    """The least time an automatic scan deadline allows: an interval, and never less than two
    calls that each take their whole timeout, so a slow endpoint is slow, not unreachable."""
    one_call = client.connect_timeout_seconds + client.read_timeout_seconds
    return max(poll.interval_seconds, 2 * one_call)
