"""The poller: one per target, a full scan every interval (sooner after a failure), and the
targeted refreshes that events ask for in between; it reports progress while a pass runs."""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import anyio
import structlog
from anyio.abc import ObjectSendStream

from ggwatch.aws.callguard import CallCounter
from ggwatch.aws.clients import (
    Session,
    Target,
)
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.events.mailbox import Batch, Mailbox
from ggwatch.inventory.cache import RegionCache
from ggwatch.inventory.refresh import refresh_devices
from ggwatch.model import TargetId, TargetSnapshot
from ggwatch.scan import ScanState, collect_target
from ggwatch.settings import PollSection, Settings

T = TypeVar("T")
RETRY_BASE_SECONDS = 5.0  # first wait after an incomplete scan; doubles up to the interval
PROGRESS_SECONDS = 10.0  # how often a pass under way reports its calls (and the view shows them)
NO_REQUESTS = Batch()


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


def next_delay(poll: PollSection, failures: int, rng: random.Random) -> float:
    """The wait before the next scan: the interval, or a shorter back-off after a failure."""
    base = poll.interval_seconds
    if failures:
        base = min(base, RETRY_BASE_SECONDS * 2 ** (failures - 1))
    return base * rng.uniform(1 - poll.jitter, 1 + poll.jitter)


@dataclass(frozen=True, slots=True)
class TargetPoller:
    """One target's poller: what it scans with, fixed for the life of the daemon."""

    target: Target
    client: Any
    session: Session
    settings: Settings
    state: ScanState
    clock: Callable[[], dt.datetime]
    # Told of the target's cache after every complete pass (the state file's writer).
    persist: Callable[[TargetId, str, RegionCache], None] | None = None

    def _saved(self, snapshot: TargetSnapshot) -> None:
        if self.persist is not None and snapshot.complete and snapshot.account is not None:
            self.persist(self.target.id, snapshot.account, self.state.cache(self.target.id))

    async def run(self, mailbox: Mailbox, send: ObjectSendStream[Message]) -> None:
        """Scan the target forever: every interval, sooner after a failure, and refresh what
        events ask for in between."""
        target, client, session = self.target, self.client, self.session
        settings, state, clock = self.settings, self.state, self.clock
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
                    await mailbox.settle(settings.events.coalesce_seconds)
                    batch = mailbox.take()
                    snapshot = None
                    known = {d.deployment_id for d in last.deployments}
                    # A deployment the last scan did not list changes what is latest for its
                    # target: only the listing says, so a full scan answers it.
                    if not batch.guidance and batch.deployments <= known:
                        api = state.api(target, client)
                        snapshot = await reporting(
                            target.id,
                            api.counter,
                            send,
                            _refresh(target, api, settings, state, last, batch, clock),
                        )
                    if snapshot is not None:
                        duration = anyio.current_time() - started
                        await send.send(
                            ScanOutcome(target.id, snapshot, duration, refresh=True, batch=batch)
                        )
                        last = snapshot
                        self._saved(snapshot)
                        if not snapshot.complete:
                            next_scan = anyio.current_time()  # a full scan sorts it out
                        continue
                    # A new deployment or device, a device gone, or new guidance: a full scan.
                    if batch.guidance:
                        state.cache(target.id).expire_guidance()
                    mailbox.put_back(batch)
                # Whatever was asked before the scan starts, the scan answers.
                batch = mailbox.take()
                api = state.api(target, client)
                snapshot = await reporting(
                    target.id,
                    api.counter,
                    send,
                    collect_target(target, api, state, settings, clock, session),
                )
                duration = anyio.current_time() - started
                await send.send(ScanOutcome(target.id, snapshot, duration, batch=batch))
                last = snapshot
                self._saved(snapshot)
                failures = 0 if snapshot.complete else failures + 1
                next_scan = anyio.current_time() + next_delay(settings.poll, failures, rng)


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
            state.cache(target.id),
            last,
            batch.things,
            max_in_flight=settings.max_in_flight,
            clock=clock,
            resolving=state.resolving(target, api.counter),
        )
    except Exception as exc:  # a bug or a payload nobody expected: the full scan still runs
        log = structlog.get_logger("ggwatch.poller")
        log.exception("refresh.crashed", target=str(target.id), error=type(exc).__name__)
        return None
