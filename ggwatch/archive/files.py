"""The archive in a directory: create-only records (temp file, fsync, hard link), owner-only,
off the event loop."""

from __future__ import annotations

import errno
import os
import stat
import tempfile
import uuid
from contextlib import suppress
from pathlib import Path

import anyio

from ggwatch.archive.record import (
    PROBE_BODY,
    PROBE_NAME,
    ArchiveRecord,
    encode,
    first_line,
    held_by,
    relative_key,
)
from ggwatch.errors import ArchiveError, ArchiveHeld

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
    return exc.strerror or first_line(exc)
