"""Shared fixtures: a generated fleet, the simulator on loopback, a real aiobotocore client,
moto's server on loopback and a fresh SQS queue in it.

Clients are pointed at the simulator and at moto only through the standard
AWS_ENDPOINT_URL_<SERVICE> settings, exactly as a user would point ggwatch at them; nothing in
a client is patched.
"""

from __future__ import annotations

import asyncio
import os
import time
import urllib.request
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import boto3
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
    monkeypatch.setenv("AWS_ENDPOINT_URL_IOT", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", "http://127.0.0.1:9")
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACCOUNT", "http://127.0.0.1:9")


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
def sts_endpoint(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """STS in moto: ggwatch learns the SDK account's id from GetCallerIdentity before a scan.
    moto answers 123456789012 for keys it did not issue, the simulator's default account."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_endpoint)
    return moto_endpoint


@pytest.fixture
async def sim(
    simulator: Simulator, monkeypatch: pytest.MonkeyPatch, sts_endpoint: str
) -> AsyncIterator[Running]:
    async with serve(simulator) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL_GREENGRASSV2", running.endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_IOT", running.endpoint)  # the same port serves IoT
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


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """moto's server (every service it mocks) on 127.0.0.1, a port the OS picks, in a thread.

    One per session: starting it costs more than most tests. Tests that use it forget their
    resources afterwards (`reset_moto`), since moto keeps its state per process.
    """
    # Imported here, so sessions that never use moto do not pay for importing its server.
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


def reset_moto(endpoint: str) -> None:
    """Forget everything moto holds (moto's documented /moto-api/reset)."""
    reset = urllib.request.Request(f"{endpoint}/moto-api/reset", method="POST")
    with urllib.request.urlopen(reset, timeout=10) as answer:
        assert answer.status == 200


@pytest.fixture
def sqs_queue(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """A new, empty SQS queue in moto; its URL. AWS_ENDPOINT_URL_SQS points at moto meanwhile."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_SQS", moto_endpoint)
    sqs = boto3.client("sqs")  # Region and credentials from the environment, as any client
    url = str(sqs.create_queue(QueueName=f"ggwatch-test-{uuid.uuid4().hex[:12]}")["QueueUrl"])
    sqs.close()
    try:
        yield url
    finally:
        reset_moto(moto_endpoint)


# Whole directories that start daemons, simulators with moto, real validators or browsers:
# slow by where they live, so `make check` (pytest -m "not slow") stays a fast loop of the
# in-process tests and the simulator's own, and a new test there needs no marker.
SLOW_DIRECTORIES = ("cli", "integration", "e2e", "deploy")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    tests = os.path.dirname(__file__)
    for item in items:
        part = os.path.relpath(str(item.path), tests).split(os.sep)[0]
        if part in SLOW_DIRECTORIES:
            item.add_marker(pytest.mark.slow)
