"""Archives of deployments that cleanup is about to delete: one JSON document per deployment.

GGWATCH_ARCHIVE_URI names the place; the layout under it holds the Region and the deployment:

    file:///abs/dir          /abs/dir/{region}/{account}/{deploymentId}.json
    s3://bucket[/prefix]     s3://bucket/[prefix/]{region}/{account}/{deploymentId}.json

`account` is "unknown" when the caller does not know it. The document is
`{"region", "account", "deployment_id", "ggwatch_version", "archived_at", "reason", "writer",
"deployment"}` with the whole GetDeployment answer under "deployment"; UTF-8 JSON, sorted keys,
indented, datetimes as ISO-8601 UTC ("...Z"). "writer" is a random id per process, so a record
says which process archived it.

Use: parse the URI at start-up, so that a bad one exits 2 before anything runs, scope the
archive (and its S3 client) like any other resource, and probe it before acting, so that an
archive nothing can be written to stops the daemon at start rather than every cycle:

    target = parse_archive_uri(settings.archive_uri)             # ConfigError
    archive = await stack.enter_async_context(open_archive(target, session))
    where = await archive.probe()                                # ArchiveError
    location = await archive.write(record)                       # ArchiveHeld, ArchiveError

`archive_from_uri(uri, session)` does the first two in one `async with`.

A record is created once and never replaced: of two processes archiving one deployment,
exactly one write succeeds and the other raises ArchiveHeld, carrying the existing record's
`archived_at` and `writer` (None when that record cannot be read) and its location; only the
writer that created a record goes on to delete. A record is never seen half-written.

Files: the document goes to a temp file in the same directory, is fsynced, and is hard-linked
to its final name (link(2) fails if the name exists: atomic and create-only); then the temp file
is unlinked and the directory fsynced. So the file system must support hard links (the probe
checks). Work runs off the event loop; files are owner-only (0600: a deployment's
configuration may hold secrets). The probe creates the directory if missing, then creates,
fsyncs, links and removes a marker `.ggwatch-probe-<random>` there.

S3: PutObject with If-None-Match: * (S3's conditional write: 412 when the key exists, then
GetObject reads the existing record; 409 ConditionalRequestConflict is retried), SSE-S3
(AES256), by a client built from the standard AWS configuration (credentials chain,
AWS_ENDPOINT_URL_S3, retry mode). The probe puts `[prefix/].ggwatch-probe`, overwriting it
(nothing is ever deleted), then puts it again create-only to check that the store honours
If-None-Match: one that ignored it would let two replicas both delete.

Every failure is an ArchiveError naming the location and the reason, so cleanup can refuse to
delete.

S3 permissions, all on the prefix: s3:PutObject (write, probe); s3:GetObject (exists() through
HeadObject, and reading a held record through GetObject). No s3:DeleteObject. Without
s3:ListBucket, S3 answers a missing key with 403 rather than 404, and exists() raises
ArchiveError instead of returning False.
"""

from __future__ import annotations

import datetime as dt
import errno
import ipaddress
import json
import os
import re
import stat
import tempfile
import uuid
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
from ggwatch.errors import ArchiveError, ArchiveHeld, ConfigError

SETTING = "GGWATCH_ARCHIVE_URI"
UNKNOWN_ACCOUNT = "unknown"
USAGE = "use file:///absolute/dir or s3://bucket/prefix"
# HeadObject has no body, so a missing key (or bucket) arrives as a bare "404".
S3_NOT_FOUND = frozenset({"404", "NoSuchKey", "NotFound"})
# PutObject with If-None-Match: * on a key that exists (HTTP 412).
S3_EXISTS = "PreconditionFailed"
# Another write to the key was under way (HTTP 409); S3 says to retry, which then meets the
# winner's record (412) or, if that write failed, creates ours.
S3_CONFLICT = "ConditionalRequestConflict"
CONFLICT_ATTEMPTS = 3
CONFLICT_BACKOFF = 0.2  # seconds, times the attempt number
PROBE_NAME = ".ggwatch-probe"  # S3: the key under the prefix; files: the marker's name prefix
PROBE_BODY = b'{"ggwatch": "archive probe"}\n'  # JSON, as the ContentType says

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
    writer: str  # a random id per process, so a record says which process archived it


class Archive(Protocol):
    """Where deployments go before they are deleted."""

    async def probe(self) -> str:
        """Check that records can be written here (run it at start-up); return the archive's
        location (a directory or s3:// URI). ArchiveError names the location and why not."""
        ...

    async def write(self, record: ArchiveRecord) -> str:
        """Create the record; return where (a path or s3:// URI). Never replaces one: if the
        record exists already, ArchiveHeld says when and by which writer it was archived."""
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
        "writer": record.writer,
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


