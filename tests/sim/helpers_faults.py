"""Helpers for the simulator's fault, deployment and fleet tests.

Clients here are real aiobotocore clients configured only through documented settings
(AioConfig, region, credentials); raw requests are signed with botocore's own SigV4 signer.
Nothing in a client is patched.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import aiohttp
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from botocore.exceptions import ClientError

from ggwatch.sim.fleet import access_key

REGION = "us-west-2"
ACCOUNT = "123456789012"
SECRET = "simulated-secret"
T = TypeVar("T")


def one_attempt(**extra: Any) -> AioConfig:
    """Exactly one attempt. (botocore's `max_attempts` counts retries, not attempts.)"""
    return AioConfig(retries={"total_max_attempts": 1, "mode": "standard"}, **extra)


def attempts(total: int, mode: str = "standard") -> AioConfig:
    return AioConfig(retries={"total_max_attempts": total, "mode": mode})


@asynccontextmanager
async def open_client(
    config: AioConfig | None = None, *, region: str | None = None, key: str | None = None
) -> AsyncIterator[Any]:
    """A greengrassv2 client for the simulator the environment points at."""
    kwargs: dict[str, Any] = {}
    if region is not None:
        kwargs["region_name"] = region
    if key is not None:
        kwargs.update(aws_access_key_id=key, aws_secret_access_key=SECRET)
    session = get_session()
    async with session.create_client(
        "greengrassv2", config=config or one_attempt(), **kwargs
    ) as client:
        yield client


def code(exc: ClientError) -> str:
    return str(exc.response["Error"]["Code"])


def http_status(exc: ClientError) -> int:
    return int(exc.response["ResponseMetadata"]["HTTPStatusCode"])


def header(exc: ClientError, name: str) -> str | None:
    headers = exc.response["ResponseMetadata"]["HTTPHeaders"]
    value = headers.get(name.lower())
    return None if value is None else str(value)


async def bounded(
    jobs: Iterable[Callable[[], Awaitable[T]]], limit: int
) -> list[T | BaseException]:
    """Run jobs with at most `limit` in flight; results (or exceptions) in job order."""
    gate = asyncio.Semaphore(limit)

    async def one(job: Callable[[], Awaitable[T]]) -> T:
        async with gate:
            return await job()

    return await asyncio.gather(*(one(job) for job in jobs), return_exceptions=True)


# -- the control API ------------------------------------------------------------------------


async def set_knobs(control: aiohttp.ClientSession, **changes: Any) -> dict[str, Any]:
    async with control.patch("/_sim/knobs", json=changes) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return dict(body)


async def get_knobs(control: aiohttp.ClientSession) -> dict[str, Any]:
    async with control.get("/_sim/knobs") as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def get_calls(control: aiohttp.ClientSession, since: int = 0) -> dict[str, Any]:
    async with control.get("/_sim/calls", params={"since": str(since)}) as resp:
        assert resp.status == 200
        return dict(await resp.json())


async def control_post(
    control: aiohttp.ClientSession, path: str, body: dict[str, Any], expect: int = 200
) -> dict[str, Any]:
    async with control.post(path, json=body) as resp:
        data = await resp.json()
        assert resp.status == expect, data
        return dict(data)


def outcome_total(calls: dict[str, Any], outcome: str) -> int:
    """How many logged calls (any operation) ended in `outcome` ("ok" or an error code)."""
    return sum(per_op.get(outcome, 0) for per_op in calls["counts"].values())


# -- raw signed requests --------------------------------------------------------------------


async def signed(
    endpoint: str,
    method: str,
    path: str,
    *,
    query: str = "",
    body: bytes | None = None,
    region: str = REGION,
    key: str | None = None,
    service: str = "greengrass",
) -> tuple[int, dict[str, str], Any]:
    """Send a request signed with SigV4 as a real client would; answer status, headers, JSON."""
    url = f"{endpoint}{path}" + (f"?{query}" if query else "")
    headers = {"Content-Type": "application/json"} if body is not None else {}
    request = AWSRequest(method=method, url=url, data=body or b"", headers=headers)
    credentials = Credentials(key or access_key(0), SECRET)
    SigV4Auth(credentials, service, region).add_auth(request)
    async with (
        aiohttp.ClientSession() as session,
        session.request(method, url, data=body, headers=dict(request.headers.items())) as resp,
    ):
        raw = await resp.read()
        data = json.loads(raw) if raw else None
        return resp.status, dict(resp.headers), data
