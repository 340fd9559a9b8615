"""Scan integration: the sample fleet in the simulator, ggwatch's real client against it."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
import pytest
from aiobotocore.session import get_session

from ggwatch.settings import Settings
from ggwatch.sim.fleet import load
from ggwatch.sim.server import Running
from ggwatch.sim.store import World
from tests.conftest import client_config, reset_moto

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


@dataclass
class Org:
    client: Any
    root: str
    ous: dict[str, str]
    accounts: dict[str, str]  # name -> id

    def add(self, name: str, ou: str | None = None, **tags: str) -> str:
        status = self.client.create_account(
            AccountName=name,
            Email=f"{name}@example.com",
            Tags=[{"Key": k, "Value": v} for k, v in tags.items()],
        )
        account = str(status["CreateAccountStatus"]["AccountId"])
        if ou is not None:
            self.client.move_account(
                AccountId=account, SourceParentId=self.root, DestinationParentId=self.ous[ou]
            )
        self.accounts[name] = account
        return account


@pytest.fixture
def org(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[Org]:
    """An organisation: OUs prod > prod-eu and lab; accounts eu (prod-eu), lab (lab) and
    tagged (at the root, greengrass=yes)."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_ORGANIZATIONS", moto_endpoint)
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_endpoint)
    client = boto3.client("organizations", region_name="us-east-1")
    client.create_organization(FeatureSet="ALL")
    root = client.list_roots()["Roots"][0]["Id"]
    prod = client.create_organizational_unit(ParentId=root, Name="prod")
    prod_id = prod["OrganizationalUnit"]["Id"]
    eu = client.create_organizational_unit(ParentId=prod_id, Name="prod-eu")
    lab = client.create_organizational_unit(ParentId=root, Name="lab")
    ous = {
        "prod": prod_id,
        "prod-eu": eu["OrganizationalUnit"]["Id"],
        "lab": lab["OrganizationalUnit"]["Id"],
    }
    made = Org(client, root, ous, {})
    made.add("eu", "prod-eu")
    made.add("lab", "lab")
    made.add("tagged", greengrass="yes")
    try:
        yield made
    finally:
        client.close()
        reset_moto(moto_endpoint)
