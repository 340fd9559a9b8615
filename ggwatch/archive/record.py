"""What is archived: the record, the Archive protocol every store implements, and the JSON
document (its layout, encoding and the reading of a record another writer holds)."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ggwatch.errors import ArchiveError, ArchiveHeld

UNKNOWN_ACCOUNT = "unknown"
PROBE_NAME = ".ggwatch-probe"  # S3: the key under the prefix; files: the marker's name prefix
PROBE_BODY = b'{"ggwatch": "archive probe"}\n'  # JSON, as the ContentType says
# Region, account and deployment id each become one path segment: nothing that could climb out.
_SEGMENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


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
            f"cannot archive deployment {record.deployment_id}: not JSON: {first_line(exc)}"
        ) from exc


def held_by(location: str, body: bytes) -> ArchiveHeld:
    """ArchiveHeld for the record already at `location`: what its document says of when and by
    whom it was archived, each None when it does not say or cannot be parsed."""
    try:
        document = json.loads(body)
    except ValueError as exc:  # UnicodeDecodeError is a ValueError
        return ArchiveHeld(location, None, None, f"unreadable: not JSON: {first_line(exc)}")
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


def first_line(value: object) -> str:
    lines = str(value).strip().splitlines()
    return lines[0] if lines else type(value).__name__
