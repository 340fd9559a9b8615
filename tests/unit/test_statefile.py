"""The state file (ggwatch.inventory.statefile): real SQLite in a temporary directory.

Every cache entry survives the round trip; a file that is garbage, truncated, another
program's or another schema's, or holds a row that does not decode, is replaced with one log
line and nothing of it is used.
"""

from __future__ import annotations

import datetime as dt
import sqlite3
import stat
from pathlib import Path

import pytest
from structlog.testing import capture_logs

from ggwatch.errors import ConfigError
from ggwatch.inventory.cache import (
    DescribedVersion,
    InstalledRead,
    ListedVersions,
    MembershipRead,
    Recommendation,
    RegionCache,
)
from ggwatch.inventory.statefile import Saved, StateFile, StateWriter
from ggwatch.model import (
    DeploymentDetail,
    Guidance,
    InstalledComponent,
    Recipe,
    RecipeDependency,
    TargetId,
    VersionRef,
    VersionStatus,
)

NOW = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
WEST = TargetId("prod", "us-west-2")
ACCOUNT = "123456789012"
CLI = VersionRef("aws.greengrass.Cli", "2.15.0")
APP = VersionRef("com.example.App", "1.0.0")


def full_cache() -> RegionCache:
    """A cache with an entry of every kind."""
    cache = RegionCache(describe_refresh=60.0)
    cache.details["d-1"] = DeploymentDetail("d-1", (CLI, APP), {"owner": "ops"})
    cache.details["d-2"] = DeploymentDetail("d-2", (APP,))  # tags: the model's read-only {}
    cache.versions[CLI] = DescribedVersion(
        VersionStatus(CLI, "arn:aws:greengrass:x", Guidance.DISCONTINUED, "Bye."), NOW
    )
    cache.installed["core-1"] = InstalledRead(
        NOW - dt.timedelta(hours=1),
        (InstalledComponent("com.example.App", "1.0.0", is_root=True, lifecycle_state="RUNNING"),),
        NOW,
    )
    cache.recommended["aws.greengrass.Cli"] = Recommendation("2.15.1", 3, NOW)
    cache.recipes[APP] = Recipe(
        APP,
        "aws.greengrass.generic",
        (RecipeDependency("aws.greengrass.Cli", ">=2.14.0 <2.16.0", "SOFT"),),
        ((("os", "linux"),),),
    )
    cache.recipes[VersionRef("com.example.Gone", "0.1.0")] = None
    cache.listed["aws.greengrass.Cli"] = ListedVersions(("2.15.1", "2.15.0"), NOW)
    cache.membership = MembershipRead(
        "direct",
        frozenset({"line-1"}),
        frozenset({"core-1", "core-2"}),
        {"core-1": frozenset({"line-1"})},
        {"line-1": 1},
        NOW,
    )
    cache.minimal_calls = 42
    return cache


def entries(cache: RegionCache) -> Saved:
    return Saved.of(cache)


async def saved_file(path: Path, cache: RegionCache | None = None) -> None:
    file = await StateFile.open(path)
    await file.save(WEST, ACCOUNT, Saved.of(cache or full_cache()), NOW)
    file.close()


async def test_every_entry_survives_a_restart(tmp_path: Path) -> None:
    path = tmp_path / "state" / "ggwatch.db"
    await saved_file(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600

    file = await StateFile.open(path)
    restored = await file.load()
    file.close()
    assert set(restored) == {WEST}
    (row,) = restored.values()
    assert (row.account, row.written_at) == (ACCOUNT, NOW)
    cache = row.saved.into(RegionCache(describe_refresh=5.0))
    assert entries(cache) == entries(full_cache())
    assert cache.describe_refresh == 5.0  # today's settings, not the saved ones


async def test_a_second_save_replaces_the_targets_row_and_forget_drops_others(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ggwatch.db"
    file = await StateFile.open(path)
    await file.save(WEST, ACCOUNT, Saved.of(full_cache()), NOW)
    empty = RegionCache()
    await file.save(WEST, ACCOUNT, Saved.of(empty), NOW + dt.timedelta(minutes=5))
    await file.save(TargetId("prod", "eu-west-1"), ACCOUNT, Saved.of(empty), NOW)
    await file.forget({WEST})
    restored = await file.load()
    file.close()
    assert set(restored) == {WEST}
    assert restored[WEST].saved == Saved.of(empty)


def truncated(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def garbage(path: Path) -> None:
    path.write_bytes(b"\x00garbage, not SQLite\n" * 300)


def foreign(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = 'someone-else' WHERE key = 'application'")


def other_schema(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema'")


def bad_row(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE caches SET body = ?", (b'{"details": "not a list"}',))


@pytest.mark.parametrize("spoil", [truncated, garbage, foreign, other_schema, bad_row])
async def test_a_spoilt_file_is_replaced_with_one_log_line(tmp_path: Path, spoil: object) -> None:
    path = tmp_path / "ggwatch.db"
    await saved_file(path)
    assert callable(spoil)
    spoil(path)
    with capture_logs() as logs:
        file = await StateFile.open(path)
        restored = await file.load()
    assert restored == {}
    assert [e["event"] for e in logs] == ["state.replaced"]
    assert logs[0]["path"] == str(path)
    # What replaced it is a working, empty state file.
    await file.save(WEST, ACCOUNT, Saved.of(full_cache()), NOW)
    file.close()
    again = await StateFile.open(path)
    assert set(await again.load()) == {WEST}
    again.close()


async def test_a_new_file_is_created_without_a_word(tmp_path: Path) -> None:
    with capture_logs() as logs:
        file = await StateFile.open(tmp_path / "new.db")
        assert await file.load() == {}
    file.close()
    assert logs == []


async def test_the_writer_writes_the_newest_offer_and_survives_a_failing_disk(
    tmp_path: Path,
) -> None:
    path = tmp_path / "ggwatch.db"
    file = await StateFile.open(path)
    writer = StateWriter(file, lambda: NOW)
    writer.offer(WEST, ACCOUNT, RegionCache())
    writer.offer(WEST, ACCOUNT, full_cache())  # the newer offer wins
    await writer.flush()
    assert (await file.load())[WEST].saved == Saved.of(full_cache())

    file.close()  # every write now fails
    with capture_logs() as logs:
        for _ in range(3):
            writer.offer(WEST, ACCOUNT, full_cache())
            await writer.flush()
    assert [e["event"] for e in logs] == ["state.write_failed"]


async def test_a_place_where_no_file_can_be_made_is_a_config_error(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"state_path .*: cannot create the state file"):
        await StateFile.open(blocker / "ggwatch.db")
