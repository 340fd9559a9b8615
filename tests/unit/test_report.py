"""The report: JSON for programs and a table for people, from a ScanResult."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest

from ggwatch.findings import Finding, Rule, Severity
from ggwatch.model import Guidance, Snapshot
from ggwatch.report import ScanResult, to_json, to_table
from ggwatch.rules import RulesConfig, evaluate
from tests.unit.builders import ACCOUNT, NOW, REGION, TargetBuilder, days_ago, snapshot, v

APP = "com.example.App"
NUCLEUS = "aws.greengrass.Nucleus"


def fleet_target(region: str = REGION, account: str | None = ACCOUNT) -> TargetBuilder:
    """A target with findings of every severity and some API calls."""
    t = TargetBuilder(region=region, account=account)
    t.version(APP, "1.0.0", Guidance.DELETED, "Broken.")
    t.version(NUCLEUS, "2.9.0", Guidance.DISCONTINUED)
    t.recommend(APP, "3.0.0")
    t.recommend(NUCLEUS, None)
    t.deploy("d-1", v(APP, "1.0.0"), v(NUCLEUS, "2.9.0"))
    t.deploy("d-0", latest=False, created=days_ago(90))
    t.device("core-1", v(NUCLEUS, "2.9.0"), v(APP, "1.0.0"))
    t.device("core-2", v(NUCLEUS, "2.9.0"))
    t.call("ListDeployments", 2)
    t.call("GetDeployment", 1)
    t.call("DescribeComponent", 2)
    t.call("DescribeComponent", 3, "ThrottlingException")
    return t


# The report shows what the rules say; any upgrade is allowed so that 1.0.0 -> 3.0.0 shows.
ANY_VERSION = RulesConfig(upgrade_policy="major")


def result(snap: Snapshot, findings: tuple[Finding, ...] | None = None) -> ScanResult:
    if findings is None:
        findings = evaluate(snap, ANY_VERSION, NOW)
    return ScanResult(snap, findings, NOW, 1.23456)


@pytest.fixture
def complete() -> ScanResult:
    return result(snapshot(fleet_target()))


@pytest.fixture
def incomplete() -> ScanResult:
    ok = fleet_target()
    bad = fleet_target(region="eu-west-1")
    bad.error("ListCoreDevices", "AccessDeniedException", "not authorized")
    bad.error("DescribeComponent", "ThrottlingException", "Rate exceeded")
    return result(snapshot(ok, bad))


def parse(report: ScanResult) -> dict[str, Any]:
    document = json.loads(to_json(report))
    assert isinstance(document, dict)
    return document


# --- JSON ------------------------------------------------------------------------------------


def test_json_top_level_keys(complete: ScanResult) -> None:
    doc = parse(complete)

    assert set(doc) == {"generated_at", "complete", "targets", "stats", "findings"}
    assert doc["complete"] is True


def test_json_generated_at_is_iso_utc_with_z(complete: ScanResult) -> None:
    stamp = parse(complete)["generated_at"]

    assert stamp == "2026-06-01T12:00:00Z"
    assert dt.datetime.fromisoformat(stamp) == NOW


def test_json_generated_at_in_another_zone_is_given_in_utc(complete: ScanResult) -> None:
    local = NOW.astimezone(dt.timezone(dt.timedelta(hours=2)))
    report = ScanResult(complete.snapshot, complete.findings, local, 1.0)

    assert parse(report)["generated_at"] == "2026-06-01T12:00:00Z"


def test_json_targets(incomplete: ScanResult) -> None:
    doc = parse(incomplete)

    assert doc["targets"] == [
        {
            "region": REGION,
            "account": ACCOUNT,
            "account_alias": "default",
            "complete": True,
            "errors": [],
        },
        {
            "region": "eu-west-1",
            "account": ACCOUNT,
            "account_alias": "default",
            "complete": False,
            "errors": [
                {
                    "operation": "ListCoreDevices",
                    "code": "AccessDeniedException",
                    "message": "not authorized",
                },
                {
                    "operation": "DescribeComponent",
                    "code": "ThrottlingException",
                    "message": "Rate exceeded",
                },
            ],
        },
    ]


def test_json_an_incomplete_target_makes_the_report_incomplete(incomplete: ScanResult) -> None:
    assert parse(incomplete)["complete"] is False


def test_json_unknown_account_is_null() -> None:
    doc = parse(result(snapshot(fleet_target(account=None))))

    assert doc["targets"][0]["account"] is None
    assert {f["account"] for f in doc["findings"]} == {None}


def test_json_stats(incomplete: ScanResult) -> None:
    stats = parse(incomplete)["stats"]

    assert stats["api_calls"] == 2 * (2 + 1 + 2 + 3)
    assert stats["throttled_calls"] == 2 * 3
    assert stats["calls_by_operation"] == {
        "DescribeComponent": {"ok": 4, "ThrottlingException": 6},
        "GetDeployment": {"ok": 2},
        "ListDeployments": {"ok": 4},
    }
    assert list(stats["calls_by_operation"]) == sorted(stats["calls_by_operation"])
    assert stats["duration_seconds"] == 1.235
    assert stats["deployments"] == 4
    assert stats["core_devices"] == 4
    assert stats["component_versions_described"] == 4


def test_json_findings_keep_the_order_given(complete: ScanResult) -> None:
    reordered = tuple(reversed(complete.findings))
    assert reordered != complete.findings

    doc = parse(result(complete.snapshot, reordered))

    assert doc["findings"] == [f.to_json() for f in reordered]
    assert [f["rule"] for f in doc["findings"]] == [f.rule.value for f in reordered]


def test_json_findings_are_the_findings_json(complete: ScanResult) -> None:
    doc = parse(complete)

    assert len(doc["findings"]) == len(complete.findings) == 6
    assert doc["findings"] == [f.to_json() for f in complete.findings]


def test_json_with_no_targets_and_no_findings() -> None:
    doc = parse(result(Snapshot(()), ()))

    assert doc["complete"] is True
    assert doc["targets"] == []
    assert doc["findings"] == []
    assert doc["stats"]["api_calls"] == 0
    assert doc["stats"]["calls_by_operation"] == {}


# --- table -----------------------------------------------------------------------------------


def _heading_index(lines: list[str], heading: str) -> int:
    return next(i for i, line in enumerate(lines) if line.startswith(heading))


def test_table_groups_by_severity_with_counts(complete: ScanResult) -> None:
    lines = to_table(complete).splitlines()

    critical = _heading_index(lines, "CRITICAL (2)")
    warning = _heading_index(lines, "WARNING (3)")
    info = _heading_index(lines, "INFO (1)")
    assert critical < warning < info
    # Each finding sits under its own severity's heading.
    deleted_rows = [i for i, line in enumerate(lines) if "deleted-component" in line]
    assert all(critical < i < warning for i in deleted_rows)
    discontinued_rows = [i for i, line in enumerate(lines) if "discontinued-component" in line]
    assert all(warning < i < info for i in discontinued_rows)
    assert any(i > info and "stale-deployment" in line for i, line in enumerate(lines))


def test_table_leaves_out_empty_severities() -> None:
    t = TargetBuilder()
    t.deploy("d-0", latest=False, created=days_ago(90))

    table = to_table(result(snapshot(t)))

    assert "INFO (1)" in table
    assert "CRITICAL" not in table
    assert "WARNING" not in table


def test_table_groups_follow_severity_not_input_order(complete: ScanResult) -> None:
    table = to_table(result(complete.snapshot, tuple(reversed(complete.findings))))

    assert table.index("CRITICAL (2)") < table.index("WARNING (3)") < table.index("INFO (1)")


def test_table_shows_component_and_recommended_version(complete: ScanResult) -> None:
    lines = to_table(complete).splitlines()

    app_rows = [line for line in lines if f"{APP} 1.0.0" in line and "-> 3.0.0" in line]
    assert len(app_rows) == 2  # the deployment and core-1
    # No recommended version: the component alone, no arrow.
    nucleus_rows = [line for line in lines if f"{NUCLEUS} 2.9.0" in line and "component" in line]
    assert len(nucleus_rows) == 3
    assert all("->" not in line for line in nucleus_rows)
    assert "rule  " in lines[1]
    assert "component -> recommended" in lines[1]


def test_table_rows_show_where_resource_and_message(complete: ScanResult) -> None:
    table = to_table(complete)

    assert f"{ACCOUNT}/{REGION}" in table
    assert "core-device core-1" in table
    assert "deployment d-1" in table
    for finding in complete.findings:
        assert finding.message in table


def test_table_summary_line(incomplete: ScanResult) -> None:
    lines = to_table(incomplete).splitlines()

    summary = next(line for line in lines if " findings (" in line)
    assert summary == (
        "12 findings (4 critical, 6 warning, 2 info) in 2 target(s), 1 incomplete; "
        "16 API calls in 1.2 s"
    )


def test_table_summary_when_complete(complete: ScanResult) -> None:
    table = to_table(complete)

    assert "6 findings (2 critical, 3 warning, 1 info) in 1 target(s); 8 API calls" in table
    assert "incomplete" not in table


def test_table_lists_each_target_error(incomplete: ScanResult) -> None:
    lines = to_table(incomplete).splitlines()

    assert [line for line in lines if line.startswith("incomplete ")] == [
        f"incomplete {ACCOUNT}/eu-west-1: ListCoreDevices: AccessDeniedException: not authorized",
        f"incomplete {ACCOUNT}/eu-west-1: DescribeComponent: ThrottlingException: Rate exceeded",
    ]


def test_table_with_nothing_found() -> None:
    table = to_table(result(snapshot(TargetBuilder()), ()))

    assert (
        table == "0 findings (0 critical, 0 warning, 0 info) in 1 target(s); 0 API calls in 1.2 s"
    )


def test_table_severity_override_moves_a_finding(complete: ScanResult) -> None:
    snap = complete.snapshot
    cfg = RulesConfig.model_validate({"rules": {"stale-deployment": {"severity": "critical"}}})
    findings = evaluate(snap, cfg, NOW)
    assert [f.severity for f in findings if f.rule is Rule.STALE_DEPLOYMENT] == [Severity.CRITICAL]

    table = to_table(result(snap, findings))

    assert "CRITICAL (3)" in table
    assert "INFO" not in table


def test_table_escapes_terminal_controls_from_aws_and_keeps_columns() -> None:
    hostile = "com.example.\x1b[2JWipe\x1b]0;owned\x07\u202e"
    t = TargetBuilder()
    t.version(hostile, "1.0.0", Guidance.DELETED, "Gone.\x1b[31m red")
    t.version(APP, "1.0.0", Guidance.DELETED)
    t.deploy("d-1", v(hostile, "1.0.0"), v(APP, "1.0.0"))
    t.error("ListCoreDevices", "AccessDeniedException", "denied\x1b[2K\r")
    table = to_table(result(snapshot(t)))
    assert not any(ord(c) < 0x20 and c != "\n" for c in table)
    assert "\x7f" not in table
    assert "\u202e" not in table
    assert "com.example.\\x1b[2JWipe\\x1b]0;owned\\x07\\u202e 1.0.0" in table
    assert "denied\\x1b[2K\\x0d" in table
    # Escaped before the columns are measured: the resource column starts at one offset.
    rows = [line for line in table.splitlines() if "deployment d-1" in line]
    assert len(rows) == 2
    assert len({row.index("deployment d-1") for row in rows}) == 1
