"""The AWS Account Management API's ListRegions and GetRegionOptStatus on the simulator's port,
which moto does not serve: a real aiobotocore `account` client pointed at it only by
AWS_ENDPOINT_URL_ACCOUNT, the fleet key `enabled_regions` and the flag `--enabled-regions`,
and the real AWS CLI (`aws account list-regions`).

What the answers must be is written here from AWS's documentation, not read from the
simulator: the 17 Regions launched before 2019-03-20 are ENABLED_BY_DEFAULT, every other Region
of the `aws` partition (botocore's endpoint data) is an opt-in Region, DISABLED unless enabled.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiobotocore.session import get_session
from botocore.exceptions import ClientError
from botocore.loaders import Loader

from ggwatch.sim import cli
from ggwatch.sim.fleet import FleetError, access_key, build
from ggwatch.sim.server import Running, Simulator, serve
from ggwatch.sim.store import World
from tests.conftest import client_config
from tests.sim.conftest import SIM_ACCOUNT, SIM_SECRET, Wire
from tests.sim.test_awscli import SERVICE_ERROR, Result, cli_env, run_cli, slow

# AWS Account Management Reference Guide: "Regions launched before March 20, 2019 are enabled
# by default"; EC2's DescribeRegions says opt-in-not-required for each of these.
DEFAULTS = frozenset(
    {
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
        "ca-central-1",
        "sa-east-1",
        "eu-central-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "eu-north-1",
        "ap-south-1",
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-southeast-1",
        "ap-southeast-2",
    }
)
OTHER_ACCOUNT = "111122223333"
Knobs = Callable[..., Awaitable[dict[str, Any]]]

FLEET: dict[str, Any] = {
    "regions": ["us-west-2"],
    "enabled_regions": ["af-south-1"],
    "accounts": [{"id": SIM_ACCOUNT, "access_keys": [access_key(0)]}],
}


def partition() -> set[str]:
    """The `aws` partition's Regions in the installed botocore's endpoint data."""
    data = Loader().load_data("endpoints")
    (aws,) = (p for p in data["partitions"] if p["partition"] == "aws")
    return set(aws["regions"])


async def listing(client: Any, **params: Any) -> dict[str, str]:
    """Every Region ListRegions answers, following NextToken; each named once."""
    found: dict[str, str] = {}
    token = None
    while True:
        page = await client.list_regions(**params, **({"NextToken": token} if token else {}))
        for region in page["Regions"]:
            assert region["RegionName"] not in found, region
            found[region["RegionName"]] = region["RegionOptStatus"]
        token = page.get("NextToken")
        if token is None:
            return found


@pytest.fixture
async def account(sim: Running, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[Any]:
    """A real aiobotocore account client: the simulator's keys, the standard setting; it
    checks no parameter itself, so the simulator's validation answers."""
    monkeypatch.setenv("AWS_ENDPOINT_URL_ACCOUNT", sim.endpoint)
    config = client_config(parameter_validation=False)
    async with get_session().create_client("account", config=config) as client:
        yield client


def served(world: World) -> AbstractAsyncContextManager[Running]:
    """Serve `world` on a port of its own: ListRegions of a fleet made another way."""
    return serve(Simulator(world, seed=1))


async def regions_of(running: Running, **params: Any) -> dict[str, str]:
    async with get_session().create_client(
        "account", endpoint_url=running.endpoint, config=client_config()
    ) as client:
        return await listing(client, **params)


# -- the listing ------------------------------------------------------------------------------


async def test_every_region_default_ones_enabled_opt_in_ones_disabled(
    account: Any, world: World
) -> None:
    before = set(world.regions)
    wire = Wire()
    account.meta.events.register("before-parse.account", wire.capture)
    found = await listing(account)
    assert set(found) == partition()
    assert set(found) > DEFAULTS
    assert found["us-west-2"] == "ENABLED_BY_DEFAULT"
    assert found["af-south-1"] == found["me-south-1"] == "DISABLED"
    assert {r for r, s in found.items() if s == "ENABLED_BY_DEFAULT"} == DEFAULTS
    assert {s for r, s in found.items() if r not in DEFAULTS} == {"DISABLED"}
    # On the wire: the model's members only, none empty, Regions sorted by name.
    (raw,) = wire.take()
    assert raw.status == 200
    assert set(raw.json()) == {"Regions"}
    assert [r["RegionName"] for r in raw.json()["Regions"]] == sorted(found)
    # The global service's call (signed for whichever Region) makes no Region state.
    assert set(world.regions) == before


