"""One pass over all targets: collect snapshots in parallel, then evaluate them."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import anyio
import structlog

from ggwatch.aws.callguard import CallCounter, CallGuard, RetryPolicy
from ggwatch.aws.clients import (
    ClientOptions,
    Session,
    Target,
    caller_account,
    greengrass_clients,
    iot_clients,
    new_session,
    target_sessions,
)
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.aws.iot import AioIot
from ggwatch.aws.organization import discover
from ggwatch.aws.quota import TokenBucket, service_rate
from ggwatch.errors import AWSError
from ggwatch.inventory.cache import RegionCache
from ggwatch.inventory.collect import collect
from ggwatch.inventory.failed import failed_snapshot
from ggwatch.inventory.membership import Resolving
from ggwatch.inventory.statefile import Restored
from ggwatch.model import Snapshot, TargetId, TargetSnapshot, VersionRef
from ggwatch.report import ScanResult
from ggwatch.rules import assess
from ggwatch.settings import ClientSection, PollSection, ResolutionSection, Settings


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
    """What outlives one scan in a process: each target's caches, request buckets, account and
    AWS IoT client.

    Buckets are per account and Region, as AWS's quotas are: one for Greengrass V2, one for AWS
    IoT, whose budget is its own. An account id, once known, never changes: findings are keyed
    by it. The sections of the settings it needs are read once. `iot_clients` are the ones the
    shell opened (`iot_clients`); a scan that resolves dependencies needs its target's.
    """

    client: ClientSection
    poll: PollSection
    resolution: ResolutionSection
    caches: dict[TargetId, RegionCache]
    buckets: dict[TargetId, TokenBucket]
    accounts: dict[TargetId, str]
    iot_buckets: dict[TargetId, TokenBucket] = field(default_factory=dict)
    iot_clients: dict[TargetId, Any] = field(default_factory=dict)
    # Caches saved before a restart (ggwatch.inventory.statefile), each taken up by its target
    # once the target's account is known to be the one it was saved for.
    restored: dict[TargetId, Restored] = field(default_factory=dict)

    @classmethod
    def new(cls, settings: Settings) -> ScanState:
        return cls(
            settings.client, settings.poll, settings.resolution, caches={}, buckets={}, accounts={}
        )

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
        self._adopt(target.id, known)
        return known

    def _adopt(self, where: TargetId, account: str) -> None:
        restored = self.restored.pop(where, None)
        if restored is None or where in self.caches:
            return
        log = structlog.get_logger("ggwatch.state")
        if restored.account != account:
            log.warning(
                "state.discarded",
                target=str(where),
                reason=f"saved for account {restored.account}, the target is now {account}",
            )
            return
        cache = restored.saved.into(self.cache(where))
        log.info(
            "state.restored",
            target=str(where),
            saved_at=restored.written_at.isoformat(),
            **dict(cache.sizes()),
        )

    def cache(self, where: TargetId) -> RegionCache:
        if where not in self.caches:
            self.caches[where] = RegionCache(
                describe_refresh=guidance_max_age(self.poll),
                device_refresh=self.poll.device_refresh_seconds,
                membership_refresh=self.resolution.membership_refresh_seconds,
            )
        return self.caches[where]

    def bucket(self, where: TargetId) -> TokenBucket:
        if where not in self.buckets:
            budget = self.client.service_rate or service_rate(where.region)
            self.buckets[where] = TokenBucket(budget * self.client.quota_share)
        return self.buckets[where]

    def iot_bucket(self, where: TargetId) -> TokenBucket:
        """AWS IoT's bucket: its own budget (`iot_rate`), ggwatch's share of it."""
        if where not in self.iot_buckets:
            budget = self.resolution.iot_rate * self.client.quota_share
            self.iot_buckets[where] = TokenBucket(budget)
        return self.iot_buckets[where]

    def guard(self, bucket: TokenBucket) -> CallGuard:
        """A pass's breaker and deadline for the calls of one bucket."""
        return CallGuard(
            started=anyio.current_time(),
            minimum=deadline_floor(self.client, self.poll),
            budget=bucket.ceiling,
            fixed=self.client.scan_deadline_seconds,
        )

    def api(self, target: Target, client: object) -> AioGreengrass:
        """A fresh adapter (call counter, breaker and deadline) for one pass over the target."""
        bucket = self.bucket(target.id)
        return AioGreengrass(
            client,
            target.id.region,
            bucket,
            CallCounter(),
            RetryPolicy(max_attempts=self.client.max_attempts),
            guard=self.guard(bucket),
        )

    def resolving(
        self, target: Target, counter: CallCounter, extra: tuple[VersionRef, ...] = ()
    ) -> Resolving | None:
        """What one pass over the target reads for dependency resolution: None when it is off
        (no GetComponent, no AWS IoT call); else membership through a fresh AWS IoT adapter that
        counts into the pass's counter, with a breaker and deadline of its own (another
        endpoint, another budget)."""
        if not self.resolution.resolve_dependencies:
            return None
        bucket = self.iot_bucket(target.id)
        iot = AioIot(
            self.iot_clients[target.id],
            target.id.region,
            bucket,
            counter,
            RetryPolicy(max_attempts=self.client.max_attempts),
            guard=self.guard(bucket),
        )
        return Resolving(
            iot,
            self.resolution.nested_group_deployments,
            extra,
            self.resolution.upgrade_policy,
        )


