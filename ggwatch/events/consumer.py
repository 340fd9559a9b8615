"""The events consumer: long-poll an SQS queue that EventBridge feeds, trigger refreshes.

Each message is parsed (ggwatch.events.triggers) and routed to the mailbox of every target it names;
the consumer keeps receiving while refreshes run, so a burst coalesces into one refresh per
target. A message is deleted only once the refresh that answered it was evaluated complete;
one for a target another replica owns (ggwatch.shards) is made visible again at once, for the
owner to receive; one that is no replica's is deleted at once; a malformed one is logged once
and left alone, for
the queue's redrive policy to move to the dead-letter queue. Receiving fails? The consumer
says so once, backs off and tries again; polling carries on regardless. The SQS calls
themselves, and their errors, are ggwatch.aws.sqs's.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import anyio
import structlog

from ggwatch.aws.sqs import Message, SqsQueue
from ggwatch.errors import AWSError
from ggwatch.events.mailbox import Ack
from ggwatch.events.triggers import Malformed, Trigger, parse

MAX_WAITING_BATCHES = 100  # received batches whose refreshes are still running (<= 1,000 msgs)
ACK_TIMEOUT = 900.0  # seconds a batch waits for its refreshes; then SQS redelivers it
RECEIVE_BACKOFF = (5.0, 60.0)  # first and longest wait after a failed ReceiveMessage
MALFORMED_MEMORY = 10_000  # message ids whose malformation was logged
# While a message's refresh is pending, its visibility is extended every HEARTBEAT seconds to
# EXTEND_TO seconds from then, so a refresh that outlasts the queue's visibility timeout (a full
# scan of a big fleet) does not get the message redelivered, and counted towards the redrive.
HEARTBEAT = 30.0
EXTEND_TO = 90


class Elsewhere:
    """A router's answer for a trigger that names only targets other replicas own."""


ELSEWHERE = Elsewhere()
Router = Callable[[Trigger], Sequence[Ack] | Elsewhere]


@dataclass
class QueueStats:
    """Messages by outcome, and failed ReceiveMessage calls, since start."""

    messages: Counter[str]
    receive_errors: int = 0

    @classmethod
    def new(cls) -> QueueStats:
        return cls(Counter())


class Consumer:
    def __init__(
        self,
        queue: SqsQueue,
        route: Router,
        *,
        wait_seconds: int,
        stats: QueueStats,
        on_count: Callable[[], None] = lambda: None,
        heartbeat: float = HEARTBEAT,
        extend_to: int = EXTEND_TO,
    ) -> None:
        self.heartbeat = heartbeat
        self.extend_to = extend_to
        self.url = url = queue.url
        self.queue = queue
        self.route = route
        self.wait_seconds = wait_seconds
        self.stats = stats
        self.on_count = on_count
        self.log = structlog.get_logger("ggwatch.events").bind(queue=url)
        self._malformed: OrderedDict[str, None] = OrderedDict()
        self._slots = anyio.Semaphore(MAX_WAITING_BATCHES)

    def _count(self, outcome: str, n: int = 1) -> None:
        if n:
            self.stats.messages[outcome] += n
            self.on_count()

    async def run(self) -> None:
        failures = 0
        async with anyio.create_task_group() as group:
            while True:
                try:
                    messages = await self.queue.receive(self.wait_seconds)
                except AWSError as error:
                    self.stats.receive_errors += 1
                    self.on_count()
                    if not failures:
                        self.log.warning(
                            "events.unavailable", error_code=error.code, error=error.message
                        )
                    failures += 1
                    first, longest = RECEIVE_BACKOFF
                    await anyio.sleep(min(longest, first * 2 ** (failures - 1)))
                    continue
                if failures:
                    self.log.info("events.recovered")
                    failures = 0
                if messages:
                    await self._slots.acquire()
                    group.start_soon(self._handle, messages)

    async def _handle(self, messages: list[Message]) -> None:
        try:
            done: list[Message] = []
            released: list[Message] = []
            waiting: list[tuple[Message, Sequence[Ack]]] = []
            for message in messages:
                acks = self._triggered(message)
                if acks is None:
                    continue  # malformed: left for the redrive policy
                if isinstance(acks, Elsewhere):
                    released.append(message)
                elif acks:
                    waiting.append((message, acks))
                else:
                    done.append(message)
            self._count("ignored", len(done))
            await self._release(released)
            with anyio.move_on_after(ACK_TIMEOUT):
                async with anyio.create_task_group() as group:
                    if waiting:
                        group.start_soon(self._keep_invisible, [m for m, _ in waiting])
                    for message, acks in waiting:
                        if all([await ack.wait() for ack in acks]):
                            done.append(message)
                            self._count("refreshed")
                        else:
                            self._count("failed")  # redelivered after the visibility timeout
                    group.cancel_scope.cancel()
            await self._delete(done)
        finally:
            self._slots.release()

    def _triggered(self, message: Message) -> Sequence[Ack] | Elsewhere | None:
        """The acks of the refreshes a message posted; () if no replica's; ELSEWHERE if
        another replica's; None if malformed."""
        message_id = message.message_id
        try:
            trigger = parse(message.body)
        except Malformed as exc:
            self._count("malformed")
            if message_id not in self._malformed:
                self.log.warning("events.malformed", message_id=message_id, reason=str(exc))
                self._malformed[message_id] = None
                while len(self._malformed) > MALFORMED_MEMORY:
                    self._malformed.popitem(last=False)
            return None
        if trigger is None:
            return ()
        acks = self.route(trigger)
        if isinstance(acks, Elsewhere):
            return acks
        self.log.debug(
            "events.trigger",
            kind=trigger.kind.value,
            aws_account_id=trigger.account,
            aws_region=trigger.region,
            thing=trigger.thing,
            deployment_id=trigger.deployment_id,
            targets=len(acks),
        )
        return acks

    async def _release(self, messages: list[Message]) -> None:
        """Visible again now: the replica that owns the target receives it next. Its receive
        count grows each time, so a message no live replica owns reaches the dead-letter queue
        after maxReceiveCount, as a failed one does."""
        if not messages:
            return
        self._count("elsewhere", len(messages))
        try:
            await self.queue.extend(messages, 0)
        except AWSError as error:
            # Visible again after the visibility timeout instead.
            self.log.debug("events.release_failed", error_code=error.code)

    async def _keep_invisible(self, messages: list[Message]) -> None:
        while True:
            await anyio.sleep(self.heartbeat)
            try:
                await self.queue.extend(messages, self.extend_to)
            except AWSError as error:
                # Redelivered, then: a duplicate trigger is harmless.
                self.log.debug("events.extend_failed", error_code=error.code)

    async def _delete(self, messages: list[Message]) -> None:
        if not messages:
            return
        try:
            failed = await self.queue.delete(messages)
        except AWSError as error:
            # Redelivered later: a duplicate trigger is harmless.
            self.log.warning("events.delete_failed", error_code=error.code, error=error.message)
            return
        if failed:
            self.log.warning("events.delete_failed", failed=failed)