async def test_the_status_filter(account: Any, world: World) -> None:
    world.enabled_regions = frozenset({"il-central-1"})
    default = await listing(account, RegionOptStatusContains=["ENABLED_BY_DEFAULT"])
    assert set(default) == DEFAULTS
    usable = await listing(account, RegionOptStatusContains=["ENABLED", "ENABLED_BY_DEFAULT"])
    assert set(usable) == DEFAULTS | {"il-central-1"}
    assert usable["il-central-1"] == "ENABLED"
    disabled = await listing(account, RegionOptStatusContains=["DISABLED"])
    assert set(disabled) == partition() - DEFAULTS - {"il-central-1"}
    assert await listing(account, RegionOptStatusContains=["ENABLING", "DISABLING"]) == {}
    assert set(await listing(account, RegionOptStatusContains=[])) == partition()


async def test_pages_of_five_return_every_region_once(account: Any) -> None:
    first = await account.list_regions(MaxResults=5)
    assert len(first["Regions"]) == 5
    assert first["NextToken"]
    paged = await listing(account, MaxResults=5)
    assert set(paged) == partition()
    # botocore's own paginator, from the model's paginators file, agrees.
    seen: list[str] = []
    pages = account.get_paginator("list_regions").paginate(PaginationConfig={"PageSize": 5})
    async for page in pages:
        assert 1 <= len(page["Regions"]) <= 5
        seen += [r["RegionName"] for r in page["Regions"]]
    assert sorted(seen) == sorted(partition())
    # A token belongs to the listing it came from.
    with pytest.raises(ClientError) as denied:
        await account.list_regions(
            MaxResults=5, NextToken=first["NextToken"], RegionOptStatusContains=["DISABLED"]
        )
    assert denied.value.response["Error"]["Code"] == "ValidationException"


async def test_get_region_opt_status(account: Any, world: World) -> None:
    world.enabled_regions = frozenset({"ap-southeast-7"})
    for name, status in (
        ("us-west-2", "ENABLED_BY_DEFAULT"),
        ("ap-southeast-7", "ENABLED"),
        ("af-south-1", "DISABLED"),
    ):
        answer = await account.get_region_opt_status(RegionName=name)
        assert (answer["RegionName"], answer["RegionOptStatus"]) == (name, status)
    with pytest.raises(ClientError) as unknown:
        await account.get_region_opt_status(RegionName="xx-nowhere-1")
    assert unknown.value.response["Error"]["Code"] == "ValidationException"
    assert unknown.value.response["fieldList"][0]["name"] == "RegionName"


# -- who may ask, and what is refused ---------------------------------------------------------


async def test_another_account_is_access_denied(account: Any) -> None:
    for operation, params in (
        (account.list_regions, {}),
        (account.get_region_opt_status, {"RegionName": "us-west-2"}),
    ):
        with pytest.raises(ClientError) as denied:
            await operation(AccountId=OTHER_ACCOUNT, **params)
        error = denied.value.response
        assert error["Error"]["Code"] == "AccessDeniedException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert OTHER_ACCOUNT in error["Error"]["Message"]
    own = await listing(account, AccountId=SIM_ACCOUNT)
    assert set(own) == partition()


async def test_the_caller_is_the_account_its_key_selects() -> None:
    second = "210987654321"
    accounts = [*FLEET["accounts"], {"id": second, "access_keys": [access_key(1)]}]
    async with served(build({**FLEET, "accounts": accounts}, now=time.time())) as running:
        for key, own, other in (
            (access_key(1), second, SIM_ACCOUNT),
            ("AKIAUNKNOWN000000000", SIM_ACCOUNT, second),  # the default account
        ):
            async with get_session().create_client(
                "account",
                endpoint_url=running.endpoint,
                aws_access_key_id=key,
                aws_secret_access_key=SIM_SECRET,
                config=client_config(),
            ) as client:
                assert set(await listing(client, AccountId=own)) == partition()
                with pytest.raises(ClientError) as denied:
                    await client.list_regions(AccountId=other)
                assert denied.value.response["Error"]["Code"] == "AccessDeniedException"


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"MaxResults": 0}, "MaxResults"),
        ({"MaxResults": 51}, "MaxResults"),
        ({"RegionOptStatusContains": ["ON"]}, "RegionOptStatusContains"),
        ({"AccountId": "12345"}, "AccountId"),
    ],
)
async def test_invalid_input_is_a_validation_exception(
    account: Any, params: dict[str, Any], field: str
) -> None:
    with pytest.raises(ClientError) as invalid:
        await account.list_regions(**params)
    error = invalid.value.response
    assert error["Error"]["Code"] == "ValidationException"
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 400
    # The account model's own members: a camel-case reason from its enum, `fieldList`.
    assert error["reason"] == "fieldValidationFailed"
    assert [f["name"] for f in error["fieldList"]] == [field]


