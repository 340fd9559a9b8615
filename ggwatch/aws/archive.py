"""Archives of deployments that cleanup is about to delete: one JSON document per deployment.

GGWATCH_ARCHIVE_URI names the place; the layout under it holds the Region and the deployment:

    file:///abs/dir          /abs/dir/{region}/{account}/{deploymentId}.json
    s3://bucket[/prefix]     s3://bucket/[prefix/]{region}/{account}/{deploymentId}.json

`account` is "unknown" when the caller does not know it. The document is
`{"region", "account", "deployment_id", "ggwatch_version", "archived_at", "reason",
"deployment"}` with the whole GetDeployment answer under "deployment"; UTF-8 JSON, sorted keys,
indented, datetimes as ISO-8601 UTC ("...Z").

Use: parse the URI at start-up, so that a bad one exits 2 before anything runs, and scope the
archive (and its S3 client) like any other resource:

    target = parse_archive_uri(settings.archive_uri)             # ConfigError
    archive = await stack.enter_async_context(open_archive(target, session))
    location = await archive.write(record)                       # ArchiveError

`archive_from_uri(uri, session)` does both in one `async with`.

Files are written atomically (a temp file in the same directory, fsync, rename, fsync of the
directory), off the event loop, owner-only (0600: a deployment's configuration may hold
secrets). S3 objects are written with SSE-S3 (AES256) by a client built from the standard AWS
configuration (credentials chain, AWS_ENDPOINT_URL_S3, retry mode). Every failure is an
ArchiveError naming the location and the reason, so cleanup can refuse to delete.

S3 permissions: s3:PutObject, and s3:GetObject for exists() (HeadObject). Without
s3:ListBucket, S3 answers a missing key with 403 rather than 404, and exists() raises
ArchiveError instead of returning False.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import os
import re
import stat
import tempfile
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager, suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import unquote, urlsplit

import anyio
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError

from ggwatch.aws.clients import Session, new_session
from ggwatch.errors import ArchiveError, ConfigError

SETTING = "GGWATCH_ARCHIVE_URI"
UNKNOWN_ACCOUNT = "unknown"
USAGE = "use file:///absolute/dir or s3://bucket/prefix"
# HeadObject has no body, so a missing key (or bucket) arrives as a bare "404".
S3_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})

_BUCKET_CHARS = frozenset("abcdefghijklmnopqrstuvwxyz0123456789.-")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Region, account and deployment id each become one path segment: nothing that could climb out.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True, slots=True)
class ArchiveTarget:
    """A parsed GGWATCH_ARCHIVE_URI: a local directory, or an S3 bucket and key prefix."""

    scheme: Literal["file", "s3"]
    directory: Path | None = None  # file: absolute
    bucket: str | None = None  # s3
    prefix: str = ""  # s3: no leading or trailing slash; empty for the bucket's root

    def __post_init__(self) -> None:
        if self.scheme == "file" and (self.directory is None or not self.directory.is_absolute()):
            raise ValueError("a file target needs an absolute directory")
        if self.scheme == "s3" and not self.bucket:
            raise ValueError("an s3 target needs a bucket")

    def __str__(self) -> str:
        if self.scheme == "file":
            return self.directory.as_uri() if self.directory else "file://"
        return f"s3://{self.bucket}/{self.prefix}" if self.prefix else f"s3://{self.bucket}"


@dataclass(frozen=True, slots=True)
class ArchiveRecord:
    """What is kept of one deployment before it is deleted."""

    region: str
    account: str | None
    deployment_id: str
    deployment: Mapping[str, Any]  # GetDeployment's answer, without ResponseMetadata
    ggwatch_version: str
    archived_at: dt.datetime  # UTC (a naive value is taken as UTC)
    reason: str


class Archive(Protocol):
    """Where deployments go before they are deleted."""

    async def write(self, record: ArchiveRecord) -> str:
        """Store the record, replacing an earlier one; return where (a path or s3:// URI)."""
        ...

    async def exists(self, region: str, account: str | None, deployment_id: str) -> bool:
        """Whether a complete archive of that deployment is there."""
        ...


# -- the URI ------------------------------------------------------------------------------------


def parse_archive_uri(uri: str) -> ArchiveTarget:
    """file:///abs/dir or s3://bucket[/prefix]; anything else is a one-line ConfigError."""
    text = uri.strip()

    def bad(why: str) -> ConfigError:
        return ConfigError(f"{SETTING}={text!r}: {why}")

    if not text:
        raise bad(f"empty; {USAGE}")
    if _CONTROL.search(text):
        raise bad("holds control characters")
    try:
        parts = urlsplit(text)
    except ValueError as exc:
        raise bad(f"not a URI ({exc}); {USAGE}") from None
    if parts.scheme == "file":
        return _file_target(parts.netloc, parts.path, parts.query or parts.fragment, bad)
    if parts.scheme == "s3":
        if parts.query or parts.fragment:
            raise bad("an S3 URI takes no query or fragment ('?' or '#')")
        problem = _bucket_problem(parts.netloc)
        if problem:
            raise bad(problem)
        return ArchiveTarget("s3", bucket=parts.netloc, prefix=parts.path.strip("/"))
    if not parts.scheme:
        hint = f"use file://{text}" if text.startswith("/") else USAGE
        raise bad(f"not a URI; {hint}")
    raise bad(f"scheme {parts.scheme!r} is not supported; {USAGE}")


def _file_target(
    host: str, path: str, extra: str, bad: Callable[[str], ConfigError]
) -> ArchiveTarget:
    if host not in ("", "localhost"):
        raise bad(f"a file URI takes no host ({host!r}): use three slashes, file:///absolute/dir")
    if extra:
        raise bad("a file URI takes no query or fragment: write '?' as %3F and '#' as %23")
    directory = unquote(path)
    if _CONTROL.search(directory):
        raise bad("the path holds control characters")
    if not directory.startswith("/"):
        raise bad("the path is relative: use file:///absolute/dir")
    return ArchiveTarget("file", directory=Path(directory))


def _bucket_problem(bucket: str) -> str | None:
    """What S3's naming rules say is wrong with this bucket name, if anything."""
    if not bucket:
        return "no bucket: use s3://bucket/prefix"
    name = f"bucket name {bucket!r}"
    if not 3 <= len(bucket) <= 63:
        return f"{name} must be 3 to 63 characters long"
    if not set(bucket) <= _BUCKET_CHARS:
        return f"{name} may hold only lowercase letters, digits, dots and hyphens"
    if not (bucket[0].isalnum() and bucket[-1].isalnum()):
        return f"{name} must begin and end with a letter or digit"
    if ".." in bucket:
        return f"{name} must not hold two adjacent dots"
    with suppress(ValueError):
        ipaddress.IPv4Address(bucket)
        return f"{name} must not be an IP address"
    return None


# -- the document -------------------------------------------------------------------------------


def json_safe(value: Any) -> Any:
    """A copy fit for json.dumps: datetimes become ISO-8601 UTC strings, at any depth."""
    if isinstance(value, dt.datetime):
        return _iso(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    return value


def _iso(value: dt.datetime) -> str:
    if value.tzinfo is None:
        value = value.replace(tzinfo=dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def relative_key(region: str, account: str | None, deployment_id: str) -> str:
    """`{region}/{account or 'unknown'}/{deployment_id}.json`; each part one safe segment."""
    account = account or UNKNOWN_ACCOUNT
    for what, part in (("region", region), ("account", account), ("deployment id", deployment_id)):
        if not _SEGMENT.fullmatch(part):
            raise ArchiveError(f"cannot archive: {what} {part!r} is not a safe path segment")
    return f"{region}/{account}/{deployment_id}.json"


def encode(record: ArchiveRecord) -> bytes:
    """The archived document: UTF-8 JSON, sorted keys, indented, newline-terminated."""
    document = {
        "region": record.region,
        "account": record.account,
        "deployment_id": record.deployment_id,
        "ggwatch_version": record.ggwatch_version,
        "archived_at": record.archived_at,
        "reason": record.reason,
        "deployment": record.deployment,
    }
    try:
        text = json.dumps(
            json_safe(document), sort_keys=True, indent=2, ensure_ascii=False, allow_nan=False
        )
        return (text + "\n").encode("utf-8")
    except (TypeError, ValueError) as exc:  # UnicodeEncodeError is a ValueError
        raise ArchiveError(
            f"cannot archive deployment {record.deployment_id}: not JSON: {_first_line(exc)}"
        ) from exc


# -- files --------------------------------------------------------------------------------------


class FileArchive:
    """Archive in a local directory; every write is atomic and durable before it returns."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_absolute():
            raise ValueError(f"{directory} is not absolute")
        self.directory = directory

    def path(self, region: str, account: str | None, deployment_id: str) -> Path:
        return self.directory / relative_key(region, account, deployment_id)

    async def write(self, record: ArchiveRecord) -> str:
        path = self.path(record.region, record.account, record.deployment_id)
        # Not abandoned on cancellation: the thread finishes, so no half-written state remains.
        await anyio.to_thread.run_sync(_write_record, path, record)
        return str(path)

    async def exists(self, region: str, account: str | None, deployment_id: str) -> bool:
        path = self.path(region, account, deployment_id)
        return await anyio.to_thread.run_sync(_is_file, path)


def _write_record(path: Path, record: ArchiveRecord) -> None:
    body = encode(record)
    try:
        _make_dirs(path.parent)
        _replace_atomically(path, body)
    except OSError as exc:
        raise ArchiveError(f"cannot write archive {path}: {_os_reason(exc, path)}") from exc


def _make_dirs(directory: Path) -> None:
    """mkdir -p, making each new directory's entry durable in its parent."""
    missing: list[Path] = []
    current = directory
    while True:
        try:
            os.stat(current)
        except FileNotFoundError:
            missing.append(current)
            current = current.parent
        except NotADirectoryError as exc:  # name the file in the way, not its would-be child
            raise NotADirectoryError(exc.errno, exc.strerror, str(_file_in_way(current))) from exc
        else:
            break
    for new in reversed(missing):
        try:
            os.mkdir(new)
        except FileExistsError:
            if new.is_dir():
                continue  # made meanwhile by someone else
            raise
        _fsync_directory(new.parent)


def _file_in_way(path: Path) -> Path:
    for ancestor in (*reversed(path.parents), path):
        if ancestor.exists() and not ancestor.is_dir():
            return ancestor
    return path


def _replace_atomically(path: Path, body: bytes) -> None:
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    replaced = False
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
        replaced = True
    finally:
        if not replaced:
            with suppress(OSError):
                os.unlink(temp)
    _fsync_directory(path.parent)


def _fsync_directory(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _is_file(path: Path) -> bool:
    try:
        mode = os.stat(path).st_mode
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as exc:
        raise ArchiveError(f"cannot check archive {path}: {_os_reason(exc, path)}") from exc
    return stat.S_ISREG(mode)


def _os_reason(exc: OSError, path: Path) -> str:
    """The OS error, and the file it concerns when that is not the archive's own path."""
    filename = exc.filename2 or exc.filename  # os.replace: the destination, not the temp file
    if exc.strerror and filename and str(filename) != str(path):
        return f"{filename}: {exc.strerror}"
    return exc.strerror or _first_line(exc)


# -- S3 -----------------------------------------------------------------------------------------


class S3Archive:
    """Archive in an S3 bucket under a key prefix; objects are encrypted with SSE-S3."""

    def __init__(self, client: Any, bucket: str, prefix: str = "") -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/")

    def key(self, region: str, account: str | None, deployment_id: str) -> str:
        relative = relative_key(region, account, deployment_id)
        return f"{self.prefix}/{relative}" if self.prefix else relative

    async def write(self, record: ArchiveRecord) -> str:
        key = self.key(record.region, record.account, record.deployment_id)
        body = await anyio.to_thread.run_sync(encode, record)
        try:
            await self.client.put_object(
                Bucket=self.bucket,
                Key=key,
                Body=body,
                ContentType="application/json",
                ServerSideEncryption="AES256",
            )
        except (ClientError, BotoCoreError) as exc:
            raise self._error("PutObject", key, exc) from exc
        return f"s3://{self.bucket}/{key}"

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

    def _error(self, operation: str, key: str, exc: Exception) -> ArchiveError:
        if isinstance(exc, ClientError):
            code = _code(exc)
            message = str(exc.response.get("Error", {}).get("Message") or "no message")
        else:  # no connection, no credentials, ...: botocore's class names the trouble
            code, message = type(exc).__name__, str(exc)
        return ArchiveError(
            f"cannot archive to s3://{self.bucket}/{key}: {operation}: {code}: "
            f"{_first_line(message)}"
        )


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def _first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else type(value).__name__


# -- opening ------------------------------------------------------------------------------------


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
    session = session or new_session()
    config = AioConfig(connect_timeout=connect_timeout, read_timeout=read_timeout)
    async with session.create_client("s3", config=config) as client:
        yield S3Archive(client, target.bucket, target.prefix)


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
