"""Opening the archive a URI names, scoped like any other resource."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager

from ggwatch.archive.files import FileArchive
from ggwatch.archive.record import Archive
from ggwatch.archive.uri import ArchiveTarget, parse_archive_uri
from ggwatch.aws.clients import Session
from ggwatch.aws.s3_archive import s3_archive


@asynccontextmanager
async def open_archive(
    target: ArchiveTarget,
    session: Session | None = None,
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
) -> AsyncIterator[Archive]:
    """The archive for a target; for S3, with its own client, closed when the block exits.

    The S3 client follows the standard AWS configuration (credentials, Region, retry mode,
    AWS_ENDPOINT_URL_S3); only the timeouts (seconds) are ggwatch's.
    """
    if target.scheme == "file":
        assert target.directory is not None  # ArchiveTarget checks it
        yield FileArchive(target.directory)
        return
    assert target.bucket is not None
    async with s3_archive(
        target.bucket,
        target.prefix,
        session,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    ) as archive:
        yield archive


def archive_from_uri(
    uri: str,
    session: Session | None = None,
    *,
    connect_timeout: float = 5.0,
    read_timeout: float = 30.0,
) -> AbstractAsyncContextManager[Archive]:
    """parse_archive_uri (ConfigError at once, before `async with`), then open_archive."""
    return open_archive(
        parse_archive_uri(uri),
        session,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
    )
