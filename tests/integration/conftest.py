"""Scan integration: the sample fleet in the simulator, ggwatch's real client against it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from aiobotocore.session import get_session

from ggwatch.settings import Settings
from ggwatch.sim.fleet import load
from ggwatch.sim.server import Running
from ggwatch.sim.store import World
from tests.conftest import client_config

SAMPLE = Path(__file__).parents[2] / "config" / "sample-fleet.yaml"


@pytest.fixture
def world() -> World:
    return load(SAMPLE, now=time.time() - 60.0)


@pytest.fixture
def settings() -> Settings:
    # The simulator's quota is a knob here; ggwatch's own pacing must not slow the suite.
    return Settings(
        regions=("us-west-2", "eu-central-1"),
        service_rate=1000.0,
        iot_rate=1000.0,
        quota_share=1.0,
        max_attempts=10,
    )


@pytest.fixture
async def clients(sim: Running) -> AsyncIterator[tuple[Any, Any]]:
    """Plain greengrassv2 and iot clients, pointed at the simulator by the environment only:
    the simulator's own answers, read without ggwatch's code. They retry throttling: the
    truth must not depend on the simulator's quota."""
    session = get_session()
    async with (
        session.create_client("greengrassv2", config=client_config(retries=20)) as gg,
        session.create_client("iot", config=client_config(retries=20)) as iot,
    ):
        yield gg, iot


async def everything(call: Any, key: str, **params: Any) -> list[Any]:
    """Every page's `key` items of one listing call (a plain client's method)."""
    items: list[Any] = []
    token: str | None = None
    while True:
        answer = await call(**params, **({"nextToken": token} if token else {}))
        items += answer.get(key) or []
        token = answer.get("nextToken")
        if not token:
            return items