async def collect_target(
    target: Target,
    api: AioGreengrass,
    state: ScanState,
    settings: Settings,
    clock: Callable[[], dt.datetime],
    session: Session,
    extra: tuple[VersionRef, ...] = (),
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
            state.cache(target.id),
            target=target.id,
            account=account,
            max_in_flight=settings.max_in_flight,
            clock=clock,
            resolving=state.resolving(target, api.counter, extra),
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
    extra: tuple[VersionRef, ...] = (),
) -> ScanResult:
    """Scan every target once and assess the fleet. `extra`: versions each target reads as if
    a deployment in force named them (their recipes and guidance), for `ggwatch preflight`."""
    state = state or ScanState.new(settings)
    session = session or new_session()
    targets = (await discover(settings, session)).strict()
    started = time.monotonic()
    found: dict[TargetId, TargetSnapshot] = {}
    sessions = target_sessions(targets, session, settings)
    options = client_options(settings)
    async with (
        greengrass_clients(targets, sessions, **options) as clients,
        iot_clients(targets, sessions, **options) as iot,
    ):
        state.iot_clients.update(iot)

        async def one(target: Target) -> None:
            api = state.api(target, clients[target.id])
            found[target.id] = await collect_target(
                target, api, state, settings, clock, sessions[target.id], extra
            )

        try:
            # Every target at once: each is paced by its own account and Region's buckets.
            async with anyio.create_task_group() as group:
                for target in targets:
                    group.start_soon(one, target)
        finally:
            for where in iot:  # closed with the block: no later pass may use them
                state.iot_clients.pop(where, None)

    snapshot = Snapshot(tuple(found[t.id] for t in targets))
    now = clock()
    assessment = assess(snapshot, settings.rules_config, now)
    return ScanResult(
        snapshot, assessment.findings, now, time.monotonic() - started, assessment.plans
    )


def client_options(settings: Settings) -> ClientOptions:
    """How the shell opens a target's clients (`greengrass_clients`, `iot_clients`)."""
    return ClientOptions(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        pool_size=settings.max_in_flight * 2,
    )


def deadline_floor(client: ClientSection, poll: PollSection) -> float:
    """The least time an automatic scan deadline allows: an interval, and never less than two
    calls that each take their whole timeout, so a slow endpoint is slow, not unreachable."""
    one_call = client.connect_timeout_seconds + client.read_timeout_seconds
    return max(poll.interval_seconds, 2 * one_call)
