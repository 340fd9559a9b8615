"""Regions are checked against botocore's endpoint data for Greengrass V2, not only by shape."""

from __future__ import annotations

import pytest
from aiobotocore.session import get_session
from structlog.testing import capture_logs

from ggwatch.aws.clients import greengrass_regions, targets_to_watch
from ggwatch.errors import ConfigError
from ggwatch.settings import Settings, TargetConfig


@pytest.fixture
def no_endpoint(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AWS_ENDPOINT_URL_GREENGRASSV2")


def test_botocore_knows_the_greengrass_regions_of_every_partition() -> None:
    regions = greengrass_regions(get_session())
    assert {"us-west-2", "eu-central-1", "cn-north-1", "us-gov-west-1"} <= regions
    assert "us-west-99" not in regions


@pytest.mark.usefixtures("no_endpoint")
def test_a_region_without_greengrass_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match=r"'us-west-99'.*not offered"):
        targets_to_watch(Settings(regions=("us-west-99",)), get_session())


@pytest.mark.usefixtures("no_endpoint")
def test_a_target_region_is_checked_too() -> None:
    settings = Settings(targets=(TargetConfig(account="prod", regions=("eu-nowhere-1",)),))
    with pytest.raises(ConfigError, match="target prod"):
        targets_to_watch(settings, get_session())


def test_with_its_own_endpoint_an_unknown_region_is_a_warning() -> None:
    # The autouse fixture points AWS_ENDPOINT_URL_GREENGRASSV2 somewhere, as a simulator would.
    with capture_logs() as logs:
        targets = targets_to_watch(Settings(regions=("us-west-99",)), get_session())
    assert [t.id.region for t in targets] == ["us-west-99"]
    assert [e["event"] for e in logs] == ["settings.unknown_region"]


@pytest.mark.usefixtures("no_endpoint")
def test_known_regions_pass_quietly() -> None:
    with capture_logs() as logs:
        targets = targets_to_watch(Settings(regions=("us-west-2", "cn-north-1")), get_session())
    assert len(targets) == 2
    assert logs == []


def test_the_sdk_accounts_id_names_the_default_target() -> None:
    settings = Settings(regions=("us-west-2",), account_id="123456789012")
    (target,) = targets_to_watch(settings, get_session())
    assert target.account_id == "123456789012"
