"""SQS through aiobotocore: the three calls the events consumer makes, and its client.

ReceiveMessage (a long poll), DeleteMessageBatch and ChangeMessageVisibilityBatch, each
raising a ggwatch AWSError (ggwatch.aws.failures) instead of a botocore exception. What the
messages mean, and which to delete, is the consumer's (ggwatch.events.consumer).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from ggwatch.aws.clients import Session
from ggwatch.aws.failures import translate
from ggwatch.names import queue_url_region

MAX_MESSAGES = 10  # per ReceiveMessage: the service's maximum


@dataclass(frozen=True, slots=True)
class Message:
    """One received message: what the consumer reads of it, and how to delete it."""

    message_id: str
    body: str
    receipt_handle: str


class SqsQueue:
    """One queue through one aiobotocore SQS client."""

    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    async def receive(self, wait_seconds: int) -> list[Message]:
        """ReceiveMessage: up to MAX_MESSAGES, waiting up to `wait_seconds` for the first."""
        try:
            response = await self.client.receive_message(
                QueueUrl=self.url, MaxNumberOfMessages=MAX_MESSAGES, WaitTimeSeconds=wait_seconds
            )
        except (ClientError, BotoCoreError) as exc:
            raise translate("ReceiveMessage", exc) from exc
        return [
            Message(
                str(m.get("MessageId") or ""),
                str(m.get("Body") or ""),
                str(m.get("ReceiptHandle") or ""),
            )
            for m in response.get("Messages") or []
        ]

    async def delete(self, messages: Sequence[Message]) -> int:
        """DeleteMessageBatch (at most MAX_MESSAGES); how many the service failed to delete."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle} for i, m in enumerate(messages)
        ]
        try:
            response = await self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise translate("DeleteMessageBatch", exc) from exc
        return len(response.get("Failed") or [])

    async def extend(self, messages: Sequence[Message], seconds: int) -> None:
        """ChangeMessageVisibilityBatch: keep the messages invisible `seconds` from now."""
        entries = [
            {"Id": str(i), "ReceiptHandle": m.receipt_handle, "VisibilityTimeout": seconds}
            for i, m in enumerate(messages)
        ]
        try:
            await self.client.change_message_visibility_batch(QueueUrl=self.url, Entries=entries)
        except (ClientError, BotoCoreError) as exc:
            raise translate("ChangeMessageVisibilityBatch", exc) from exc


def queue_region(url: str, fallback: str) -> str:
    """The queue's Region from an AWS queue URL; else (a local endpoint) the fallback."""
    return queue_url_region(url) or fallback


def sqs_config(connect_timeout: float, wait_seconds: int) -> AioConfig:
    # The read timeout must outlast the long poll, or every quiet receive would time out.
    return AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=wait_seconds + 10,
        retries={"total_max_attempts": 3, "mode": "standard"},
    )


def sqs_client(session: Session, url: str, fallback_region: str, config: AioConfig) -> Any:
    return session.create_client(
        "sqs", region_name=queue_region(url, fallback_region), config=config
    )
