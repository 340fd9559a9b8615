"""Realism knobs as a real aiobotocore client sees them: quota, latency, 5xx, denial, bad input.

Knobs change at run time through PATCH /_sim/knobs; the call log (GET /_sim/calls) shows what
reached the simulator, including attempts the client retried on its own.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import aiohttp
import pytest
from botocore.exceptions import ClientError

from ggwatch.sim.faults import Knobs, Quotas, default_rate, jitter, retry_after
from ggwatch.sim.fleet import FleetSpec, access_key
from ggwatch.sim.server import Running
from ggwatch.sim.store import World
from tests.sim.helpers_faults import (
    ACCOUNT,
    REGION,
    attempts,
    bounded,
    code,
    get_calls,
    get_knobs,
    header,
    http_status,
    one_attempt,
    open_client,
    outcome_total,
    set_knobs,
    signed,
)

Job = Callable[[], Awaitable[Any]]


@pytest.fixture
async def gg1(sim: Running) -> AsyncIterator[Any]:
    """One attempt, no retries: every error the simulator sends reaches the test."""
    async with open_client(one_attempt()) as client:
        yield client


@pytest.fixture
def thing(world: World) -> str:
    return sorted(world.region(ACCOUNT, REGION).devices)[0]


def mixed_jobs(client: Any, thing: str, count: int) -> list[Job]:
    """`count` calls cycling through four different operations."""
    makers: list[Job] = [
        lambda: client.list_core_devices(maxResults=5),
        lambda: client.list_deployments(maxResults=5),
        lambda: client.list_components(maxResults=5),
        lambda: client.get_core_device(coreDeviceThingName=thing),
    ]
    return [makers[i % len(makers)] for i in range(count)]


def split(results: list[Any]) -> tuple[list[Any], list[ClientError]]:
    """Answers and AWS errors apart; anything else the client raised fails the test."""
    ok: list[Any] = []
    errors: list[ClientError] = []
    for result in results:
        if isinstance(result, ClientError):
            errors.append(result)
        elif isinstance(result, BaseException):
            raise result
        else:
            ok.append(result)
    return ok, errors


# -- the shared request quota --------------------------------------------------------------


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("region", "rate"),
    [
        ("us-west-2", 30),
        ("eu-central-1", 30),
        ("cn-north-1", 10),
        ("cn-northwest-1", 10),
        ("us-gov-west-1", 10),
        ("us-gov-east-1", 10),
    ],
)
def test_default_rate_follows_the_published_quota(region: str, rate: int) -> None:
    assert default_rate(region) == rate
    clock = FakeClock()
    quotas = Quotas(Knobs(), clock)
    # Without a rate_limit knob the bucket holds one second's worth of the Region's quota.
    assert [quotas.admit(ACCOUNT, region) for _ in range(rate)] == [0.0] * rate
    wait = quotas.admit(ACCOUNT, region)
    assert wait == pytest.approx(1.0 / rate)
    clock.now += 1.5 / rate  # refills one token (and half of the next)
    assert quotas.admit(ACCOUNT, region) == 0.0
    assert quotas.admit(ACCOUNT, region) > 0.0


def test_retry_after_is_whole_seconds_and_never_zero() -> None:
    assert retry_after(0.001) == 1
    assert retry_after(1.0) == 1
    assert retry_after(1.2) == 2


async def test_throttled_calls_carry_retry_after(
    control: aiohttp.ClientSession, gg1: Any, thing: str
) -> None:
    await set_knobs(control, rate_limit=5, burst=5)
    results = await bounded(mixed_jobs(gg1, thing, 24), limit=8)
    ok, errors = split(results)
    assert len(ok) >= 5  # the burst
    assert errors, "24 calls at once against a 5/s budget must be throttled"
    for error in errors:
        assert code(error) == "ThrottlingException"
        assert http_status(error) == 429
        raw = header(error, "Retry-After")
        assert raw is not None
        assert int(raw) >= 1
        # botocore parses the modelled header member into the error response, as an int.
        assert error.response["retryAfterSeconds"] == int(raw)
        assert error.response["quotaCode"]
        assert error.response["Error"]["Message"]
    calls = await get_calls(control)
    assert outcome_total(calls, "ThrottlingException") == len(errors)
    assert outcome_total(calls, "ok") == len(ok)
    assert {r["status"] for r in calls["calls"] if r["error"] == "ThrottlingException"} == {429}


async def test_budget_is_shared_by_all_operations(
    control: aiohttp.ClientSession, gg1: Any, thing: str
) -> None:
    await set_knobs(control, rate_limit=0.5, burst=3)
    for _ in range(3):
        await gg1.list_components()
    call: Job
    for call in (
        lambda: gg1.list_deployments(),
        lambda: gg1.get_core_device(coreDeviceThingName=thing),
        lambda: gg1.list_core_devices(),
    ):
        with pytest.raises(ClientError) as caught:
            await call()
        assert code(caught.value) == "ThrottlingException"
    counts = (await get_calls(control))["counts"]
    assert counts["ListComponents"] == {"ok": 3}
    for operation in ("ListDeployments", "GetCoreDevice", "ListCoreDevices"):
        assert counts[operation] == {"ThrottlingException": 1}


async def test_client_retries_through_throttling(
    control: aiohttp.ClientSession, sim: Running, thing: str
) -> None:
    await set_knobs(control, rate_limit=20, burst=4)
    async with open_client(attempts(10)) as client:
        results = await bounded(mixed_jobs(client, thing, 24), limit=8)
    ok, errors = split(results)
    assert not errors
    assert len(ok) == 24
    calls = await get_calls(control)
    throttled = outcome_total(calls, "ThrottlingException")
    assert throttled >= 1, "the client's own retries must show in the call log"
    assert outcome_total(calls, "ok") == 24
    assert len(calls["calls"]) == 24 + throttled
    assert sum(r["RetryAttempts"] for r in (o["ResponseMetadata"] for o in ok)) == throttled


@pytest.mark.parametrize(
    "fleet_spec", [FleetSpec(seed=11, accounts=2, devices=6, deployments=10, private_components=2)]
)
async def test_budget_is_per_account_and_region(
    control: aiohttp.ClientSession, gg1: Any, world: World
) -> None:
    await set_knobs(control, rate_limit=0.5, burst=2)
    await gg1.list_components()
    await gg1.list_components()
    with pytest.raises(ClientError) as caught:
        await gg1.list_components()
    assert code(caught.value) == "ThrottlingException"

    other_account = world.access_keys[access_key(1)]
    assert other_account != ACCOUNT
    async with open_client(region="eu-central-1") as elsewhere:
        await elsewhere.list_components()
    async with open_client(key=access_key(1)) as other:
        await other.list_components()
        await other.list_components()
        with pytest.raises(ClientError) as caught:
            await other.list_components()  # the second account's own budget is spent now
        assert code(caught.value) == "ThrottlingException"
    with pytest.raises(ClientError) as caught:
        await gg1.list_components()  # and the first one's still is
    assert code(caught.value) == "ThrottlingException"

    seen = [(r["account"], r["region"], r["error"]) for r in (await get_calls(control))["calls"]]
    assert seen == [
        (ACCOUNT, REGION, None),
        (ACCOUNT, REGION, None),
        (ACCOUNT, REGION, "ThrottlingException"),
        (ACCOUNT, "eu-central-1", None),
        (other_account, REGION, None),
        (other_account, REGION, None),
        (other_account, REGION, "ThrottlingException"),
        (ACCOUNT, REGION, "ThrottlingException"),
    ]


async def test_rate_limit_zero_means_no_limit(
    control: aiohttp.ClientSession, gg1: Any, thing: str
) -> None:
    await set_knobs(control, rate_limit=0)
    ok, errors = split(await bounded(mixed_jobs(gg1, thing, 60), limit=10))
    assert not errors
    assert len(ok) == 60


# -- latency ---------------------------------------------------------------------------------


async def test_latency_delays_each_answer(control: aiohttp.ClientSession, gg1: Any) -> None:
    await set_knobs(control, latency_ms=200)
    started = time.monotonic()
    await gg1.list_components()
    assert time.monotonic() - started >= 0.2


async def test_jitter_adds_to_latency(control: aiohttp.ClientSession, gg1: Any) -> None:
    await set_knobs(control, latency_ms=100, jitter_ms=100)
    started = time.monotonic()
    await gg1.list_core_devices()
    assert time.monotonic() - started >= 0.1


def test_jitter_stays_within_its_bounds() -> None:
    rng = random.Random(3)
    assert jitter(Knobs(latency_ms=50), rng) == pytest.approx(0.05)
    assert jitter(Knobs(), rng) == 0.0
    samples = [jitter(Knobs(latency_ms=50, jitter_ms=100), rng) for _ in range(500)]
    assert all(0.05 <= s <= 0.15 for s in samples)
    assert max(samples) - min(samples) > 0.08  # spread over the range, not one value


# -- injected 5xx ------------------------------------------------------------------------------


async def test_error_rate_one_answers_500_with_retry_after(
    control: aiohttp.ClientSession, gg1: Any
) -> None:
    await set_knobs(control, error_rate=1.0, retry_after_seconds=3)
    call: Job
    for call in (lambda: gg1.list_components(), lambda: gg1.list_deployments()):
        with pytest.raises(ClientError) as caught:
            await call()
        error = caught.value
        assert code(error) == "InternalServerException"
        assert http_status(error) == 500
        assert header(error, "Retry-After") == "3"
        assert error.response["retryAfterSeconds"] == 3


async def test_client_retries_through_injected_errors(
    control: aiohttp.ClientSession, gg1: Any, thing: str
) -> None:
    await set_knobs(control, error_rate=0.5)  # the simulator fixture is seeded
    done = 0
    async with open_client(attempts(12)) as client:
        # Until a 500 happened: each call succeeds in the end, whatever its attempts met.
        while done < 10 and not outcome_total(await get_calls(control), "InternalServerException"):
            await client.list_components()
            done += 1
    calls = await get_calls(control)
    assert outcome_total(calls, "InternalServerException") >= 1
    assert outcome_total(calls, "ok") == done

    await set_knobs(control, error_rate=0)
    for job in mixed_jobs(gg1, thing, 8):
        await job()
    after = await get_calls(control, since=calls["last"])
    assert [r["error"] for r in after["calls"]] == [None] * 8


# -- access denied -----------------------------------------------------------------------------


async def test_access_denied_for_one_operation(
    control: aiohttp.ClientSession, gg1: Any, world: World
) -> None:
    state = world.region(ACCOUNT, REGION)
    deletable = next(d for d in state.deployments.by_id.values() if d.status != "ACTIVE")
    knobs = await set_knobs(control, access_denied=["DeleteDeployment"])
    assert knobs["access_denied"] == ["DeleteDeployment"]
    with pytest.raises(ClientError) as caught:
        await gg1.delete_deployment(deploymentId=deletable.deployment_id)
    assert code(caught.value) == "AccessDeniedException"
    assert http_status(caught.value) == 403
    # Denial comes before the lookup: an unknown id is denied too, not "not found".
    with pytest.raises(ClientError) as caught:
        await gg1.delete_deployment(deploymentId="no-such-deployment")
    assert code(caught.value) == "AccessDeniedException"
    got = await gg1.get_deployment(deploymentId=deletable.deployment_id)
    assert got["deploymentId"] == deletable.deployment_id

    await set_knobs(control, access_denied=[])
    await gg1.delete_deployment(deploymentId=deletable.deployment_id)
    with pytest.raises(ClientError) as caught:
        await gg1.get_deployment(deploymentId=deletable.deployment_id)
    assert code(caught.value) == "ResourceNotFoundException"


async def test_access_denied_for_everything(
    control: aiohttp.ClientSession, gg1: Any, thing: str
) -> None:
    await set_knobs(control, access_denied=["*"])
    for job in mixed_jobs(gg1, thing, 4):
        with pytest.raises(ClientError) as caught:
            await job()
        assert code(caught.value) == "AccessDeniedException"
        assert http_status(caught.value) == 403
    await set_knobs(control, access_denied=[])
    for job in mixed_jobs(gg1, thing, 4):
        await job()


# -- the knobs endpoint itself ---------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        {"latency_ms": -1},
        {"jitter_ms": "slow"},
        {"latency_ms": True},
        {"rate_limit": -5},
        {"burst": 0},
        {"error_rate": 1.5},
        {"page_cap": 0},
        {"page_cap": 101},
        {"page_cap": 2.5},
        {"deletion_slots": 0},
        {"deletion_seconds": -1},
        {"retry_after_seconds": -1},
        {"access_denied": "DeleteDeployment"},
        {"access_denied": [1, 2]},
        {"superseded_status": "DELETED"},
        {"delete_active_error": "teapot"},
        {"no_such_knob": 1},
        {"readings": {}},
        {"latency_ms": 50, "error_rate": 2},  # one bad value spoils the whole update
    ],
)
async def test_bad_knob_values_are_refused(
    control: aiohttp.ClientSession, body: dict[str, Any]
) -> None:
    before = await get_knobs(control)
    async with control.patch("/_sim/knobs", json=body) as resp:
        assert resp.status == 400
        answer = await resp.json()
    assert isinstance(answer["error"], str)
    assert answer["error"]
    assert await get_knobs(control) == before


@pytest.mark.parametrize(
    "raw",
    [
        b'{"latency_ms": NaN}',
        b'{"latency_ms": Infinity}',
        b'{"rate_limit": NaN}',
        b'{"page_cap": Infinity}',
        b'{"deletion_seconds": Infinity}',
        b"not json",
        b"[1, 2]",
    ],
)
async def test_knobs_refuse_malformed_bodies(control: aiohttp.ClientSession, raw: bytes) -> None:
    before = await get_knobs(control)
    headers = {"Content-Type": "application/json"}
    async with control.patch("/_sim/knobs", data=raw, headers=headers) as resp:
        assert resp.status == 400
        assert (await resp.json())["error"]
    assert await get_knobs(control) == before


async def test_knobs_read_back_what_was_set(control: aiohttp.ClientSession) -> None:
    knobs = await set_knobs(
        control,
        latency_ms=5,
        rate_limit=None,
        burst=7,
        superseded_status="CANCELED",
        delete_active_error="validation",
        page_cap=20,
    )
    assert knobs == await get_knobs(control)
    assert knobs["latency_ms"] == 5
    assert knobs["rate_limit"] is None
    assert knobs["burst"] == 7
    assert knobs["superseded_status"] == "CANCELED"
    assert knobs["delete_active_error"] == "validation"
    assert knobs["page_cap"] == 20


# -- the front door: authentication and routing ------------------------------------------------


async def test_unsigned_request_is_refused(sim: Running) -> None:
    async with (
        aiohttp.ClientSession() as session,
        session.get(f"{sim.endpoint}/greengrass/v2/components") as resp,
    ):
        assert resp.status == 403
        assert resp.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"
        assert (await resp.json())["message"]


async def test_request_signed_for_another_service_is_refused(sim: Running) -> None:
    status, headers, _ = await signed(
        sim.endpoint, "GET", "/greengrass/v2/components", service="iot"
    )
    assert status == 403
    assert headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/greengrass/v2/nothing"), ("PUT", "/greengrass/v2/components"), ("GET", "/")],
)
async def test_unknown_path_answers_404(sim: Running, method: str, path: str) -> None:
    status, headers, body = await signed(sim.endpoint, method, path)
    assert status == 404
    assert headers["x-amzn-ErrorType"] == "UnknownOperationException"
    assert body["message"]


async def test_signed_raw_request_is_answered(sim: Running) -> None:
    """The raw path works at all, so the refusals above are about what they test."""
    status, _, body = await signed(
        sim.endpoint, "GET", "/greengrass/v2/coreDevices", query="maxResults=3"
    )
    assert status == 200
    assert len(body["coreDevices"]) == 3


# -- malformed input -------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["0", "101", "-1", "ten"])
async def test_max_results_out_of_range_raw(sim: Running, value: str) -> None:
    status, headers, body = await signed(
        sim.endpoint, "GET", "/greengrass/v2/coreDevices", query=f"maxResults={value}"
    )
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert body["fields"][0]["name"] == "maxResults"
    assert body["fields"][0]["message"]


@pytest.mark.parametrize("value", [0, 101])
async def test_max_results_out_of_range_through_the_client(sim: Running, value: int) -> None:
    # botocore refuses these itself; its documented switch turns that check off.
    async with open_client(one_attempt(parameter_validation=False)) as client:
        with pytest.raises(ClientError) as caught:
            await client.list_deployments(maxResults=value)
    error = caught.value
    assert code(error) == "ValidationException"
    assert http_status(error) == 400
    assert error.response["reason"] == "FIELD_VALIDATION_FAILED"
    assert [f["name"] for f in error.response["fields"]] == ["maxResults"]


async def test_bad_enum_through_the_client(sim: Running) -> None:
    async with open_client(one_attempt(parameter_validation=False)) as client:
        with pytest.raises(ClientError) as caught:
            await client.list_deployments(historyFilter="SOME")
    assert code(caught.value) == "ValidationException"
    assert [f["name"] for f in caught.value.response["fields"]] == ["historyFilter"]


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "CANNOT_PARSE"),
        (b"\xff\xfe", "CANNOT_PARSE"),
        (b"[1, 2, 3]", "FIELD_VALIDATION_FAILED"),
        (json.dumps({"targetArn": "x", "colour": "red"}).encode(), "FIELD_VALIDATION_FAILED"),
        (json.dumps({"deploymentName": "no target"}).encode(), "FIELD_VALIDATION_FAILED"),
    ],
)
async def test_malformed_body_is_a_validation_error(
    sim: Running, control: aiohttp.ClientSession, body: bytes, reason: str
) -> None:
    status, headers, answer = await signed(
        sim.endpoint, "POST", "/greengrass/v2/deployments", body=body
    )
    assert status == 400
    assert headers["x-amzn-ErrorType"] == "ValidationException"
    assert answer["reason"] == reason
    assert answer["message"]
    calls = (await get_calls(control))["calls"]
    assert [(c["operation"], c["error"]) for c in calls] == [
        ("CreateDeployment", "ValidationException")
    ]
