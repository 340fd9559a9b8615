"""What a daemon read that stays true across a restart, in SQLite at `state_path`.

A restart (a rollout, a node drain) would otherwise cost a full scan of every target: every
GetDeployment, ListInstalledComponents, DescribeComponent, GetComponent and thing-group read
again, from the account's shared budget. Each target's RegionCache is saved after every
complete pass and restored at start, so the first scan after a restart reads only what the
listings say changed: what never changes (deployment details, recipes) is kept, what changes
rarely is kept with the time it was read (installed components with the
lastStatusUpdateTimestamp they answer, guidance, membership, version lists) and ages exactly as
it would have without the restart.

The file holds no secret: deployment details and tags, recipes' dependencies, thing names and
groups. It is still created readable by its owner only.

Trust: a file that is not SQLite, fails `PRAGMA quick_check`, is another program's or another
schema version's, or has a row that does not decode, is logged once (`state.replaced`) and
replaced by an empty one: nothing in it is used, never half of it. Every write is one
transaction per target, so a crash leaves the previous pass's row or the new one. A cache is
restored only for the account it was saved for.

One writer: the daemon's StateWriter task owns every write. SQLite calls and the JSON work run
in a worker thread, never on the event loop.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import os
import sqlite3
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import anyio
import structlog
from pydantic import TypeAdapter, ValidationError

from ggwatch.errors import ConfigError
from ggwatch.inventory.cache import (
    DescribedVersion,
    InstalledRead,
    ListedVersions,
    MembershipRead,
    Recommendation,
    RegionCache,
)
from ggwatch.model import DeploymentDetail, Recipe, TargetId, VersionRef

APPLICATION = "ggwatch-state"  # meta: what wrote the file
SCHEMA = 1  # meta: bumped whenever the rows' form changes; another one is replaced


@dataclass(frozen=True, slots=True)
class Saved:
    """A RegionCache's entries as a file row holds them (pairs where the cache keys by a ref)."""

    details: tuple[DeploymentDetail, ...]
    versions: tuple[tuple[VersionRef, DescribedVersion], ...]
    installed: tuple[tuple[str, InstalledRead], ...]
    recommended: tuple[tuple[str, Recommendation], ...]
    recipes: tuple[tuple[VersionRef, Recipe | None], ...]
    listed: tuple[tuple[str, ListedVersions], ...]
    membership: MembershipRead | None
    minimal_calls: int

    @classmethod
    def of(cls, cache: RegionCache) -> Saved:
        """A copy of the cache's entries (their values are immutable): cheap, on the loop."""
        membership = cache.membership
        if membership is not None:  # plain dicts: pydantic serialises no read-only proxies
            membership = membership._replace(
                by_thing=dict(membership.by_thing), members=dict(membership.members)
            )
        return cls(
            details=tuple(replace(d, tags=dict(d.tags)) for d in cache.details.values()),
            versions=tuple(cache.versions.items()),
            installed=tuple(cache.installed.items()),
            recommended=tuple(cache.recommended.items()),
            recipes=tuple(cache.recipes.items()),
            listed=tuple(cache.listed.items()),
            membership=membership,
            minimal_calls=cache.minimal_calls,
        )

    def into(self, cache: RegionCache) -> RegionCache:
        """`cache` (its refresh intervals are today's settings) with these entries."""
        cache.details = {d.deployment_id: d for d in self.details}
        cache.versions = dict(self.versions)
        cache.installed = dict(self.installed)
        cache.recommended = dict(self.recommended)
        cache.recipes = dict(self.recipes)
        cache.listed = dict(self.listed)
        cache.membership = self.membership
        cache.minimal_calls = self.minimal_calls
        return cache


_ROW = TypeAdapter(Saved)


@dataclass(frozen=True, slots=True)
class Restored:
    account: str
    saved: Saved
    written_at: dt.datetime


