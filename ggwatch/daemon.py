"""`ggwatch run`: one task group owns every task of the daemon.

    SQS consumer (per queue) --requests--> mailbox (per target)
                                              |
    poller (one per account and Region) <-----+
        --snapshots--> evaluator --finding events--> log sink
                           |
                           +--> StateHolder <-- HTTP (/metrics, /, health)

Stages talk over bounded memory object streams. A poller scans its target every interval, and
sooner when events ask: a targeted refresh of the devices they name, or of the guidance in use.
A poller that meets an AWS failure reports an incomplete snapshot and backs off; nothing it
meets stops the daemon or the other targets, and an incomplete scan resolves no finding it
could not re-check. SIGTERM or SIGINT cancels the group; the HTTP server is cleaned up under a
shielded timeout, and the process exits 0.
"""

from __future__ import annotations

import datetime as dt
import random
import signal
import sys
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, replace
from functools import partial
from typing import Any, TypeVar

import anyio
import structlog
from anyio.abc import ObjectReceiveStream, ObjectSendStream
from anyio.streams.memory import MemoryObjectSendStream
from prometheus_client import CollectorRegistry

from ggwatch import __version__
from ggwatch.aws.archive import Archive, archive_from_uri
from ggwatch.aws.clients import (
    Session,
    Target,
    default_region,
    greengrass_clients,
    new_session,
    target_sessions,
    targets_to_watch,
)
from ggwatch.aws.greengrass import AioGreengrass, CallCounter, RetryPolicy
from ggwatch.aws.queue import Consumer, QueueStats, Router, sqs_client, sqs_config
from ggwatch.cleanup.executor import Cleaner, CleanupJob, clean
from ggwatch.cleanup.policy import Policy
from ggwatch.errors import ArchiveError, ConfigError
from ggwatch.findings import Finding, Rule, Severity
from ggwatch.http import HttpLimits, serve_http
from ggwatch.inventory import refresh_devices
from ggwatch.model import Snapshot, TargetId, TargetSnapshot
from ggwatch.refresh import Ack, Batch, Mailbox
from ggwatch.rules import evaluate
from ggwatch.scan import ScanState, collect_target, utcnow
from ggwatch.settings import Settings
from ggwatch.sinks.events import log_events
from ggwatch.sinks.metrics import register_collector
from ggwatch.state import ApiCalls, DaemonView, StateHolder, TargetStatus
from ggwatch.tracker import EventKind, FindingEvent, Key, OpenFinding, diff
from ggwatch.triggers import Kind, Trigger
from ggwatch.webhook import AlertmanagerWebhook

T = TypeVar("T")
RETRY_BASE_SECONDS = 5.0  # first wait after an incomplete scan; doubles up to the interval
PROGRESS_SECONDS = 10.0  # how often a pass under way reports its calls (and the view shows them)
NO_REQUESTS = Batch()
EVENT_BUFFER = 1024  # finding events in flight to the log sink; the evaluator waits beyond


def publisher(cleaner: Cleaner, holder: StateHolder) -> Callable[[], None]:
    def publish() -> None:
        # Read-modify-write with no await in between: the evaluator's writes cannot interleave.
        counts = tuple(sorted(cleaner.counts.items()))
        holder.view = replace(holder.view, cleanup_actions=counts)

    return publish


def queue_publisher(stats: QueueStats, holder: StateHolder) -> Callable[[], None]:
    def publish() -> None:
        counts = (*sorted(stats.messages.items()), ("receive_errors", stats.receive_errors))
        holder.view = replace(holder.view, event_messages=counts)

    return publish


@dataclass(frozen=True, slots=True)
class ScanOutcome:
    target: TargetId
    snapshot: TargetSnapshot
    duration_seconds: float
    refresh: bool = False  # a targeted refresh that events asked for, not a scan
    batch: Batch = NO_REQUESTS  # the requests it answers, resolved once it is evaluated


@dataclass(frozen=True, slots=True)
class Progress:
    """A pass under way: the calls it has made so far (counted by the adapter), sent every
    PROGRESS_SECONDS, so request counters and liveness move during a long scan."""

    target: TargetId
    calls: tuple[tuple[str, str, int], ...]  # (operation, outcome, attempts)

    @property
    def attempts(self) -> int:
        return sum(n for _, _, n in self.calls)


Message = ScanOutcome | Progress


