"""The events consumer against moto's SQS server on loopback, through a real aiobotocore client.

The test plays the targets: its router hands out acks and resolves them when it likes, so the
consumer's side of the contract (delete only after a complete refresh, keep a pending message
invisible, survive a queue it cannot read) is seen without a daemon around it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import anyio
import boto3
import pytest
from aiobotocore.session import get_session

from ggwatch.aws.sqs import SqsQueue, sqs_client, sqs_config
from ggwatch.events.consumer import ELSEWHERE, Consumer, Elsewhere, QueueStats
from ggwatch.events.mailbox import Ack
from ggwatch.events.triggers import Trigger
from tests.conftest import ACCOUNT, REGION

EVENT = {
    "version": "0",
    "id": "e-1",
    "detail-type": "Greengrass V2 Installed Component Status Change",
    "source": "aws.greengrass",
    "account": ACCOUNT,
    "time": "2026-11-24T06:00:00Z",
    "region": REGION,
    "resources": [f"arn:aws:greengrass:{REGION}:{ACCOUNT}:coreDevices:core-1"],
    "detail": {"components": []},
}


class Targets:
    """A router that records triggers and hands out acks the test resolves."""

    def __init__(self) -> None:
        self.triggers: list[Trigger] = []
        self.acks: list[Ack] = []

    def route(self, trigger: Trigger) -> Sequence[Ack]:
        self.triggers.append(trigger)
        self.acks.append(Ack())
        return [self.acks[-1]]


@pytest.fixture
def queue(sqs_queue: str) -> str:
    """A queue whose messages come back a second after a receive unless deleted or extended
    (set before any consumer starts its long poll: moto applies it when a poll begins)."""
    sqs = boto3.client("sqs")
    sqs.set_queue_attributes(QueueUrl=sqs_queue, Attributes={"VisibilityTimeout": "1"})
    sqs.send_message(QueueUrl=sqs_queue, MessageBody=json.dumps(EVENT))
    sqs.close()
    return sqs_queue


def left(url: str) -> int:
    sqs = boto3.client("sqs")
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    sqs.close()
    return sum(int(found[n]) for n in names)


@asynccontextmanager
async def consuming(
    url: str, route: Callable[[Trigger], Sequence[Ack] | Elsewhere], **options: Any
) -> AsyncIterator[QueueStats]:
    stats = QueueStats.new()
    async with (
        sqs_client(get_session(), url, REGION, sqs_config(5.0, 1)) as client,
        anyio.create_task_group() as group,
    ):
        consumer = Consumer(SqsQueue(client, url), route, wait_seconds=1, stats=stats, **options)
        group.start_soon(consumer.run)
        yield stats
        group.cancel_scope.cancel()


async def until(check: Callable[[], bool], seconds: float = 15.0) -> None:
    """Poll: some of what is checked lives in moto's process state, which signals nothing."""
    with anyio.fail_after(seconds):
        while not check():  # noqa: ASYNC110
            await anyio.sleep(0.1)


async def test_a_pending_refresh_keeps_its_message_invisible_then_deletes_it(queue: str) -> None:
    targets = Targets()
    async with consuming(queue, targets.route, heartbeat=0.3, extend_to=2) as stats:
        await until(lambda: bool(targets.acks))
        await anyio.sleep(3.0)  # three visibility timeouts: extended, not redelivered
        targets.acks[0].resolve(ok=True)
        await until(lambda: stats.messages["refreshed"] == 1)
        await until(lambda: left(queue) == 0)

    assert len(targets.triggers) == 1
    assert targets.triggers[0].thing == "core-1"


async def test_without_the_heartbeat_the_message_comes_back(queue: str) -> None:
    targets = Targets()
    async with consuming(queue, targets.route, heartbeat=60.0) as _:
        await until(lambda: len(targets.triggers) >= 2)  # redelivered while pending
        for ack in targets.acks:
            ack.resolve(ok=True)


async def test_an_incomplete_refresh_leaves_the_message_for_redelivery(queue: str) -> None:
    targets = Targets()
    async with consuming(queue, targets.route, heartbeat=60.0) as stats:
        await until(lambda: bool(targets.acks))
        targets.acks[0].resolve(ok=False)
        await until(lambda: stats.messages["failed"] == 1)
        await until(lambda: len(targets.triggers) >= 2)  # back after its visibility timeout
        for ack in targets.acks:
            ack.resolve(ok=True)
        await until(lambda: left(queue) == 0)


async def test_a_queue_that_cannot_be_read_is_counted_and_retried(sqs_queue: str) -> None:
    gone = sqs_queue.rsplit("/", 1)[0] + "/no-such-queue"
    async with consuming(gone, Targets().route) as stats:
        await until(lambda: stats.receive_errors >= 1)


async def test_another_replicas_message_is_released_at_once_for_its_owner(queue: str) -> None:
    sqs = boto3.client("sqs")  # a long timeout: only a release makes it visible again soon
    sqs.set_queue_attributes(QueueUrl=queue, Attributes={"VisibilityTimeout": "60"})
    sqs.close()
    async with consuming(queue, lambda _: ELSEWHERE) as stats:
        await until(lambda: stats.messages["elsewhere"] >= 2, seconds=10)
    assert stats.messages["ignored"] == 0  # never deleted
    owner = Targets()
    async with consuming(queue, owner.route) as stats:
        await until(lambda: bool(owner.acks), seconds=10)
        owner.acks[0].resolve(ok=True)
        await until(lambda: stats.messages["refreshed"] == 1)
        await until(lambda: left(queue) == 0)
