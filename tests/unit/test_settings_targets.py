"""Targets and events settings: accounts by alias, roles, Regions, queues; one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from ggwatch.aws.clients import new_session, targets_to_watch
from ggwatch.errors import ConfigError
from ggwatch.settings import Settings, TargetConfig, load_settings

ROLE = "arn:aws:iam::210987654321:role/ggwatch-readonly"
QUEUE = "https://sqs.eu-west-1.amazonaws.com/123456789012/ggwatch-events"


def test_targets_from_the_config_file(tmp_path: Path) -> None:
    path = tmp_path / "ggwatch.yaml"
    path.write_text(
        "regions: [us-east-1]\n"
        "targets:\n"
        "  - account: prod\n"
        f"    role_arn: {ROLE}\n"
        "    external_id: not-so-secret-1\n"
        "    regions: [eu-west-1, eu-central-1]\n"
        "  - account: home\n",
        encoding="utf-8",
    )

    prod, home = load_settings(path, {}).targets

    assert prod.account == "prod"
    assert prod.account_id == "210987654321"  # from the role ARN
    assert prod.regions == ("eu-west-1", "eu-central-1")
    assert prod.external_id is not None
    assert prod.external_id.get_secret_value() == "not-so-secret-1"
    assert (home.role_arn, home.account_id, home.regions) == (None, None, ())


def test_targets_as_json_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    value = json.dumps([{"account": "prod", "role_arn": ROLE, "regions": ["eu-west-1"]}])
    monkeypatch.setenv("GGWATCH_TARGETS", value)

    (prod,) = load_settings(None, {"GGWATCH_TARGETS": value}).targets

    assert (prod.account, prod.role_arn) == ("prod", ROLE)


def test_events_queues_are_comma_separated(monkeypatch: pytest.MonkeyPatch) -> None:
    other = QUEUE.replace("eu-west-1", "us-east-1")
    monkeypatch.setenv("GGWATCH_EVENTS_QUEUE_URL", f"{QUEUE}, {other}")

    assert load_settings(None, {}).events_queue_url == (QUEUE, other)


@pytest.mark.parametrize(
    ("targets", "fragment"),
    [
        ([{"account": "a b"}], "not an alias"),
        ([{"account": "prod"}, {"account": "prod"}], "listed twice"),
        ([{"account": "prod", "role_arn": "arn:aws:iam::1:role/x"}], "not an IAM role ARN"),
        ([{"account": "prod", "regions": ["moon-1"]}], "not a Region name"),
        ([{"account": "prod", "session_name": "x"}], "2-64"),
        ([{"account": "prod", "duration_seconds": 60}], "900"),
        ([{"account": "prod", "endpoint_url": "ftp://x"}], "http"),
        ([{"account": "prod", "colour": "blue"}], "Extra inputs"),
        ([{"role_arn": ROLE}], "account"),
    ],
)
def test_bad_target_is_one_line_naming_it(
    monkeypatch: pytest.MonkeyPatch, targets: list[dict[str, object]], fragment: str
) -> None:
    value = json.dumps(targets)
    monkeypatch.setenv("GGWATCH_TARGETS", value)

    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"GGWATCH_TARGETS": value})

    message = str(caught.value)
    assert "GGWATCH_TARGETS" in message
    assert "targets" in message
    assert fragment in message
    assert "\n" not in message


def test_a_bad_external_id_is_never_echoed(monkeypatch: pytest.MonkeyPatch) -> None:
    value = json.dumps([{"account": "prod", "role_arn": ROLE, "external_id": "s"}])
    monkeypatch.setenv("GGWATCH_TARGETS", value)

    with pytest.raises(ConfigError) as caught:
        load_settings(None, {"GGWATCH_TARGETS": value})

    assert "external_id" in str(caught.value)
    assert "'s'" not in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "sqs.eu-west-1.amazonaws.com/123456789012/q",
        "https://sqs.eu-west-1.amazonaws.com/q",
        "https://sqs.eu-west-1.amazonaws.com/123456789012/bad name",
    ],
)
def test_bad_queue_url_is_refused(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("GGWATCH_EVENTS_QUEUE_URL", url)

    with pytest.raises(ConfigError, match=r"GGWATCH_EVENTS_QUEUE_URL.*not an SQS queue URL"):
        load_settings(None, {"GGWATCH_EVENTS_QUEUE_URL": url})


def test_one_account_and_region_watched_twice_is_refused() -> None:
    other = ROLE.replace("ggwatch-readonly", "other-role")
    settings = Settings(
        regions=("eu-west-1",),
        targets=(
            TargetConfig(account="prod", role_arn=ROLE),
            TargetConfig(account="prod-again", role_arn=other, regions=("eu-west-1",)),
        ),
    )

    with pytest.raises(ConfigError, match="'prod' and 'prod-again' both watch account"):
        targets_to_watch(settings, new_session())


def from_environment(monkeypatch: pytest.MonkeyPatch, environ: dict[str, str]) -> Settings:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return load_settings(None, environ)


def test_organization_settings_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    organization = {"role_name": "ggwatch-{account_id}", "include_ous": ["ou-ab12-11111111"]}
    environ = {
        "GGWATCH_TARGETS_FROM": "organization",
        "GGWATCH_REGIONS": "all",
        "GGWATCH_ORGANIZATION": json.dumps(organization),
    }
    settings = from_environment(monkeypatch, environ)
    assert settings.regions == ("all",)
    assert settings.organization.filters.include_ous == frozenset({"ou-ab12-11111111"})


@pytest.mark.parametrize(
    ("environ", "message"),
    [
        (
            {"GGWATCH_TARGETS_FROM": "organization", "GGWATCH_TARGETS": '[{"account": "a"}]'},
            "leave `targets` empty",
        ),
        ({"GGWATCH_REGIONS": "all,us-west-2"}, "`all` stands alone"),
        ({"GGWATCH_ORGANIZATION": '{"role_name": "{account}"}'}, "role name template"),
        ({"GGWATCH_ORGANIZATION": '{"include_ous": ["prod"]}'}, "not an OU id"),
        ({"GGWATCH_ORGANIZATION": '{"exclude_accounts": ["12"]}'}, "organization"),
    ],
)
def test_bad_organization_settings_are_one_line(
    monkeypatch: pytest.MonkeyPatch, environ: dict[str, str], message: str
) -> None:
    with pytest.raises(ConfigError, match=message) as raised:
        from_environment(monkeypatch, environ)
    assert "\n" not in str(raised.value)
