"""`ggwatch run`: one task group owns every task of the daemon.

    SQS consumer (per queue) --requests--> mailbox (per target)
                                              |
    poller (one per account and Region) <-----+
        --snapshots--> evaluator --finding events--> each finding sink (SINKS)
                           |
                           +--> StateHolder <-- HTTP (/metrics, /, health)
                           +--> cleaner (complete scans)

Stages talk over bounded memory object streams. A poller scans its target every interval, and
sooner when events ask: a targeted refresh of the devices they name, or of the guidance in use.
A poller that meets an AWS failure reports an incomplete snapshot and backs off; nothing it
meets stops the daemon or the other targets, and an incomplete scan resolves no finding it
could not re-check. With total_shards > 1 the daemon is one replica of several: it polls,
cleans and answers webhooks only for the targets its shard owns (ggwatch.shards), and leaves
the others' events on the queue for them. SIGTERM or SIGINT cancels the group; the HTTP server
is cleaned up under a shielded timeout, and the process exits 0.
"""

from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import replace

import anyio
import structlog
from anyio.streams.memory import MemoryObjectSendStream
from prometheus_client import CollectorRegistry

from ggwatch import __version__
from ggwatch.aws.clients import (
    Session,
    Target,
    greengrass_clients,
    iot_clients,
    new_session,
    target_sessions,
)
from ggwatch.aws.organization import discover
from ggwatch.aws.sqs import SqsQueue
from ggwatch.cleanup.executor import Cleaner, CleanupJob, clean
from ggwatch.cleanup.stage import cleaner_for
from ggwatch.daemon.evaluator import Evaluator, initial_view
from ggwatch.daemon.poller import Message, TargetPoller
from ggwatch.daemon.signals import watch_signals
from ggwatch.daemon.targets import announce, dynamic, rediscover
from ggwatch.events.consumer import Consumer, QueueStats
from ggwatch.events.mailbox import Mailbox
from ggwatch.events.stage import open_queues, router
from ggwatch.inventory.statefile import StateFile, StateWriter
from ggwatch.scan import ScanState, client_options, utcnow
from ggwatch.settings import HttpSection, Settings
from ggwatch.shards import Shard
from ggwatch.sinks import FindingSink
from ggwatch.sinks.finding_log import FindingLog
from ggwatch.sinks.metrics import register_collector
from ggwatch.state import StateHolder
from ggwatch.tracker import FindingEvent
from ggwatch.web.app import HttpLimits, build_app, serve_http
from ggwatch.web.webhook import AlertmanagerWebhook

EVENT_BUFFER = 1024  # finding events in flight to each sink; the evaluator waits beyond


def finding_sinks() -> tuple[FindingSink, ...]:
    """Where finding events go, each over its own stream. A new sink is one more entry."""
    return (FindingLog(),)


def publisher(cleaner: Cleaner, holder: StateHolder) -> Callable[[], None]:
    def publish() -> None:
        # Read-modify-write with no await in between: the evaluator's writes cannot interleave.
        counts = tuple(sorted(cleaner.counts.items()))
        holder.update(lambda view: replace(view, cleanup_actions=counts))

    return publish


def queue_publisher(stats: QueueStats, holder: StateHolder) -> Callable[[], None]:
    def publish() -> None:
        counts = (*sorted(stats.messages.items()), ("receive_errors", stats.receive_errors))
        holder.update(lambda view: replace(view, event_messages=counts))

    return publish


def http_limits(http: HttpSection) -> HttpLimits:
    return HttpLimits(
        max_connections=http.max_connections,
        idle_timeout_seconds=http.idle_timeout_seconds,
        send_timeout_seconds=http.send_timeout_seconds,
        body_timeout_seconds=http.body_timeout_seconds,
    )


def webhook(http: HttpSection, cleaner: Cleaner | None, shard: Shard) -> AlertmanagerWebhook | None:
    """POST /alertmanager exists only when a token is configured."""
    if http.webhook_token is None:
        return None
    return AlertmanagerWebhook(
        http.webhook_token.get_secret_value(),
        cleaner,
        deadline_seconds=http.webhook_deadline_seconds,
        body_timeout_seconds=http.body_timeout_seconds,
        shard=shard,
    )


async def _state_writer(
    settings: Settings,
    state: ScanState,
    targets: tuple[Target, ...],
    stack: AsyncExitStack,
    clock: Callable[[], dt.datetime],
) -> StateWriter | None:
    """The state file's one writer, with what it held handed to the scans; None when unset."""
    if settings.state_path is None:
        return None
    file = await StateFile.open(settings.state_path)
    stack.callback(file.close)
    owned = {t.id for t in targets}
    saved = await file.load()
    state.restored.update({where: row for where, row in saved.items() if where in owned})
    await file.forget(owned)  # targets no longer watched, or now another shard's
    return StateWriter(file, clock)


