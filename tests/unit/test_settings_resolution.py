"""The settings of dependency resolution: their defaults, variables, section and the rules'."""

from __future__ import annotations

import pytest

from ggwatch.errors import ConfigError
from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.scan import ScanState
from ggwatch.settings import ResolutionSection, load_settings


def test_defaults() -> None:
    assert load_settings(None, {}).resolution == ResolutionSection(
        resolve_dependencies=True,
        upgrade_policy="minor",
        membership_refresh_seconds=900.0,
        nested_group_deployments="direct",
        iot_rate=10.0,
        conflict_reading="deferred",
    )
    assert load_settings(None, {}).rules_config.conflict_reading == "deferred"


def test_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    env = {
        "GGWATCH_RESOLVE_DEPENDENCIES": "false",
        "GGWATCH_UPGRADE_POLICY": "patch",
        "GGWATCH_MEMBERSHIP_REFRESH_SECONDS": "60",
        "GGWATCH_NESTED_GROUP_DEPLOYMENTS": "inherited",
        "GGWATCH_IOT_RATE": "4",
        "GGWATCH_CONFLICT_READING": "eager",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings = load_settings(None, env)
    assert settings.resolution == ResolutionSection(
        resolve_dependencies=False,
        upgrade_policy="patch",
        membership_refresh_seconds=60.0,
        nested_group_deployments="inherited",
        iot_rate=4.0,
        conflict_reading="eager",
    )
    assert settings.rules_config.upgrade_policy == "patch"
    assert settings.rules_config.conflict_reading == "eager"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("GGWATCH_NESTED_GROUP_DEPLOYMENTS", "recursive"),
        ("GGWATCH_UPGRADE_POLICY", "any"),
        ("GGWATCH_IOT_RATE", "0"),
        ("GGWATCH_CONFLICT_READING", "lazy"),
        ("GGWATCH_MEMBERSHIP_REFRESH_SECONDS", "-1"),
    ],
)
def test_a_bad_value_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        load_settings(None, {name: value})


async def test_iot_has_its_own_bucket_at_the_quota_share() -> None:
    settings = load_settings(None, {}).model_copy(update={"iot_rate": 8.0, "quota_share": 0.25})
    state = ScanState.new(settings)
    here = TargetId(DEFAULT_ALIAS, "us-west-2")
    assert state.iot_bucket(here).ceiling == 2.0
    assert state.bucket(here).ceiling == 7.5  # Greengrass V2's 30 at the same share
    assert state.iot_bucket(here) is not state.bucket(here)
    assert state.cache(here).membership_refresh == 900.0


def test_a_target_s_iot_endpoint_must_be_a_url(monkeypatch: pytest.MonkeyPatch) -> None:
    targets = '[{"account": "home", "iot_endpoint_url": "iot.example"}]'
    monkeypatch.setenv("GGWATCH_TARGETS", targets)
    with pytest.raises(ConfigError, match="iot_endpoint_url"):
        load_settings(None, {"GGWATCH_TARGETS": targets})