def next_delay(settings: Settings, failures: int, rng: random.Random) -> float:
    """The wait before the next scan: the interval, or a shorter back-off after a failure."""
    base = settings.poll_interval_seconds
    if failures:
        base = min(base, RETRY_BASE_SECONDS * 2 ** (failures - 1))
    return base * rng.uniform(1 - settings.poll_jitter, 1 + settings.poll_jitter)


async def poll(
    target: Target,
    client: Any,
    session: Session,
    settings: Settings,
    state: ScanState,
    mailbox: Mailbox,
    send: ObjectSendStream[Message],
    clock: Callable[[], dt.datetime],
) -> None:
    """Scan one target forever: every interval, sooner after a failure, and refresh what
    events ask for in between."""
    rng = random.Random()
    failures = 0
    last: TargetSnapshot | None = None
    next_scan = anyio.current_time()
    async with send:
        while True:
            # Events can only refresh a target whose last pass was complete; otherwise the
            # scan (or its retry after a failure) comes first.
            refreshable = last is not None and last.complete
            with anyio.move_on_after(max(0.0, next_scan - anyio.current_time())):
                await (mailbox.wait() if refreshable else anyio.sleep_forever())
            started = anyio.current_time()
            if started < next_scan and last is not None:
                await mailbox.settle(settings.events_coalesce_seconds)
                batch = mailbox.take()
                snapshot = None
                known = {d.deployment_id for d in last.deployments}
                # A deployment the last scan did not list changes what is latest for its
                # target: only the listing says, so a full scan answers it.
                if not batch.guidance and batch.deployments <= known:
                    api = state.api(target, client, settings)
                    snapshot = await reporting(
                        target.id,
                        api.counter,
                        send,
                        _refresh(target, api, settings, state, last, batch, clock),
                    )
                if snapshot is not None:
                    duration = anyio.current_time() - started
                    await send.send(ScanOutcome(target.id, snapshot, duration, True, batch))
                    last = snapshot
                    if not snapshot.complete:
                        next_scan = anyio.current_time()  # a full scan sorts it out
                    continue
                # A new deployment or device, a device gone, or new guidance: a full scan.
                if batch.guidance:
                    state.cache(target.id, settings).expire_guidance()
                mailbox.put_back(batch)
            # Whatever was asked before the scan starts, the scan answers.
            batch = mailbox.take()
            api = state.api(target, client, settings)
            snapshot = await reporting(
                target.id,
                api.counter,
                send,
                collect_target(target, api, state, settings, clock, session),
            )
            duration = anyio.current_time() - started
            await send.send(ScanOutcome(target.id, snapshot, duration, False, batch))
            last = snapshot
            failures = 0 if snapshot.complete else failures + 1
            next_scan = anyio.current_time() + next_delay(settings, failures, rng)


async def reporting(
    target: TargetId, counter: CallCounter, send: ObjectSendStream[Message], work: Awaitable[T]
) -> T:
    """Await `work` (one pass), telling the evaluator its calls every PROGRESS_SECONDS."""

    async def tick() -> None:
        while True:
            await anyio.sleep(PROGRESS_SECONDS)
            calls = tuple((op, out, n) for (op, out), n in sorted(counter.counts.items()))
            await send.send(Progress(target, calls))

    async with anyio.create_task_group() as group:
        group.start_soon(tick)
        result = await work
        group.cancel_scope.cancel()
    return result


async def _refresh(
    target: Target,
    api: AioGreengrass,
    settings: Settings,
    state: ScanState,
    last: TargetSnapshot,
    batch: Batch,
    clock: Callable[[], dt.datetime],
) -> TargetSnapshot | None:
    """The targeted refresh of the devices `batch` names; None when a full scan must answer."""
    try:
        return await refresh_devices(
            api,
            api.counter,
            state.cache(target.id, settings),
            last,
            batch.things,
            max_in_flight=settings.max_in_flight,
            clock=clock,
        )
    except Exception as exc:  # a bug or a payload nobody expected: the full scan still runs
        log = structlog.get_logger("ggwatch.poller")
        log.exception("refresh.crashed", target=str(target.id), error=type(exc).__name__)
        return None


