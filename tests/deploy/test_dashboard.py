"""deploy/grafana/ggwatch.json and the PromQL of deploy/prometheus/alerts.yml, against the real
thing: every expression parses (promtool check rules parses each rule's expr), and every
ggwatch metric they name, with every label they match on, is in a real scrape of `ggwatch run`
watching `ggwatch sim` (cleanup in dry-run, so the cleanup counter is exported)."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

import pytest
import yaml

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import (  # noqa: F401  (serve_cli, start_daemon: fixtures)
    ServeCli,
    Served,
    StartDaemon,
    serve_cli,
    start_daemon,
)
from tests.cli.test_daemon import get, wait_first_scans
from tests.simctl import patch_knobs

ROOT = Path(__file__).parents[2]
DASHBOARD = ROOT / "deploy" / "grafana" / "ggwatch.json"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DATASOURCE = {"type": "prometheus", "uid": "${DS_PROMETHEUS}"}
# Metrics that are not ggwatch's but may be named: Prometheus's own per-target series.
OTHER_METRICS = {"up"}
# Labels Prometheus adds to every scraped series.
TARGET_LABELS = {"job", "instance"}

# PromQL words that are not metric names (functions and aggregations are recognised by the
# parenthesis that follows them).
KEYWORDS = {
    "and",
    "or",
    "unless",
    "by",
    "without",
    "on",
    "ignoring",
    "group_left",
    "group_right",
    "bool",
    "offset",
    "inf",
    "nan",
}
STRING = re.compile(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'|`[^`]*`')
SELECTOR = re.compile(r"([A-Za-z_:][\w:]*)?\s*\{([^{}]*)\}")
MATCHER = re.compile(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)")
GROUPING = re.compile(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^()]*\)")
IDENTIFIER = re.compile(r"(?<![\w.:$])([A-Za-z_:][\w:]*)(?![\w:]|\s*\()")
LABEL_VALUES = re.compile(r"\s*label_values\(\s*(?:(.*),\s*)?([A-Za-z_]\w*)\s*\)\s*")


@dataclass(frozen=True)
class Expression:
    where: str  # e.g. "panel 9 (Open findings) A", "alert GGWatchDown"
    promql: str  # Grafana's variables replaced by values PromQL accepts
    extra_labels: frozenset[tuple[str, str]] = frozenset()  # (metric, label) of label_values()


def grafana_to_promql(expr: str) -> str:
    """Replace Grafana's variables: ranges by a duration, the others (in label values) by .*"""
    expr = re.sub(r"\[\s*\$\{?__\w+\}?\s*\]", "[5m]", expr)
    expr = re.sub(r"\$\{?\w+\}?", ".*", expr)
    assert "$" not in expr
    return expr


def metric_names(expr: str) -> set[str]:
    """The metric names in a PromQL expression: identifiers that are not label names, string
    contents, durations, keywords, or functions and aggregations (followed by a parenthesis)."""
    text = STRING.sub('""', expr)
    text = SELECTOR.sub(lambda m: f"{m.group(1) or ''}{{}}", text)
    text = re.sub(r"\[[^\]]*\]", "[]", text)
    text = GROUPING.sub(" ", text)
    return {name for name in IDENTIFIER.findall(text) if name not in KEYWORDS}


def matched_labels(expr: str) -> set[tuple[str, str]]:
    """(metric, label) for every label a selector with a metric name matches on."""
    text = STRING.sub('""', expr)
    return {
        (m.group(1), label)
        for m in SELECTOR.finditer(text)
        if m.group(1)
        for label in MATCHER.findall(m.group(2))
    }


def dashboard() -> dict[str, Any]:
    return cast(dict[str, Any], json.loads(DASHBOARD.read_text(encoding="utf-8")))


def variable_query(variable: dict[str, Any]) -> str:
    query = variable["query"]
    return cast(str, query["query"] if isinstance(query, dict) else query)


