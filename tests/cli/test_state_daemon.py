"""`ggwatch run` with `state_path`: a restart costs the changes, not a full scan.

The daemon scans the sample fleet, stops; a device reports a change while it is down; the
restarted daemon reads only the listings and that device, and finds what the first one found
plus the change. A spoilt state file costs one log line and a full scan.
"""

from __future__ import annotations

import json
import signal
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

from tests.cli.conftest import LogReader, Served, StartDaemon

LISTINGS = {"ListComponents", "ListDeployments", "ListCoreDevices"}


def state_env(daemon_env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    return {
        **daemon_env,
        "GGWATCH_REGIONS": "us-west-2",
        # Guidance read a minute ago is still fresh: its age at a scan's start may be at most
        # 900 s less one interval and its jitter (ggwatch.scan.guidance_max_age).
        "GGWATCH_POLL_INTERVAL_SECONDS": "60",
        "GGWATCH_DESCRIBE_REFRESH_SECONDS": "900",
        "GGWATCH_STATE_PATH": str(tmp_path / "state" / "ggwatch.db"),
    }


def calls(fleet: Served) -> dict[str, int]:
    """Greengrass V2 and AWS IoT calls the simulator answered so far, by operation."""
    with urllib.request.urlopen(f"{fleet.endpoint}/_sim/calls", timeout=10) as response:
        counts = json.loads(response.read())["counts"]
    return {op: sum(by_outcome.values()) for op, by_outcome in counts.items()}


def first_scan(logs: LogReader) -> dict[str, Any]:
    return logs.wait_for(lambda e: e.get("event") == "scan.completed" and e["complete"], 60)


def summary(logs: LogReader) -> dict[str, Any]:
    return logs.wait_for(lambda e: e.get("event") == "findings.summary", 60)


def stop(process: Any, logs: LogReader) -> None:
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0
    logs.drain(0.5)


def test_a_restart_reads_only_what_changed(
    start_daemon: StartDaemon, fleet: Served, daemon_env: dict[str, str], tmp_path: Path
) -> None:
    env = state_env(daemon_env, tmp_path)
    process, logs, _ = start_daemon(env)
    full = first_scan(logs)
    found = summary(logs)
    stop(process, logs)
    assert Path(env["GGWATCH_STATE_PATH"]).exists()

    # While ggwatch is down, one device takes a new version: its lastStatusUpdateTimestamp moves.
    change = {
        "region": "us-west-2",
        "componentName": "aws.greengrass.clientdevices.Auth",
        "componentVersion": "2.3.0",
    }
    request = urllib.request.Request(
        f"{fleet.endpoint}/_sim/devices/gg-osaka-00005/installed",
        data=json.dumps(change).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    urllib.request.urlopen(request, timeout=10).close()

    before = calls(fleet)
    process, logs, _ = start_daemon(env)
    restored = logs.wait_for(lambda e: e.get("event") == "state.restored", 30)
    assert restored["target"] == "default/us-west-2"
    assert restored["deployment_details"] > 0
    assert restored["recipes"] > 0
    again = first_scan(logs)
    made = {op: n - before.get(op, 0) for op, n in calls(fleet).items() if n > before.get(op, 0)}
    # The listings, the one device that changed, and the guidance of the version it now runs
    # (new in use); nothing else: no GetDeployment, GetComponent or thing-group read.
    assert set(made) <= LISTINGS | {"ListInstalledComponents", "DescribeComponent"}, made
    assert made.get("ListInstalledComponents") == 1
    assert again["api_calls"] == sum(made.values())
    assert again["api_calls"] <= 0.1 * full["api_calls"], (again["api_calls"], full["api_calls"])
    # The same findings, and the one the change brings (Auth 2.3.0 is DISCONTINUED).
    rules = Counter(found["by_rule"])
    rules["device-runs-discontinued-component"] += 1
    assert Counter(summary(logs)["by_rule"]) == rules
    stop(process, logs)


def test_a_garbage_state_file_costs_one_line_and_a_full_scan(
    start_daemon: StartDaemon, daemon_env: dict[str, str], tmp_path: Path
) -> None:
    env = state_env(daemon_env, tmp_path)
    path = Path(env["GGWATCH_STATE_PATH"])
    path.parent.mkdir(parents=True)
    path.write_bytes(b"this is not a database\n" * 100)
    process, logs, _ = start_daemon(env)
    first_scan(logs)
    replaced = [e for e in logs.seen if e.get("event") == "state.replaced"]
    assert len(replaced) == 1
    assert replaced[0]["path"] == str(path)
    assert not [e for e in logs.seen if e.get("event") == "state.restored"]
    stop(process, logs)
    # What replaced it holds this run's scan: the next start restores it.
    _, logs, _ = start_daemon(env)
    logs.wait_for(lambda e: e.get("event") == "state.restored", 30)
