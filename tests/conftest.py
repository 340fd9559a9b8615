"""Shared fixtures: a generated fleet, the simulator on loopback, a real aiobotocore client.

The client is pointed at the simulator only through the standard AWS_ENDPOINT_URL_GREENGRASSV2
setting, exactly as a user would point ggwatch at it; nothing in the client is patched.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from ggwatch.sim.fleet import FleetSpec, access_key, generate
from ggwatch.sim.server import Running, Simulator, serve
from ggwatch.sim.store import World

REGION = "us-west-2"
ACCOUNT = "123456789012"


@pytest.fixture(autouse=True)
def _isolated_aws_env(monkeypatch: pytest.MonkeyPatch, tmp_path_factory: Any) -> None:
    """No test may read the developer's AWS profile or reach a real endpoint."""
    for name in list(os.environ):
        if name.startswith(("GGWATCH_", "AWS_")):
            monkeypatch.delenv(name)
    empty = tmp_path_factory.mktemp("aws") / "none"
    monkeypatch.setenv("AWS_CONFIG_FILE", str(empty))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(empty))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access_key(0))
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "simulated-secret")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_ENDPOINT_URL_GREENGRASSV2", "http://127.0.0.1:9")  # closed port


@pytest.fixture(autouse=True)
async def _no_leaked_tasks() -> AsyncIterator[None]:
    """A test that leaves tasks running behind it fails (kopf's conftest does the same)."""
    before = asyncio.all_tasks()
    yield
    await asyncio.sleep(0)
    leaked = [
        t for t in asyncio.all_tasks() - before if not t.done() and t is not asyncio.current_task()
    ]
    assert not leaked, f"tasks left running: {leaked}"


@pytest.fixture
def fleet_spec() -> FleetSpec:
    return FleetSpec(seed=7, devices=40, deployments=90, private_components=6)


@pytest.fixture
def world(fleet_spec: FleetSpec) -> World:
    # Generated a minute in the past, so the simulator's own clock moves on from there.
    return generate(fleet_spec, now=time.time() - 60.0)


@pytest.fixture
def simulator(world: World) -> Simulator:
    return Simulator(world, seed=1)


@pytest.fixture
async def sim(simulator: Simulator, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Running]:
    async with serve(simulator) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_GREENGRASSV2", running.endpoint)
        yield running


def client_config(retries: int = 1, **extra: Any) -> AioConfig:
    """retries=1 means one attempt: the test sees each error the simulator sends."""
    return AioConfig(retries={"total_max_attempts": retries, "mode": "standard"}, **extra)


@pytest.fixture
async def gg(sim: Running) -> AsyncIterator[Any]:
    """A real aiobotocore greengrassv2 client, configured only by the environment."""
    session = get_session()
    async with session.create_client("greengrassv2", config=client_config()) as client:
        yield client


@pytest.fixture
async def control(sim: Running) -> AsyncIterator[aiohttp.ClientSession]:
    """HTTP session for the simulator's /_sim/ control API."""
    async with aiohttp.ClientSession(base_url=sim.endpoint) as session:
        yield session
