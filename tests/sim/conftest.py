"""Fixtures for the simulator's contract and round-trip tests.

Everything here reaches the simulator over real HTTP: aiobotocore clients configured only
through documented settings, raw requests signed with botocore's own SigV4 signer, and the
/_sim/ control API. Raw response bodies are read through botocore's documented event system
(`before-parse`), which hands every handler the undecoded response; nothing is patched.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials
from yarl import URL

from ggwatch.sim.fleet import access_key
from ggwatch.sim.server import Running
from tests.conftest import client_config

SIM_REGION = "us-west-2"
SIM_ACCOUNT = "123456789012"
SIM_SECRET = "simulated-secret"


@dataclass(frozen=True, slots=True)
class Exchange:
    """One HTTP answer exactly as it came off the wire, before botocore parsed it."""

    operation: str
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


@dataclass(slots=True)
class Wire:
    """Records every raw answer a client receives (botocore's `before-parse` event)."""

    exchanges: list[Exchange] = field(default_factory=list)

    def capture(self, operation_model: Any, response_dict: dict[str, Any], **_: Any) -> None:
        headers = {str(k).lower(): str(v) for k, v in response_dict["headers"].items()}
        self.exchanges.append(
            Exchange(
                operation_model.name,
                int(response_dict["status_code"]),
                headers,
                bytes(response_dict["body"]),
            )
        )

    def take(self) -> list[Exchange]:
        out, self.exchanges = self.exchanges, []
        return out

    def last(self) -> Exchange:
        assert self.exchanges, "no response was captured"
        return self.exchanges[-1]


ClientOpener = Callable[..., AbstractAsyncContextManager[Any]]


@asynccontextmanager
async def device_client(
    endpoint: str, headers: Mapping[str, str], wire: Wire | None = None
) -> AsyncIterator[Any]:
    """A greengrassv2 client for the data plane at `endpoint`, sending `headers` (the device's
    identity) with each ResolveComponentCandidates call; one attempt per call."""

    def identify(request: Any, **_: Any) -> None:
        for name, value in headers.items():
            request.headers[name] = value

    async with get_session().create_client(
        "greengrassv2", endpoint_url=endpoint, config=client_config()
    ) as client:
        client.meta.events.register("before-sign.greengrassv2.ResolveComponentCandidates", identify)
        if wire is not None:
            client.meta.events.register("before-parse.greengrassv2", wire.capture)
        yield client


@pytest.fixture
def open_gg(sim: Running) -> ClientOpener:
    """Open extra greengrassv2 clients: one attempt each, optionally another Region or key."""

    @asynccontextmanager
    async def opener(
        *, region: str | None = None, key: str | None = None, wire: Wire | None = None
    ) -> AsyncIterator[Any]:
        kwargs: dict[str, Any] = {}
        if region is not None:
            kwargs["region_name"] = region
        if key is not None:
            kwargs.update(aws_access_key_id=key, aws_secret_access_key=SIM_SECRET)
        # `total_max_attempts` counts the first attempt; plain `max_attempts` counts retries.
        config = AioConfig(retries={"total_max_attempts": 1, "mode": "standard"})
        async with get_session().create_client("greengrassv2", config=config, **kwargs) as c:
            if wire is not None:
                c.meta.events.register("before-parse.greengrassv2", wire.capture)
            yield c

    return opener


@pytest.fixture
async def gg_once(open_gg: ClientOpener, wire: Wire) -> AsyncIterator[Any]:
    """A client that makes exactly one attempt per call and records the raw answers."""
    async with open_gg(wire=wire) as client:
        yield client


@pytest.fixture
def wire() -> Wire:
    return Wire()


@pytest.fixture
def knobs(control: aiohttp.ClientSession) -> Callable[..., Awaitable[dict[str, Any]]]:
    """PATCH /_sim/knobs; answers the knobs as the simulator now has them."""

    async def patch(**changes: Any) -> dict[str, Any]:
        async with control.patch("/_sim/knobs", json=changes) as resp:
            body = await resp.json()
            assert resp.status == 200, body
            return dict(body)

    return patch


@pytest.fixture
async def no_quota(knobs: Callable[..., Awaitable[dict[str, Any]]]) -> None:
    """Lift the shared request quota: pagination tests make many calls in a burst."""
    await knobs(rate_limit=0)


@pytest.fixture
def sim_calls(control: aiohttp.ClientSession) -> Callable[[int], Awaitable[list[dict[str, Any]]]]:
    """The simulator's log of AWS calls received after a sequence number."""

    async def calls(since: int = 0) -> list[dict[str, Any]]:
        async with control.get("/_sim/calls", params={"since": str(since)}) as resp:
            assert resp.status == 200
            return list((await resp.json())["calls"])

    return calls


@dataclass(frozen=True, slots=True)
class RawAnswer:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None


RawSender = Callable[..., Awaitable[RawAnswer]]


@pytest.fixture
def raw_call(sim: Running) -> RawSender:
    """Send one SigV4-signed request (botocore's signer) to a path that is already encoded."""

    async def send(
        method: str,
        path: str,
        *,
        query: list[tuple[str, str]] | None = None,
        body: Any = None,
        region: str = SIM_REGION,
        key: str | None = None,
    ) -> RawAnswer:
        url = f"{sim.endpoint}{path}" + (f"?{urlencode(query)}" if query else "")
        data = b"" if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        request = AWSRequest(method=method, url=url, data=data, headers=headers)
        SigV4Auth(Credentials(key or access_key(0), SIM_SECRET), "greengrass", region).add_auth(
            request
        )
        async with (
            aiohttp.ClientSession() as session,
            session.request(
                method,
                URL(url, encoded=True),
                data=data or None,
                headers=dict(request.headers.items()),
            ) as resp,
        ):
            return RawAnswer(
                resp.status, {k.lower(): v for k, v in resp.headers.items()}, await resp.read()
            )

    return send
