"""The S3 archive against moto's S3 server on loopback, through a real aiobotocore client.

The archive finds the server only through AWS_ENDPOINT_URL_S3, as a user's configuration would
point it; nothing in the client is patched. moto's server runs in this process, in a thread
(the session's `moto_endpoint`, shared with other modules). What moto cannot be made to answer
(409 ConditionalRequestConflict, 403 AccessDenied, a store that ignores If-None-Match) comes
from a small scripted S3 on loopback instead (`scripted`), still through the real client.
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import anyio
import pytest
from aiobotocore.session import get_session
from aiohttp import web

from ggwatch.archive.open import archive_from_uri
from ggwatch.archive.record import ArchiveRecord, encode
from ggwatch.aws.s3_archive import CONFLICT_ATTEMPTS, S3Archive
from ggwatch.errors import ArchiveError, ArchiveHeld

REGION = "us-west-2"  # the autouse fixture's AWS_DEFAULT_REGION
ACCOUNT = "123456789012"
BUCKET = "ggwatch-archive"
PREFIX = "fleet/deployments"
DEPLOYMENT_ID = "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a"
WRITER = "host-a:4242:0123456789ab"
ARCHIVED_AT = dt.datetime(2026, 11, 24, 4, 37, 12, tzinfo=dt.UTC)


@pytest.fixture
def endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """moto's S3, from the session's shared moto server (tests/conftest.py)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", moto_endpoint)
    yield moto_endpoint
    # moto keeps its state per process: forget this test's buckets before the next one.
    reset = urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10) as answer:
        assert answer.status == 200


@pytest.fixture
async def s3(endpoint: str) -> AsyncIterator[Any]:
    """A plain client for the test's own checks, configured only by the environment."""
    async with get_session().create_client("s3") as client:
        yield client


@pytest.fixture
async def bucket(s3: Any) -> str:
    await s3.create_bucket(Bucket=BUCKET, CreateBucketConfiguration={"LocationConstraint": REGION})
    return BUCKET


@pytest.fixture
async def archive(endpoint: str) -> AsyncIterator[S3Archive]:
    async with archive_from_uri(f"s3://{BUCKET}/{PREFIX}/") as opened:
        assert isinstance(opened, S3Archive)
        yield opened


def record(**changes: Any) -> ArchiveRecord:
    fields: dict[str, Any] = {
        "region": REGION,
        "account": ACCOUNT,
        "deployment_id": DEPLOYMENT_ID,
        "deployment": {
            "deploymentId": DEPLOYMENT_ID,
            "targetArn": f"arn:aws:iot:{REGION}:{ACCOUNT}:thing/core-1",
            "creationTimestamp": dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC),
            "components": {"aws.greengrass.Nucleus": {"componentVersion": "2.12.0"}},
        },
        "ggwatch_version": "0.1.0",
        "archived_at": ARCHIVED_AT,
        "reason": "stale",
        "writer": WRITER,
    }
    fields.update(changes)
    return ArchiveRecord(**fields)


KEY = f"{PREFIX}/{REGION}/{ACCOUNT}/{DEPLOYMENT_ID}.json"
PROBE_KEY = f"{PREFIX}/.ggwatch-probe"


async def read(s3: Any, key: str) -> tuple[bytes, dict[str, Any]]:
    answer = await s3.get_object(Bucket=BUCKET, Key=key)
    async with answer["Body"] as stream:
        return await stream.read(), answer


async def keys(s3: Any) -> list[str]:
    listing = await s3.list_objects_v2(Bucket=BUCKET)
    return [item["Key"] for item in listing.get("Contents", [])]


async def test_write_puts_the_document_encrypted(archive: S3Archive, bucket: str, s3: Any) -> None:
    location = await archive.write(record())
    assert location == f"s3://{bucket}/{KEY}"

    answer = await s3.get_object(Bucket=bucket, Key=KEY)
    async with answer["Body"] as stream:
        body = await stream.read()
    assert body == encode(record())
    document = json.loads(body)
    assert document["deployment"]["creationTimestamp"] == "2026-01-02T03:04:05Z"
    assert document["archived_at"] == "2026-11-24T04:37:12Z"
    assert document["writer"] == WRITER
    assert answer["ServerSideEncryption"] == "AES256"
    assert answer["ContentType"] == "application/json"
    listing = await s3.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listing["Contents"]] == [KEY]


