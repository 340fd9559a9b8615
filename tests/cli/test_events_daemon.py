"""`ggwatch run` reacting to EventBridge events through SQS, and watching several targets.

The simulator (`ggwatch sim --events-queue-url`) sends the events AWS would for the changes it
makes to a queue in moto's server on loopback; the daemon long-polls that queue. The poll
interval is an hour, so whatever the daemon sees after its first scan, it saw through events.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import boto3
import pytest

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import SAMPLE_FLEET, UNMETERED, LogReader, ServeCli, Served, StartDaemon
from tests.cli.test_daemon import get, opened, post, sample

OSAKA = "gg-osaka-00005"
WEST = {"aws_region": "us-west-2", "account_alias": "default"}

# The `daemon` fixture: the daemon's log reader, and a reader of its metrics.
Daemon = tuple[LogReader, Callable[[], str]]


@pytest.fixture
def sqs(sqs_queue: str) -> Iterator[Any]:
    client = boto3.client("sqs")
    yield client
    client.close()


@pytest.fixture
def fleet(serve_cli: ServeCli, sqs_queue: str) -> Served:
    # Unmetered, as in tests/cli/conftest.py: the daemon here does not pace itself.
    return serve_cli("sim", *SAMPLE_FLEET, *UNMETERED, "--events-queue-url", sqs_queue)


@pytest.fixture
def env(fleet: Served, sqs_queue: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_GREENGRASSV2": fleet.endpoint,
        "AWS_ENDPOINT_URL_IOT": fleet.endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "AWS_DEFAULT_REGION": "us-west-2",
        "GGWATCH_REGIONS": "us-west-2",
        "GGWATCH_POLL_INTERVAL_SECONDS": "3600",
        "GGWATCH_SERVICE_RATE": "1000",
        "GGWATCH_EVENTS_QUEUE_URL": sqs_queue,
        "GGWATCH_EVENTS_WAIT_SECONDS": "1",
        "GGWATCH_EVENTS_COALESCE_SECONDS": "3",
    }


@pytest.fixture
def daemon(start_daemon: StartDaemon, env: dict[str, str]) -> Daemon:
    """A started daemon after its first complete scan: (logs, metrics reader)."""
    _, logs, port = start_daemon(env)
    logs.wait_for(lambda e: e.get("event") == "findings.summary", 30)

    def metrics() -> str:
        return get(f"http://127.0.0.1:{port}/metrics")[1]

    return logs, metrics


def wait_until(
    check: Callable[[], bool],
    timeout: float,
    what: str,
    state: Callable[[], object] = lambda: None,
) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.2)
    pytest.fail(f"not within {timeout} s: {what}; {state()}")


def messages_left(sqs: Any, url: str) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    found = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
    return sum(int(found[n]) for n in names)


def test_a_device_running_a_deleted_version_opens_a_finding_within_seconds(
    daemon: Daemon, fleet: Served, sqs: Any, sqs_queue: str
) -> None:
    logs, metrics = daemon
    post(
        f"{fleet.endpoint}/_sim/devices/{OSAKA}/installed",
        {"componentName": "com.example.ModbusAdapter", "componentVersion": "0.9.0"},
    )
    started = time.monotonic()

    finding = logs.wait_for(lambda e: opened(e, OSAKA, "com.example.ModbusAdapter"), 20)

    assert finding["rule"] == "device-runs-deleted-component"
    assert (finding["account_alias"], finding["aws_account_id"]) == ("default", "123456789012")
    # 1.0.0 is the newest ACTIVE version, but another major: the default policy stays in 0.x.
    assert finding["latest_version"] == "1.0.0"
    assert "recommended_version" not in finding
    assert "within the same major version" in finding["recommendation_note"]
    assert time.monotonic() - started < 20  # the poll interval is an hour
    refreshed = logs.wait_for(lambda e: e.get("event") == "refresh.completed", 10)
    assert refreshed["complete"] is True
    text = metrics()
    assert sample(text, "ggwatch_scans_total", **WEST) == 1  # no full scan: a refresh
    assert sample(text, "ggwatch_event_refreshes_total", **WEST) == 1
    wait_until(lambda: messages_left(sqs, sqs_queue) == 0, 10, "the event deleted")
    assert sample(metrics(), "ggwatch_event_messages_total", outcome="refreshed") == 1


def test_a_burst_of_events_for_one_device_causes_one_refresh_end_to_end(
    start_daemon: StartDaemon, env: dict[str, str], fleet: Served, sqs: Any, sqs_queue: str
) -> None:
    arn = f"arn:aws:greengrass:us-west-2:123456789012:coreDevices:{OSAKA}"
    event = {
        "version": "0",
        "detail-type": "Greengrass V2 Installed Component Status Change",
        "source": "aws.greengrass",
        "account": "123456789012",
        "time": "2026-11-24T06:00:00Z",
        "region": "us-west-2",
        "resources": [arn],
        "detail": {"components": []},
    }
    # Longer than the test: on a loaded machine moto's deletes can outlast its default 30 s,
    # and a message received again is a second, legitimate refresh (delivery is at least once).
    sqs.set_queue_attributes(QueueUrl=sqs_queue, Attributes={"VisibilityTimeout": "600"})
    # Queued before the daemon starts, so the burst reaches it as fast as the queue delivers,
    # whatever the pace of this test's sending. 100, not 1,000: moto's SQS slows down with
    # every message it holds (tests/integration/test_refresh.py coalesces 1,000 in-process).
    for batch in range(10):
        entries = [
            {"Id": str(i), "MessageBody": json.dumps({**event, "id": f"e-{batch}-{i}"})}
            for i in range(10)
        ]
        sqs.send_message_batch(QueueUrl=sqs_queue, Entries=entries)
    _, logs, port = start_daemon(env)

    def metrics() -> str:
        return get(f"http://127.0.0.1:{port}/metrics")[1]

    wait_until(
        lambda: sample(metrics(), "ggwatch_event_messages_total", outcome="refreshed") == 100,
        60,
        "100 events handled",
        lambda: [line for line in metrics().splitlines() if line.startswith("ggwatch_event")],
    )
    assert sample(metrics(), "ggwatch_scans_total", **WEST) == 1
    assert sample(metrics(), "ggwatch_event_refreshes_total", **WEST) == 1
    calls = json.loads(get(f"{fleet.endpoint}/_sim/calls")[1])["calls"]
    reads = [c for c in calls if c["operation"] == "ListInstalledComponents"]
    # One read in the first (full) scan, one in the refresh.
    assert [c["params"].get("coreDeviceThingName") for c in reads].count(OSAKA) == 2
    # Ten DeleteMessageBatch calls to moto, which slows with what it holds: generous on a
    # loaded machine.
    wait_until(lambda: messages_left(sqs, sqs_queue) == 0, 90, "every event deleted")
    assert sum(e.get("event") == "refresh.completed" for e in logs.drain(0.5)) == 1


@pytest.fixture
def short_visibility(sqs: Any, sqs_queue: str) -> None:
    """A message left alone is received again a second later. Set before the daemon starts:
    moto's receive applies the visibility the queue had when its long poll began."""
    sqs.set_queue_attributes(QueueUrl=sqs_queue, Attributes={"VisibilityTimeout": "1"})


