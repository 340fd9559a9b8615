"""The S3 archive against moto's S3 server on loopback, through a real aiobotocore client.

The archive finds the server only through AWS_ENDPOINT_URL_S3, as a user's configuration would
point it; nothing in the client is patched. moto's server runs in this process, in a thread
(the session's `moto_endpoint`, shared with other modules).
"""

from __future__ import annotations

import datetime as dt
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
from aiobotocore.session import get_session

from ggwatch.aws.archive import ArchiveRecord, S3Archive, archive_from_uri, encode
from ggwatch.errors import ArchiveError

REGION = "us-west-2"  # the autouse fixture's AWS_DEFAULT_REGION
ACCOUNT = "123456789012"
BUCKET = "ggwatch-archive"
PREFIX = "fleet/deployments"
DEPLOYMENT_ID = "9d8c7b6a-5f4e-4d3c-2b1a-0f9e8d7c6b5a"


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
        "archived_at": dt.datetime(2026, 11, 24, 4, 37, 12, tzinfo=dt.UTC),
        "reason": "stale",
    }
    fields.update(changes)
    return ArchiveRecord(**fields)


KEY = f"{PREFIX}/{REGION}/{ACCOUNT}/{DEPLOYMENT_ID}.json"


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
    assert answer["ServerSideEncryption"] == "AES256"
    assert answer["ContentType"] == "application/json"
    listing = await s3.list_objects_v2(Bucket=bucket)
    assert [item["Key"] for item in listing["Contents"]] == [KEY]


async def test_a_second_write_replaces_the_first(archive: S3Archive, bucket: str, s3: Any) -> None:
    await archive.write(record(reason="first"))
    await archive.write(record(reason="second"))
    answer = await s3.get_object(Bucket=bucket, Key=KEY)
    async with answer["Body"] as stream:
        assert json.loads(await stream.read())["reason"] == "second"


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
    assert "\n" not in str(caught.value)