async def test_a_second_write_is_held_by_the_first(
    archive: S3Archive, bucket: str, s3: Any
) -> None:
    await archive.write(record(reason="first"))
    later = dt.datetime(2026, 11, 25, tzinfo=dt.UTC)
    with pytest.raises(ArchiveHeld) as caught:
        await archive.write(
            record(reason="second", writer="host-b:7:ffffffffffff", archived_at=later)
        )
    held = caught.value
    # What the stored record says (read back with GetObject), not what the loser sent.
    assert (held.location, held.archived_at, held.writer, held.detail) == (
        f"s3://{bucket}/{KEY}",
        ARCHIVED_AT,
        WRITER,
        "",
    )
    body, _ = await read(s3, KEY)
    assert body == encode(record(reason="first"))


async def test_of_racing_writers_exactly_one_creates_the_record(
    archive: S3Archive, bucket: str, s3: Any
) -> None:
    # moto checks If-None-Match and then stores, in a threaded server: not atomic as S3's check
    # is, but the gap is a few lines of Python, and 300 rounds of 6 writers saw no double win.
    writers = [f"host-{n}:{1000 + n}:{n:012x}" for n in range(6)]
    results: dict[str, str | ArchiveHeld] = {}

    async def attempt(writer: str) -> None:
        try:
            results[writer] = await archive.write(record(writer=writer, reason=writer))
        except ArchiveHeld as held:
            results[writer] = held

    async with anyio.create_task_group() as tg:
        for writer in writers:
            tg.start_soon(attempt, writer)
    (winner,) = [w for w, result in results.items() if result == f"s3://{bucket}/{KEY}"]
    for writer, result in results.items():
        if writer != winner:
            assert isinstance(result, ArchiveHeld), result
            assert (result.writer, result.archived_at) == (winner, ARCHIVED_AT)
    body, _ = await read(s3, KEY)
    assert body == encode(record(writer=winner, reason=winner))  # complete: the winner's own
    assert await keys(s3) == [KEY]  # nothing else: no temp objects, no half-written key


@pytest.mark.parametrize(
    ("body", "archived_at", "writer", "detail"),
    [
        (b"<html>not json</html>", None, None, "unreadable: not JSON: "),
        (b'{"archived_at": "2026-11-24T04:37:12Z"}', ARCHIVED_AT, None, ""),
    ],
)
async def test_an_unreadable_record_is_held_with_what_can_be_read(
    archive: S3Archive,
    bucket: str,
    s3: Any,
    body: bytes,
    archived_at: dt.datetime | None,
    writer: str | None,
    detail: str,
) -> None:
    await s3.put_object(Bucket=bucket, Key=KEY, Body=body)
    with pytest.raises(ArchiveHeld) as caught:
        await archive.write(record())
    held = caught.value
    assert (held.location, held.archived_at, held.writer) == (
        f"s3://{bucket}/{KEY}",
        archived_at,
        writer,
    )
    assert held.detail.startswith(detail) if detail else held.detail == ""
    assert (await read(s3, KEY))[0] == body


async def test_probe_puts_a_marker_under_the_prefix(
    archive: S3Archive, bucket: str, s3: Any
) -> None:
    assert await archive.probe() == f"s3://{bucket}/{PREFIX}"
    assert await archive.probe() == f"s3://{bucket}/{PREFIX}"  # a fixed key, overwritten
    body, answer = await read(s3, PROBE_KEY)
    assert json.loads(body) == {"ggwatch": "archive probe"}
    assert answer["ServerSideEncryption"] == "AES256"
    assert await keys(s3) == [PROBE_KEY]
    assert not await archive.exists(REGION, ACCOUNT, DEPLOYMENT_ID)


