"""The headline use case with real parts: Prometheus scrapes ggwatch, evaluates the shipped
alert rules, Alertmanager routes the stale-deployment alerts to ggwatch's webhook, and ggwatch
archives and deletes those deployments in the simulator.

Everything listens on loopback. The shipped rules are used as they are except for their `for:`
durations, which a copy shortens to 0s so the run takes seconds, not hours.
"""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import ROOT, ServeCli, StartDaemon

TOKEN = "end-to-end-webhook-token"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"
DEADLINE = 90.0

# The `background` fixture: start(name, *argv) a long-running tool, stopped after the test.
Background = Callable[..., subprocess.Popen[bytes]]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def eventually(check: Any, what: str, timeout: float = DEADLINE) -> Any:
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = check()
        except (OSError, ValueError) as exc:  # not up yet
            last = exc
        if last and not isinstance(last, Exception):
            return last
        time.sleep(1.0)
    pytest.fail(f"{what} did not happen within {timeout:.0f} s (last: {last!r})")


@pytest.fixture
def tools() -> dict[str, str]:
    found = {name: shutil.which(name) for name in ("prometheus", "prometheus-alertmanager")}
    missing = [name for name, path in found.items() if path is None]
    if missing:
        pytest.skip(f"Debian packages not installed here ({', '.join(missing)}): run make tools")
    return {name: str(path) for name, path in found.items()}


@pytest.fixture
def background(tmp_path: Path) -> Iterator[Background]:
    """Start long-running tools; stop them (and close their logs) after the test."""
    running: list[tuple[subprocess.Popen[bytes], Any]] = []

    def start(name: str, *args: str) -> subprocess.Popen[bytes]:
        log = (tmp_path / f"{name}.log").open("wb")
        process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path)
        running.append((process, log))
        return process

    yield start
    for process, log in running:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)
        log.close()


def shortened_rules(target: Path) -> Path:
    text = RULES.read_text(encoding="utf-8")
    target.write_text(re.sub(r"(?m)^(\s*)for:\s*\S+", r"\1for: 0s", text), encoding="utf-8")
    return target


def test_alert_to_webhook_to_archived_delete(
    tools: dict[str, str],
    background: Background,
    serve_cli: ServeCli,
    start_daemon: StartDaemon,
    tmp_path: Path,
) -> None:
    assert RULES.exists(), "deploy/prometheus/alerts.yml is missing"
    fleet = serve_cli("sim", "--fleet", "config/sample-fleet.yaml", "--port", "0")
    archive = tmp_path / "archive"
    _, logs, daemon_port = start_daemon(
        {
            "AWS_ENDPOINT_URL_GREENGRASSV2": fleet.endpoint,
            "AWS_ENDPOINT_URL_IOT": fleet.endpoint,
            "AWS_ACCESS_KEY_ID": access_key(0),
            "AWS_SECRET_ACCESS_KEY": "simulated",
            "GGWATCH_REGIONS": "us-west-2",
            "GGWATCH_POLL_INTERVAL_SECONDS": "2",
            "GGWATCH_SERVICE_RATE": "1000",
            "GGWATCH_CLEANUP_MODE": "enforce",
            "GGWATCH_ARCHIVE_URI": f"file://{archive}",
            "GGWATCH_WEBHOOK_TOKEN": TOKEN,
            # Alert-driven only: the daemon's own cycle never deletes, so only the alert path can.
            "GGWATCH_CLEANUP_GRACE_SECONDS": "0",
            "GGWATCH_CLEANUP_ON_SCAN": "false",
        }
    )
    prometheus_port, alertmanager_port = free_port(), free_port()
    (tmp_path / "alertmanager.yml").write_text(
        yaml.safe_dump(
            {
                "route": {
                    "receiver": "nobody",
                    "group_wait": "1s",
                    "group_interval": "1s",
                    "repeat_interval": "1h",
                    "routes": [
                        {
                            "receiver": "ggwatch",
                            "matchers": ['alertname="GGWatchStaleDeployments"'],
                            "group_by": ["alertname", "aws_region", "resource_id"],
                        }
                    ],
                },
                "receivers": [
                    {"name": "nobody"},
                    {
                        "name": "ggwatch",
                        "webhook_configs": [
                            {
                                "url": f"http://127.0.0.1:{daemon_port}/alertmanager",
                                "send_resolved": False,
                                "http_config": {
                                    "authorization": {"type": "Bearer", "credentials": TOKEN}
                                },
                            }
                        ],
                    },
                ],
            }
        )
    )
    (tmp_path / "prometheus.yml").write_text(
        yaml.safe_dump(
            {
                "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                "rule_files": [str(shortened_rules(tmp_path / "alerts.yml"))],
                "alerting": {
                    "alertmanagers": [
                        {"static_configs": [{"targets": [f"127.0.0.1:{alertmanager_port}"]}]}
                    ]
                },
                "scrape_configs": [
                    {
                        "job_name": "ggwatch",
                        "static_configs": [{"targets": [f"127.0.0.1:{daemon_port}"]}],
                    }
                ],
            }
        )
    )
    background(
        "alertmanager",
        tools["prometheus-alertmanager"],
        f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am-data'}",
        f"--web.listen-address=127.0.0.1:{alertmanager_port}",
        "--cluster.listen-address=",
    )
    background(
        "prometheus",
        tools["prometheus"],
        f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prom-data'}",
        f"--web.listen-address=127.0.0.1:{prometheus_port}",
    )
    api = f"http://127.0.0.1:{prometheus_port}/api/v1"

    def deleted_firing() -> list[dict[str, Any]]:
        alerts = get_json(f"{api}/alerts")["data"]["alerts"]
        return [
            a
            for a in alerts
            if a["labels"].get("alertname") == "GGWatchDeletedComponentInUse"
            and a["state"] == "firing"
            and a["labels"].get("component") == "aws.greengrass.Nucleus"
            and a["labels"].get("version") == "2.14.0"
        ]

    firing = eventually(deleted_firing, "GGWatchDeletedComponentInUse firing")
    assert {a["labels"]["aws_region"] for a in firing} == {"us-west-2"}

    def deleted() -> list[str]:
        calls = get_json(f"{fleet.endpoint}/_sim/calls")["calls"]
        done = [c for c in calls if c["operation"] == "DeleteDeployment" and c["status"] == 204]
        return [c["params"]["deploymentId"] for c in done] if len(done) >= 2 else []

    gone = eventually(deleted, "two stale deployments deleted through the alert path")
    assert len(gone) == len(set(gone)) == 2  # each once, whatever Alertmanager repeats
    archived = sorted(p.stem for p in archive.rglob("*.json"))
    assert archived == sorted(gone)
    # The third stale deployment is tagged ggwatch:retain=true: its alert is refused.
    logs.wait_for(
        lambda e: e.get("event") == "cleanup.skipped" and e.get("reason") == "retained_tag", 30
    )
