"""Settings that used to slip through: undecodable JSON, unbounded numbers, odd files, typos.

Each case is one ConfigError line (the CLI turns it into exit 2) or, for a GGWATCH_* variable
that names no setting, a hint in `unknown_variables`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from pathlib import Path

import pytest

from ggwatch.errors import ConfigError
from ggwatch.settings import Settings, load_settings, unknown_variables


def rejected(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> str:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError) as caught:
        load_settings(None, {name: value})
    message = str(caught.value)
    assert "\n" not in message
    assert name in message
    return message


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("GGWATCH_TARGETS", "{not json", "not valid JSON (Expecting property name"),
        ("GGWATCH_TARGETS", "", "empty; unset it or give a JSON value"),
        ("GGWATCH_TARGETS", "   ", "empty"),
        ("GGWATCH_RULES", "{bad", "not valid JSON"),
        ("GGWATCH_RULES", "", "empty"),
        ("GGWATCH_EXCLUSIONS", "[1", "not valid JSON (Expecting ',' delimiter at char 2)"),
    ],
)
def test_structured_variables_that_are_not_json(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    assert fragment in rejected(monkeypatch, name, value)


def test_the_bad_structured_variable_is_named_even_beside_an_empty_plain_one(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GGWATCH_ARCHIVE_URI", "")
    assert "not valid JSON" in rejected(monkeypatch, "GGWATCH_RULES", "{")


@pytest.mark.parametrize(
    ("name", "value", "fragment"),
    [
        ("GGWATCH_STALE_AFTER_DAYS", "1e9", "less than or equal to 36500"),
        ("GGWATCH_STALE_AFTER_DAYS", "800000", "less than or equal to 36500"),
        ("GGWATCH_STALE_AFTER_DAYS", "inf", "finite number"),
        ("GGWATCH_STALE_AFTER_DAYS", "nan", "finite number"),
        ("GGWATCH_POLL_INTERVAL_SECONDS", "inf", "finite number"),
        ("GGWATCH_POLL_INTERVAL_SECONDS", "1e7", "less than or equal to 86400"),
        ("GGWATCH_CLEANUP_GRACE_SECONDS", "1e12", "less than or equal to"),
        ("GGWATCH_DESCRIBE_REFRESH_SECONDS", "-inf", "finite number"),
        ("GGWATCH_DEVICE_REFRESH_SECONDS", "1e300", "less than or equal to"),
        ("GGWATCH_SERVICE_RATE", "inf", "finite number"),
        ("GGWATCH_CONNECT_TIMEOUT_SECONDS", "1e9", "less than or equal to 300"),
        ("GGWATCH_READ_TIMEOUT_SECONDS", "nan", "finite number"),
        ("GGWATCH_CLEANUP_MAX_PER_CYCLE", "99999999999", "less than or equal to 10000"),
        ("GGWATCH_MAX_FINDING_SERIES", "1e12", "valid integer"),
        ("GGWATCH_SCAN_DEADLINE_SECONDS", "0", "greater than 0"),
        ("GGWATCH_SCAN_DEADLINE_SECONDS", "inf", "finite number"),
        ("GGWATCH_WEBHOOK_DEADLINE_SECONDS", "1e6", "less than or equal to 3600"),
        ("GGWATCH_HTTP_MAX_CONNECTIONS", "1", "greater than or equal to 8"),
        ("GGWATCH_HTTP_IDLE_TIMEOUT_SECONDS", "inf", "finite number"),
        ("GGWATCH_ACCOUNT_ID", "12345", "12-digit account id"),
    ],
)
def test_every_number_is_bounded_and_finite(
    monkeypatch: pytest.MonkeyPatch, name: str, value: str, fragment: str
) -> None:
    assert fragment in rejected(monkeypatch, name, value)


def test_the_largest_allowed_values_still_work_as_durations() -> None:
    # What the bounds protect: every allowed value must survive timedelta and the clock.
    fields = Settings.model_fields
    for name in ("stale_after_days",):
        limit = next(m.le for m in fields[name].metadata if hasattr(m, "le"))
        assert dt.datetime.now(dt.UTC) - dt.timedelta(days=limit)
    for name in ("cleanup_grace_seconds", "describe_refresh_seconds", "device_refresh_seconds"):
        limit = next(m.le for m in fields[name].metadata if hasattr(m, "le"))
        assert dt.datetime.now(dt.UTC) - dt.timedelta(seconds=limit)


def test_every_float_and_int_setting_has_an_upper_bound() -> None:
    # A new numeric setting must say how large it may be (the reason for this file).
    unbounded = []
    for name, info in Settings.model_fields.items():
        numeric = any(kind in str(info.annotation) for kind in ("float", "int"))
        if numeric and not any(hasattr(m, "le") or hasattr(m, "lt") for m in info.metadata):
            unbounded.append(name)
    assert unbounded == []


def test_a_target_account_id_comes_from_its_role(monkeypatch: pytest.MonkeyPatch) -> None:
    role = "arn:aws:iam::111122223333:role/ggwatch"
    targets = f'[{{"account": "prod", "role_arn": "{role}"}}, {{"account": "sdk"}}]'
    monkeypatch.setenv("GGWATCH_TARGETS", targets)
    prod, sdk = load_settings(None, {}).targets
    assert prod.account_id == "111122223333"
    assert sdk.account_id is None


def test_a_target_account_id_that_contradicts_its_role(monkeypatch: pytest.MonkeyPatch) -> None:
    role = "arn:aws:iam::111122223333:role/ggwatch"
    value = f'[{{"account": "prod", "role_arn": "{role}", "account_id": "444455556666"}}]'
    message = rejected(monkeypatch, "GGWATCH_TARGETS", value)
    assert "account_id 444455556666 is not the role's account 111122223333" in message


@pytest.fixture
def config_file(tmp_path: Path) -> Callable[[bytes], Path]:
    def write(data: bytes) -> Path:
        path = tmp_path / "ggwatch.yaml"
        path.write_bytes(data)
        return path

    return write


@pytest.mark.parametrize(
    ("data", "fragment"),
    [
        (b"\x00\x01\x02\xff\xfe binary", "is not UTF-8 text (byte 3)"),
        ("quota_share: 0.2\n".encode("utf-16"), "is not UTF-8 text (byte 0)"),
        (b"quota_share: \x00\n", "not valid YAML"),
    ],
)
def test_a_file_that_is_not_utf8_yaml_is_one_line(
    config_file: Callable[[bytes], Path], data: bytes, fragment: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_settings(config_file(data), {})
    assert fragment in str(caught.value)
    assert "\n" not in str(caught.value)


def test_a_directory_is_not_a_config_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a directory"):
        load_settings(tmp_path, {})


def test_yaml_reads_off_as_the_word_as_yaml_1_2_does(config_file: Callable[[bytes], Path]) -> None:
    # YAML 1.1 would read an unquoted off as False and report "(got False)".
    assert load_settings(config_file(b"cleanup_mode: off\n"), {}).cleanup_mode == "off"


@pytest.mark.parametrize("word", ["Off", "no", "yes", "on", "y", "n"])
def test_other_yaml_1_1_booleans_stay_words(
    config_file: Callable[[bytes], Path], word: str
) -> None:
    with pytest.raises(ConfigError, match=f"got '{word}'"):
        load_settings(config_file(f"cleanup_mode: {word}\n".encode()), {})


def test_yaml_true_and_false_are_still_booleans(config_file: Callable[[bytes], Path]) -> None:
    assert load_settings(config_file(b"cleanup_on_scan: false\n"), {}).cleanup_on_scan is False
    assert load_settings(config_file(b"cleanup_on_scan: TRUE\n"), {}).cleanup_on_scan is True


def test_unknown_variables_are_named_with_the_closest_setting() -> None:
    environ = {
        "GGWATCH_CLEANUP_MOD": "enforce",
        "ggwatch_regionz": "us-west-2",
        "GGWATCH_NOTHING_LIKE_IT": "1",
        "GGWATCH_CLEANUP_MODE": "off",
        "GGWATCH_CONFIG": "/etc/ggwatch.yaml",
        "AWS_REGION": "us-west-2",
    }
    assert unknown_variables(environ) == (
        "GGWATCH_CLEANUP_MOD (did you mean GGWATCH_CLEANUP_MODE?)",
        "GGWATCH_NOTHING_LIKE_IT",
        "ggwatch_regionz (did you mean GGWATCH_REGIONS?)",
    )


def test_every_setting_is_a_known_variable() -> None:
    environ = {f"GGWATCH_{name.upper()}": "x" for name in Settings.model_fields}
    assert unknown_variables(environ) == ()