async def test_probe_without_a_prefix_puts_the_marker_at_the_root(
    endpoint: str, bucket: str, s3: Any
) -> None:
    async with archive_from_uri(f"s3://{bucket}") as archive:
        assert await archive.probe() == f"s3://{bucket}"
    assert await keys(s3) == [".ggwatch-probe"]


async def test_probe_of_a_missing_bucket_fails(archive: S3Archive) -> None:
    with pytest.raises(ArchiveError) as caught:
        await archive.probe()
    message = str(caught.value)
    assert message.startswith(
        f"cannot archive to s3://{BUCKET}/{PROBE_KEY}: PutObject: NoSuchBucket: "
    )
    assert "\n" not in message


async def test_without_a_prefix_the_key_starts_at_the_region(
    endpoint: str, bucket: str, s3: Any
) -> None:
    async with archive_from_uri(f"s3://{bucket}") as archive:
        location = await archive.write(record(account=None))
    key = f"{REGION}/unknown/{DEPLOYMENT_ID}.json"
    assert location == f"s3://{bucket}/{key}"
    await s3.head_object(Bucket=bucket, Key=key)


async def test_exists_only_for_a_written_archive(archive: S3Archive, bucket: str) -> None:
    assert not await archive.exists(REGION, ACCOUNT, DEPLOYMENT_ID)
    await archive.write(record())
    assert await archive.exists(REGION, ACCOUNT, DEPLOYMENT_ID)
    assert not await archive.exists(REGION, None, DEPLOYMENT_ID)
    assert not await archive.exists("eu-central-1", ACCOUNT, DEPLOYMENT_ID)


async def test_a_missing_bucket_is_an_archive_error(archive: S3Archive) -> None:
    with pytest.raises(ArchiveError) as caught:
        await archive.write(record())
    message = str(caught.value)
    assert message.startswith(f"cannot archive to s3://{BUCKET}/{KEY}: PutObject: NoSuchBucket: ")
    assert "\n" not in message
    # HeadObject answers a missing bucket as a missing key: not archived, which is the safe side.
    assert not await archive.exists(REGION, ACCOUNT, DEPLOYMENT_ID)


async def test_no_endpoint_is_an_archive_error(monkeypatch: pytest.MonkeyPatch) -> None:
    # A closed loopback port; one attempt, from the standard AWS configuration, keeps it quick.
    monkeypatch.setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    async with archive_from_uri(f"s3://{BUCKET}") as archive:
        with pytest.raises(ArchiveError, match=r"PutObject: EndpointConnectionError: ") as caught:
            await archive.write(record())
        with pytest.raises(ArchiveError, match=r"HeadObject: EndpointConnectionError: "):
            await archive.exists(REGION, ACCOUNT, DEPLOYMENT_ID)
        with pytest.raises(
            ArchiveError,
            match=rf"^cannot archive to s3://{BUCKET}/\.ggwatch-probe: PutObject: "
            "EndpointConnectionError: ",
        ):
            await archive.probe()
    assert "\n" not in str(caught.value)


# -- what moto cannot be made to answer ---------------------------------------------------------


@dataclass
class ScriptedS3:
    """Answers each PutObject with the next (status, code) of `puts` (the last one repeats),
    and GetObject with `stored`, or NoSuchKey; records what it was sent."""

    puts: list[tuple[int, str]] = field(default_factory=lambda: [(200, "")])
    stored: bytes | None = None
    seen: list[tuple[str, str, str | None]] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.seen.append((request.method, request.path, request.headers.get("If-None-Match")))
        if request.method == "PUT":
            status, code = self.puts.pop(0) if len(self.puts) > 1 else self.puts[0]
            if status == 200:
                return web.Response(headers={"ETag": '"0123456789abcdef"'})
            return error(status, code)
        if request.method == "GET" and self.stored is not None:
            return web.Response(body=self.stored, content_type="application/json")
        return error(404, "NoSuchKey")


def error(status: int, code: str) -> web.Response:
    body = f"<Error><Code>{code}</Code><Message>scripted {code}</Message></Error>"
    return web.Response(status=status, text=body, content_type="application/xml")