def test_malformed_messages_stay_for_the_dead_letter_queue_and_others_are_dropped(
    short_visibility: None, daemon: Daemon, sqs: Any, sqs_queue: str
) -> None:
    logs, metrics = daemon
    sqs.send_message(QueueUrl=sqs_queue, MessageBody="{not json")
    ignored: dict[str, object] = {
        "version": "0",
        "source": "aws.iot",
        "detail-type": "IoT Job Status Change",
    }
    ignored |= {"account": "123456789012", "region": "us-west-2", "detail": {}}
    sqs.send_message(QueueUrl=sqs_queue, MessageBody=json.dumps(ignored))

    first = logs.wait_for(lambda e: e.get("event") == "events.malformed", 15)
    assert first["reason"] == "body is not JSON"
    # Received again after its 1 s visibility timeout, and again left alone: logged once.
    wait_until(
        lambda: (sample(metrics(), "ggwatch_event_messages_total", outcome="malformed") or 0) >= 3,
        20,
        "the malformed message received three times",
        lambda: (messages_left(sqs, sqs_queue), logs.drain(0.1)[-8:]),
    )
    assert sum(e.get("event") == "events.malformed" for e in logs.drain(0.5)) == 1
    assert sample(metrics(), "ggwatch_event_messages_total", outcome="ignored") == 1
    assert messages_left(sqs, sqs_queue) == 1  # only the malformed one


def test_an_aws_health_notice_refreshes_guidance_at_once(daemon: Daemon, fleet: Served) -> None:
    logs, _ = daemon
    # AWS withdraws a version of its own that the Austin line runs (only AWS sets vendor
    # guidance); the describe refresh (15 minutes) would hide it.
    post(
        f"{fleet.endpoint}/_sim/guidance",
        {
            "region": "us-west-2",
            "componentName": "aws.greengrass.LogManager",
            "componentVersion": "2.3.7",
            "vendorGuidance": "DISCONTINUED",
            "message": "Uploads stall under load.",
        },
    )

    finding = logs.wait_for(lambda e: opened(e, "gg-austin-00003", "aws.greengrass.LogManager"), 20)

    assert finding["vendor_guidance_message"] == "Uploads stall under load."
    assert finding["recommended_version"] == "2.3.9"


def test_one_broken_target_leaves_the_others_complete(
    start_daemon: StartDaemon, env: dict[str, str]
) -> None:
    targets = [
        {"account": "home", "regions": ["us-west-2"]},
        {"account": "gone", "regions": ["eu-west-3"], "endpoint_url": "http://127.0.0.1:9"},
    ]
    _, logs, port = start_daemon({**env, "GGWATCH_TARGETS": json.dumps(targets)})

    logs.wait_for(lambda e: e.get("event") == "findings.summary", 30)
    incomplete = logs.wait_for(lambda e: e.get("event") == "scan.incomplete", 30)

    assert (incomplete["account_alias"], incomplete["error_code"]) == ("gone", "Unreachable")
    text = get(f"http://127.0.0.1:{port}/metrics")[1]
    assert sample(text, "ggwatch_up", account_alias="home") == 1
    assert sample(text, "ggwatch_up", account_alias="gone") == 0
    assert (
        sample(text, "ggwatch_findings", account_alias="home", rule="stale-deployment") or 0
    ) > 0
    findings = json.loads(get(f"http://127.0.0.1:{port}/findings")[1])
    complete = {t["account_alias"]: t["complete"] for t in findings["targets"]}
    assert complete == {"home": True, "gone": False}
