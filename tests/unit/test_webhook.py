"""POST /alertmanager over real loopback sockets, with a fake remediator; and `parse` alone."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from ggwatch.model import TargetId
from ggwatch.shards import Shard, owner
from ggwatch.web import webhook as webhook_module
from ggwatch.web.webhook import (
    DEDUP_MEMORY,
    MAX_BODY,
    Alert,
    AlertmanagerWebhook,
    PayloadError,
    Remediator,
    parse,
)

TOKEN = "s3cret-token-0123456789"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
DEPLOYMENT = "a1b2c3d4-5678-90ab-cdef-1234567890ab"
STARTS = "2026-06-01T12:00:00.000Z"

Client = TestClient[web.Request, web.Application]


class FakeOutcome:
    def __init__(self, deployment_id: str, region: str, action: str = "deleted") -> None:
        self.deployment_id = deployment_id
        self.region = region
        self.action = action

    def to_json(self) -> dict[str, str]:
        return {
            "deployment_id": self.deployment_id,
            "region": self.region,
            "action": self.action,
            "outcome": "ok" if self.action == "deleted" else "grace_period",
        }


class FakeRemediator:
    """Records each deployment asked for; with `gate`, each request waits until the test sets
    it; `action` is what it answers (deleted, or held_back)."""

    def __init__(self, gate: asyncio.Event | None = None, action: str = "deleted") -> None:
        self.calls: list[tuple[str, str, str]] = []
        self.aliases: list[str] = []
        self.deadlines: list[float] = []
        self.gate = gate
        self.action = action
        self.entered = asyncio.Event()

    async def request(
        self, where: TargetId, deployment_ids: Sequence[str], reason: str, deadline: float
    ) -> dict[str, FakeOutcome]:
        for deployment_id in dict.fromkeys(deployment_ids):
            self.calls.append((where.region, deployment_id, reason))
            self.aliases.append(where.alias)
        self.deadlines.append(deadline)
        self.entered.set()
        if self.gate is not None:
            await self.gate.wait()
        return {d: FakeOutcome(d, where.region, self.action) for d in deployment_ids}


def alert(
    *,
    status: str = "firing",
    fingerprint: str = "fp-1",
    starts_at: str = STARTS,
    **labels: str,
) -> dict[str, Any]:
    """An alert as Alertmanager sends it; labels default to a stale-deployment alert."""
    base = {
        "alertname": "GreengrassStaleDeployment",
        "rule": "stale-deployment",
        "aws_region": "us-west-2",
        "resource_id": DEPLOYMENT,
        "severity": "info",
    }
    base.update(labels)
    return {
        "status": status,
        "labels": {k: v for k, v in base.items() if v != "<absent>"},
        "annotations": {"summary": "A superseded deployment"},
        "startsAt": starts_at,
        "endsAt": "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": fingerprint,
    }


def payload(*alerts: dict[str, Any], **changes: Any) -> dict[str, Any]:
    body = {
        "version": "4",
        "groupKey": '{}:{alertname="GreengrassStaleDeployment"}',
        "truncatedAlerts": 0,
        "status": "firing",
        "receiver": "ggwatch",
        "groupLabels": {"alertname": "GreengrassStaleDeployment"},
        "commonLabels": {},
        "commonAnnotations": {},
        "externalURL": "http://alertmanager:9093",
        "alerts": list(alerts),
    }
    body.update(changes)
    return body


def encode(body: Any) -> bytes:
    return json.dumps(body).encode()


Start = Callable[..., Awaitable[Client]]


@pytest.fixture
async def start() -> AsyncIterator[Start]:
    """Serve a webhook on 127.0.0.1 (POST /alertmanager); stopped after the test."""
    clients: list[Client] = []

    async def run(
        remediator: Remediator | None, token: str = TOKEN, shard: Shard | None = None
    ) -> Client:
        hook = AlertmanagerWebhook(token, remediator, shard=shard)
        app = web.Application()
        app.router.add_post("/alertmanager", hook.handle)
        client: Client = TestClient(TestServer(app, host="127.0.0.1"))
        await client.start_server()
        clients.append(client)
        return client

    yield run
    for client in clients:
        await client.close()


async def post(
    client: Client, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, Any]]:
    data = body if isinstance(body, bytes) else encode(body)
    response = await client.post(
        "/alertmanager",
        data=io.BytesIO(data),
        headers={"Content-Type": "application/json", **(AUTH if headers is None else headers)},
    )
    return response.status, await response.json()


# --- acting on a firing stale-deployment alert ---------------------------------------------


async def test_firing_stale_alert_runs_the_remediation_once(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    status, body = await post(client, payload(alert()))

    assert status == 200
    assert len(fake.calls) == 1
    region, deployment_id, reason = fake.calls[0]
    assert (region, deployment_id) == ("us-west-2", DEPLOYMENT)
    assert "GreengrassStaleDeployment" in reason
    assert body == {
        "results": [
            {
                "fingerprint": "fp-1",
                "deployment_id": DEPLOYMENT,
                "region": "us-west-2",
                "action": "deleted",
                "outcome": "ok",
            }
        ]
    }


async def test_a_replica_does_nothing_for_another_shards_target(start: Start) -> None:
    west, central = TargetId("default", "us-west-2"), TargetId("default", "eu-west-1")
    total = 2
    assert owner(west, total) != owner(central, total)  # one alert for each replica
    fake = FakeRemediator()
    client = await start(fake, shard=Shard(owner(west, total), total))
    other = owner(central, total)

    status, body = await post(
        client,
        payload(alert(), alert(fingerprint="fp-2", aws_region="eu-west-1")),
    )

    assert status == 200
    assert [c[:2] for c in fake.calls] == [("us-west-2", DEPLOYMENT)]
    mine, theirs = body["results"]
    assert mine["action"] == "deleted"
    assert theirs == {
        "fingerprint": "fp-2",
        "action": "ignored",
        "outcome": "not_owner",
        "reason": f"target default/eu-west-1 belongs to shard {other} of 2; this replica "
        f"is shard {1 - other}",
        "owner_shard": str(other),
    }


async def test_region_label_is_accepted_in_place_of_aws_region(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    status, _ = await post(client, payload(alert(aws_region="<absent>", region="eu-central-1")))

    assert status == 200
    assert [c[:2] for c in fake.calls] == [("eu-central-1", DEPLOYMENT)]


async def test_account_alias_names_the_target_and_defaults_to_the_sdk_account(
    start: Start,
) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(account_alias="prod-eu"), alert(fingerprint="fp-2")))

    assert fake.aliases == ["prod-eu", "default"]


@pytest.mark.parametrize("alias", ["../etc", "a b", "-lead", "x" * 65])
async def test_bad_account_alias_is_ignored(start: Start, alias: str) -> None:
    reason = await only_result_ignored(start, alert(account_alias=alias))

    assert "account_alias" in reason


async def test_aws_region_wins_over_region(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(aws_region="ap-southeast-2", region="us-east-1")))

    assert [c[0] for c in fake.calls] == ["ap-southeast-2"]


@pytest.mark.parametrize(
    "region", ["us-west-2", "eu-central-1", "us-gov-west-1", "cn-northwest-1", "us-isob-east-1"]
)
async def test_region_names_of_every_partition_are_accepted(start: Start, region: str) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(aws_region=region)))

    assert [c[0] for c in fake.calls] == [region]


async def test_one_result_per_alert_in_order(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)
    alerts = [
        alert(fingerprint="a", resource_id="d-a"),
        alert(fingerprint="b", status="resolved", resource_id="d-b"),
        alert(fingerprint="c", rule="device-runs-deleted-component", resource_id="core-1"),
        alert(fingerprint="d", resource_id="d-d", aws_region="eu-west-1"),
        alert(fingerprint="e", aws_region="nowhere"),
    ]

    status, body = await post(client, payload(*alerts))

    assert status == 200
    results = body["results"]
    assert [r["fingerprint"] for r in results] == ["a", "b", "c", "d", "e"]
    assert [r["action"] for r in results] == ["deleted", "ignored", "ignored", "deleted", "ignored"]
    assert [r.get("deployment_id") for r in results] == ["d-a", None, None, "d-d", None]
    assert [c[:2] for c in fake.calls] == [("us-west-2", "d-a"), ("eu-west-1", "d-d")]


async def test_no_alerts_no_results(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    status, body = await post(client, payload())

    assert (status, body) == (200, {"results": []})
    assert fake.calls == []


async def test_reason_names_the_alert_even_without_alertname(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(alertname="<absent>", fingerprint="f00d")))

    assert len(fake.calls) == 1
    assert "f00d" in fake.calls[0][2]


# --- ignored alerts --------------------------------------------------------------------------


async def only_result_ignored(start: Start, one: dict[str, Any]) -> str:
    """Post one alert; assert it was answered 'ignored' and nothing ran; return the reason."""
    fake = FakeRemediator()
    client = await start(fake)

    status, body = await post(client, payload(one))

    assert status == 200
    assert fake.calls == []
    [result] = body["results"]
    assert result["action"] == "ignored"
    assert result["fingerprint"] == one["fingerprint"]
    assert isinstance(result["outcome"], str)
    assert result["outcome"]
    return str(result["outcome"])


async def test_resolved_alert_is_ignored(start: Start) -> None:
    reason = await only_result_ignored(start, alert(status="resolved"))

    assert "resolved" in reason


@pytest.mark.parametrize(
    "rule", ["deployment-uses-deleted-component", "Stale-Deployment", "stale-deployment ", ""]
)
async def test_other_rules_are_ignored(start: Start, rule: str) -> None:
    reason = await only_result_ignored(start, alert(rule=rule))

    assert "stale-deployment" in reason


async def test_alert_without_rule_label_is_ignored(start: Start) -> None:
    await only_result_ignored(start, alert(rule="<absent>"))


@pytest.mark.parametrize(
    "region",
    [
        "us-west-2; rm -rf /",
        "../x",
        "us-west-2/../../etc",
        "US-WEST-2",
        "us-west-2 ",
        " us-west-2",
        "us-west-2\n",
        "us-west-",
        "us-west-123",
        "uswest2",
        "localhost",
        "http://evil.example/",
        "",
    ],
)
async def test_bad_region_is_ignored(start: Start, region: str) -> None:
    reason = await only_result_ignored(start, alert(aws_region=region))

    assert "Region" in reason


async def test_missing_region_is_ignored(start: Start) -> None:
    await only_result_ignored(start, alert(aws_region="<absent>"))


@pytest.mark.parametrize(
    "deployment_id",
    [
        "d 1",
        "d-1 ",
        "d/1",
        "../d-1",
        "d-1\n",
        "-d-1",
        "d_1",
        "d-1;echo",
        "x" * 129,
        "",
        "é",
    ],
)
async def test_bad_deployment_id_is_ignored(start: Start, deployment_id: str) -> None:
    reason = await only_result_ignored(start, alert(resource_id=deployment_id))

    assert "resource_id" in reason


async def test_longest_deployment_id_is_accepted(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(resource_id="a" * 128)))

    assert [c[1] for c in fake.calls] == ["a" * 128]


async def test_missing_resource_id_is_ignored(start: Start) -> None:
    await only_result_ignored(start, alert(resource_id="<absent>"))


async def test_cleanup_off_ignores_with_a_reason(start: Start) -> None:
    client = await start(None)

    status, body = await post(client, payload(alert()))

    assert status == 200
    [result] = body["results"]
    assert result["action"] == "ignored"
    assert "off" in result["outcome"]


# --- the bearer token ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": ""},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer "},
        {"Authorization": TOKEN},
        {"Authorization": f"Basic {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN[:-1]}"},
        {"Authorization": f"Bearer {TOKEN}x"},
        {"Authorization": f"Bearer  {TOKEN}"},
        {"Authorization": f"Bearer {TOKEN.upper()}"},
        {"X-Token": TOKEN},
    ],
)
async def test_missing_or_wrong_token_is_401_and_nothing_runs(
    start: Start, headers: dict[str, str]
) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    status, body = await post(client, payload(alert()), headers=headers)

    assert status == 401
    assert "token" in body["error"]
    assert "results" not in body
    assert fake.calls == []


async def test_token_is_checked_before_the_body_size(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    status, _ = await post(client, b" " * (MAX_BODY + 1), headers={})

    assert status == 401


async def test_token_is_checked_before_the_payload(start: Start) -> None:
    client = await start(FakeRemediator())

    status, _ = await post(client, b"not json", headers={"Authorization": "Bearer nope"})

    assert status == 401


async def test_token_with_bytes_that_are_not_utf8_is_401(start: Start) -> None:
    """A header aiohttp cannot decode as UTF-8 is still just a wrong token, not a 500."""
    fake = FakeRemediator()
    client = await start(fake)
    body = encode(payload(alert()))
    request = (
        b"POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
        b"Authorization: Bearer \xff\xfe" + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body
    )
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await reader.readline()
    finally:
        writer.close()
        await writer.wait_closed()

    assert status_line.split()[1] == b"401"
    assert fake.calls == []


# --- the body size -------------------------------------------------------------------------


def padded(body: dict[str, Any], size: int) -> bytes:
    """`body` as JSON, padded with trailing whitespace to exactly `size` bytes."""
    data = encode(body)
    assert len(data) <= size
    return data + b" " * (size - len(data))


async def test_body_of_exactly_one_mib_is_accepted(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    status, body = await post(client, padded(payload(alert()), MAX_BODY))

    assert status == 200
    assert len(body["results"]) == 1
    assert len(fake.calls) == 1


async def test_body_over_one_mib_with_content_length_is_413(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)
    data = padded(payload(alert()), MAX_BODY + 1)

    response = await client.post("/alertmanager", data=io.BytesIO(data), headers=AUTH)

    assert response.request_info.headers["Content-Length"] == str(MAX_BODY + 1)
    assert response.status == 413
    assert "1 MiB" in (await response.json())["error"]
    assert fake.calls == []


async def test_announced_oversize_body_is_refused_before_it_is_sent(start: Start) -> None:
    """A Content-Length over 1 MiB is enough: the server does not wait for the body."""
    fake = FakeRemediator()
    client = await start(fake)
    request = (
        b"POST /alertmanager HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
        b"Content-Type: application/json\r\n"
        b"Content-Length: " + str(MAX_BODY + 1).encode() + b"\r\n\r\n{"
    )
    reader, writer = await asyncio.open_connection(client.host, client.port)
    try:
        writer.write(request)
        await writer.drain()
        status_line = await asyncio.wait_for(reader.readline(), 5)
    finally:
        writer.close()
        await writer.wait_closed()

    assert status_line.split()[1] == b"413"
    assert fake.calls == []


async def chunks(data: bytes, size: int) -> AsyncIterator[bytes]:
    for offset in range(0, len(data), size):
        yield data[offset : offset + size]
        await asyncio.sleep(0)  # give the server a chance to read a part


async def post_chunked(client: Client, data: bytes, size: int) -> aiohttp.ClientResponse:
    """Transfer-Encoding: chunked, so the server sees no Content-Length."""
    return await client.post("/alertmanager", data=chunks(data, size), headers=AUTH)


async def test_chunked_body_over_one_mib_is_413(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    response = await post_chunked(client, padded(payload(alert()), MAX_BODY + 1), 64 * 1024)

    assert response.request_info.headers["Transfer-Encoding"] == "chunked"
    assert response.status == 413
    assert (await response.json()) == {"error": "body larger than 1 MiB"}
    assert fake.calls == []


async def test_chunked_body_far_over_one_mib_is_413(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    response = await post_chunked(client, padded(payload(alert()), 3 * MAX_BODY), 256 * 1024)

    assert response.status == 413
    assert fake.calls == []


async def test_chunked_body_in_many_parts_is_read_whole(start: Start) -> None:
    """The body may arrive in many reads; all of it is the payload."""
    fake = FakeRemediator()
    client = await start(fake)
    alerts = [alert(fingerprint=f"fp-{i}", resource_id=f"d-{i}") for i in range(50)]

    response = await post_chunked(client, encode(payload(*alerts)), 100)

    assert response.status == 200
    assert len((await response.json())["results"]) == 50
    assert [c[1] for c in fake.calls] == [f"d-{i}" for i in range(50)]


async def test_chunked_body_of_exactly_one_mib_is_accepted(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    response = await post_chunked(client, padded(payload(alert()), MAX_BODY), 64 * 1024)

    assert response.status == 200
    assert len(fake.calls) == 1


# --- malformed payloads --------------------------------------------------------------------


def with_alert(**changes: Any) -> bytes:
    one = alert()
    one.update(changes)
    return encode(payload(one))


MALFORMED: dict[str, bytes] = {
    "empty": b"",
    "not json": b"alerts: []",
    "truncated": encode(payload(alert()))[:-1],
    "not utf-8": b'{"version": "4", "alerts": [], "x": "\xff"}',
    "nested too deep": b"[" * 200_000,
    "array": b"[]",
    "string": b'"4"',
    "null": b"null",
    "number": b"4",
    "version 3": encode(payload(alert(), version="3")),
    "version missing": encode({"alerts": [alert()]}),
    "version null": encode(payload(alert(), version=None)),
    "alerts missing": encode({"version": "4"}),
    "alerts object": encode(payload(version="4", alerts={"0": alert()})),
    "alerts string": encode(payload(version="4", alerts="[]")),
    "alert not object": encode({"version": "4", "alerts": ["firing"]}),
    "alert without labels": encode(payload({"status": "firing", "fingerprint": "x"})),
    "labels a list": with_alert(labels=[["rule", "stale-deployment"]]),
    "labels null": with_alert(labels=None),
    "label value a number": with_alert(labels={"rule": "stale-deployment", "n": 1}),
    "label value null": with_alert(labels={"rule": None}),
    "label value a list": with_alert(labels={"rule": ["stale-deployment"]}),
    "label value an object": with_alert(labels={"rule": {"x": "y"}}),
    "status pending": with_alert(status="pending"),
    "status missing": encode(payload({"labels": {}, "fingerprint": "x"})),
    "status upper case": with_alert(status="FIRING"),
    "fingerprint a number": with_alert(fingerprint=12),
    "startsAt a number": with_alert(startsAt=0),
}


@pytest.mark.parametrize("name", list(MALFORMED))
async def test_malformed_payload_is_400_with_a_one_line_error(start: Start, name: str) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    status, body = await post(client, MALFORMED[name])

    assert status == 400
    assert set(body) == {"error"}
    assert isinstance(body["error"], str)
    assert body["error"]
    assert "\n" not in body["error"]
    assert "\r" not in body["error"]
    assert fake.calls == []


async def test_a_bad_alert_rejects_the_whole_payload(start: Start) -> None:
    """Nothing runs for the good alerts before it either."""
    fake = FakeRemediator()
    client = await start(fake)
    bad = alert(fingerprint="bad")
    bad["status"] = "unknown"

    status, body = await post(client, payload(alert(fingerprint="good"), bad))

    assert status == 400
    assert "alerts[1]" in body["error"]
    assert fake.calls == []


# --- repeated notifications ---------------------------------------------------------------


async def test_repeated_notification_runs_once_and_is_marked_duplicate(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    _, first = await post(client, payload(alert()))
    _, second = await post(client, payload(alert()))

    assert len(fake.calls) == 1
    assert "duplicate" not in first["results"][0]
    repeat = second["results"][0]
    assert repeat.pop("duplicate") == "true"
    assert repeat == first["results"][0]


async def test_repeat_within_one_payload_runs_once(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    _, body = await post(client, payload(alert(), alert()))

    assert len(fake.calls) == 1
    assert [r.get("duplicate") for r in body["results"]] == [None, "true"]


async def test_repeat_from_a_ha_peer_resolving_differently_still_runs_once(start: Start) -> None:
    """Other labels or annotations do not matter: fingerprint and startsAt name a notification."""
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(severity="info")))
    _, again = await post(client, payload(alert(severity="warning")))

    assert len(fake.calls) == 1
    assert again["results"][0]["duplicate"] == "true"


async def test_same_fingerprint_new_start_runs_again(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(starts_at="2026-06-01T12:00:00Z")))
    _, later = await post(client, payload(alert(starts_at="2026-06-02T12:00:00Z")))

    assert len(fake.calls) == 2
    assert "duplicate" not in later["results"][0]


async def test_other_fingerprint_same_start_runs_again(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(fingerprint="fp-1")))
    await post(client, payload(alert(fingerprint="fp-2")))

    assert len(fake.calls) == 2


async def test_ignored_alerts_are_not_remembered(start: Start) -> None:
    """A resolved notification does not stop the firing one with the same identity."""
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert(status="resolved")))
    _, body = await post(client, payload(alert()))

    assert len(fake.calls) == 1
    assert "duplicate" not in body["results"][0]


async def test_rejected_request_is_not_remembered(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)

    await post(client, payload(alert()), headers={"Authorization": "Bearer wrong"})
    _, body = await post(client, payload(alert()))

    assert len(fake.calls) == 1
    assert "duplicate" not in body["results"][0]


async def test_concurrent_repeat_runs_once(start: Start) -> None:
    """An HA peer (or a retry after a timeout) may deliver while the first is still running."""
    gate = asyncio.Event()
    fake = FakeRemediator(gate)
    client = await start(fake)

    first = asyncio.create_task(post(client, payload(alert())))
    await asyncio.wait_for(fake.entered.wait(), 5)
    second = asyncio.create_task(post(client, payload(alert())))
    await asyncio.sleep(0.2)  # the repeat reaches the handler while the first runs
    gate.set()
    (s1, b1), (s2, b2) = await asyncio.wait_for(asyncio.gather(first, second), 5)

    assert (s1, s2) == (200, 200)
    assert len(fake.calls) == 1
    assert "duplicate" not in b1["results"][0]
    assert b2["results"][0]["duplicate"] == "true"


async def test_memory_of_notifications_is_bounded(
    start: Start, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(webhook_module, "DEDUP_MEMORY", 3)
    fake = FakeRemediator()
    client = await start(fake)

    await post(
        client, payload(*(alert(fingerprint=f"fp-{i}", resource_id=f"d-{i}") for i in range(4)))
    )
    _, newest = await post(client, payload(alert(fingerprint="fp-3", resource_id="d-3")))
    _, oldest = await post(client, payload(alert(fingerprint="fp-0", resource_id="d-0")))

    assert newest["results"][0]["duplicate"] == "true"
    assert "duplicate" not in oldest["results"][0]  # forgotten: runs again
    assert len(fake.calls) == 5


async def test_default_memory_holds_dedup_memory_notifications(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)
    labels = {"rule": "stale-deployment", "aws_region": "us-west-2"}
    many = [
        {
            "status": "firing",
            "labels": {**labels, "resource_id": f"d-{i:x}"},
            "fingerprint": f"{i:x}",
            "startsAt": STARTS,
        }
        for i in range(DEDUP_MEMORY + 1)
    ]
    body = encode(payload(*many))
    assert len(body) <= MAX_BODY

    await post(client, body)
    _, remembered = await post(client, payload(alert(fingerprint="1", resource_id="d-1")))
    _, forgotten = await post(client, payload(alert(fingerprint="0", resource_id="d-0")))

    assert remembered["results"][0]["duplicate"] == "true"
    assert "duplicate" not in forgotten["results"][0]
    assert len(fake.calls) == DEDUP_MEMORY + 2


# --- parse ---------------------------------------------------------------------------------


def test_parse_reads_status_labels_fingerprint_and_start() -> None:
    alerts = parse(encode(payload(alert(), alert(status="resolved", fingerprint="fp-2"))))

    assert alerts == [
        Alert(
            "firing",
            {
                "alertname": "GreengrassStaleDeployment",
                "rule": "stale-deployment",
                "aws_region": "us-west-2",
                "resource_id": DEPLOYMENT,
                "severity": "info",
            },
            "fp-1",
            STARTS,
        ),
        Alert("resolved", alerts[1].labels, "fp-2", STARTS),
    ]
    assert alerts[0].identity == ("fp-1", STARTS)


def test_parse_defaults_missing_fingerprint_and_start_to_empty() -> None:
    [one] = parse(encode({"version": "4", "alerts": [{"status": "firing", "labels": {}}]}))

    assert one == Alert("firing", {}, "", "")


def test_parse_ignores_fields_it_does_not_need() -> None:
    body = payload(alert(), extra={"nested": [1, 2]})
    body["alerts"][0]["annotations"] = {"n": 1}

    assert len(parse(encode(body))) == 1


def test_parse_empty_alerts() -> None:
    assert parse(encode(payload())) == []


def test_parse_accepts_utf8_labels() -> None:
    [one] = parse(encode(payload(alert(team="Größe"))))

    assert one.labels["team"] == "Größe"


@pytest.mark.parametrize("name", list(MALFORMED))
def test_parse_rejects_with_a_one_line_reason(name: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse(MALFORMED[name])

    message = str(raised.value)
    assert message
    assert len(message.splitlines()) == 1


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"{", "not JSON"),
        (b"[]", "object"),
        (encode(payload(version="3")), "version 4"),
        (encode({"version": "4", "alerts": {}}), "alerts must be a list"),
        (encode(payload({"status": "firing"})), "alerts[0]"),
        (encode(payload(alert(), {"status": "firing", "labels": {"a": 1}})), "alerts[1].labels"),
        (encode(payload(alert(status="silenced"))), "alerts[0].status"),
    ],
)
def test_parse_reason_names_the_problem(body: bytes, fragment: str) -> None:
    with pytest.raises(PayloadError) as raised:
        parse(body)

    assert fragment in str(raised.value)


# --- held back ---------------------------------------------------------------------------


async def test_a_held_back_answer_is_not_remembered(start: Start) -> None:
    """Held back (grace, caps, deadline) may pass later: Alertmanager's repeat is decided again."""
    fake = FakeRemediator(action="held_back")
    client = await start(fake)

    _, first = await post(client, payload(alert()))
    _, again = await post(client, payload(alert()))

    assert first["results"][0]["action"] == "held_back"
    assert "duplicate" not in again["results"][0]
    assert len(fake.calls) == 2