@pytest.fixture
async def scripted(monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[ScriptedS3]:
    script = ScriptedS3()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", script.handle)
    runner = web.AppRunner(app, access_log=None, handle_signals=False)
    await runner.setup()
    try:
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        monkeypatch.setenv("AWS_ENDPOINT_URL_S3", f"http://127.0.0.1:{runner.addresses[0][1]}")
        monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")  # what S3 answers, not the SDK's retries
        yield script
    finally:
        await runner.cleanup()


PUT_KEY = ("PUT", f"/{BUCKET}/{KEY}", "*")
GET_KEY = ("GET", f"/{BUCKET}/{KEY}", None)


async def test_a_conflict_is_retried_and_then_meets_the_winner(scripted: ScriptedS3) -> None:
    scripted.puts = [(409, "ConditionalRequestConflict"), (412, "PreconditionFailed")]
    scripted.stored = encode(record(writer="host-b:7:ffffffffffff"))
    async with archive_from_uri(f"s3://{BUCKET}/{PREFIX}") as archive:
        with pytest.raises(ArchiveHeld) as caught:
            await archive.write(record())
    assert (caught.value.writer, caught.value.archived_at) == ("host-b:7:ffffffffffff", ARCHIVED_AT)
    assert scripted.seen == [PUT_KEY, PUT_KEY, GET_KEY]


async def test_a_conflict_is_retried_and_then_creates(scripted: ScriptedS3) -> None:
    scripted.puts = [(409, "ConditionalRequestConflict"), (200, "")]
    async with archive_from_uri(f"s3://{BUCKET}/{PREFIX}") as archive:
        assert await archive.write(record()) == f"s3://{BUCKET}/{KEY}"
    assert scripted.seen == [PUT_KEY, PUT_KEY]


async def test_a_conflict_that_lasts_is_an_archive_error(scripted: ScriptedS3) -> None:
    scripted.puts = [(409, "ConditionalRequestConflict")]
    async with archive_from_uri(f"s3://{BUCKET}/{PREFIX}") as archive:
        with pytest.raises(ArchiveError) as caught:
            await archive.write(record())
    assert not isinstance(caught.value, ArchiveHeld)
    assert str(caught.value) == (
        f"cannot archive to s3://{BUCKET}/{KEY}: PutObject: ConditionalRequestConflict: "
        "scripted ConditionalRequestConflict"
    )
    assert scripted.seen == [PUT_KEY] * CONFLICT_ATTEMPTS


async def test_a_held_record_that_cannot_be_read_is_held_all_the_same(
    scripted: ScriptedS3,
) -> None:
    scripted.puts = [(412, "PreconditionFailed")]  # and GetObject answers NoSuchKey
    async with archive_from_uri(f"s3://{BUCKET}/{PREFIX}") as archive:
        with pytest.raises(ArchiveHeld) as caught:
            await archive.write(record())
    held = caught.value
    assert (held.location, held.archived_at, held.writer) == (f"s3://{BUCKET}/{KEY}", None, None)
    assert held.detail == "unreadable: GetObject: NoSuchKey: scripted NoSuchKey"


async def test_probe_refuses_a_store_that_ignores_if_none_match(scripted: ScriptedS3) -> None:
    async with archive_from_uri(f"s3://{BUCKET}/{PREFIX}") as archive:
        with pytest.raises(ArchiveError) as caught:
            await archive.probe()
    assert str(caught.value) == (
        f"cannot archive to s3://{BUCKET}/{PROBE_KEY}: the store ignores If-None-Match "
        "(conditional writes), so two replicas could both archive and delete"
    )
    marker = f"/{BUCKET}/{PROBE_KEY}"
    assert scripted.seen == [("PUT", marker, None), ("PUT", marker, "*")]


async def test_probe_denied_names_the_marker(scripted: ScriptedS3) -> None:
    scripted.puts = [(403, "AccessDenied")]
    async with archive_from_uri(f"s3://{BUCKET}/{PREFIX}") as archive:
        with pytest.raises(ArchiveError) as caught:
            await archive.probe()
    assert str(caught.value) == (
        f"cannot archive to s3://{BUCKET}/{PROBE_KEY}: PutObject: AccessDenied: "
        "scripted AccessDenied"
    )
