"""The deployment archive: GGWATCH_ARCHIVE_URI parsing, the document, the file archive on disk."""

from __future__ import annotations

import datetime as dt
import json
import os
import shlex
import shutil
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import anyio
import pytest

from ggwatch.archive.files import FileArchive
from ggwatch.archive.open import archive_from_uri
from ggwatch.archive.record import ArchiveRecord, encode, held_by, json_safe
from ggwatch.archive.uri import ArchiveTarget, parse_archive_uri
from ggwatch.errors import EXIT_RUNTIME, EXIT_USAGE, ArchiveError, ArchiveHeld, ConfigError

DEPLOYMENT_ID = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
ACCOUNT = "123456789012"
TARGET_ARN = f"arn:aws:iot:us-west-2:{ACCOUNT}:thinggroup/line-1"
WRITER = "host-a:4242:0123456789ab"
ARCHIVED_AT = dt.datetime(2026, 11, 24, 4, 37, 12, tzinfo=dt.UTC)


def record(**changes: Any) -> ArchiveRecord:
    fields: dict[str, Any] = {
        "region": "us-west-2",
        "account": ACCOUNT,
        "deployment_id": DEPLOYMENT_ID,
        "deployment": {
            "deploymentId": DEPLOYMENT_ID,
            "targetArn": TARGET_ARN,
            "deploymentStatus": "COMPLETED",
            # Not converted by the caller: the archive must turn it into ISO-8601 UTC.
            "creationTimestamp": dt.datetime(
                2026, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2))
            ),
            "components": {"com.example.Hello": {"componentVersion": "1.0.0"}},
            "tags": {"owner": "ünïcode"},
        },
        "ggwatch_version": "0.1.0",
        "archived_at": ARCHIVED_AT,
        "reason": "stale: superseded for 45 days",
        "writer": WRITER,
    }
    fields.update(changes)
    return ArchiveRecord(**fields)


EXPECTED = """\
{
  "account": "123456789012",
  "archived_at": "2026-11-24T04:37:12Z",
  "deployment": {
    "components": {
      "com.example.Hello": {
        "componentVersion": "1.0.0"
      }
    },
    "creationTimestamp": "2026-01-02T03:04:05Z",
    "deploymentId": "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
    "deploymentStatus": "COMPLETED",
    "tags": {
      "owner": "ünïcode"
    },
    "targetArn": "arn:aws:iot:us-west-2:123456789012:thinggroup/line-1"
  },
  "deployment_id": "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f",
  "ggwatch_version": "0.1.0",
  "reason": "stale: superseded for 45 days",
  "region": "us-west-2",
  "writer": "host-a:4242:0123456789ab"
}
"""


def final_path(root: Path, account: str = ACCOUNT) -> Path:
    return root / "us-west-2" / account / f"{DEPLOYMENT_ID}.json"


def all_files(root: Path) -> list[Path]:
    return sorted(p.relative_to(root) for p in root.rglob("*") if not p.is_dir())


# -- the file archive ---------------------------------------------------------------------------


async def test_writes_the_exact_document_at_the_exact_path(tmp_path: Path) -> None:
    root = tmp_path / "archive"  # made on demand, with the Region and account below it
    location = await FileArchive(root).write(record())
    path = final_path(root)
    assert location == str(path)
    assert path.read_bytes() == EXPECTED.encode("utf-8")
    assert all_files(root) == [path.relative_to(root)]


async def test_the_file_is_for_its_owner_only(tmp_path: Path) -> None:
    await FileArchive(tmp_path).write(record())
    assert stat.S_IMODE(final_path(tmp_path).stat().st_mode) == 0o600