class StateFile:
    """The SQLite file at `path`: opened (or replaced) by `open`, then loaded and written."""

    def __init__(self, path: Path, connection: sqlite3.Connection) -> None:
        self.path = path
        self._db = connection
        self._lock = threading.Lock()  # one statement at a time on the one connection

    @classmethod
    async def open(cls, path: Path) -> StateFile:
        """ConfigError when the file can be neither opened nor created there."""
        try:
            return await anyio.to_thread.run_sync(cls._open, path)
        except (OSError, sqlite3.Error) as exc:
            detail = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
            raise ConfigError(
                f"state_path {path}: cannot create the state file: {detail}"
            ) from None

    @classmethod
    def _open(cls, path: Path) -> StateFile:
        if not path.exists():
            return cls(path, _create(path))
        try:
            return cls(path, _connect_checked(path))
        except _Untrusted as why:
            _replaced(path, str(why))
        except sqlite3.Error as exc:  # not a database, or a corrupt one
            _replaced(path, f"not a readable SQLite file ({exc})")
        return cls(path, _create(path))

    async def load(self) -> dict[TargetId, Restored]:
        """Every target's saved cache; an undecodable row empties the file (and says so)."""
        return await anyio.to_thread.run_sync(self._load)

    def _load(self) -> dict[TargetId, Restored]:
        with self._lock:
            try:
                rows = self._db.execute(
                    "SELECT alias, region, account, written_at, body FROM caches"
                ).fetchall()
                return {
                    TargetId(alias, region): Restored(
                        account, _ROW.validate_json(body), dt.datetime.fromisoformat(written)
                    )
                    for alias, region, account, written, body in rows
                }
            except (sqlite3.Error, ValidationError, ValueError) as exc:
                reason = str(exc).splitlines()[0]
                self._db.close()
                _replaced(self.path, f"a saved cache does not decode ({reason})")
                self._db = _create(self.path)
                return {}

    async def save(self, where: TargetId, account: str, saved: Saved, now: dt.datetime) -> None:
        await anyio.to_thread.run_sync(self._save, where, account, saved, now)

    def _save(self, where: TargetId, account: str, saved: Saved, now: dt.datetime) -> None:
        body = _ROW.dump_json(saved)
        with self._lock, self._db:  # one transaction: the old row or the new one
            self._db.execute(
                "INSERT OR REPLACE INTO caches (alias, region, account, written_at, body) "
                "VALUES (?, ?, ?, ?, ?)",
                (where.alias, where.region, account, now.isoformat(), body),
            )

    async def forget(self, keep: set[TargetId]) -> None:
        """Drop the rows of targets no longer watched (or owned), so the file is bounded."""
        await anyio.to_thread.run_sync(self._forget, keep)

    def _forget(self, keep: set[TargetId]) -> None:
        with self._lock, self._db:
            rows = self._db.execute("SELECT alias, region FROM caches").fetchall()
            gone = [r for r in rows if TargetId(*r) not in keep]
            self._db.executemany("DELETE FROM caches WHERE alias = ? AND region = ?", gone)

    def close(self) -> None:
        with self._lock:
            self._db.close()


class _Untrusted(Exception):
    """A readable SQLite file that is not ours, or not of this schema."""


def _connect_checked(path: Path) -> sqlite3.Connection:
    db = sqlite3.connect(path, check_same_thread=False)
    try:
        _check(db)
    except BaseException:
        db.close()
        raise
    return db


def _check(db: sqlite3.Connection) -> None:
    (result,) = db.execute("PRAGMA quick_check").fetchone()
    if result != "ok":
        raise _Untrusted(f"quick_check: {result}")
    meta = dict(db.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("application") != APPLICATION:
        raise _Untrusted(f"not a ggwatch state file (application {meta.get('application')!r})")
    if meta.get("schema") != str(SCHEMA):
        raise _Untrusted(f"schema {meta.get('schema')!r}, not {SCHEMA}")
    db.execute("SELECT alias, region, account, written_at, body FROM caches LIMIT 1")


def _create(path: Path) -> sqlite3.Connection:
    for stale in _files(path):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    # Created readable by its owner only, before SQLite opens it.
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    db = sqlite3.connect(path, check_same_thread=False)
    with db:
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            "CREATE TABLE caches (alias TEXT NOT NULL, region TEXT NOT NULL, "
            "account TEXT NOT NULL, written_at TEXT NOT NULL, body BLOB NOT NULL, "
            "PRIMARY KEY (alias, region))"
        )
        db.executemany(
            "INSERT INTO meta (key, value) VALUES (?, ?)",
            [("application", APPLICATION), ("schema", str(SCHEMA))],
        )
    return db


def _files(path: Path) -> Iterator[Path]:
    yield path
    for suffix in ("-journal", "-wal", "-shm"):
        yield path.with_name(path.name + suffix)


def _replaced(path: Path, reason: str) -> None:
    log = structlog.get_logger("ggwatch.state")
    log.warning("state.replaced", path=str(path), reason=reason)


class StateWriter:
    """The one writer of the state file: pollers offer their cache after a complete pass (no
    await: the copy is taken on the loop), and `run` writes the newest offer of each target.
    A write that fails is logged once until one succeeds again; the daemon carries on."""

    def __init__(self, file: StateFile, clock: Callable[[], dt.datetime]) -> None:
        self.file = file
        self.clock = clock
        self._pending: dict[TargetId, tuple[str, Saved]] = {}
        self._wake = anyio.Event()
        self._failing = False
        self.log = structlog.get_logger("ggwatch.state")

    def offer(self, where: TargetId, account: str, cache: RegionCache) -> None:
        self._pending[where] = (account, Saved.of(cache))
        self._wake.set()

    async def run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake = anyio.Event()
            await self.flush()

    async def flush(self) -> None:
        pending, self._pending = self._pending, {}
        for where, (account, saved) in pending.items():
            try:
                await self.file.save(where, account, saved, self.clock())
            except Exception as exc:  # noqa: BLE001 - a full disk or a bug: monitoring goes on
                if not self._failing:
                    first = str(exc).splitlines()[0] if str(exc) else ""
                    error = f"{type(exc).__name__}: {first}"
                    self.log.warning("state.write_failed", path=str(self.file.path), error=error)
                self._failing = True
            else:
                if self._failing:
                    self.log.info("state.write_recovered", path=str(self.file.path))
                self._failing = False