async def test_one_request_per_target_with_the_time_left(start: Start) -> None:
    fake = FakeRemediator()
    client = await start(fake)
    alerts = [alert(fingerprint=f"f{i}", resource_id=f"d-{i}") for i in range(3)]
    alerts.append(alert(fingerprint="x", resource_id="d-x", aws_region="eu-west-1"))

    await post(client, payload(*alerts))

    assert [c[:2] for c in fake.calls] == [
        ("us-west-2", "d-0"),
        ("us-west-2", "d-1"),
        ("us-west-2", "d-2"),
        ("eu-west-1", "d-x"),
    ]
    assert len(fake.deadlines) == 2
    assert all(0 < d <= 25.0 for d in fake.deadlines)


async def test_a_body_that_does_not_arrive_in_time_is_408(start: Start) -> None:
    fake = FakeRemediator()
    hook = AlertmanagerWebhook(TOKEN, fake, body_timeout_seconds=0.5)
    app = web.Application()
    app.router.add_post("/alertmanager", hook.handle)
    async with TestClient(TestServer(app, host="127.0.0.1")) as client:

        async def trickle() -> AsyncIterator[bytes]:
            yield b'{"version": "4", '
            await asyncio.sleep(3)
            yield b'"alerts": []}'

        response = await client.post("/alertmanager", data=trickle(), headers=AUTH)
        assert response.status == 408
    assert fake.calls == []
