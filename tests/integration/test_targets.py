"""Many targets from one process: two simulators as two Regions (and accounts), a role assumed
through moto's STS server on loopback, and one target broken on purpose.

The SDK's own credentials reach the `home` target directly; `prod` is reached with the
credentials STS hands out for its role. The second simulator serves `prod`'s account to any key
it does not know, which is what moto's assumed-role keys are; its own key for the first
account would show up as that account in its call log. Nothing is patched: each target names
its simulator with `endpoint_url`, STS is found through AWS_ENDPOINT_URL_STS.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import pytest

from ggwatch.aws.clients import assumed_session, new_session
from ggwatch.model import TargetId
from ggwatch.report import to_json
from ggwatch.scan import scan_once
from ggwatch.settings import Settings, TargetConfig
from ggwatch.sim.fleet import FleetSpec, access_key, generate
from ggwatch.sim.server import Running, Simulator, serve
from tests.conftest import ACCOUNT

PROD_REGION = "eu-west-1"
BROKEN = "http://127.0.0.1:9"  # nothing listens on the discard port


@pytest.fixture
async def prod_sim() -> AsyncIterator[Running]:
    """A second simulator: two accounts in eu-west-1; unknown keys are the second one's."""
    spec = FleetSpec(seed=11, accounts=2, regions=(PROD_REGION,), devices=25)
    world = generate(spec, now=time.time() - 60.0)
    world.default_account = world.access_keys[access_key(1)]
    async with serve(Simulator(world, seed=2)) as running:
        yield running


def prod_account(prod_sim: Running) -> str:
    return str(prod_sim.simulator.world.default_account)


def settings_for(sim: Running, prod_sim: Running, **prod: Any) -> Settings:
    role = f"arn:aws:iam::{prod_account(prod_sim)}:role/ggwatch-readonly"
    return Settings(
        service_rate=1000.0,
        iot_rate=1000.0,
        quota_share=1.0,
        max_attempts=2,
        targets=(
            TargetConfig(
                account="home",
                regions=("us-west-2",),
                endpoint_url=sim.endpoint,
                iot_endpoint_url=sim.endpoint,
            ),
            TargetConfig(
                account="prod",
                role_arn=role,
                external_id="prod-external-id",
                regions=(PROD_REGION,),
                endpoint_url=prod_sim.endpoint,
                iot_endpoint_url=prod_sim.endpoint,
                **prod,
            ),
            TargetConfig(
                account="broken",
                regions=("ap-southeast-2",),
                endpoint_url=BROKEN,
                iot_endpoint_url=BROKEN,
            ),
        ),
    )


@pytest.fixture
def sts(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_endpoint)
    return moto_endpoint


async def test_each_target_is_scanned_with_its_own_credentials_and_isolated(
    sim: Running, prod_sim: Running, sts: str
) -> None:
    result = await scan_once(settings_for(sim, prod_sim))

    home, prod, broken = result.snapshot.targets
    assert [t.target for t in (home, prod, broken)] == [
        TargetId("home", "us-west-2"),
        TargetId("prod", PROD_REGION),
        TargetId("broken", "ap-southeast-2"),
    ]
    assert (home.complete, prod.complete, broken.complete) == (True, True, False)
    assert (home.account, prod.account) == (ACCOUNT, prod_account(prod_sim))
    # The cause first; the breaker then stops the rest of its calls, said once.
    assert broken.errors[0].code == "Unreachable"
    codes = [e.code for e in broken.errors]
    assert set(codes) <= {"Unreachable", "CircuitOpen"}
    assert codes.count("CircuitOpen") <= 1
    # The broken target cost the others nothing: both read their whole fleet.
    assert len(home.devices) == len(sim.simulator.world.region(ACCOUNT, "us-west-2").devices)
    assert len(prod.devices) == 25
    # Every call the second simulator saw came with the role's credentials.
    calls = prod_sim.simulator.calls.records
    assert calls
    assert {c.account for c in calls} == {prod_account(prod_sim)}
    # Findings name their target.
    by_alias = {f.account_alias for f in result.findings}
    assert by_alias == {"home", "prod"}
    assert all(
        f.account == (ACCOUNT if f.account_alias == "home" else prod_account(prod_sim))
        for f in result.findings
    )
    document = to_json(result)
    assert '"account_alias": "broken"' in document


async def test_a_role_that_cannot_be_assumed_marks_only_its_target_incomplete(
    sim: Running, prod_sim: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", BROKEN)  # STS down: no role can be assumed
    # Nor can STS name the SDK's own account: configured, it needs no call.
    settings = settings_for(sim, prod_sim).model_copy(update={"account_id": ACCOUNT})

    result = await scan_once(settings)

    home, prod, _ = result.snapshot.targets
    assert home.complete
    assert not prod.complete
    assert {e.operation for e in prod.errors} == {"AssumeRole"}
    role = f"arn:aws:iam::{prod_account(prod_sim)}:role/ggwatch-readonly"
    assert all(f"cannot assume {role}" in e.message for e in prod.errors)
    assert prod.account == prod_account(prod_sim)  # known from the role ARN all the same
    assert list(prod_sim.simulator.calls.records) == []


async def credentials_twice(duration: int, region: str = PROD_REGION) -> tuple[str, str]:
    config = TargetConfig(
        account="prod",
        role_arn="arn:aws:iam::210987654321:role/ggwatch-readonly",
        duration_seconds=duration,
    )
    session = assumed_session(new_session(), config, region, connect_timeout=5.0, read_timeout=10.0)
    credentials = await session.get_credentials()
    first = await credentials.get_frozen_credentials()
    second = await credentials.get_frozen_credentials()
    assert first.access_key != access_key(0)  # STS's, not the SDK's own
    return first.access_key, second.access_key


async def test_assumed_credentials_are_reused_until_they_near_expiry(sts: str) -> None:
    first, second = await credentials_twice(3600)
    assert first == second  # an hour left: no new AssumeRole


async def test_assumed_credentials_are_refreshed_before_they_expire(sts: str) -> None:
    # 15 minutes is inside botocore's refresh window: every use asks STS again.
    first, second = await credentials_twice(900)
    assert first != second