async def test_an_unknown_account_has_its_own_directory(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    location = await archive.write(record(account=None))
    assert location == str(final_path(tmp_path, "unknown"))
    assert json.loads(final_path(tmp_path, "unknown").read_bytes())["account"] is None
    assert await archive.exists("us-west-2", None, DEPLOYMENT_ID)
    assert not await archive.exists("us-west-2", ACCOUNT, DEPLOYMENT_ID)


async def test_an_existing_record_is_held_never_replaced(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    first = record(deployment={"deploymentId": DEPLOYMENT_ID, "padding": "x" * 100_000})
    await archive.write(first)
    later = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    with pytest.raises(ArchiveHeld) as caught:
        await archive.write(record(writer="host-b:7:ffffffffffff", archived_at=later))
    held = caught.value
    # What the record on disk says, not what the loser asked to write.
    assert (held.location, held.archived_at, held.writer) == (
        str(final_path(tmp_path)),
        ARCHIVED_AT,
        WRITER,
    )
    assert held.archived_at is not None
    assert held.archived_at.tzinfo == dt.UTC
    assert str(held) == (
        f"archive {final_path(tmp_path)} exists already: "
        f"archived 2026-11-24T04:37:12+00:00 by {WRITER}"
    )
    assert isinstance(held, ArchiveError)
    assert held.exit_code == EXIT_RUNTIME
    assert final_path(tmp_path).read_bytes() == encode(first)
    assert all_files(tmp_path) == [final_path(tmp_path).relative_to(tmp_path)]  # no temp files


async def test_of_racing_writers_exactly_one_creates_the_record(tmp_path: Path) -> None:
    # Each write runs in its own worker thread, so these race in the file system for real.
    archive = FileArchive(tmp_path)
    writers = [f"host-{n}:{1000 + n}:{n:012x}" for n in range(8)]
    paths = []

    async def attempt(results: dict[str, str | ArchiveHeld], writer: str, deployment: str) -> None:
        try:
            results[writer] = await archive.write(
                record(deployment_id=deployment, writer=writer, reason=writer)
            )
        except ArchiveHeld as held:
            results[writer] = held

    for round_ in range(12):
        deployment_id = f"race-{round_}"
        results: dict[str, str | ArchiveHeld] = {}
        async with anyio.create_task_group() as tg:
            for writer in writers:
                tg.start_soon(attempt, results, writer, deployment_id)
        path = tmp_path / "us-west-2" / ACCOUNT / f"{deployment_id}.json"
        paths.append(path.relative_to(tmp_path))
        (winner,) = [w for w, result in results.items() if result == str(path)]
        for writer, result in results.items():
            if writer != winner:
                assert isinstance(result, ArchiveHeld), result
                assert (result.location, result.writer, result.archived_at) == (
                    str(path),
                    winner,
                    ARCHIVED_AT,
                )
        # Complete and parseable: the winner's document, whole.
        won = record(deployment_id=deployment_id, writer=winner, reason=winner)
        assert path.read_bytes() == encode(won)
        assert json.loads(path.read_bytes())["writer"] == winner
    assert all_files(tmp_path) == sorted(paths)  # no temp file of any loser is left


@pytest.mark.parametrize(
    ("body", "archived_at", "writer", "detail"),
    [
        (b'{"archived_at": "2026-11-', None, None, "unreadable: not JSON: "),
        (b'{"writer": "\xc3\x28"}', None, None, "unreadable: not JSON: "),  # not UTF-8
        (b"[1, 2]", None, None, "unreadable: not a JSON object"),
        (b"", None, None, "unreadable: not JSON: "),
        # Written before records named their writer.
        (b'{"archived_at": "2026-11-24T04:37:12Z"}', ARCHIVED_AT, None, ""),
        (b'{"archived_at": "2026-11-24T04:37:12", "writer": ""}', ARCHIVED_AT, None, ""),
        (b'{"archived_at": "2026-11-24T06:37:12+02:00", "writer": "w"}', ARCHIVED_AT, "w", ""),
        (b'{"archived_at": 1764000000, "writer": 7}', None, None, ""),
        (b'{"archived_at": "yesterday", "writer": "w"}', None, "w", ""),
    ],
)
async def test_an_unreadable_record_is_held_with_what_can_be_read(
    tmp_path: Path, body: bytes, archived_at: dt.datetime | None, writer: str | None, detail: str
) -> None:
    path = final_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    with pytest.raises(ArchiveHeld) as caught:
        await FileArchive(tmp_path).write(record())
    held = caught.value
    assert (held.location, held.archived_at, held.writer) == (str(path), archived_at, writer)
    assert held.detail.startswith(detail) if detail else held.detail == ""
    assert "\n" not in str(held)
    assert path.read_bytes() == body  # left as it was
    assert all_files(tmp_path) == [path.relative_to(tmp_path)]


def test_held_by_reads_back_what_encode_writes() -> None:
    held = held_by("/a/b.json", encode(record()))
    assert (held.location, held.archived_at, held.writer, held.detail) == (
        "/a/b.json",
        ARCHIVED_AT,
        WRITER,
        "",
    )
    unknown = held_by("/a/b.json", b"nonsense")
    assert str(unknown).startswith(
        "archive /a/b.json exists already: archived at an unknown time by unknown (unreadable: "
    )


async def test_a_failed_replace_leaves_no_temp_file(tmp_path: Path) -> None:
    blocker = final_path(tmp_path)
    (blocker / "occupied").mkdir(parents=True)  # a non-empty directory where the file goes
    with pytest.raises(ArchiveError) as caught:
        await FileArchive(tmp_path).write(record())
    assert str(caught.value) == f"cannot write archive {blocker}: Is a directory"
    assert all_files(tmp_path) == []


async def test_exists_only_for_a_written_archive(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    assert not await archive.exists("us-west-2", ACCOUNT, DEPLOYMENT_ID)
    await archive.write(record())
    assert await archive.exists("us-west-2", ACCOUNT, DEPLOYMENT_ID)
    assert not await archive.exists("eu-central-1", ACCOUNT, DEPLOYMENT_ID)
    assert not await archive.exists("us-west-2", ACCOUNT, "0" + DEPLOYMENT_ID[1:])


async def test_a_symlink_where_the_record_goes_is_not_followed(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_bytes(encode(record(writer="someone-else")))
    path = final_path(tmp_path / "archive")
    path.parent.mkdir(parents=True)
    path.symlink_to(elsewhere)
    with pytest.raises(ArchiveError) as caught:
        await FileArchive(tmp_path / "archive").write(record())
    assert not isinstance(caught.value, ArchiveHeld)
    assert str(caught.value) == f"cannot write archive {path}: not a regular file"


async def test_a_directory_under_a_regular_file_cannot_be_written(tmp_path: Path) -> None:
    # Tests run as root, which chmod cannot stop; a file where a directory must be stops anyone.
    (tmp_path / "plain-file").write_text("not a directory", encoding="utf-8")
    root = tmp_path / "plain-file" / "archive"
    archive = FileArchive(root)
    with pytest.raises(ArchiveError) as caught:
        await archive.write(record())
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"cannot write archive {final_path(root)}: ")
    assert message.endswith(f"{tmp_path / 'plain-file'}: Not a directory")
    assert isinstance(caught.value.__cause__, OSError)
    assert caught.value.exit_code == EXIT_RUNTIME
    assert not await archive.exists("us-west-2", ACCOUNT, DEPLOYMENT_ID)


# -- the file archive's probe -------------------------------------------------------------------

# The probe in a child process, for what this process cannot arrange for itself: being refused
# (root, but without the capabilities that let it ignore a file's mode), or a mount of its own.
# The child prints the location, or the ArchiveError.
CHILD = """
import asyncio, sys
from pathlib import Path
from ggwatch.archive.files import FileArchive
from ggwatch.errors import ArchiveError
try:
    print("ok", asyncio.run(FileArchive(Path(sys.argv[1])).probe()))
except ArchiveError as exc:
    print("error", exc)
"""
MOUNT_FAILED = 97


def probe_in_child(
    archive: Path, *, tmpfs: str | None = None, mount_at: Path | None = None, bound: bool = False
) -> str:
    """`bound`: held to file modes even as root; `tmpfs`: mount options for a tmpfs at
    `mount_at` (default: the archive) that only the child sees."""
    command = [sys.executable, "-c", CHILD, str(archive)]
    if bound and os.geteuid() == 0:
        if shutil.which("setpriv") is None:
            pytest.skip("chmod does not stop root, and setpriv(1) is not here to change that")
        command = ["setpriv", "--bounding-set", "-dac_override,-dac_read_search,-fowner", *command]
    if tmpfs is not None:
        if os.geteuid() != 0 or shutil.which("unshare") is None:
            pytest.skip("a tmpfs of the test's own needs root and unshare(1)")
        # A private mount namespace: the mount is gone with the child, and nobody else sees it.
        where = shlex.quote(str(mount_at or archive))
        mount = f"mount -t tmpfs -o {shlex.quote(tmpfs)} ggwatch-test {where}"
        script = f'{mount} || exit {MOUNT_FAILED}; exec "$@"'
        unshare = ["unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"]
        command = [*unshare, *command]
    done = subprocess.run(command, capture_output=True, text=True, timeout=60, check=False)
    if tmpfs is not None and (done.returncode == MOUNT_FAILED or "unshare:" in done.stderr):
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.strip()}")
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


async def test_probe_makes_the_directory_and_leaves_nothing_behind(tmp_path: Path) -> None:
    root = tmp_path / "new" / "archive"
    archive = FileArchive(root)
    assert await archive.probe() == str(root)
    assert await archive.probe() == str(root)  # again: nothing of the first is in the way
    assert root.is_dir()
    assert list(root.iterdir()) == []


async def test_probe_of_a_regular_file_fails(tmp_path: Path) -> None:
    plain = tmp_path / "plain-file"
    plain.write_text("not a directory", encoding="utf-8")
    with pytest.raises(ArchiveError) as caught:
        await FileArchive(plain).probe()
    assert str(caught.value) == f"cannot write archive {plain}: Not a directory"
    assert isinstance(caught.value.__cause__, NotADirectoryError)
    assert plain.read_text(encoding="utf-8") == "not a directory"


async def test_probe_under_a_regular_file_names_the_file(tmp_path: Path) -> None:
    (tmp_path / "plain-file").write_text("not a directory", encoding="utf-8")
    root = tmp_path / "plain-file" / "archive"
    with pytest.raises(ArchiveError) as caught:
        await FileArchive(root).probe()
    assert str(caught.value) == (
        f"cannot write archive {root}: {tmp_path / 'plain-file'}: Not a directory"
    )


def test_probe_of_a_directory_it_may_not_write_fails(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    locked.chmod(0o500)
    try:
        assert probe_in_child(locked, bound=True) == (
            f"error cannot write archive {locked}: Permission denied"
        )
        # Missing and not to be made: named as the archive, not as its parent.
        assert probe_in_child(locked / "archive", bound=True) == (
            f"error cannot write archive {locked / 'archive'}: Permission denied"
        )
        assert list(locked.iterdir()) == []
    finally:
        locked.chmod(0o700)  # for pytest's clean-up


@pytest.mark.parametrize("below", ["", "archive"], ids=["the-mount", "a-new-directory"])
def test_probe_on_a_read_only_file_system_fails(tmp_path: Path, below: str) -> None:
    root = tmp_path / below if below else tmp_path
    answer = probe_in_child(root, tmpfs="ro,size=64k", mount_at=tmp_path)
    assert answer == f"error cannot write archive {root}: Read-only file system"


def test_probe_on_a_full_file_system_fails(tmp_path: Path) -> None:
    # No inode left (the root directory takes the only one): what a full disk answers, ENOSPC.
    answer = probe_in_child(tmp_path, tmpfs="size=64k,nr_inodes=1")
    assert answer == f"error cannot write archive {tmp_path}: No space left on device"


def test_probe_on_a_writable_tmpfs_succeeds(tmp_path: Path) -> None:
    # The same mount without the fault: the failures above are the file system's, not the mount's.
    answer = probe_in_child(tmp_path / "archive", tmpfs="size=64k", mount_at=tmp_path)
    assert answer == f"ok {tmp_path / 'archive'}"


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("deployment_id", "../../etc/passwd"),
        ("deployment_id", "a/b"),
        ("deployment_id", ""),
        ("deployment_id", ".."),
        ("region", "us-west-2/.."),
        ("account", "12/34"),
    ],
)
async def test_a_part_that_is_not_one_path_segment_is_refused(
    tmp_path: Path, field: str, value: str
) -> None:
    archive = FileArchive(tmp_path / "archive")
    with pytest.raises(ArchiveError, match="not a safe path segment"):
        await archive.write(record(**{field: value}))
    assert all_files(tmp_path) == []


async def test_what_json_cannot_hold_is_an_archive_error(tmp_path: Path) -> None:
    with pytest.raises(ArchiveError, match=f"deployment {DEPLOYMENT_ID}: not JSON"):
        await FileArchive(tmp_path).write(record(deployment={"blob": b"\x00"}))
    with pytest.raises(ArchiveError, match="not JSON"):
        encode(record(deployment={"rate": float("nan")}))
    assert all_files(tmp_path) == []


def test_json_safe_turns_datetimes_into_utc_strings_at_any_depth() -> None:
    plus_two = dt.timezone(dt.timedelta(hours=2))
    value = {
        "aware": dt.datetime(2026, 1, 2, 5, 4, 5, 123000, tzinfo=plus_two),
        "naive": dt.datetime(2026, 1, 2, 3, 4, 5),  # taken as UTC
        "nested": [{"at": (dt.datetime(2026, 1, 2, tzinfo=dt.UTC),)}],
        "day": dt.date(2026, 1, 2),
        "plain": [1, 2.5, None, True, "text"],
    }
    assert json_safe(value) == {
        "aware": "2026-01-02T03:04:05.123000Z",
        "naive": "2026-01-02T03:04:05Z",
        "nested": [{"at": ["2026-01-02T00:00:00Z"]}],
        "day": "2026-01-02",
        "plain": [1, 2.5, None, True, "text"],
    }


# -- GGWATCH_ARCHIVE_URI ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("uri", "target"),
    [
        (
            "file:///var/lib/ggwatch/archive",
            ArchiveTarget("file", Path("/var/lib/ggwatch/archive")),
        ),
        (
            "file:///var/lib/ggwatch/archive/",
            ArchiveTarget("file", Path("/var/lib/ggwatch/archive")),
        ),
        ("file://localhost/srv/archive", ArchiveTarget("file", Path("/srv/archive"))),
        ("file:///srv/with%20space", ArchiveTarget("file", Path("/srv/with space"))),
        ("  file:///srv/archive\n", ArchiveTarget("file", Path("/srv/archive"))),
        ("s3://my-bucket", ArchiveTarget("s3", bucket="my-bucket")),
        ("s3://my-bucket/", ArchiveTarget("s3", bucket="my-bucket")),
        ("s3://abc/ggwatch", ArchiveTarget("s3", bucket="abc", prefix="ggwatch")),
        (
            "s3://archive.example-1/ggwatch/deployments/",
            ArchiveTarget("s3", bucket="archive.example-1", prefix="ggwatch/deployments"),
        ),
        ("s3://" + "a" * 63 + "//p//", ArchiveTarget("s3", bucket="a" * 63, prefix="p")),
    ],
)
def test_valid_uris(uri: str, target: ArchiveTarget) -> None:
    assert parse_archive_uri(uri) == target