class Evaluator:
    """Folds scan outcomes into the open findings, the daemon view and finding events."""

    def __init__(
        self,
        settings: Settings,
        holder: StateHolder,
        events: ObjectSendStream[tuple[FindingEvent, bool]],
        clock: Callable[[], dt.datetime],
        cleanup: MemoryObjectSendStream[CleanupJob] | None = None,
        cleanup_calls: Mapping[TargetId, CallCounter] | None = None,
    ) -> None:
        self.cleanup = cleanup
        self.cleanup_calls = cleanup_calls or {}
        self.settings = settings
        self.holder = holder
        self.events = events
        self.clock = clock
        self.config = settings.rules_config
        self.latest: dict[TargetId, TargetSnapshot] = {}
        # Each target's findings as of its own last pass: rules look at one target at a time,
        # so a pass re-evaluates only its target (not every target, once per target's pass).
        self.found: dict[TargetId, tuple[Finding, ...]] = {}
        self.open: dict[Key, OpenFinding] = {}
        self.calls: Counter[tuple[TargetId, str, str]] = Counter()
        # Calls of passes under way, by target (their last Progress), until their outcome.
        self.inflight: dict[TargetId, tuple[tuple[str, str, int], ...]] = {}
        self.published = anyio.current_time()
        self.log = structlog.get_logger("ggwatch.evaluator")

    async def run(self, messages: ObjectReceiveStream[Message]) -> None:
        async with messages, self.events:
            async for message in messages:
                if isinstance(message, Progress):
                    self.progress(message)
                else:
                    await self.fold(message)

    def progress(self, message: Progress) -> None:
        """A pass under way made calls: liveness moves; the view shows them, at most once per
        PROGRESS_SECONDS whatever the number of targets (each view is rendered anew)."""
        before = sum(n for _, _, n in self.inflight.get(message.target, ()))
        self.inflight[message.target] = message.calls
        now = anyio.current_time()
        if message.attempts > before:
            self.holder.last_progress_monotonic = now
        if now - self.published >= PROGRESS_SECONDS:
            view = self.holder.view
            self.holder.view = replace(view, api_calls=self._calls(view))
            self.published = now

    async def fold(self, outcome: ScanOutcome) -> None:
        where, snapshot = outcome.target, outcome.snapshot
        before = self.holder.view.target(where)
        first_complete = snapshot.complete and before.last_success is None
        self._log_state_change(before, snapshot)
        for call in snapshot.calls:
            self.calls[(where, call.operation, call.outcome)] += call.count
        self.inflight.pop(where, None)  # now in snapshot.calls
        self.latest[where] = snapshot
        now = self.clock()
        self.found[where] = evaluate(Snapshot((snapshot,)), self.config, now)
        found = [f for target in sorted(self.found) for f in self.found[target]]
        rechecked = {t for t, s in self.latest.items() if s.complete}
        result = diff(self.open, found, rechecked, now)
        self.open = dict(result.open)
        # A target's findings up to its first complete scan are what was already true before
        # this process started: one summary for them instead of an event each.
        not_yet = {t.target for t in self.holder.view.targets if t.last_success is None}
        status = self._status(before, outcome)
        self.holder.view = self._view(status)
        self.holder.last_progress_monotonic = self.published = anyio.current_time()
        if first_complete:
            self._log_summary(where)
        for event in result.events:
            initial = event.kind is EventKind.OPENED and event.finding.target in not_yet
            await self.events.send((event, initial))
        # The events that asked for this pass may now be deleted from their queue.
        outcome.batch.resolve(snapshot.complete)
        # Cleanup acts on full scans only: a refresh re-reads devices, not deployments.
        if self.cleanup is not None and snapshot.complete and not outcome.refresh:
            job = CleanupJob(snapshot, tuple(self.open.values()))
            try:
                self.cleanup.send_nowait(job)
            except anyio.WouldBlock:
                # The cleaner is still busy with this target's last job; the next scan brings
                # a fresher one. Nothing is lost: candidates stay open findings.
                self.log.debug("cleanup.busy", **_fields(where))
        self.log.info(
            "refresh.completed" if outcome.refresh else "scan.completed",
            **_fields(where, snapshot.account),
            complete=snapshot.complete,
            duration_seconds=round(outcome.duration_seconds, 3),
            api_calls=snapshot.api_calls,
            throttled_calls=snapshot.throttled_calls,
            open_findings=sum(1 for f in self.open.values() if f.finding.target == where),
        )

    def _status(self, before: TargetStatus, outcome: ScanOutcome) -> TargetStatus:
        snapshot = outcome.snapshot
        scanned = 0 if outcome.refresh else 1
        return replace(
            before,
            account=snapshot.account or before.account,
            scans=before.scans + scanned,
            refreshes=before.refreshes + (1 - scanned),
            failed_scans=before.failed_scans + (0 if snapshot.complete else 1),
            last_attempt=snapshot.finished,
            last_success=snapshot.finished if snapshot.complete else before.last_success,
            last_duration_seconds=(
                before.last_duration_seconds if outcome.refresh else outcome.duration_seconds
            ),
            complete=snapshot.complete,
            errors=snapshot.errors,
            snapshot=snapshot,
            complete_snapshot=snapshot if snapshot.complete else before.complete_snapshot,
        )

    def _view(self, status: TargetStatus) -> DaemonView:
        view = self.holder.view.with_target(status)
        findings = tuple(sorted((o.finding for o in self.open.values()), key=lambda f: f.sort_key))
        return replace(
            view, findings=findings, api_calls=self._calls(view), evaluations=view.evaluations + 1
        )

    def _calls(self, view: DaemonView) -> tuple[ApiCalls, ...]:
        """Every call since start: finished passes, passes under way and the cleaner's."""
        accounts = {t.target: t.account for t in view.targets}
        totals = Counter(self.calls)
        for where, inflight in self.inflight.items():
            for operation, outcome, count in inflight:
                totals[(where, operation, outcome)] += count
        for where, counter in self.cleanup_calls.items():
            for (operation, outcome), count in counter.counts.items():
                totals[(where, operation, outcome)] += count
        return tuple(
            ApiCalls(where.region, accounts.get(where), operation, outcome, count, where.alias)
            for (where, operation, outcome), count in sorted(totals.items())
        )

    def _log_state_change(self, before: TargetStatus, snapshot: TargetSnapshot) -> None:
        where = _fields(snapshot.target, snapshot.account or before.account)
        if not snapshot.complete and before.complete is not False:
            first = snapshot.errors[0] if snapshot.errors else None
            self.log.warning(
                "scan.incomplete",
                **where,
                errors=len(snapshot.errors),
                operation=first.operation if first else None,
                error_code=first.code if first else None,
                error=first.message if first else None,
            )
        elif snapshot.complete and before.complete is False:
            self.log.info("scan.recovered", **where)

    def _log_summary(self, target: TargetId) -> None:
        mine = [o.finding for o in self.open.values() if o.finding.target == target]
        by_severity = {s.value: sum(f.severity is s for f in mine) for s in Severity}
        by_rule = {r.value: n for r in Rule if (n := sum(f.rule is r for f in mine))}
        self.log.info(
            "findings.summary",
            **_fields(target),
            open_findings=len(mine),
            by_severity=by_severity,
            by_rule=by_rule,
        )


