"""deploy/prometheus/alerts.yml: checked and unit-tested by the real promtool, plus what the
alerts must carry for people (severity, summary, description, runbook) and for ggwatch's
Alertmanager webhook (one stale-deployment alert per deployment, with its labels)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).parents[2]
RULES_DIR = ROOT / "deploy" / "prometheus"
RULES = RULES_DIR / "alerts.yml"
RULE_TESTS = RULES_DIR / "alerts_test.yml"

EXPECTED_ALERTS = {
    "GGWatchDeletedComponentInUse": "critical",
    "GGWatchDiscontinuedComponentInUse": "warning",
    "GGWatchDeploymentWillFail": "critical",
    "GGWatchStaleDeployments": "info",
    "GGWatchScanFailing": "warning",
    "GGWatchScanStale": "warning",
    "GGWatchDown": "warning",
    "GGWatchThrottled": "warning",
    "GGWatchFindingSeriesDropped": "info",
    "GGWatchEventsQueueFailing": "warning",
    "GGWatchEventsMalformed": "info",
    "GGWatchShardMissing": "warning",
    "GGWatchShardsDisagree": "warning",
}
# The labels ggwatch's webhook reads (docs/cleanup.md, "Alertmanager webhook"): each must reach it.
WEBHOOK_LABELS = ("rule", "aws_region", "resource_id")
AGGREGATIONS = (
    "sum|min|max|avg|group|stddev|stdvar|count|count_values|bottomk|topk|quantile|"
    "label_replace|label_join"
)


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run `make tools` (Debian package prometheus)")
    return found


def run_promtool(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [promtool(), *args], cwd=cwd, capture_output=True, text=True, timeout=60, check=False
    )


def alerts() -> dict[str, dict[str, Any]]:
    groups = yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]
    assert [g["name"] for g in groups] == ["ggwatch"]
    return {rule["alert"]: rule for rule in groups[0]["rules"]}


def test_promtool_checks_the_rules() -> None:
    checked = run_promtool("check", "rules", "deploy/prometheus/alerts.yml", cwd=ROOT)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(EXPECTED_ALERTS)} rules found" in checked.stdout


def test_promtool_unit_tests_pass() -> None:
    tested = run_promtool("test", "rules", "deploy/prometheus/alerts_test.yml", cwd=ROOT)
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "SUCCESS" in tested.stdout


def test_promtool_unit_tests_can_fail(tmp_path: Path) -> None:
    """A wrong expectation makes promtool fail: the unit tests above do compare something."""
    (tmp_path / "alerts.yml").write_text(RULES.read_text(encoding="utf-8"), encoding="utf-8")
    text = RULE_TESTS.read_text(encoding="utf-8")
    assert text.count("resource_id: 0b5e7f2a-3c4d-4e5f-9a8b-7c6d5e4f3a2b") == 1
    broken = text.replace(
        "resource_id: 0b5e7f2a-3c4d-4e5f-9a8b-7c6d5e4f3a2b", "resource_id: some-other-deployment"
    )
    (tmp_path / "alerts_test.yml").write_text(broken, encoding="utf-8")
    tested = run_promtool("test", "rules", "alerts_test.yml", cwd=tmp_path)
    assert tested.returncode != 0
    assert "GGWatchStaleDeployments" in tested.stdout + tested.stderr


def test_every_alert_has_severity_summary_description_runbook() -> None:
    found = alerts()
    assert {name: rule["labels"]["severity"] for name, rule in found.items()} == EXPECTED_ALERTS
    for name, rule in found.items():
        assert "for" in rule, name
        annotations = rule["annotations"]
        for key in ("summary", "description", "runbook"):
            assert isinstance(annotations.get(key), str), f"{name} has no {key}"
            assert len(annotations[key].strip()) > 20, f"{name}: {key} says too little"
        assert "{{" in annotations["description"], f"{name}: description names nothing"
        # ggwatch's target labels are aws_region and aws_account_id, never region.
        assert not re.search(r"(?<!aws_)\bregion\b\s*(=|!=|=~|!~)", rule["expr"]), name
        assert "$labels.region" not in str(annotations), name


def test_deleted_component_alert_is_prompt_and_per_finding() -> None:
    rule = alerts()["GGWatchDeletedComponentInUse"]
    assert rule["for"] in ("0s", "0m", "1m", "2m")
    expr = rule["expr"]
    assert expr.strip().startswith("ggwatch_finding_info{")
    assert "deployment-uses-deleted-component" in expr
    assert "device-runs-deleted-component" in expr
    assert not re.search(rf"\b({AGGREGATIONS})\b", expr)


def test_stale_alert_keeps_the_labels_the_webhook_needs() -> None:
    rule = alerts()["GGWatchStaleDeployments"]
    expr = rule["expr"]
    selector = re.fullmatch(r"\s*ggwatch_finding_info\{([^}]*)\}\s*", expr)
    assert selector, f"expected a bare ggwatch_finding_info selector, got {expr!r}"
    assert 'rule="stale-deployment"' in selector.group(1)
    # Neither aggregated away nor overwritten by the rule's own labels.
    assert not re.search(rf"\b({AGGREGATIONS}|by|without|on|ignoring)\b", expr)
    assert not set(WEBHOOK_LABELS) & set(rule["labels"])


def test_unit_tests_cover_every_alert_firing_and_not_firing() -> None:
    suite = yaml.safe_load(RULE_TESTS.read_text(encoding="utf-8"))
    assert suite["rule_files"] == ["alerts.yml"]
    cases = [case for test in suite["tests"] for case in test["alert_rule_test"]]
    firing = {c["alertname"] for c in cases if c.get("exp_alerts")}
    quiet = {c["alertname"] for c in cases if not c.get("exp_alerts")}
    assert firing == set(EXPECTED_ALERTS)
    assert quiet == set(EXPECTED_ALERTS)
    stale = [
        alert
        for c in cases
        if c["alertname"] == "GGWatchStaleDeployments"
        for alert in c.get("exp_alerts") or []
    ]
    assert len(stale) >= 2  # one alert per deployment
    for alert in stale:
        labels = alert["exp_labels"]
        assert labels["rule"] == "stale-deployment"
        assert re.fullmatch(r"[a-z]{2}-[a-z]+-\d", labels["aws_region"])
        assert labels["resource_id"]