@pytest.mark.parametrize(
    ("uri", "complaint"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("archive", "not a URI"),
        ("/var/lib/archive", "use file:///var/lib/archive"),
        ("file://var/lib/archive", "takes no host ('var')"),
        ("file:relative/dir", "relative"),
        ("file:///srv/a%0Ab", "control characters"),
        ("file:///srv/a?b", "no query"),
        ("http://example.com/archive", "scheme 'http' is not supported"),
        ("S4://bucket", "scheme 's4' is not supported"),
        ("s3://", "no bucket"),
        ("s3:///prefix", "no bucket"),
        ("s3://ab", "3 to 63 characters"),
        ("s3://" + "a" * 64, "3 to 63 characters"),
        ("s3://My-Bucket", "lowercase letters, digits, dots and hyphens"),
        ("s3://my_bucket", "lowercase letters, digits, dots and hyphens"),
        ("s3://user@bucket/p", "lowercase letters, digits, dots and hyphens"),
        ("s3://bucket:9000/p", "lowercase letters, digits, dots and hyphens"),
        ("s3://-bucket", "begin and end with a letter or digit"),
        ("s3://bucket.", "begin and end with a letter or digit"),
        ("s3://my..bucket", "two adjacent dots"),
        ("s3://192.168.1.10", "IP address"),
        ("s3://bucket/p?versionId=1", "no query"),
        ("s3://bucket/a\tb", "control characters"),
    ],
)
def test_invalid_uris(uri: str, complaint: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_archive_uri(uri)
    message = str(caught.value)
    assert message.startswith("GGWATCH_ARCHIVE_URI=")
    assert complaint in message
    assert "\n" not in message
    assert caught.value.exit_code == EXIT_USAGE


def test_a_target_prints_as_its_uri() -> None:
    for uri in ("file:///srv/with%20space", "s3://my-bucket", "s3://my-bucket/a/b"):
        assert str(parse_archive_uri(uri)) == uri


async def test_archive_from_uri_opens_a_file_archive(tmp_path: Path) -> None:
    async with archive_from_uri(tmp_path.as_uri()) as archive:
        assert isinstance(archive, FileArchive)
        assert await archive.write(record()) == str(final_path(tmp_path))


def test_archive_from_uri_refuses_a_bad_uri_before_it_is_entered() -> None:
    with pytest.raises(ConfigError, match="GGWATCH_ARCHIVE_URI"):
        archive_from_uri("file:relative")