def _fields(target: TargetId, account: str | None = None) -> dict[str, str | None]:
    """How logs name a target."""
    fields = {"account_alias": target.alias, "aws_region": target.region}
    return {**fields, "aws_account_id": account} if account else dict(fields)


def initial_view(settings: Settings, targets: tuple[Target, ...], now: dt.datetime) -> DaemonView:
    config = settings.rules_config
    return DaemonView(
        started_at=now,
        targets=tuple(
            TargetStatus(region=t.id.region, account=t.account_id, alias=t.id.alias)
            for t in targets
        ),
        severities=tuple((rule, config.severity(rule)) for rule in Rule if config.enabled(rule)),
    )


def http_limits(settings: Settings) -> HttpLimits:
    return HttpLimits(
        max_connections=settings.http_max_connections,
        idle_timeout_seconds=settings.http_idle_timeout_seconds,
        send_timeout_seconds=settings.http_send_timeout_seconds,
        body_timeout_seconds=settings.http_body_timeout_seconds,
    )


def webhook(settings: Settings, cleaner: Cleaner | None) -> AlertmanagerWebhook | None:
    """POST /alertmanager exists only when a token is configured."""
    if settings.webhook_token is None:
        return None
    return AlertmanagerWebhook(
        settings.webhook_token.get_secret_value(),
        cleaner,
        deadline_seconds=settings.webhook_deadline_seconds,
        body_timeout_seconds=settings.http_body_timeout_seconds,
    )


def cleanup_policy(settings: Settings) -> Policy:
    return Policy(
        stale_after_days=settings.stale_after_days,
        grace_seconds=settings.cleanup_grace_seconds,
        max_percent=settings.cleanup_max_percent,
        max_per_cycle=settings.cleanup_max_per_cycle,
        exclude_target_arns=settings.cleanup_exclude_target_arns,
        exclude_deployment_names=settings.cleanup_exclude_deployment_names,
    )


