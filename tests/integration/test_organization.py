"""Targets from AWS Organizations, against moto's server on loopback (Organizations and STS).

The organisation: the management account (the SDK's own, 123456789012 in moto) and accounts
in nested OUs, one tagged. moto has no account:ListRegions, so these tests name their Regions;
`regions: all` is tested against the simulator, which serves ListRegions
(tests/integration/test_all_regions.py).
"""

from __future__ import annotations

from typing import Any

import pytest

from ggwatch.aws.clients import new_session
from ggwatch.aws.organization import discover
from ggwatch.errors import Unreachable
from ggwatch.settings import Settings
from tests.conftest import ACCOUNT
from tests.integration.conftest import Org

REGION = "us-west-2"


def org_settings(**organization: Any) -> Settings:
    return Settings(targets_from="organization", regions=(REGION,), organization=organization)


async def found(settings: Settings) -> dict[str, str | None]:
    """alias -> the role ARN its target assumes (None: the SDK's own credentials)."""
    discovery = await discover(settings, new_session())
    assert all(t.id.region == REGION for t in discovery.targets)
    return {t.id.alias: t.config.role_arn for t in discovery.targets if t.config is not None}


async def test_every_active_account_is_a_target_through_its_role(org: Org) -> None:
    targets = await found(org_settings())
    assert targets == {
        ACCOUNT: None,  # the account ggwatch runs in: no role to assume in itself
        **{
            account: f"arn:aws:iam::{account}:role/OrganizationAccountAccessRole"
            for account in org.accounts.values()
        },
    }


async def test_the_role_name_is_a_template(org: Org) -> None:
    targets = await found(org_settings(role_name="ops/ggwatch-{account_id}"))
    eu = org.accounts["eu"]
    assert targets[eu] == f"arn:aws:iam::{eu}:role/ops/ggwatch-{eu}"


async def test_an_ou_filter_reaches_nested_ous(org: Org) -> None:
    assert set(await found(org_settings(include_ous=[org.ous["prod"]]))) == {org.accounts["eu"]}
    excluded = await found(org_settings(exclude_ous=[org.ous["prod"]]))
    assert set(excluded) == {ACCOUNT, org.accounts["lab"], org.accounts["tagged"]}


async def test_tag_and_id_filters(org: Org) -> None:
    tagged = org.accounts["tagged"]
    assert set(await found(org_settings(include_tags=["greengrass=yes"]))) == {tagged}
    assert set(await found(org_settings(include_tags=["greengrass"]))) == {tagged}
    assert await found(org_settings(include_tags=["greengrass=no"])) == {}
    assert await found(org_settings(include_tags=["greengrass"], exclude_accounts=[tagged])) == {}
    only = await found(org_settings(include_accounts=[org.accounts["lab"], tagged]))
    assert set(only) == {org.accounts["lab"], tagged}


async def test_a_new_account_joins_and_a_suspended_one_leaves(org: Org) -> None:
    settings = org_settings()
    before = set(await found(settings))
    joined = org.add("joined", "lab")
    org.client.close_account(AccountId=org.accounts["lab"])  # SUSPENDED in moto at once
    after = set(await found(settings))
    assert after == (before | {joined}) - {org.accounts["lab"]}


async def test_an_unreachable_organizations_names_the_call(
    moto_endpoint: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", moto_endpoint)  # Organizations: a closed port
    with pytest.raises(Unreachable, match=r"^ListAccounts: "):
        await discover(org_settings(), new_session())
