"""The archive step before a delete, and who may delete after it.

The archive is create-only, so of two replicas acting on one fleet only the one that created
a deployment's record deletes it (`held_by_other` for the other), unless the record's writer
is gone: a crash between archive and delete (see `abandoned`).
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections.abc import Callable, Mapping
from typing import Any

from ggwatch.archive.record import Archive, ArchiveRecord
from ggwatch.cleanup.outcomes import Outcome, Tally
from ggwatch.cleanup.policy import Skip
from ggwatch.errors import ArchiveError, ArchiveHeld
from ggwatch.model import TargetId

# A record archived by a process on another host is taken as abandoned (its writer crashed
# between archive and delete) once this old: far longer than a re-check, archive and delete.
ARCHIVE_LEASE_SECONDS = 600.0


def writer_identity() -> str:
    """`host:pid:token`: which process archived a record, and whether it can still be alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def abandoned(
    writer: str | None,
    me: str,
    age_seconds: float | None,
    alive: Callable[[int], bool] = _alive,
) -> bool:
    """Whether an existing archive record's writer is gone, so this process may finish its
    delete. Same host: gone when its process is (or when its pid is ours, a restarted
    container). Another host, or a writer nobody can read: gone once the lease has passed."""
    host, pid, token = _parts(writer)
    my_host, my_pid, my_token = _parts(me)
    if host and host == my_host and pid.isdigit():
        return token == my_token or pid == my_pid or not alive(int(pid))
    return age_seconds is not None and age_seconds >= ARCHIVE_LEASE_SECONDS


def _parts(writer: str | None) -> tuple[str, str, str]:
    parts = (writer or "").split(":", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", "")


async def archive_first(
    archive: Archive,
    record: ArchiveRecord,
    tally: Tally,
    where: TargetId,
    fields: Mapping[str, Any],
    clock: Callable[[], dt.datetime],
) -> str | Outcome:
    """Write the record; its location when this process may go on to delete, else the
    outcome that ends the deployment's turn (held by another writer, or the archive failed)."""
    deployment_id, log = record.deployment_id, tally.log
    try:
        location = await archive.write(record)
    except ArchiveHeld as held:
        age = None
        if held.archived_at is not None:
            age = (clock() - held.archived_at).total_seconds()
        if not abandoned(held.writer, record.writer, age):
            log.info("cleanup.held_by_other", **fields, writer=held.writer, location=held.location)
            return tally.skip(where, deployment_id, Skip.HELD_BY_OTHER, held.writer or "")
        location = held.location
        log.info("cleanup.archive_reused", **fields, writer=held.writer, location=location)
    except ArchiveError as exc:
        log.warning("cleanup.archive_failed", **fields, error=str(exc))
        tally.count(Outcome(deployment_id, where, "archived", "failed", str(exc)))
        return tally.skip(where, deployment_id, Skip.ARCHIVE_FAILED, str(exc))
    else:
        log.info("cleanup.archived", **fields, location=location)
        tally.count(Outcome(deployment_id, where, "archived", "ok", location))
    return location
