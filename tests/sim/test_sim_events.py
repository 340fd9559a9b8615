"""The simulator's EventBridge events: the envelopes, and their delivery to SQS (moto, loopback).

The builders are checked as pure functions. Delivery is checked end to end: the simulator's
sender finds moto only through AWS_ENDPOINT_URL_SQS, the test changes the fleet through the
control API and the real Greengrass API, then reads the queue with boto3 (in a worker thread,
so the event loop that runs the sender stays free) and GET /_sim/events.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import boto3
import pytest
from botocore.exceptions import ClientError

from ggwatch.sim import eventbridge as events
from ggwatch.sim.emitter import Emitter
from ggwatch.sim.eventbridge import ComponentStatus
from ggwatch.sim.fleet import FleetSpec, generate
from ggwatch.sim.server import Running, Simulator, serve
from ggwatch.sim.store import NUCLEUS, World
from tests.sim.helpers_faults import ACCOUNT, REGION, control_post, open_client

PROBE = "com.test.Probe"
PUBLIC_PROBE = "aws.test.Probe"  # an AWS-provided component: AWS sets vendor guidance
GROUP = "events-line"
GROUP_ARN = f"arn:aws:iot:{REGION}:{ACCOUNT}:thinggroup/{GROUP}"
THINGS = ("events-a", "events-b")
CLOSED = "http://127.0.0.1:9"  # nothing listens on the discard port of loopback
DEADLINE_S = 10.0
GG_SOURCE = "aws.greengrass"
INSTALLED = events.INSTALLED_COMPONENT_CHANGE
EFFECTIVE = events.EFFECTIVE_DEPLOYMENT_CHANGE
HEALTH = events.HEALTH_EVENT
ISO_SECOND = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")

Sqs = Any
Events = Callable[[], Awaitable[dict[str, Any]]]


def device_arn(thing: str, account: str = ACCOUNT) -> str:
    return f"arn:aws:greengrass:{REGION}:{account}:coreDevices:{thing}"


def counter() -> Callable[[], str]:
    """Deterministic ids for the pure builders."""
    numbers = iter(range(1, 1000))
    return lambda: f"id-{next(numbers)}"


# -- the envelopes (pure) ----------------------------------------------------------------------

NOW = 1_795_000_000.9  # 2026-11-18T11:06:40Z, and a fraction EventBridge does not show


def test_installed_component_change_envelope() -> None:
    event = events.installed_component_change(
        ACCOUNT,
        REGION,
        "core-1",
        [ComponentStatus("com.example.App", "1.2.0", root=True, lifecycle_state="RUNNING")],
        now=NOW,
        ids=counter(),
    )
    assert event == {
        "version": "0",
        "id": "id-1",
        "detail-type": "Greengrass V2 Installed Component Status Change",
        "source": "aws.greengrass",
        "account": ACCOUNT,
        "time": "2026-11-18T11:06:40Z",
        "region": REGION,
        "resources": [f"arn:aws:greengrass:{REGION}:{ACCOUNT}:coreDevices:core-1"],
        "detail": {
            "components": [
                {
                    "componentName": "com.example.App",
                    "componentVersion": "1.2.0",
                    "root": True,
                    "lifecycleState": "RUNNING",
                    "lifecycleStatusCodes": [],
                    "lifecycleStateDetails": "",
                }
            ]
        },
    }


def test_effective_deployment_change_envelope() -> None:
    event = events.effective_deployment_change(
        ACCOUNT, REGION, "core-1", "dep-1", "SUCCEEDED", now=NOW, ids=counter()
    )
    assert event["detail-type"] == "Greengrass V2 Effective Deployment Status Change"
    assert (event["source"], event["account"], event["region"]) == (GG_SOURCE, ACCOUNT, REGION)
    assert event["resources"] == [device_arn("core-1")]
    assert event["detail"] == {
        "deploymentId": "dep-1",
        "coreDeviceExecutionStatus": "SUCCEEDED",
        "statusDetails": {"errorStack": [], "errorTypes": []},
        "reason": "SUCCESSFUL",
    }


def test_failed_deployment_names_the_nucleus_error_codes() -> None:
    event = events.deployment_failed(
        ACCOUNT, REGION, "core-1", "dep-2", "com.x 1.0.0 is DELETED", now=NOW, ids=counter()
    )
    detail = event["detail"]
    assert detail["coreDeviceExecutionStatus"] == "FAILED"
    assert detail["statusDetails"] == {
        "errorStack": [
            "DEPLOYMENT_FAILURE",
            "NO_AVAILABLE_COMPONENT_VERSION",
            "COMPONENT_VERSION_REQUIREMENTS_NOT_MET",
        ],
        "errorTypes": ["REQUEST_ERROR"],
    }
    assert detail["reason"] == (
        "COMPONENT_VERSION_REQUIREMENTS_NOT_MET: FAILED_NO_STATE_CHANGE: com.x 1.0.0 is DELETED"
    )


def test_health_notification_pages_the_affected_devices() -> None:
    things = ["core-1", "core-2", "core-3"]
    pages = events.health_notification(
        ACCOUNT, REGION, things, "withdrawn", now=NOW, page_size=2, ids=counter()
    )
    assert [p["resources"] for p in pages] == [
        [device_arn("core-1"), device_arn("core-2")],
        [device_arn("core-3")],
    ]
    assert [p["id"] for p in pages] == ["id-2", "id-3"]  # id-1 names the Health event
    for number, page in enumerate(pages, start=1):
        assert (page["detail-type"], page["source"]) == ("AWS Health Event", "aws.health")
        assert (page["account"], page["region"], page["time"]) == (
            ACCOUNT,
            REGION,
            "2026-11-18T11:06:40Z",
        )
        detail = page["detail"]
        assert detail["eventArn"] == (
            f"arn:aws:health:{REGION}::event/GREENGRASS/AWS_GREENGRASS_OPERATIONAL_NOTIFICATION/"
            "AWS_GREENGRASS_OPERATIONAL_NOTIFICATION_id1"
        )
        assert detail["service"] == "GREENGRASS"
        assert detail["eventTypeCode"] == "AWS_GREENGRASS_OPERATIONAL_NOTIFICATION"
        assert detail["eventTypeCategory"] == "accountNotification"
        assert detail["eventScopeCode"] == "ACCOUNT_SPECIFIC"
        assert detail["startTime"] == "Wed, 18 Nov 2026 11:06:40 GMT"
        assert detail["eventRegion"] == REGION
        assert detail["affectedAccount"] == ACCOUNT
        assert detail["eventDescription"] == [
            {"language": "en_US", "latestDescription": "withdrawn"}
        ]
        assert detail["affectedEntities"] == [{"entityValue": arn} for arn in page["resources"]]
        assert (detail["page"], detail["totalPages"]) == (str(number), "2")
        assert detail["communicationId"] == f"id1-{number}"


def test_health_notification_caps_a_page_at_100_devices() -> None:
    things = [f"core-{i:03d}" for i in range(250)]
    pages = events.health_notification(ACCOUNT, REGION, things, "withdrawn", now=NOW)
    assert [len(p["resources"]) for p in pages] == [100, 100, 50]
    assert [arn for p in pages for arn in p["resources"]] == [device_arn(t) for t in things]
    assert len({p["detail"]["eventArn"] for p in pages}) == 1
    assert len({p["id"] for p in pages}) == 3


@pytest.mark.parametrize(
    ("url", "environ", "region"),
    [
        ("https://sqs.eu-west-1.amazonaws.com/123456789012/q", {"AWS_REGION": "x"}, "eu-west-1"),
        ("https://sqs.cn-north-1.amazonaws.com.cn/123456789012/q", {}, "cn-north-1"),
        ("https://sqs-fips.us-gov-west-1.amazonaws.com/123456789012/q.fifo", {}, "us-gov-west-1"),
        ("https://ap-south-1.queue.amazonaws.com/123456789012/q", {}, "ap-south-1"),
        ("http://127.0.0.1:4566/000000000000/q", {"AWS_REGION": "eu-north-1"}, "eu-north-1"),
        ("http://localhost/1/q", {"AWS_DEFAULT_REGION": "sa-east-1"}, "sa-east-1"),
        ("http://localhost/1/q", {"AWS_REGION": "a-1", "AWS_DEFAULT_REGION": "b-2"}, "a-1"),
        ("http://localhost/1/q", {}, "us-east-1"),
    ],
)
def test_queue_region(url: str, environ: dict[str, str], region: str) -> None:
    assert events.queue_region(url, environ) == region


def test_without_a_queue_events_are_recorded_not_queued() -> None:
    emitter = Emitter(None, outbox_size=1, keep=2)
    for n in range(3):
        emitter.put({"id": str(n)})
    report = emitter.public()
    assert (report["emitted"], report["dropped"], report["queue_url"]) == (3, 0, None)
    assert [e["id"] for e in report["events"]] == ["1", "2"]  # the last `keep`


def test_a_full_outbox_drops_and_counts_without_blocking() -> None:
    emitter = Emitter("http://127.0.0.1:9/123456789012/q", outbox_size=2)
    for n in range(5):
        emitter.put({"id": str(n)})  # synchronous: returning at all is the "never blocks"
    assert (emitter.emitted, emitter.dropped, emitter.sent) == (5, 3, 0)


@pytest.mark.parametrize("url", ["sqs.us-east-1.amazonaws.com/1/q", "https://host/q", ""])
def test_a_queue_url_must_look_like_one(url: str) -> None:
    with pytest.raises(ValueError, match="not an SQS queue URL"):
        Emitter(url)


# -- delivery through the running simulator ----------------------------------------------------


@pytest.fixture
def sqs(sqs_queue: str) -> Iterator[Sqs]:
    """boto3's SQS client for the test's own reads; endpoint from the environment (moto)."""
    client = boto3.client("sqs")
    yield client
    client.close()


@pytest.fixture
def sim_events(control: aiohttp.ClientSession) -> Events:
    async def read() -> dict[str, Any]:
        async with control.get("/_sim/events") as resp:
            assert resp.status == 200
            return dict(await resp.json())

    return read


async def set_queue(control: aiohttp.ClientSession, url: str | None) -> dict[str, Any]:
    async with control.put("/_sim/events", json={"queue_url": url}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return dict(body)


async def receive(sqs: Sqs, url: str, count: int) -> list[dict[str, Any]]:
    """Read messages until `count` arrived, failing at the deadline; then check for extras."""
    bodies: list[dict[str, Any]] = []
    deadline = time.monotonic() + DEADLINE_S
    while len(bodies) < count:
        assert time.monotonic() < deadline, f"{len(bodies)} of {count} messages arrived"
        answer = await asyncio.to_thread(
            sqs.receive_message, QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0
        )
        bodies += [json.loads(m["Body"]) for m in answer.get("Messages", [])]
        if len(bodies) < count:
            await asyncio.sleep(0.05)
    answer = await asyncio.to_thread(sqs.receive_message, QueueUrl=url, WaitTimeSeconds=0)
    assert not answer.get("Messages"), "more messages than events"
    return bodies


async def until(read: Events, done: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    """Poll GET /_sim/events until `done` holds, failing at the deadline."""
    deadline = time.monotonic() + DEADLINE_S
    while True:
        report = await read()
        if done(report):
            return report
        assert time.monotonic() < deadline, f"not reached: {report}"
        await asyncio.sleep(0.05)


def check_envelope(event: dict[str, Any], detail_type: str, thing: str) -> None:
    assert event["version"] == "0"
    assert event["detail-type"] == detail_type
    assert event["source"] == GG_SOURCE
    assert (event["account"], event["region"]) == (ACCOUNT, REGION)
    assert event["resources"][0] == device_arn(thing)
    assert ISO_SECOND.match(event["time"])
    sent = dt.datetime.strptime(event["time"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs(time.time() - sent.timestamp()) < 300  # the simulator's clock is the wall clock


def by_type(bodies: list[dict[str, Any]], detail_type: str) -> dict[str, dict[str, Any]]:
    """Events of one type by the core device they are about."""
    return {
        e["resources"][0].rpartition(":")[2]: e for e in bodies if e["detail-type"] == detail_type
    }


async def add_probe(
    control: aiohttp.ClientSession, name: str = PROBE, *, public: bool = False
) -> None:
    """Two versions of a component (private unless `public`) and two devices in a group no
    deployment targets."""
    await add_versions(control, name, public=public)
    await add_devices(control)


async def add_versions(
    control: aiohttp.ClientSession, name: str = PROBE, *, public: bool = False
) -> None:
    for version in ("1.0.0", "2.0.0"):
        component = {"componentName": name, "componentVersion": version, "public": public}
        await control_post(control, "/_sim/components", component)


async def add_devices(control: aiohttp.ClientSession) -> None:
    for thing in THINGS:
        device = {"thingName": thing, "thingGroups": [GROUP], "nucleusVersion": "2.13.0"}
        await control_post(control, "/_sim/devices", device)


def group_deployment(version: str, name: str = PROBE) -> dict[str, Any]:
    return {
        "targetArn": GROUP_ARN,
        "components": {name: {"componentVersion": version}},
    }


async def test_set_and_clear_the_queue(
    control: aiohttp.ClientSession, sim_events: Events, sqs_queue: str
) -> None:
    assert (await sim_events())["queue_url"] is None
    answer = await set_queue(control, sqs_queue)
    # moto's URL is not an AWS one: the Region comes from the environment.
    assert answer == {
        "queue_url": sqs_queue,
        "region": REGION,
        "emitted": 0,
        "sent": 0,
        "dropped": 0,
        "failed": 0,
    }
    assert (await set_queue(control, None))["queue_url"] is None
    for bad in ({"queue_url": 5}, {"queue_url": "ftp://x/1/q"}, {}):
        async with control.put("/_sim/events", json=bad) as resp:
            assert resp.status == 400


async def test_setting_an_installed_component_sends_its_status(
    control: aiohttp.ClientSession, sim_events: Events, sqs: Sqs, sqs_queue: str, world: World
) -> None:
    await set_queue(control, sqs_queue)
    thing = sorted(world.region(ACCOUNT, REGION).devices)[0]
    body = {"componentName": PROBE, "componentVersion": "3.1.0", "lifecycleState": "ERRORED"}
    await control_post(control, f"/_sim/devices/{thing}/installed", body)
    # Removal sends nothing: AWS publishes no event for it.
    await control_post(control, f"/_sim/devices/{thing}/installed", {"componentName": NUCLEUS})

    [event] = await receive(sqs, sqs_queue, 1)
    check_envelope(event, INSTALLED, thing)
    assert event["detail"] == {
        "components": [
            {
                "componentName": PROBE,
                "componentVersion": "3.1.0",
                "root": True,
                "lifecycleState": "ERRORED",
                "lifecycleStatusCodes": [],
                "lifecycleStateDetails": "",
            }
        ]
    }
    report = await until(sim_events, lambda r: r["sent"] == 1)
    assert (report["emitted"], report["dropped"], report["failed"]) == (1, 0, 0)
    assert report["events"] == [event]


@pytest.mark.parametrize("through", ["control", "api"])
async def test_a_deployment_sends_each_devices_outcome_and_components(
    through: str,
    sim: Running,
    control: aiohttp.ClientSession,
    sim_events: Events,
    sqs: Sqs,
    sqs_queue: str,
) -> None:
    await add_probe(control)
    await set_queue(control, sqs_queue)
    request = group_deployment("1.0.0")
    if through == "control":
        created = await control_post(control, "/_sim/deployments", request)
    else:
        async with open_client() as gg:
            created = await gg.create_deployment(**request)
    deployment_id = created["deploymentId"]

    bodies = await receive(sqs, sqs_queue, 2 * len(THINGS))
    outcomes, installs = by_type(bodies, EFFECTIVE), by_type(bodies, INSTALLED)
    assert sorted(outcomes) == sorted(installs) == sorted(THINGS)
    for thing in THINGS:
        check_envelope(outcomes[thing], EFFECTIVE, thing)
        assert outcomes[thing]["detail"] == {
            "deploymentId": deployment_id,
            "coreDeviceExecutionStatus": "SUCCEEDED",
            "statusDetails": {"errorStack": [], "errorTypes": []},
            "reason": "SUCCESSFUL",
        }
        check_envelope(installs[thing], INSTALLED, thing)
        # Only what changed: the nucleus was there before, as a dependency, and still is.
        assert installs[thing]["detail"]["components"] == [
            {
                "componentName": PROBE,
                "componentVersion": "1.0.0",
                "root": True,
                "lifecycleState": "RUNNING",
                "lifecycleStatusCodes": [],
                "lifecycleStateDetails": "",
            }
        ]
    report = await until(sim_events, lambda r: r["sent"] == len(bodies))
    assert report["emitted"] == len(bodies)
    assert sorted(e["id"] for e in report["events"]) == sorted(e["id"] for e in bodies)


async def test_a_failed_deployment_sends_the_failure_and_no_components(
    control: aiohttp.ClientSession, sqs: Sqs, sqs_queue: str
) -> None:
    await add_versions(control)
    # The group's deployment names 2.0.0 before its devices join; then the team deletes 2.0.0.
    created = await control_post(control, "/_sim/deployments", group_deployment("2.0.0"))
    await set_queue(control, sqs_queue)
    arn = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:components:{PROBE}:versions:2.0.0"
    async with open_client() as gg:
        await gg.delete_component(arn=arn)  # no device runs it; DeleteComponent sends nothing
        with pytest.raises(ClientError) as caught:
            await gg.describe_component(arn=arn)
        assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 404
    await add_devices(control)  # they receive the group's deployment and cannot resolve it

    bodies = await receive(sqs, sqs_queue, len(THINGS))
    outcomes = by_type(bodies, EFFECTIVE)
    assert sorted(outcomes) == sorted(THINGS)
    for thing, event in outcomes.items():
        check_envelope(event, EFFECTIVE, thing)
        detail = event["detail"]
        assert detail["deploymentId"] == created["deploymentId"]
        assert detail["coreDeviceExecutionStatus"] == "FAILED"
        assert detail["statusDetails"]["errorStack"][0] == "DEPLOYMENT_FAILURE"
        # The nucleus's reason: its code, then the resolver's message naming the requirement.
        assert detail["reason"].endswith(
            "No local or cloud component version satisfies the requirements. "
            f"Component {PROBE} version constraints: thinggroup/{GROUP} requires =2.0.0."
        )


async def test_a_device_moved_into_a_group_reports_what_it_resolved(
    control: aiohttp.ClientSession, sqs: Sqs, sqs_queue: str
) -> None:
    await add_probe(control)
    created = await control_post(control, "/_sim/deployments", group_deployment("1.0.0"))
    body = {"thingName": "events-m", "thingGroups": [], "nucleusVersion": "2.14.3"}
    await control_post(control, "/_sim/devices", body)
    await set_queue(control, sqs_queue)
    await control_post(control, "/_sim/devices/events-m/groups", {"add": [GROUP]})

    bodies = await receive(sqs, sqs_queue, 2)
    outcome = by_type(bodies, EFFECTIVE)["events-m"]
    assert outcome["detail"]["deploymentId"] == created["deploymentId"]
    assert outcome["detail"]["coreDeviceExecutionStatus"] == "SUCCEEDED"
    components = by_type(bodies, INSTALLED)["events-m"]["detail"]["components"]
    assert [(c["componentName"], c["componentVersion"], c["root"]) for c in components] == [
        (PROBE, "1.0.0", True)
    ]


async def test_a_device_that_joins_gets_its_groups_deployment(
    control: aiohttp.ClientSession, sqs: Sqs, sqs_queue: str
) -> None:
    await add_probe(control)
    created = await control_post(control, "/_sim/deployments", group_deployment("1.0.0"))
    await set_queue(control, sqs_queue)  # only what happens from now on is sent
    await control_post(control, "/_sim/devices", {"thingName": "events-c", "thingGroups": [GROUP]})

    bodies = await receive(sqs, sqs_queue, 2)
    outcome, install = (
        by_type(bodies, EFFECTIVE)["events-c"],
        by_type(bodies, INSTALLED)["events-c"],
    )
    check_envelope(outcome, EFFECTIVE, "events-c")
    assert outcome["detail"]["deploymentId"] == created["deploymentId"]
    assert outcome["detail"]["coreDeviceExecutionStatus"] == "SUCCEEDED"
    check_envelope(install, INSTALLED, "events-c")
    assert [
        (c["componentName"], c["componentVersion"]) for c in install["detail"]["components"]
    ] == [(PROBE, "1.0.0")]


async def test_a_withdrawn_version_sends_a_health_event_listing_its_devices(
    control: aiohttp.ClientSession, sim_events: Events, sqs: Sqs, sqs_queue: str
) -> None:
    await add_probe(control, PUBLIC_PROBE, public=True)
    await control_post(control, "/_sim/deployments", group_deployment("1.0.0", PUBLIC_PROBE))
    before = (await set_queue(control, sqs_queue))["emitted"]  # the deployment's, recorded only
    body = {
        "componentName": PUBLIC_PROBE,
        "componentVersion": "1.0.0",
        "vendorGuidance": "DISCONTINUED",
    }
    await control_post(control, "/_sim/guidance", {**body, "message": "Use 2.0.0."})
    await control_post(control, "/_sim/guidance", body)  # no change: no second event
    await control_post(control, "/_sim/guidance", {**body, "componentVersion": "2.0.0"})  # unused

    [event] = await receive(sqs, sqs_queue, 1)
    assert (event["detail-type"], event["source"]) == ("AWS Health Event", "aws.health")
    assert (event["account"], event["region"]) == (ACCOUNT, REGION)
    assert ISO_SECOND.match(event["time"])
    assert event["resources"] == [device_arn(t) for t in THINGS]
    detail = event["detail"]
    assert detail["service"] == "GREENGRASS"
    assert detail["eventTypeCode"] == "AWS_GREENGRASS_OPERATIONAL_NOTIFICATION"
    assert detail["eventTypeCategory"] == "accountNotification"
    assert detail["eventArn"].startswith(f"arn:aws:health:{REGION}::event/GREENGRASS/")
    assert re.match(r"^\w{3}, \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT$", detail["startTime"])
    assert detail["affectedEntities"] == [{"entityValue": device_arn(t)} for t in THINGS]
    [description] = detail["eventDescription"]
    assert description["language"] == "en_US"
    assert f"{PUBLIC_PROBE} version 1.0.0 is discontinued" in description["latestDescription"]
    assert description["latestDescription"].endswith("Use 2.0.0.")
    report = await until(sim_events, lambda r: r["sent"] == 1)
    assert report["emitted"] == before + 1
    assert report["events"][-1] == event


async def test_a_withdrawn_public_version_tells_every_account_running_it(
    monkeypatch: pytest.MonkeyPatch, sqs: Sqs, sqs_queue: str
) -> None:
    world = generate(
        FleetSpec(seed=11, accounts=2, devices=30, deployments=60), now=time.time() - 60
    )
    running: dict[str, dict[str, list[str]]] = {}  # nucleus version -> account -> devices
    for state in world.states():
        nucleus = state.component(NUCLEUS)
        assert nucleus is not None
        for thing in sorted(state.devices):
            version = state.devices[thing].core_version
            if version and nucleus.versions[version].vendor_guidance in (None, "ACTIVE"):
                running.setdefault(version, {}).setdefault(state.account, []).append(thing)
    version, accounts = max(running.items(), key=lambda item: (len(item[1]), item[0]))
    assert len(accounts) == 2, "the fleet should run one nucleus version in both accounts"

    async with served(Simulator(world, seed=1), monkeypatch) as control:
        await set_queue(control, sqs_queue)
        body = {"componentName": NUCLEUS, "componentVersion": version, "vendorGuidance": "DELETED"}
        await control_post(control, "/_sim/guidance", body)
        bodies = await receive(sqs, sqs_queue, 2)

    assert sorted(e["account"] for e in bodies) == sorted(accounts)
    for event in bodies:
        things = accounts[event["account"]]
        assert event["resources"] == [device_arn(t, event["account"]) for t in things]
        assert event["detail"]["affectedAccount"] == event["account"]
        assert "is deleted" in event["detail"]["eventDescription"][0]["latestDescription"]


# -- failures: the Greengrass API keeps serving ------------------------------------------------


async def test_a_missing_queue_counts_failures_and_the_api_keeps_serving(
    sim: Running,
    control: aiohttp.ClientSession,
    sim_events: Events,
    sqs_queue: str,
    world: World,
) -> None:
    missing = sqs_queue.rpartition("/")[0] + "/no-such-queue"
    await set_queue(control, missing)
    thing = sorted(world.region(ACCOUNT, REGION).devices)[0]
    body = {"componentName": PROBE, "componentVersion": "1.0.0"}
    await control_post(control, f"/_sim/devices/{thing}/installed", body)

    report = await until(sim_events, lambda r: r["failed"] == 1)
    assert (report["emitted"], report["sent"], report["dropped"]) == (1, 0, 0)
    async with open_client() as gg:
        assert (await gg.get_core_device(coreDeviceThingName=thing))["coreDeviceThingName"] == thing


async def test_an_unreachable_endpoint_counts_failures_and_the_api_keeps_serving(
    sim: Running,
    control: aiohttp.ClientSession,
    sim_events: Events,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # One attempt each, from the standard AWS settings, so each batch fails at once.
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", CLOSED)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    await set_queue(control, f"{CLOSED}/{ACCOUNT}/events")
    await add_probe(control)
    await control_post(control, "/_sim/deployments", group_deployment("1.0.0"))

    report = await until(sim_events, lambda r: r["failed"] == r["emitted"] == 2 * len(THINGS))
    assert (report["sent"], report["dropped"]) == (0, 0)
    async with open_client() as gg:
        listed = await gg.list_core_devices(thingGroupArn=GROUP_ARN)
    assert sorted(d["coreDeviceThingName"] for d in listed["coreDevices"]) == sorted(THINGS)


async def test_a_full_outbox_drops_while_the_queue_is_unreachable(
    world: World, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", CLOSED)
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "1")
    simulator = Simulator(world, seed=1, events_queue_url=f"{CLOSED}/{ACCOUNT}/q", events_outbox=2)
    async with served(simulator, monkeypatch) as control:
        await add_probe(control)  # a group with no deployment yet: no events
        async with asyncio.timeout(DEADLINE_S):
            await control_post(control, "/_sim/deployments", group_deployment("1.0.0"))
        # The deployment's events were put in one go, before the sender could take any: the
        # outbox held two, the rest were dropped.
        emitted = 2 * len(THINGS)
        assert (simulator.events.emitted, simulator.events.dropped) == (emitted, emitted - 2)

        async with control.get("/_sim/events") as resp:
            read = await resp.json()
        assert read["dropped"] == emitted - 2
        deadline = time.monotonic() + DEADLINE_S
        while simulator.events.failed < 2:
            assert time.monotonic() < deadline, simulator.events.public()
            await asyncio.sleep(0.05)
        assert (simulator.events.sent, simulator.events.failed) == (0, 2)
        async with open_client() as gg:
            await gg.get_core_device(coreDeviceThingName=THINGS[0])
    # A line when dropping starts and one per distinct send error, not one per event.
    warnings = [r.getMessage() for r in caplog.records if r.name == "ggwatch.sim.events"]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("events outbox full (2): dropping events")
    assert warnings[1].startswith(f"events not delivered to {CLOSED}/{ACCOUNT}/q: ")


@asynccontextmanager
async def served(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[aiohttp.ClientSession]:
    """Serve a simulator the test built itself; the Greengrass client env points at it."""
    async with serve(simulator) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_GREENGRASSV2", running.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_IOT", running.endpoint)
        async with aiohttp.ClientSession(base_url=running.endpoint) as control:
            yield control
