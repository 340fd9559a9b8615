"""The metrics collector: samples from a hand-built DaemonView, a golden exposition, promtool.

Each test builds its own CollectorRegistry and StateHolder. To regenerate the golden file after
an intended change, run `UPDATE_GOLDEN=1 .venv/bin/pytest tests/unit/test_metrics.py` and review
the diff of tests/unit/golden/metrics.prom.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import shutil
import subprocess
from pathlib import Path

import prometheus_client
import pytest
from prometheus_client import CollectorRegistry, generate_latest

from ggwatch.findings import DEFAULT_SEVERITY, Finding, Rule, Severity
from ggwatch.model import Guidance, TargetSnapshot
from ggwatch.rules import RulesConfig, evaluate
from ggwatch.shards import Shard
from ggwatch.sinks import metrics
from ggwatch.sinks.metrics import register_collector
from ggwatch.state import ApiCalls, DaemonView, StateHolder, TargetStatus
from tests.unit.builders import ACCOUNT, NOW, TargetBuilder, days_ago, snapshot, target_id, v

GOLDEN = Path(__file__).parent / "golden" / "metrics.prom"
APP = "com.example.App"
SENSOR = "com.example.Sensor"
NUCLEUS = "aws.greengrass.Nucleus"
WEST = "us-west-2"
EU = "eu-central-1"
NEW = "ap-southeast-2"


def fleet(region: str = WEST, account: str | None = ACCOUNT) -> TargetBuilder:
    """Findings of every severity, a recommendation candidate, an UNHEALTHY device."""
    t = TargetBuilder(region=region, account=account)
    t.version(APP, "1.0.0", Guidance.DELETED, "Broken.")
    t.version(SENSOR, "1.1.0")
    t.version(NUCLEUS, "2.9.0", Guidance.DISCONTINUED)
    t.version(NUCLEUS, "2.12.0")  # described only as the recommended version: not in use
    t.recommend(NUCLEUS, "2.12.0")
    t.deploy("d-1", v(APP, "1.0.0"), v(NUCLEUS, "2.9.0"))
    t.deploy("d-0", v(SENSOR, "1.0.0"), latest=False, status="COMPLETED", created=days_ago(90))
    t.device("core-1", v(NUCLEUS, "2.9.0"), v(SENSOR, "1.1.0"))
    sick = t.device("core-2", v(NUCLEUS, "2.9.0"))
    t.devices[-1] = dataclasses.replace(sick, status="UNHEALTHY")
    return t


def scanned(snap: TargetSnapshot, *, before: TargetSnapshot | None = None) -> TargetStatus:
    """A target after three scans, the last one `snap`; `before` is the last complete one."""
    complete = snap if snap.complete else before
    return TargetStatus(
        snap.target,
        account=snap.account,
        scans=3,
        failed_scans=1 if snap.complete else 2,
        last_attempt=NOW,
        last_success=NOW - dt.timedelta(minutes=0 if snap.complete else 5),
        last_duration_seconds=4.5,
        complete=snap.complete,
        errors=snap.errors,
        snapshot=snap,
        complete_snapshot=complete,
    )


def fixed_view() -> DaemonView:
    """Three targets: complete, incomplete after a complete one, and never scanned."""
    west = fleet().build()
    eu_before = fleet(EU).build()
    eu_builder = fleet(EU)
    eu_builder.error("ListCoreDevices", "ThrottlingException", "Rate exceeded")
    eu = eu_builder.build()
    calls = (
        ApiCalls(target_id(WEST), ACCOUNT, "ListDeployments", "ok", 3),
        ApiCalls(target_id(WEST), ACCOUNT, "ListDeployments", "ThrottlingException", 2),
        ApiCalls(target_id(WEST), ACCOUNT, "GetDeployment", "TooManyRequestsException", 1),
        ApiCalls(target_id(WEST), ACCOUNT, "DescribeComponent", "ok", 10),
        ApiCalls(target_id(WEST), ACCOUNT, "DescribeComponent", "SomethingNewException", 1),
        ApiCalls(target_id(EU), ACCOUNT, "ListCoreDevices", "Unreachable", 4),
        ApiCalls(target_id(EU), ACCOUNT, "ListComponents", "ExpiredTokenException", 1),
    )
    return DaemonView(
        started_at=NOW - dt.timedelta(hours=1),
        targets=(
            dataclasses.replace(scanned(west), refreshes=2),
            scanned(eu, before=eu_before),
            TargetStatus(target_id(NEW)),
        ),
        findings=evaluate(snapshot(west, eu_before), RulesConfig(), NOW),
        api_calls=calls,
        severities=tuple(DEFAULT_SEVERITY.items()),
        evaluations=5,
        events_queues=1,
        event_messages=(("malformed", 1), ("refreshed", 3), ("receive_errors", 2)),
    )


def registry_for(holder: StateHolder, max_finding_series: int = 100) -> CollectorRegistry:
    registry = CollectorRegistry(auto_describe=True)  # as the daemon builds it
    register_collector(registry, holder, max_finding_series, "1.2.3", "3.11.0")
    return registry


def where(region: str = WEST, account: str = ACCOUNT, **labels: str) -> dict[str, str]:
    return {**labels, "aws_account_id": account, "aws_region": region, "account_alias": "default"}


@pytest.fixture
def holder() -> StateHolder:
    return StateHolder(fixed_view())


@pytest.fixture
def registry(holder: StateHolder) -> CollectorRegistry:
    return registry_for(holder)


def test_findings_are_zero_for_every_target_and_enabled_rule(registry: CollectorRegistry) -> None:
    for region, account in [(WEST, ACCOUNT), (EU, ACCOUNT), (NEW, "unknown")]:
        for rule, severity in DEFAULT_SEVERITY.items():
            labels = where(region, account, rule=rule.value, severity=severity.value)
            assert registry.get_sample_value("ggwatch_findings", labels) is not None, labels
    labels = where(NEW, "unknown", rule=Rule.STALE_DEPLOYMENT.value, severity="info")
    assert registry.get_sample_value("ggwatch_findings", labels) == 0


def test_findings_are_counted_by_rule_severity_and_target(registry: CollectorRegistry) -> None:
    def count(rule: Rule, severity: Severity, region: str = WEST) -> float | None:
        labels = where(region, rule=rule.value, severity=severity.value)
        return registry.get_sample_value("ggwatch_findings", labels)

    assert count(Rule.DEPLOYMENT_DELETED, Severity.CRITICAL) == 1
    assert count(Rule.DEPLOYMENT_DISCONTINUED, Severity.WARNING) == 1
    assert count(Rule.DEVICE_DISCONTINUED, Severity.WARNING) == 2  # core-1 and core-2
    assert count(Rule.STALE_DEPLOYMENT, Severity.INFO) == 1
    assert count(Rule.DEVICE_DELETED, Severity.CRITICAL) == 0
    assert count(Rule.DEVICE_DISCONTINUED, Severity.WARNING, EU) == 2


def info_series(registry: CollectorRegistry) -> list[dict[str, str]]:
    return [
        sample.labels
        for family in registry.collect()
        if family.name == "ggwatch_finding_info"
        for sample in family.samples
    ]


def test_finding_info_has_one_series_per_finding(registry: CollectorRegistry) -> None:
    labels = where(
        rule=Rule.DEPLOYMENT_DELETED.value,
        severity="critical",
        resource_type="deployment",
        resource_id="d-1",
        component=APP,
        version="1.0.0",
    )
    assert registry.get_sample_value("ggwatch_finding_info", labels) == 1
    assert len(info_series(registry)) == 10  # five per target with findings
    assert registry.get_sample_value("ggwatch_finding_info_dropped") == 0


def test_stale_deployment_info_has_empty_component_labels(registry: CollectorRegistry) -> None:
    labels = where(
        rule=Rule.STALE_DEPLOYMENT.value,
        severity="info",
        resource_type="deployment",
        resource_id="d-0",
        component="",
        version="",
    )
    assert registry.get_sample_value("ggwatch_finding_info", labels) == 1


def test_finding_info_is_capped_worst_first_and_counts_the_rest(holder: StateHolder) -> None:
    registry = registry_for(holder, max_finding_series=3)
    kept = info_series(registry)
    assert [s["severity"] for s in kept] == ["critical", "critical", "warning"]
    assert registry.get_sample_value("ggwatch_finding_info_dropped") == 7
    assert info_series(registry_for(holder, max_finding_series=0)) == []


def test_resolved_finding_vanishes_when_the_view_changes(
    holder: StateHolder, registry: CollectorRegistry
) -> None:
    def is_deleted(f: Finding) -> bool:
        return f.rule is Rule.DEPLOYMENT_DELETED and f.region == WEST

    labels = where(rule=Rule.DEPLOYMENT_DELETED.value, severity="critical")
    assert registry.get_sample_value("ggwatch_findings", labels) == 1
    remaining = tuple(f for f in holder.view.findings if not is_deleted(f))
    holder.update(lambda view: dataclasses.replace(view, findings=remaining))
    assert registry.get_sample_value("ggwatch_findings", labels) == 0
    assert not [
        s for s in info_series(registry) if s["rule"] == labels["rule"] and s["aws_region"] == WEST
    ]


def test_inventory_counts_the_last_complete_snapshot(registry: CollectorRegistry) -> None:
    def versions(scope: str, guidance: str) -> float | None:
        labels = where(scope=scope, vendor_guidance=guidance)
        return registry.get_sample_value("ggwatch_component_versions", labels)

    assert versions("private", "DELETED") == 1  # App 1.0.0
    assert versions("private", "ACTIVE") == 1  # Sensor 1.1.0; 1.0.0 is only in a stale one
    assert versions("public", "DISCONTINUED") == 1  # Nucleus 2.9.0
    assert versions("public", "ACTIVE") == 0  # Nucleus 2.12.0 is only recommended
    assert versions("public", "DELETED") == 0

    def deployments(status: str, latest: str) -> float | None:
        return registry.get_sample_value("ggwatch_deployments", where(status=status, latest=latest))

    assert deployments("ACTIVE", "true") == 1
    assert deployments("COMPLETED", "false") == 1
    assert deployments("FAILED", "true") == 0
    devices = registry.get_sample_value("ggwatch_core_devices", where(status="UNHEALTHY"))
    assert devices == 1


def test_incomplete_scan_keeps_inventory_and_reports_down(registry: CollectorRegistry) -> None:
    labels = where(EU, scope="public", vendor_guidance="DISCONTINUED")
    assert registry.get_sample_value("ggwatch_component_versions", labels) == 1
    assert registry.get_sample_value("ggwatch_core_devices", where(EU, status="HEALTHY")) == 1
    assert registry.get_sample_value("ggwatch_up", where(EU)) == 0
    assert registry.get_sample_value("ggwatch_up", where(WEST)) == 1
    assert registry.get_sample_value("ggwatch_scans_failed_total", where(EU)) == 2


def test_scan_gauges_come_from_the_target_status(registry: CollectorRegistry) -> None:
    success = registry.get_sample_value("ggwatch_last_scan_success_timestamp_seconds", where())
    assert success == NOW.timestamp()
    assert registry.get_sample_value("ggwatch_last_scan_duration_seconds", where()) == 4.5
    assert registry.get_sample_value("ggwatch_scans_total", where()) == 3
    assert registry.get_sample_value("ggwatch_evaluations_total") == 5


def test_never_scanned_target_is_down_with_counters_but_no_scan_gauges(
    registry: CollectorRegistry,
) -> None:
    new = where(NEW, "unknown")
    # 0 from start, so the scan-failing alert can fire while a first scan hangs.
    assert registry.get_sample_value("ggwatch_up", new) == 0
    for name in [
        "ggwatch_last_scan_success_timestamp_seconds",
        "ggwatch_last_scan_duration_seconds",
    ]:
        assert registry.get_sample_value(name, new) is None, name
    for family in ["ggwatch_component_versions", "ggwatch_deployments", "ggwatch_core_devices"]:
        assert not [
            s
            for f in registry.collect()
            if f.name == family
            for s in f.samples
            if s.labels["aws_region"] == NEW
        ], family
    assert registry.get_sample_value("ggwatch_scans_total", new) == 0
    ops = where(NEW, "unknown", operation="ListInstalledComponents")
    assert registry.get_sample_value("ggwatch_aws_requests_total", ops) == 0
    assert registry.get_sample_value("ggwatch_aws_throttles_total", ops) == 0


@pytest.mark.parametrize(
    ("outcome", "code"),
    [
        ("ThrottlingException", "ThrottlingException"),
        ("TooManyRequestsException", "ThrottlingException"),
        ("AccessDeniedException", "AccessDeniedException"),
        ("ExpiredTokenException", "AccessDeniedException"),
        ("ResourceNotFoundException", "ResourceNotFoundException"),
        ("Unreachable", "Unreachable"),
        ("NoCredentials", "NoCredentials"),
        ("SomethingNewException", "Other"),
        ("", "Other"),
    ],
)
def test_error_codes_are_bounded(outcome: str, code: str) -> None:
    assert metrics.error_code(outcome) == code


def test_api_calls_are_counted_by_operation_and_bounded_code(registry: CollectorRegistry) -> None:
    def value(name: str, region: str = WEST, **labels: str) -> float | None:
        return registry.get_sample_value(name, where(region, **labels))

    assert value("ggwatch_aws_requests_total", operation="ListDeployments") == 5
    assert value("ggwatch_aws_throttles_total", operation="ListDeployments") == 2
    assert value("ggwatch_aws_throttles_total", operation="GetDeployment") == 1
    assert value("ggwatch_aws_throttles_total", operation="DescribeComponent") == 0
    errors = "ggwatch_aws_errors_total"
    assert value(errors, operation="GetDeployment", error_code="ThrottlingException") == 1
    assert value(errors, operation="DescribeComponent", error_code="Other") == 1
    assert value(errors, EU, operation="ListComponents", error_code="AccessDeniedException") == 1
    codes = {
        s.labels["error_code"]
        for f in registry.collect()
        if f.name == "ggwatch_aws_errors"
        for s in f.samples
    }
    assert codes <= metrics.ERROR_CODES | {"Other"}


def test_labels_follow_the_naming_guidelines(registry: CollectorRegistry) -> None:
    families = list(registry.collect())
    assert all(f.name.startswith("ggwatch_") and f.documentation for f in families)
    names = {label for f in families for s in f.samples for label in s.labels}
    assert not names & {"region", "account", "instance", "job"}
    build = registry.get_sample_value(
        "ggwatch_build_info", {"version": "1.2.3", "python_version": "3.11.0"}
    )
    assert build == 1


def test_nothing_is_registered_on_the_default_registry(holder: StateHolder) -> None:
    registry_for(holder)
    default = generate_latest(prometheus_client.REGISTRY).decode()
    assert "ggwatch_" not in default


def exposition() -> str:
    return generate_latest(registry_for(StateHolder(fixed_view()), max_finding_series=6)).decode()


def test_exposition_matches_the_golden_file() -> None:
    text = exposition()
    if os.environ.get("UPDATE_GOLDEN") == "1":
        GOLDEN.write_text(text, encoding="utf-8")
    assert text == GOLDEN.read_text(encoding="utf-8"), (
        "exposition changed; if intended, rerun with UPDATE_GOLDEN=1 and review the diff"
    )


def test_promtool_accepts_the_exposition() -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not on PATH: run `make tools` (Debian package prometheus)")
    result = subprocess.run(
        [promtool, "check", "metrics"],
        input=exposition(),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    # promtool exits 0 on lint warnings too, and prints them: any output is a failure.
    output = (result.stdout + result.stderr).strip()
    assert result.returncode == 0, output
    assert output == "", output


def test_event_counters_exist_from_the_start_for_every_outcome(holder: StateHolder) -> None:
    registry = registry_for(holder)

    def messages(outcome: str) -> float | None:
        return registry.get_sample_value("ggwatch_event_messages_total", {"outcome": outcome})

    assert [messages(o) for o in ("refreshed", "ignored", "malformed", "failed")] == [3, 0, 1, 0]
    assert registry.get_sample_value("ggwatch_event_receive_errors_total") == 2
    assert registry.get_sample_value("ggwatch_event_refreshes_total", where()) == 2
    assert registry.get_sample_value("ggwatch_event_refreshes_total", where(EU)) == 0


def test_event_families_are_absent_without_an_events_queue(holder: StateHolder) -> None:
    holder.update(lambda view: dataclasses.replace(view, events_queues=0))

    names = {family.name for family in registry_for(holder).collect()}

    assert not {n for n in names if n.startswith("ggwatch_event_")}


def test_a_sharded_replica_labels_every_series_with_its_shard() -> None:
    registry = CollectorRegistry(auto_describe=True)
    holder = StateHolder(fixed_view())
    register_collector(registry, holder, 6, "1.2.3", "3.11.0", shard=Shard(2, 4))
    families = list(registry.collect())
    assert families
    for family in families:
        for s in family.samples:
            assert s.labels.get("shard") == "2", (family.name, s)
    value = registry.get_sample_value
    assert value("ggwatch_shard_info", {"shard": "2", "total_shards": "4"}) == 1
    assert value("ggwatch_total_shards", {"shard": "2"}) == 4
    assert value("ggwatch_targets_owned", {"shard": "2"}) == len(holder.view.targets)
    # The same series as an unsharded replica's, but for the label.
    plain = {
        (s.name, tuple(sorted(s.labels.items())))
        for f in registry_for(holder, 6).collect()
        for s in f.samples
    }
    sharded = {
        (s.name, tuple(sorted((k, v) for k, v in s.labels.items() if k != "shard")))
        for f in families
        for s in f.samples
        if s.name != "ggwatch_shard_info"
    }
    assert sharded == {p for p in plain if p[0] != "ggwatch_shard_info"}
