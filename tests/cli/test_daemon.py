"""`ggwatch run` as it runs in production, against `ggwatch sim` in another process."""

from __future__ import annotations

import json
import shutil
import signal
import socket
import subprocess
import urllib.request
from typing import Any

from tests.cli.conftest import INTERVAL, LogReader, RunCli, Served, StartDaemon


def get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def post(url: str, body: dict[str, Any]) -> None:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200


def sample(metrics: str, name: str, **labels: str) -> float | None:
    """The value of one series in an exposition, or None when absent."""
    for line in metrics.splitlines():
        if not line.startswith(name + "{"):
            continue
        series, value = line.rsplit(" ", 1)
        if all(f'{k}="{v}"' in series for k, v in labels.items()):
            return float(value)
    return None


def opened(line: dict[str, Any], resource: str, component: str) -> bool:
    return (
        line.get("event") == "finding.opened"
        and line.get("resource_id") == resource
        and line.get("component_name") == component
    )


def wait_first_scans(logs: LogReader) -> None:
    """Both Regions had their first complete scan (each logs one summary)."""
    for region in ("us-west-2", "eu-central-1"):

        def summary_of(e: dict[str, Any], r: str = region) -> bool:
            return e.get("event") == "findings.summary" and e["aws_region"] == r

        summary = logs.wait_for(summary_of, 30)
        assert summary["open_findings"] > 0


def test_daemon_scrape_lifecycle_and_sigterm(
    start_daemon: StartDaemon, fleet: Served, daemon_env: dict[str, str]
) -> None:
    process, logs, port = start_daemon(daemon_env)
    base = f"http://127.0.0.1:{port}"
    wait_first_scans(logs)
    assert get(f"{base}/readyz")[0] == 200, logs.seen
    assert get(f"{base}/healthz")[0] == 200
    status, metrics = get(f"{base}/metrics")
    assert status == 200
    west = {"aws_region": "us-west-2", "aws_account_id": "123456789012"}
    assert sample(metrics, "ggwatch_findings", rule="device-runs-deleted-component", **west) == 2
    assert sample(metrics, "ggwatch_findings", rule="stale-deployment", **west) == 3
    assert sample(metrics, "ggwatch_core_devices", status="UNHEALTHY", **west) == 1
    assert sample(metrics, "ggwatch_up", **west) == 1
    # Initial findings were summarised, not logged one by one (only critical ones are).
    assert not [
        e
        for e in logs.seen
        if e.get("event") == "finding.opened" and e.get("severity") != "critical"
    ]

    # A publisher discontinues a version the Osaka line runs.
    change = {
        "region": "us-west-2",
        "componentName": "aws.greengrass.Cli",
        "componentVersion": "2.15.0",
        "vendorGuidance": "DISCONTINUED",
        "message": "Bye.",
    }
    post(f"{fleet.endpoint}/_sim/guidance", change)
    logs.wait_for(lambda e: opened(e, "gg-osaka-00005", "aws.greengrass.Cli"), 2 * INTERVAL + 10)
    logs.drain(3 * INTERVAL)
    assert sum(opened(e, "gg-osaka-00005", "aws.greengrass.Cli") for e in logs.seen) == 1
    metrics = get(f"{base}/metrics")[1]
    assert sample(metrics, "ggwatch_finding_info", resource_id="gg-osaka-00005") == 1

    post(f"{fleet.endpoint}/_sim/guidance", {**change, "vendorGuidance": "ACTIVE", "message": None})
    logs.wait_for(
        lambda e: e.get("event") == "finding.resolved" and e.get("resource_id") == "gg-osaka-00005",
        2 * INTERVAL + 10,
    )
    metrics = get(f"{base}/metrics")[1]
    assert sample(metrics, "ggwatch_finding_info", resource_id="gg-osaka-00005") is None

    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0
    logs.drain(0.5)
    assert logs.seen[-1]["event"] == "daemon.stopped"


def test_incomplete_scans_keep_findings_and_recover(
    start_daemon: StartDaemon, fleet: Served, daemon_env: dict[str, str]
) -> None:
    process, logs, port = start_daemon(daemon_env)
    wait_first_scans(logs)
    request = urllib.request.Request(
        f"{fleet.endpoint}/_sim/knobs",
        data=json.dumps({"access_denied": ["ListCoreDevices"]}).encode(),
        method="PATCH",
    )
    urllib.request.urlopen(request, timeout=10).close()
    logs.wait_for(lambda e: e.get("event") == "scan.incomplete", timeout=15)
    logs.drain(3 * INTERVAL)
    metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
    west = {"aws_region": "us-west-2", "aws_account_id": "123456789012"}
    assert sample(metrics, "ggwatch_up", **west) == 0
    # Not re-checked, so not resolved; inventory not zeroed.
    assert sample(metrics, "ggwatch_findings", rule="device-runs-deleted-component", **west) == 2
    assert sample(metrics, "ggwatch_core_devices", status="HEALTHY", **west) == 5
    assert not [e for e in logs.seen if e.get("event") == "finding.resolved"]
    # Logged once per state change, not every cycle.
    assert (
        sum(
            e.get("event") == "scan.incomplete" and e["aws_region"] == "us-west-2"
            for e in logs.seen
        )
        == 1
    )
    request = urllib.request.Request(
        f"{fleet.endpoint}/_sim/knobs", data=b'{"access_denied": []}', method="PATCH"
    )
    urllib.request.urlopen(request, timeout=10).close()
    logs.wait_for(lambda e: e.get("event") == "scan.recovered", timeout=30)
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=10) == 0


def test_real_scrape_passes_promtool(start_daemon: StartDaemon, daemon_env: dict[str, str]) -> None:
    promtool = shutil.which("promtool")
    assert promtool, "promtool is missing: run `make tools` (Debian package prometheus)"
    _, logs, port = start_daemon(daemon_env)
    wait_first_scans(logs)
    metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=metrics, capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert not (checked.stdout + checked.stderr).strip()


def test_port_in_use_exits_2(ggwatch: RunCli, daemon_env: dict[str, str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = str(busy.getsockname()[1])
        result = ggwatch(
            "run", env={**daemon_env, "GGWATCH_HTTP_HOST": "127.0.0.1", "GGWATCH_HTTP_PORT": port}
        )
    assert result.code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert "cannot listen" in lines[0]