async def run(
    settings: Settings,
    *,
    session: Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
    on_ready: Callable[[int], None] | None = None,
) -> None:
    """Run until SIGTERM/SIGINT or until the caller cancels.

    With targets found rather than listed (targets_from: organization, regions: all), a
    change of the target set found on refresh restarts the stages in this process with the
    new set: the scan caches carry over, so the next pass reads only what changed.
    """
    session = session or new_session()
    log = structlog.get_logger("ggwatch.daemon")
    watched = announce(await discover(settings, session))
    state = ScanState.new(settings)
    started = clock()
    ports: list[int] = []
    while True:
        changed = await _watch(settings, session, watched, state, (clock, started), on_ready, ports)
        if changed is None:
            break
        watched = changed
        # The same port again, also when the settings said 0; ready was told once.
        settings = settings.model_copy(update={"http_port": ports[0]})
        on_ready = None
    log.info("daemon.stopped")


async def _watch(
    settings: Settings,
    session: Session,
    watched: tuple[Target, ...],
    state: ScanState,
    clocks: tuple[Callable[[], dt.datetime], dt.datetime],
    on_ready: Callable[[int], None] | None,
    ports: list[int],
) -> tuple[Target, ...] | None:
    """The stages over one set of targets: None when stopped, else the new set to watch.
    `clocks`: the clock and when the process started; `ports`: the port first bound."""
    clock, started = clocks
    shard = settings.sharding
    targets = tuple(t for t in watched if shard.owns(t.id))
    others = tuple(t for t in watched if not shard.owns(t.id))
    log = structlog.get_logger("ggwatch.daemon")
    sessions = target_sessions(targets, session, settings)
    found: list[tuple[Target, ...]] = []
    async with AsyncExitStack() as stack:
        options = client_options(settings)
        clients = await stack.enter_async_context(greengrass_clients(targets, sessions, **options))
        iot = await stack.enter_async_context(iot_clients(targets, sessions, **options))
        state.iot_clients.update(iot)
        stack.callback(lambda: [state.iot_clients.pop(where, None) for where in iot])
        queues = await open_queues(settings, session, watched, stack)
        writer = await _state_writer(settings, state, targets, stack, clock)
        stopping = anyio.Event()
        cleaner, cleanup_calls = await cleaner_for(
            settings, clients, state, session, stack, clock, stopping
        )
        holder = StateHolder(initial_view(settings, targets, started, len(queues)))
        registry = CollectorRegistry(auto_describe=True)
        python = ".".join(map(str, sys.version_info[:3]))
        register_collector(
            registry, holder, settings.max_finding_series, __version__, python, shard=shard
        )
        group = await stack.enter_async_context(anyio.create_task_group())
        http = settings.http
        app = build_app(
            holder,
            registry,
            poll_interval_seconds=settings.poll_interval_seconds,
            clock=anyio.current_time,  # the clock last_progress_monotonic is read on
            webhook=webhook(http, cleaner, shard),
            limits=http_limits(http),
        )
        port = await group.start(serve_http, app, http.host, http.port)
        if not ports:
            ports.append(port)
        if dynamic(settings):
            group.start_soon(
                rediscover, settings, session, watched, found, group.cancel_scope, stopping
            )
        log.info(
            "daemon.started",
            version=__version__,
            targets=[str(t.id) for t in targets],
            shard=shard.index,
            total_shards=shard.total,
            targets_elsewhere=len(others),
            events_queues=len(queues),
            http=f"{http.host}:{port}",
            poll_interval_seconds=settings.poll_interval_seconds,
            cleanup_mode=settings.cleanup_mode,
        )
        if on_ready is not None:
            on_ready(port)
        group.start_soon(watch_signals, group.cancel_scope, stopping)
        snapshots_send, snapshots_receive = anyio.create_memory_object_stream[Message](
            max_buffer_size=len(targets)
        )
        sinks: list[MemoryObjectSendStream[FindingEvent]] = []
        for sink in finding_sinks():
            send, receive = anyio.create_memory_object_stream[FindingEvent](EVENT_BUFFER)
            sinks.append(send)
            group.start_soon(sink.run, receive, name=f"sink:{sink.name}")
        jobs_send: MemoryObjectSendStream[CleanupJob] | None = None
        if cleaner is not None:
            jobs_send, jobs_receive = anyio.create_memory_object_stream[CleanupJob](
                max_buffer_size=len(targets)
            )
            cleaner.on_count = publisher(cleaner, holder)
            group.start_soon(clean, cleaner, jobs_receive)
        evaluator = Evaluator(settings, holder, tuple(sinks), clock, jobs_send, cleanup_calls)
        group.start_soon(evaluator.run, snapshots_receive)
        if writer is not None:
            group.start_soon(writer.run, name="state-writer")
        mailboxes = {t.id: Mailbox() for t in targets}
        stats = QueueStats.new()
        route = router(targets, mailboxes, holder, others)
        for url, client in queues.items():
            consumer = Consumer(
                SqsQueue(client, url),
                route,
                wait_seconds=settings.events.wait_seconds,
                stats=stats,
                on_count=queue_publisher(stats, holder),
            )
            group.start_soon(consumer.run)
        async with snapshots_send:
            for target in targets:
                poller = TargetPoller(
                    target,
                    clients[target.id],
                    sessions[target.id],
                    settings,
                    state,
                    clock,
                    writer.offer if writer is not None else None,
                )
                group.start_soon(poller.run, mailboxes[target.id], snapshots_send.clone())
    return found[0] if found else None