async def _probe(archive: Archive, mode: str) -> None:
    """Refuse enforce with an archive that cannot take records, rather than warn every cycle."""
    try:
        where = await archive.probe()
    except ArchiveError as exc:
        if mode == "enforce":
            raise ConfigError(
                f"cleanup_mode enforce: the archive cannot take records: {exc}"
            ) from None
        structlog.get_logger("ggwatch.cleanup").warning(
            "cleanup.archive_unusable", reason=str(exc), mode=mode
        )
        return
    structlog.get_logger("ggwatch.cleanup").info("cleanup.archive_ready", archive=where)


async def _cleaner(
    settings: Settings,
    clients: Mapping[TargetId, Any],
    state: ScanState,
    session: Session,
    stack: AsyncExitStack,
    clock: Callable[[], dt.datetime],
    stopping: anyio.Event,
) -> tuple[Cleaner | None, dict[TargetId, CallCounter]]:
    """The cleaner when cleanup is on, with its own call counters and the shared budgets."""
    if settings.cleanup_mode == "off":
        return None, {}
    archive = None
    if settings.archive_uri is not None:
        archive = await stack.enter_async_context(
            archive_from_uri(
                settings.archive_uri,
                session,
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
            )
        )
        await _probe(archive, settings.cleanup_mode)
    counters = {where: CallCounter() for where in clients}
    policy = RetryPolicy(max_attempts=settings.max_attempts)
    admins = {
        where: AioGreengrass(
            client, where.region, state.bucket(where, settings), counters[where], policy
        )
        for where, client in clients.items()
    }
    cleaner = Cleaner(
        settings.cleanup_mode,
        cleanup_policy(settings),
        admins,
        archive,
        settings.cleanup_rate_per_second,
        clock,
        on_scan=settings.cleanup_on_scan,
        stopping=stopping,
    )
    verb = "WILL DELETE" if settings.cleanup_mode == "enforce" else "would delete (dry run)"
    structlog.get_logger("ggwatch.cleanup").warning(
        "cleanup.enabled",
        banner=f"*** CLEANUP {settings.cleanup_mode.upper()}: ggwatch {verb} stale deployments ***",
        mode=settings.cleanup_mode,
        archive=settings.archive_uri,
        grace_seconds=settings.cleanup_grace_seconds,
        stale_after_days=settings.stale_after_days,
        max_percent=settings.cleanup_max_percent,
        max_per_cycle=settings.cleanup_max_per_cycle,
        rate_per_second=settings.cleanup_rate_per_second,
        on_scan=settings.cleanup_on_scan,
        exclude_target_arns=list(settings.cleanup_exclude_target_arns),
        exclude_deployment_names=list(settings.cleanup_exclude_deployment_names),
        retain_tag="ggwatch:retain=true",
    )
    return cleaner, counters


def router(
    targets: tuple[Target, ...], mailboxes: Mapping[TargetId, Mailbox], holder: StateHolder
) -> Router:
    """Post a trigger to the targets it names: its Region, and its account when that is known
    (the SDK's own account is known from the first scan on)."""

    def route(trigger: Trigger) -> list[Ack]:
        acks = []
        for target in targets:
            if target.id.region != trigger.region:
                continue
            account = holder.view.target(target.id).account or target.account_id
            if account is not None and account != trigger.account:
                continue
            things = (trigger.thing,) if trigger.thing is not None else ()
            deployments = (trigger.deployment_id,) if trigger.deployment_id is not None else ()
            mailbox = mailboxes[target.id]
            acks.append(
                mailbox.post(
                    things, deployments=deployments, guidance=trigger.kind is Kind.GUIDANCE
                )
            )
        return acks

    return route


async def _queues(
    settings: Settings, session: Session, targets: tuple[Target, ...], stack: AsyncExitStack
) -> dict[str, Any]:
    """An SQS client per events queue, with the SDK's own credentials (the queue is the
    monitoring account's); the Region comes from the queue's URL."""
    if not settings.events_queue_url:
        return {}
    try:
        fallback = default_region(session)
    except ConfigError:
        fallback = targets[0].id.region
    config = sqs_config(settings.connect_timeout_seconds, settings.events_wait_seconds)
    return {
        url: await stack.enter_async_context(sqs_client(session, url, fallback, config))
        for url in settings.events_queue_url
    }