def held_by(location: str, body: bytes) -> ArchiveHeld:
    """ArchiveHeld for the record already at `location`: what its document says of when and by
    whom it was archived, each None when it does not say or cannot be parsed."""
    try:
        document = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        return ArchiveHeld(location, None, None, f"unreadable: not JSON: {_first_line(exc)}")
    if not isinstance(document, dict):
        return ArchiveHeld(location, None, None, "unreadable: not a JSON object")
    writer = document.get("writer")
    return ArchiveHeld(
        location,
        _parse_time(document.get("archived_at")),
        writer if isinstance(writer, str) and writer else None,
    )


def _parse_time(value: object) -> dt.datetime | None:
    if not isinstance(value, str):
        return None
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return None
    if parsed.tzinfo is None:  # as _iso writes it: a naive value is UTC
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


# -- files --------------------------------------------------------------------------------------


class FileArchive:
    """Archive in a local directory; every write is create-only, atomic and durable before it
    returns."""

    def __init__(self, directory: Path) -> None:
        if not directory.is_absolute():
            raise ValueError(f"{directory} is not absolute")
        self.directory = directory

    def path(self, region: str, account: str | None, deployment_id: str) -> Path:
        return self.directory / relative_key(region, account, deployment_id)

    async def probe(self) -> str:
        await anyio.to_thread.run_sync(_probe_directory, self.directory)
        return str(self.directory)

    async def write(self, record: ArchiveRecord) -> str:
        path = self.path(record.region, record.account, record.deployment_id)
        # Not abandoned on cancellation: the thread finishes, so no half-written state remains.
        await anyio.to_thread.run_sync(_write_record, path, record)
        return str(path)

    async def exists(self, region: str, account: str | None, deployment_id: str) -> bool:
        path = self.path(region, account, deployment_id)
        return await anyio.to_thread.run_sync(_is_file, path)


def _probe_directory(directory: Path) -> None:
    # What a write does, on a marker of our own: a unique name, so replicas probing one
    # directory at once do not meet, and a link, since writes need hard links.
    marker = directory / f"{PROBE_NAME}-{uuid.uuid4().hex}"
    linked = marker.with_name(f"{marker.name}.link")
    try:
        _make_dirs(directory)
        fd = os.open(marker, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
        try:
            with open(fd, "wb") as file:
                file.write(PROBE_BODY)
                file.flush()
                os.fsync(file.fileno())
            os.link(marker, linked)
        finally:
            for made in (linked, marker):
                with suppress(FileNotFoundError):
                    os.unlink(made)
    except OSError as exc:
        reason = _os_reason(exc, directory, marker, linked)
        raise ArchiveError(f"cannot write archive {directory}: {reason}") from exc


def _write_record(path: Path, record: ArchiveRecord) -> None:
    body = encode(record)
    try:
        _make_dirs(path.parent)
        created = _create_atomically(path, body)
        if not created:
            existing = os.lstat(path).st_mode
            if stat.S_ISDIR(existing):
                raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
            if not stat.S_ISREG(existing):
                raise FileExistsError(errno.EEXIST, "not a regular file", str(path))
    except OSError as exc:
        raise ArchiveError(f"cannot write archive {path}: {_os_reason(exc, path)}") from exc
    if not created:
        raise _held_file(path)


def _create_atomically(path: Path, body: bytes) -> bool:
    """Whether the file was created; False when something is at `path` already."""
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as file:
            file.write(body)
            file.flush()
            os.fsync(file.fileno())
        # link(2), unlike rename(2), refuses an existing name: of racing writers one wins, and
        # the others' temp files never take the name.
        os.link(temp, path)
    except FileExistsError:
        return False
    finally:
        with suppress(OSError):
            os.unlink(temp)
    _fsync_directory(path.parent)
    return True


def _held_file(path: Path) -> ArchiveHeld:
    try:
        body = path.read_bytes()
    except OSError as exc:
        return ArchiveHeld(str(path), None, None, f"unreadable: {_os_reason(exc, path)}")
    return held_by(str(path), body)


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


def _os_reason(exc: OSError, *ours: Path) -> str:
    """The OS error, and the file it concerns when that is not one of the archive's own."""
    filename = exc.filename2 or exc.filename  # os.link: the destination, not the temp file
    if exc.strerror and filename and str(filename) not in {str(path) for path in ours}:
        return f"{filename}: {exc.strerror}"
    return exc.strerror or _first_line(exc)


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
    return f"{operation}: {code}: {_first_line(message)}"


def _code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code") or "Unknown")


def _status(exc: ClientError) -> int | None:
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return status if isinstance(status, int) else None


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
