"""Settings: sources and their order, and one-line errors that name the setting."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from pydantic import ValidationError

from ggwatch.errors import ConfigError
from ggwatch.settings import Settings, load_settings


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[str], Path]:
    def write(text: str) -> Path:
        path = tmp_path / "ggwatch.yaml"
        path.write_text(text, encoding="utf-8")
        return path

    return write


def test_defaults_are_documented_values() -> None:
    settings = load_settings(None, {})
    assert settings.quota_share == 0.5
    assert settings.poll_interval_seconds == 300.0
    assert settings.regions == ()
    assert settings.log_format == "auto"


def test_file_then_environment_wins(
    config_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file("quota_share: 0.2\nregions: [eu-west-1]\npoll_interval_seconds: 60\n")
    monkeypatch.setenv("GGWATCH_QUOTA_SHARE", "0.3")
    settings = load_settings(path, {"GGWATCH_QUOTA_SHARE": "0.3"})
    assert settings.quota_share == 0.3  # environment beats the file
    assert settings.regions == ("eu-west-1",)  # the file beats the default
    assert settings.poll_interval_seconds == 60.0


def test_config_path_from_environment(
    config_file: Callable[[str], Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = config_file("http_port: 9200\n")
    assert load_settings(None, {"GGWATCH_CONFIG": str(path)}).http_port == 9200


def test_regions_are_comma_separated_in_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("GGWATCH_REGIONS", "us-west-2, eu-central-1")
    assert load_settings(None, {}).regions == ("us-west-2", "eu-central-1")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("GGWATCH_QUOTA_SHARE", "0", "greater than 0"),
        ("GGWATCH_QUOTA_SHARE", "1.5", "less than or equal to 1"),
        ("GGWATCH_POLL_INTERVAL_SECONDS", "0.5", "greater than or equal to 1"),
        ("GGWATCH_REGIONS", "us-west-2,mars", "not a Region name"),
        ("GGWATCH_REGIONS", "us-west-2,us-west-2", "listed twice"),
        ("GGWATCH_LOG_LEVEL", "loud", "debug"),
        ("GGWATCH_HTTP_PORT", "70000", "65535"),
    ],
)
def test_bad_environment_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {name: value})
    message = str(caught.value)
    assert name in message
    assert fragment in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("quota_shar: 0.2\n", "unknown setting 'quota_shar'"),
        ("- a\n- b\n", "must be a mapping"),
        ("a: [\n", "not valid YAML (line 2)"),
        ("quota_share: lots\n", "quota_share [config file]"),
    ],
)
def test_bad_file_is_one_line(config_file: Callable[[str], Path], text: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file(text), {})
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        load_settings(tmp_path / "absent.yaml", {})


def test_empty_file_means_defaults(config_file: Callable[[str], Path]) -> None:
    assert load_settings(config_file(""), {}).quota_share == 0.5


def test_settings_are_frozen() -> None:
    settings = Settings()
    with pytest.raises(ValidationError):
        settings.quota_share = 0.9  # type: ignore[misc]


def test_sample_config_file_is_valid() -> None:
    path = Path(__file__).parents[2] / "config" / "ggwatch.yaml"
    assert load_settings(path, {}).model_dump() == Settings().model_dump()
