"""The archive in S3: create-only records (PutObject with If-None-Match: *), SSE-S3."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from ggwatch.archive.record import (
    PROBE_BODY,
    PROBE_NAME,
    ArchiveRecord,
    encode,
    first_line,
    held_by,
    relative_key,
)
from ggwatch.aws.clients import Session, new_session
from ggwatch.errors import ArchiveError, ArchiveHeld

# HeadObject has no body, so a missing key (or bucket) arrives as a bare "404".
S3_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
# PutObject with If-None-Match: * on a key that exists (HTTP 412).
S3_EXISTS = "PreconditionFailed"
# Another write to the key was under way (HTTP 409); S3 says to retry, which then meets the
# winner's record (412) or, if that write failed, creates ours.
S3_CONFLICT = "ConditionalRequestConflict"
CONFLICT_ATTEMPTS = 3
CONFLICT_BACKOFF = 0.2  # seconds, times the attempt number


# -- S3 -----------------------------------------------------------------------------------------


class S3Archive:
    """Archive in an S3 bucket under a key prefix; objects are created once, encrypted with
    SSE-S3."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key(self, region: str, account: str | None, deployment_id: str) -> str:
        relative = relative_key(region, account, deployment_id)
        return f"{self.prefix}/{relative}" if self.prefix else relative

    async def probe(self) -> str:
        key = f"{self.prefix}/{PROBE_NAME}" if self.prefix else PROBE_NAME
        # A fixed key, overwritten: the archive's policy grants no s3:DeleteObject to clean up.
        await self._put(key, PROBE_BODY)
        if await self._put(key, PROBE_BODY, create_only=True):
            raise ArchiveError(
                f"cannot archive to s3://{self.bucket}/{key}: the store ignores If-None-Match "
                "(conditional writes), so two replicas could both archive and delete"
            )
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"

    async def write(self, record: ArchiveRecord) -> str:
        key = self.key(record.region, record.account, record.deployment_id)
        location = f"s3://{self.bucket}/{key}"
        body = await anyio.to_thread.run_sync(encode, record)
        if await self._put(key, body, create_only=True):
            return location
        raise await self._held(key, location)

    async def exists(self, region: str, account: str | None, deployment_id: str) -> bool:
        key = self.key(region, account, deployment_id)
        try:
            await self.client.head_object(Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if _code(exc) in S3_NOT_FOUND:
                return False
            raise self._error("HeadObject", key, exc) from exc
        except BotoCoreError as exc:
            raise self._error("HeadObject", key, exc) from exc
        return True

    async def _put(self, key: str, body: bytes, *, create_only: bool = False) -> bool:
        """Whether the object was stored; False only when create-only found it there."""
        condition = {"IfNoneMatch": "*"} if create_only else {}
        for attempt in range(1, CONFLICT_ATTEMPTS + 1):
            try:
                await self.client.put_object(
                    Bucket=self.bucket,
                    Key=key,
                    Body=body,
                    ContentType="application/json",
                    ServerSideEncryption="AES256",
                    **condition,
                )
            except ClientError as exc:
                code = _code(exc)
                if create_only and (code == S3_EXISTS or _status(exc) == 412):
                    return False
                if code == S3_CONFLICT and attempt < CONFLICT_ATTEMPTS:
                    await anyio.sleep(CONFLICT_BACKOFF * attempt)
                    continue
                raise self._error("PutObject", key, exc) from exc
            except BotoCoreError as exc:
                raise self._error("PutObject", key, exc) from exc
            return True
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _held(self, key: str, location: str) -> ArchiveHeld:
        try:
            answer = await self.client.get_object(Bucket=self.bucket, Key=key)
            async with answer["Body"] as stream:
                body = await stream.read()
        except (ClientError, BotoCoreError) as exc:
            # Held all the same: the key exists, so this process must not delete.
            return ArchiveHeld(location, None, None, f"unreadable: {_s3_reason('GetObject', exc)}")
        return await anyio.to_thread.run_sync(held_by, location, body)

    def _error(self, operation: str, key: str, exc: Exception) -> ArchiveError:
        reason = _s3_reason(operation, exc)
        return ArchiveError(f"cannot archive to s3://{self.bucket}/{key}: {reason}")


def _s3_reason(operation: str, exc: Exception) -> str:
    if isinstance(exc, ClientError):
        code = _code(exc)
        message = str(exc.response.get("Error", {}).get("Message") or "no message")
    else:  # no connection, no credentials, ...: botocore's class names the trouble
        code, message = type(exc).__name__, str(exc)
    return f"{operation}: {code}: {first_line(message)}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def _status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


@asynccontextmanager
async def s3_archive(
    bucket: str,
    prefix: str,
    session: Session | None = None,
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
) -> AsyncIterator[S3Archive]:
    """The S3 archive with its own client, closed when the block exits."""
    session = session or new_session()
    config = AioConfig(connect_timeout=connect_timeout, read_timeout=read_timeout)
    async with session.create_client("s3", config=config) as client:
        yield S3Archive(client, bucket, prefix)
