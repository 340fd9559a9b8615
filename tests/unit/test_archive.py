"""The deployment archive: GGWATCH_ARCHIVE_URI parsing, the document, the file archive on disk."""

from __future__ import annotations

import datetime as dt
import json
import stat
from pathlib import Path
from typing import Any

import pytest

from ggwatch.aws.archive import (
    ArchiveRecord,
    ArchiveTarget,
    FileArchive,
    archive_from_uri,
    encode,
    json_safe,
    parse_archive_uri,
)
from ggwatch.errors import EXIT_RUNTIME, EXIT_USAGE, ArchiveError, ConfigError

DEPLOYMENT_ID = "4f1c2d3e-5a6b-4c7d-8e9f-0a1b2c3d4e5f"
ACCOUNT = "123456789012"
TARGET_ARN = f"arn:aws:iot:us-west-2:{ACCOUNT}:thinggroup/line-1"


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
        "archived_at": dt.datetime(2026, 11, 24, 4, 37, 12, tzinfo=dt.UTC),
        "reason": "stale: superseded for 45 days",
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
  "region": "us-west-2"
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


async def test_an_existing_archive_is_replaced_whole(tmp_path: Path) -> None:
    archive = FileArchive(tmp_path)
    big = record(deployment={"deploymentId": DEPLOYMENT_ID, "padding": "x" * 100_000})
    await archive.write(big)
    await archive.write(record())
    assert final_path(tmp_path).read_bytes() == EXPECTED.encode("utf-8")
    assert all_files(tmp_path) == [final_path(tmp_path).relative_to(tmp_path)]  # no temp files


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