async def test_knobs_reach_it_and_it_draws_on_no_budget(account: Any, knobs: Knobs) -> None:
    # 40 in a burst: more than Greengrass's 30 a second or IoT's 10, and none is throttled.
    answers = await asyncio.gather(*(account.list_regions(MaxResults=1) for _ in range(40)))
    assert all(len(a["Regions"]) == 1 for a in answers)
    await knobs(access_denied=["ListRegions"])
    with pytest.raises(ClientError) as denied:
        await account.list_regions()
    assert denied.value.response["Error"]["Code"] == "AccessDeniedException"
    assert (await account.get_region_opt_status(RegionName="us-west-2"))["RegionOptStatus"]


async def test_other_account_operations_are_not_implemented(account: Any) -> None:
    with pytest.raises(ClientError) as missing:
        await account.get_contact_information()
    assert missing.value.response["Error"]["Code"] == "ValidationException"
    assert "does not implement GetContactInformation" in str(missing.value)


# -- the fleet key and the flag ---------------------------------------------------------------


async def test_the_fleet_key_enables_opt_in_regions() -> None:
    world = build(FLEET, now=time.time())
    async with served(world) as running:
        found = await regions_of(running)
    assert found["af-south-1"] == "ENABLED"
    assert found["me-south-1"] == "DISABLED"
    assert found["us-west-2"] == "ENABLED_BY_DEFAULT"


@pytest.mark.parametrize(
    ("enabled", "message"),
    [
        (["us-west-2"], "us-west-2 is enabled by default"),
        (["af-south1"], "af-south1 is not a Region of the aws partition"),
        ("af-south-1", "expected a list"),
    ],
)
def test_the_fleet_key_refuses_what_is_no_opt_in_region(enabled: Any, message: str) -> None:
    with pytest.raises(FleetError, match=r"fleet\.enabled_regions") as refused:
        build({**FLEET, "enabled_regions": enabled}, now=time.time())
    assert message in str(refused.value)


async def test_the_flag_overrides_the_fleet_key(tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(yaml.safe_dump(FLEET))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--fleet", str(fleet), "--enabled-regions", "me-south-1, ap-east-1"])
    async with served(cli._world(args)) as running:
        enabled = await regions_of(running, RegionOptStatusContains=["ENABLED"])
    assert enabled == {"ap-east-1": "ENABLED", "me-south-1": "ENABLED"}
    # Without the flag, the fleet file's key holds.
    kept = cli._world(parser.parse_args(["--fleet", str(fleet)]))
    assert kept.enabled_regions == {"af-south-1"}
    for wrong in ("us-east-1", "mars-east-1"):
        with pytest.raises(SystemExit):
            parser.parse_args(["--enabled-regions", wrong])


# -- the real AWS CLI -------------------------------------------------------------------------


async def aws_account(running: Running, home: Path, *args: str) -> Result:
    """`aws account ... --output json` as a user following the banner runs it."""
    env = cli_env(home, AWS_ENDPOINT_URL_ACCOUNT=running.endpoint)
    return await run_cli("account", env, home, *args)


@slow
async def test_aws_cli_lists_the_usable_regions(sim: Running, world: World, tmp_path: Path) -> None:
    world.enabled_regions = frozenset({"af-south-1"})
    result = await aws_account(
        sim,
        tmp_path,
        "list-regions",
        "--region-opt-status-contains",
        "ENABLED",
        "ENABLED_BY_DEFAULT",
        "--page-size",
        "5",  # the CLI follows NextToken across four pages
    )
    regions = result.json()["Regions"]
    pages = [c for c in sim.simulator.calls.records if c.operation == "ListRegions"]
    assert [c.params.get("MaxResults") for c in pages] == [5, 5, 5, 5]  # 18 Regions
    assert sorted(r["RegionName"] for r in regions) == sorted(DEFAULTS | {"af-south-1"})
    assert {r["RegionName"]: r["RegionOptStatus"] for r in regions}["af-south-1"] == "ENABLED"
    refused = await aws_account(sim, tmp_path, "list-regions", "--account-id", OTHER_ACCOUNT)
    assert refused.rc == SERVICE_ERROR
    assert "AccessDeniedException" in refused.stderr
