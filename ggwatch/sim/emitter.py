"""Delivery of the simulated EventBridge events: the bounded outbox and the SQS sender.

The `Emitter` plays an EventBridge rule with an SQS target: the store and the control API
append envelopes (built by ggwatch.sim.eventbridge) to its bounded outbox (synchronous, never
blocking), and one sender task, owned by the aiohttp app's lifecycle, sends them with
SendMessageBatch; the message body is the event JSON, as a rule's SQS target delivers it.

EventBridge is best-effort, and so is this: a full outbox drops the event, a failed send loses
the batch. Both are counted and logged, neither stops the simulator.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
from collections import deque
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from aiohttp import web
from botocore.exceptions import BotoCoreError, ClientError

from ggwatch.sim.eventbridge import Event, check_queue_url, queue_region

# The name the simulator's event delivery has always logged under.
log = logging.getLogger("ggwatch.sim.events")

# SendMessageBatch takes at most 10 messages and 256 KiB in all.
BATCH_MESSAGES = 10
BATCH_BYTES = 256 * 1024
# Bounded waits: an unreachable endpoint must fail a batch, not hold the sender for a minute.
SQS_CONFIG = AioConfig(connect_timeout=5, read_timeout=10)
CLOSE_TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Target:
    """Where an event goes: fixed when it is emitted, as a rule's target is when it matches."""

    queue_url: str
    region: str


