"""`regions: all` against the simulator's account:ListRegions (moto has none): the Regions
where botocore offers Greengrass V2, less those the account has not opted in to."""

from __future__ import annotations

import aiohttp
import pytest

from ggwatch.aws.clients import new_session
from ggwatch.aws.organization import discover
from ggwatch.errors import RuntimeFailure
from ggwatch.settings import Settings
from ggwatch.sim.server import Running

# Offered by Greengrass V2 and opt-in (launched after March 2019), by botocore's data and
# AWS's list of Regions that need enabling.
OPT_IN = {"eu-south-2", "ap-southeast-5"}
DEFAULT_ON = {"us-east-1", "us-west-2", "eu-west-1", "ap-northeast-1"}


@pytest.fixture
def account_api(sim: Running, monkeypatch: pytest.MonkeyPatch) -> Running:
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACCOUNT", sim.endpoint)
    return sim


async def regions(settings: Settings) -> set[str]:
    discovery = await discover(settings, new_session())
    return {t.id.region for t in discovery.strict()}


async def test_every_enabled_region_and_no_opted_out_one(account_api: Running) -> None:
    found = await regions(Settings(regions=("all",), account_id="123456789012"))
    assert found >= DEFAULT_ON
    assert not found & OPT_IN
    account_api.simulator.world.enabled_regions = frozenset({"eu-south-2", "af-south-1"})
    opted_in = await regions(Settings(regions=("all",), account_id="123456789012"))
    assert opted_in - found == {"eu-south-2"}  # af-south-1 has no Greengrass V2


async def test_a_target_can_ask_for_all_its_regions(account_api: Running) -> None:
    settings = Settings(
        regions=("us-west-2",), targets=({"account": "home", "regions": ["all"]}, {"account": "b"})
    )
    discovery = await discover(settings, new_session())
    by_alias = {
        alias: {t.id.region for t in discovery.targets if t.id.alias == alias}
        for alias in ("home", "b")
    }
    assert by_alias["b"] == {"us-west-2"}
    assert by_alias["home"] >= DEFAULT_ON


@pytest.mark.usefixtures("account_api")
async def test_regions_that_cannot_be_read_leave_the_account_unsettled(
    control: aiohttp.ClientSession,
) -> None:
    async with control.patch("/_sim/knobs", json={"access_denied": ["ListRegions"]}) as answer:
        assert answer.status == 200
    discovery = await discover(Settings(regions=("all",), account_id="123456789012"), new_session())
    assert discovery.targets == ()
    assert discovery.unsettled == {"default"}
    with pytest.raises(RuntimeFailure, match="Regions: ListRegions: AccessDeniedException"):
        discovery.strict()