# SIGHUP too: a daemon has no configuration to reload (settings are built once), and a closed
# terminal or a supervisor's hang-up means stop, gracefully. SIGQUIT's default (a core dump,
# at once) would cut an in-flight delete short.
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
# Their default is to end the process at once; nothing here uses them, so they are logged.
IGNORED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


async def watch_signals(scope: anyio.CancelScope, stopping: anyio.Event) -> None:
    """Stop gracefully on STOP_SIGNALS: `stopping` bounds an in-flight delete, then the task
    group is cancelled."""
    log = structlog.get_logger("ggwatch.daemon")
    with anyio.open_signal_receiver(*STOP_SIGNALS, *IGNORED_SIGNALS) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum in IGNORED_SIGNALS:
                log.info("daemon.signal_ignored", signal=name)
                continue
            log.info("daemon.stopping", signal=name)
            stopping.set()
            scope.cancel()
            return


async def run(
    settings: Settings,
    *,
    session: Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT or until the caller cancels."""
    session = session or new_session()
    targets = targets_to_watch(settings, session)
    holder = StateHolder(initial_view(settings, targets, clock()))
    registry = CollectorRegistry(auto_describe=True)
    python = ".".join(map(str, sys.version_info[:3]))
    register_collector(registry, holder, settings.max_finding_series, __version__, python)
    state = ScanState.new()
    log = structlog.get_logger("ggwatch.daemon")
    sessions = target_sessions(targets, session, settings)
    async with AsyncExitStack() as stack:
        clients = await stack.enter_async_context(
            greengrass_clients(
                targets,
                sessions,
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
                pool_size=settings.max_in_flight * 2,
            )
        )
        queues = await _queues(settings, session, targets, stack)
        stopping = anyio.Event()
        cleaner, cleanup_calls = await _cleaner(
            settings, clients, state, session, stack, clock, stopping
        )
        holder.view = replace(
            holder.view, cleanup_mode=settings.cleanup_mode, events_queues=len(queues)
        )
        group = await stack.enter_async_context(anyio.create_task_group())
        http = partial(
            serve_http,
            holder,
            registry,
            settings.http_host,
            settings.http_port,
            poll_interval_seconds=settings.poll_interval_seconds,
            clock=anyio.current_time,  # the clock last_progress_monotonic is read on
            webhook=webhook(settings, cleaner),
            limits=http_limits(settings),
        )
        port = await group.start(http)
        log.info(
            "daemon.started",
            version=__version__,
            targets=[str(t.id) for t in targets],
            events_queues=len(queues),
            http=f"{settings.http_host}:{port}",
            poll_interval_seconds=settings.poll_interval_seconds,
            cleanup_mode=settings.cleanup_mode,
        )
        if on_ready is not None:
            on_ready(port)
        group.start_soon(watch_signals, group.cancel_scope, stopping)
        snapshots_send, snapshots_receive = anyio.create_memory_object_stream[Message](
            max_buffer_size=len(targets)
        )
        events_send, events_receive = anyio.create_memory_object_stream[tuple[FindingEvent, bool]](
            max_buffer_size=EVENT_BUFFER
        )
        jobs_send: MemoryObjectSendStream[CleanupJob] | None = None
        if cleaner is not None:
            jobs_send, jobs_receive = anyio.create_memory_object_stream[CleanupJob](
                max_buffer_size=len(targets)
            )
            cleaner.on_count = publisher(cleaner, holder)
            group.start_soon(clean, cleaner, jobs_receive)
        evaluator = Evaluator(settings, holder, events_send, clock, jobs_send, cleanup_calls)
        group.start_soon(log_events, events_receive)
        group.start_soon(evaluator.run, snapshots_receive)
        mailboxes = {t.id: Mailbox() for t in targets}
        stats = QueueStats.new()
        route = router(targets, mailboxes, holder)
        for url, client in queues.items():
            consumer = Consumer(
                url,
                client,
                route,
                wait_seconds=settings.events_wait_seconds,
                stats=stats,
                on_count=queue_publisher(stats, holder),
            )
            group.start_soon(consumer.run)
        async with snapshots_send:
            for target in targets:
                group.start_soon(
                    poll,
                    target,
                    clients[target.id],
                    sessions[target.id],
                    settings,
                    state,
                    mailboxes[target.id],
                    snapshots_send.clone(),
                    clock,
                )
    log.info("daemon.stopped")