class Emitter:
    """The outbox, the record of recent events, the counters, and the one sender."""

    def __init__(
        self, queue_url: str | None = None, *, outbox_size: int = 10_000, keep: int = 1000
    ) -> None:
        if outbox_size < 1 or keep < 0:
            raise ValueError("outbox_size must be at least 1 and keep at least 0")
        self.outbox_size = outbox_size
        self.target: Target | None = None
        self.recent: deque[Event] = deque(maxlen=keep)
        self.emitted = 0
        self.sent = 0
        self.dropped = 0
        self.failed = 0
        self._outbox: asyncio.Queue[tuple[Target, Event]] = asyncio.Queue(outbox_size)
        self._dropping = False
        self._last_error: str | None = None
        self.set_queue(queue_url)

    def set_queue(self, queue_url: str | None) -> None:
        """Send later events to this queue (None: record them only)."""
        if queue_url is None:
            self.target = None
            return
        url = check_queue_url(queue_url)
        self.target = Target(url, queue_region(url, os.environ))

    def put(self, event: Event) -> None:
        """Record an event and queue it for sending; never blocks, drops when the outbox is full."""
        self.emitted += 1
        self.recent.append(event)
        if self.target is None:
            return
        try:
            self._outbox.put_nowait((self.target, event))
        except asyncio.QueueFull:
            self.dropped += 1
            if not self._dropping:  # once per run of drops, not once per event
                log.warning(
                    "events outbox full (%d): dropping events; dropped so far %d",
                    self.outbox_size,
                    self.dropped,
                )
            self._dropping = True
        else:
            self._dropping = False

    def public(self) -> dict[str, Any]:
        return {
            "queue_url": self.target.queue_url if self.target else None,
            "region": self.target.region if self.target else None,
            "emitted": self.emitted,
            "sent": self.sent,
            "dropped": self.dropped,
            "failed": self.failed,
            "events": list(self.recent),
        }

    async def sender(self, _app: web.Application) -> AsyncIterator[None]:
        """aiohttp cleanup context: the sender task lives exactly as long as the app."""
        # A fresh queue bound to this event loop, keeping what is waiting: an asyncio.Queue
        # binds to the loop of its first wait, and a simulator may be served more than once.
        waiting, self._outbox = self._outbox, asyncio.Queue(self.outbox_size)
        while not waiting.empty():
            self._outbox.put_nowait(waiting.get_nowait())
        task = asyncio.create_task(self._run(), name="ggwatch.sim.events.sender")
        try:
            yield
        finally:
            task.cancel()
            try:
                await task
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if current is not None and current.cancelling():
                    raise  # our own cleanup was cancelled too: let that through

    async def _run(self) -> None:
        session = get_session()
        connection = _Connection(session)
        held: tuple[Target, Event] | None = None
        try:
            while True:
                first = held or await self._outbox.get()
                target, bodies, held = self._batch(first)
                await self._send(connection, target, bodies)
        finally:
            # Awaited once and bounded, even while the task is being cancelled; a client that
            # will not close in time is left to the garbage collector, not allowed to hang.
            try:
                async with asyncio.timeout(CLOSE_TIMEOUT_S):
                    await connection.close()
            except TimeoutError:
                log.warning("SQS client not closed within %.0f s", CLOSE_TIMEOUT_S)

    def _batch(
        self, first: tuple[Target, Event]
    ) -> tuple[Target, list[str], tuple[Target, Event] | None]:
        """Up to 10 waiting events for the same target and within the size limit.

        Answers the batch's bodies and the first event that did not fit, if one was taken.
        """
        target = first[0]
        bodies = [json.dumps(first[1])]
        size = len(bodies[0].encode())
        while len(bodies) < BATCH_MESSAGES and not self._outbox.empty():
            item = self._outbox.get_nowait()
            body = json.dumps(item[1])
            if item[0] != target or size + len(body.encode()) > BATCH_BYTES:
                return target, bodies, item
            bodies.append(body)
            size += len(body.encode())
        return target, bodies, None

    async def _send(self, connection: _Connection, target: Target, bodies: list[str]) -> None:
        entries = [{"Id": str(i), "MessageBody": body} for i, body in enumerate(bodies)]
        try:
            client = await connection.client(target)
            answer = await client.send_message_batch(QueueUrl=target.queue_url, Entries=entries)
        except (BotoCoreError, ClientError) as exc:
            self._failure(len(bodies), target, _describe(exc))
            return
        except Exception:
            # Not an AWS or network error, so a bug; one lost batch must not stop the sender.
            log.exception("events batch to %s failed unexpectedly", target.queue_url)
            self.failed += len(bodies)
            return
        failed = answer.get("Failed", [])
        self.sent += len(answer.get("Successful", []))
        if failed:
            first = failed[0]
            self._failure(len(failed), target, f"{first.get('Code')}: {first.get('Message')}")
            return
        if self._last_error is not None:
            log.info("events delivered to %s again", target.queue_url)
            self._last_error = None

    def _failure(self, count: int, target: Target, error: str) -> None:
        self.failed += count
        if error != self._last_error:  # once per distinct error, not once per batch
            log.warning(
                "events not delivered to %s: %s; failed so far %d",
                target.queue_url,
                error,
                self.failed,
            )
        self._last_error = error


class _Connection:
    """One SQS client, for the target being sent to; replaced when the target changes."""

    def __init__(self, session: Any) -> None:
        self._session = session
        self._target: Target | None = None
        self._client: Any = None
        self._stack = AsyncExitStack()

    async def client(self, target: Target) -> Any:
        if self._client is None or target != self._target:
            await self.close()
            # Endpoint and credentials come from the standard AWS settings, as for any client
            # (AWS_ENDPOINT_URL_SQS, AWS_ACCESS_KEY_ID, AWS_MAX_ATTEMPTS, ...).
            client = self._session.create_client(
                "sqs", region_name=target.region, config=SQS_CONFIG
            )
            self._client = await self._stack.enter_async_context(client)
            self._target = target
        return self._client

    async def close(self) -> None:
        self._client = self._target = None
        stack, self._stack = self._stack, AsyncExitStack()
        await stack.aclose()


def _describe(exc: BotoCoreError | ClientError) -> str:
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return f"{error.get('Code', 'Unknown')}: {error.get('Message', '')}"
    return f"{type(exc).__name__}: {exc}"