def expressions() -> list[Expression]:
    """Every PromQL expression the dashboard and the alert rules hold."""
    found = []
    board = dashboard()
    for panel in board["panels"]:
        for target in panel.get("targets", []):
            where = f"panel {panel['id']} ({panel['title']}) {target['refId']}"
            found.append(Expression(where, grafana_to_promql(target["expr"])))
    for variable in board["templating"]["list"]:
        if variable["type"] != "query":
            continue
        call = LABEL_VALUES.fullmatch(variable_query(variable))
        assert call, f"variable {variable['name']}: expected label_values(metric, label)"
        selector, label = call.groups()
        assert selector, f"variable {variable['name']}: label_values without a metric"
        promql = grafana_to_promql(selector)
        extra = frozenset((name, label) for name in metric_names(promql))
        found.append(Expression(f"variable {variable['name']}", promql, extra))
    for group in yaml.safe_load(RULES.read_text(encoding="utf-8"))["groups"]:
        for rule in group["rules"]:
            found.append(Expression(f"alert {rule['alert']}", rule["expr"]))
    return found


def promtool() -> str:
    found = shutil.which("promtool")
    if found is None:
        pytest.fail("promtool is missing: run `make tools` (Debian package prometheus)")
    return found


def check_rules(exprs: list[str], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """promtool parses each rule's expr: wrap the expressions as recording rules and check."""
    rules = [{"record": f"ggwatch_check:expr_{i}", "expr": e} for i, e in enumerate(exprs)]
    path = tmp_path / "exprs.yml"
    path.write_text(yaml.safe_dump({"groups": [{"name": "check", "rules": rules}]}))
    return subprocess.run(
        [promtool(), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_metric_names_tokenizer() -> None:
    assert metric_names(
        'sum by (rule, severity) (ggwatch_findings{aws_region=~"$x", rule="a b"})'
    ) == {"ggwatch_findings"}
    assert metric_names(
        "time() - ggwatch_last_scan_success_timestamp_seconds > 3600 or vector(0)"
    ) == {"ggwatch_last_scan_success_timestamp_seconds"}
    assert metric_names(
        "sum without (operation) (rate(a_total[5m] offset 1h)) / on (x) group_left (y) b"
    ) == {"a_total", "b"}
    assert metric_names('up{job="ggwatch"} == 0 or absent(up{job="ggwatch"})') == {"up"}
    assert metric_names("count(x == 0) > bool 1e3 unless y") == {"x", "y"}
    assert matched_labels('a{job="j", aws_region=~"r"} / sum by (z) (b{c!="{"})') == {
        ("a", "job"),
        ("a", "aws_region"),
        ("b", "c"),
    }
    assert grafana_to_promql('rate(x{r=~"$aws_region"}[$__rate_interval])') == (
        'rate(x{r=~".*"}[5m])'
    )


def test_dashboard_is_valid_grafana_json() -> None:
    board = dashboard()
    assert board["schemaVersion"] >= 36
    assert board["uid"] == "ggwatch"
    assert board["title"]
    variables = {v["name"]: v for v in board["templating"]["list"]}
    assert variables["DS_PROMETHEUS"]["type"] == "datasource"
    assert variables["DS_PROMETHEUS"]["query"] == "prometheus"
    for name in ("aws_account_id", "aws_region"):
        assert variables[name]["type"] == "query"
        assert variables[name]["datasource"] == DATASOURCE
        assert variable_query(variables[name]).startswith("label_values(")
        assert variable_query(variables[name]).endswith(f", {name})")

    panels = board["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids)), f"duplicate panel ids: {ids}"
    cells: set[tuple[int, int]] = set()
    for panel in panels:
        assert panel["datasource"] == DATASOURCE, panel["title"]
        assert panel["targets"], panel["title"]
        refs = [t["refId"] for t in panel["targets"]]
        assert len(refs) == len(set(refs)), panel["title"]
        for target in panel["targets"]:
            assert target["datasource"] == DATASOURCE, panel["title"]
            assert target["expr"].strip(), panel["title"]
        grid = panel["gridPos"]
        assert grid["x"] + grid["w"] <= 24, panel["title"]
        mine = {
            (x, y)
            for x in range(grid["x"], grid["x"] + grid["w"])
            for y in range(grid["y"], grid["y"] + grid["h"])
        }
        assert not mine & cells, f"panel {panel['title']} overlaps another"
        cells |= mine


def test_dashboard_has_the_panels_it_promises() -> None:
    panels = dashboard()["panels"]
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in (
        "ggwatch_findings",
        "ggwatch_finding_info",
        "ggwatch_component_versions",
        "ggwatch_deployments",
        "ggwatch_core_devices",
        "ggwatch_last_scan_duration_seconds",
        "ggwatch_last_scan_success_timestamp_seconds",
        "ggwatch_up",
        "ggwatch_aws_requests_total",
        "ggwatch_aws_throttles_total",
        "ggwatch_aws_errors_total",
        "ggwatch_cleanup_actions_total",
    ):
        assert metric in exprs, f"no panel shows {metric}"
    assert "time() - ggwatch_last_scan_success_timestamp_seconds" in exprs
    # The open findings: one row per ggwatch_finding_info series, as of now.
    table = next(p for p in panels if p["title"] == "Open findings")
    assert table["type"] == "table"
    (target,) = table["targets"]
    assert target["expr"].startswith("ggwatch_finding_info{")
    assert target["instant"] is True
    assert target["format"] == "table"


def test_every_expression_parses(tmp_path: Path) -> None:
    found = expressions()
    checked = check_rules([e.promql for e in found], tmp_path)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(found)} rules found" in checked.stdout


def test_promtool_rejects_a_broken_expression(tmp_path: Path) -> None:
    """The check above would catch a typo: promtool does parse the wrapped expressions."""
    checked = check_rules(["sum by (rule (ggwatch_findings)"], tmp_path)
    assert checked.returncode != 0
    assert "parse error" in checked.stdout + checked.stderr


def scrape_families(exposition: str) -> dict[str, set[str]]:
    """Metric name -> its label names, from a text exposition (families without samples too)."""
    families: dict[str, set[str]] = {}
    for line in exposition.splitlines():
        if line.startswith("# TYPE "):
            families.setdefault(line.split()[2], set())
        elif line and not line.startswith("#"):
            series = line.rsplit(" ", 1)[0]
            name, _, labels = series.partition("{")
            families.setdefault(name, set()).update(re.findall(r'(\w+)="', labels))
    return families


@pytest.fixture
def fleet(serve_cli: ServeCli) -> Served:  # noqa: F811
    return serve_cli("sim", "--fleet", "config/sample-fleet.yaml", "--port", "0")


def test_every_metric_and_label_named_is_in_a_real_scrape(
    start_daemon: StartDaemon,  # noqa: F811
    fleet: Served,
    sqs_queue: str,
) -> None:
    # A few answers are 500s (retried), so ggwatch_aws_errors_total has samples and labels.
    patch_knobs(fleet.endpoint, {"error_rate": 0.1, "retry_after_seconds": 0})
    _, logs, port = start_daemon(
        {
            "AWS_ENDPOINT_URL_GREENGRASSV2": fleet.endpoint,
            "AWS_ENDPOINT_URL_IOT": fleet.endpoint,
            "AWS_ACCESS_KEY_ID": access_key(0),
            "AWS_SECRET_ACCESS_KEY": "simulated",
            "AWS_DEFAULT_REGION": "us-west-2",
            "GGWATCH_REGIONS": "us-west-2,eu-central-1",
            "GGWATCH_POLL_INTERVAL_SECONDS": "1",
            "GGWATCH_SERVICE_RATE": "1000",
            "GGWATCH_CLEANUP_MODE": "dry-run",
            # With an events queue (moto's, on loopback), so the event counters are scraped.
            "GGWATCH_EVENTS_QUEUE_URL": sqs_queue,
            "GGWATCH_EVENTS_WAIT_SECONDS": "1",
        }
    )
    wait_first_scans(logs)
    deadline = time.monotonic() + 15
    while True:
        status, exposition = get(f"http://127.0.0.1:{port}/metrics")
        assert status == 200
        families = scrape_families(exposition)
        if families.get("ggwatch_aws_errors_total") or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert families.get("ggwatch_aws_errors_total"), "no Greengrass V2 error was counted"

    problems = []
    for expr in expressions():
        for name in sorted(metric_names(expr.promql)):
            if name in OTHER_METRICS:
                continue
            if not name.startswith("ggwatch_"):
                problems.append(f"{expr.where}: {name} is not a ggwatch metric")
            elif name not in families:
                problems.append(f"{expr.where}: {name} is not in the scrape")
        for name, label in sorted(matched_labels(expr.promql) | expr.extra_labels):
            if name in families and label not in families[name] | TARGET_LABELS:
                problems.append(f"{expr.where}: {name} has no label {label}")
    assert not problems, "\n".join(problems)
