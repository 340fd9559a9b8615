"""`ggwatch run` under stray signals, partial listing failures and an unusable archive, against
`ggwatch sim`."""

from __future__ import annotations

import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.cli.conftest import RunCli, Served, StartDaemon
from tests.cli.test_daemon import get, sample, wait_first_scans
from tests.simctl import patch_knobs


@pytest.mark.parametrize("sig", [signal.SIGHUP, signal.SIGQUIT])
def test_hangup_and_quit_stop_gracefully(
    start_daemon: StartDaemon, daemon_env: dict[str, str], sig: signal.Signals
) -> None:
    process, logs, _ = start_daemon(daemon_env)
    wait_first_scans(logs)
    process.send_signal(sig)
    assert process.wait(timeout=10) == 0
    logs.drain(0.5)
    stopping = [e for e in logs.seen if e.get("event") == "daemon.stopping"]
    assert [e["signal"] for e in stopping] == [sig.name]
    assert logs.seen[-1]["event"] == "daemon.stopped"


def test_user_signals_are_logged_and_ignored(
    start_daemon: StartDaemon, daemon_env: dict[str, str]
) -> None:
    process, logs, port = start_daemon(daemon_env)
    wait_first_scans(logs)
    for sig in (signal.SIGUSR1, signal.SIGUSR2):
        process.send_signal(sig)

        def ignored(e: dict[str, Any], s: signal.Signals = sig) -> bool:
            return e.get("event") == "daemon.signal_ignored" and e["signal"] == s.name

        logs.wait_for(ignored, 5)
    time.sleep(0.5)
    assert process.poll() is None
    assert get(f"http://127.0.0.1:{port}/healthz")[0] == 200
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_a_partial_listing_failure_keeps_finding_identity(
    start_daemon: StartDaemon, fleet: Served, daemon_env: dict[str, str]
) -> None:
    """Denying the listings the account id used to be read from opens nothing new under an
    unknown account, and the recovery resolves nothing: identity never depended on them."""
    process, logs, port = start_daemon(daemon_env)
    wait_first_scans(logs)
    logs.drain(1)  # the first scans' critical openings follow their summaries
    seen = len(logs.seen)
    patch_knobs(fleet.endpoint, {"access_denied": ["ListComponents", "ListDeployments"]})
    logs.wait_for(lambda e: e.get("event") == "scan.incomplete", timeout=15)
    logs.drain(3)
    metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
    assert sample(metrics, "ggwatch_findings", aws_account_id="unknown") is None
    patch_knobs(fleet.endpoint, {"access_denied": []})
    logs.wait_for(lambda e: e.get("event") == "scan.recovered", timeout=30)
    logs.drain(3)
    after = logs.seen[seen:]
    assert not [e for e in after if e.get("event") == "finding.opened"], after
    assert not [e for e in after if e.get("event") == "finding.resolved"], after
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=10) == 0


def test_up_is_0_from_the_start_while_the_first_scan_runs(
    start_daemon: StartDaemon, fleet: Served, daemon_env: dict[str, str]
) -> None:
    patch_knobs(fleet.endpoint, {"latency_ms": 2000})  # the first scan takes a while
    process, _, port = start_daemon(daemon_env)
    metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
    west = {"aws_region": "us-west-2", "account_alias": "default"}
    assert sample(metrics, "ggwatch_up", **west) == 0
    patch_knobs(fleet.endpoint, {"latency_ms": 0})
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=15) == 0


@pytest.mark.parametrize("kind", ["a file", "under a file"])
def test_enforce_refuses_an_archive_that_cannot_take_records(
    ggwatch: RunCli, daemon_env: dict[str, str], tmp_path: Path, kind: str
) -> None:
    # (The suite runs as root, for whom a read-only directory is writable: files stand in.)
    blocker = tmp_path / "archive"
    blocker.write_text("not a directory")
    target = blocker if kind == "a file" else blocker / "deployments"
    env = {
        **daemon_env,
        "GGWATCH_CLEANUP_MODE": "enforce",
        "GGWATCH_ARCHIVE_URI": f"file://{target}",
        "GGWATCH_LOG_FORMAT": "json",
    }
    result = ggwatch("run", env=env, timeout=60)
    assert result.code == 2
    assert "Traceback" not in result.stderr
    last = result.stderr.strip().splitlines()[-1]
    assert last.startswith("ggwatch: error: cleanup_mode enforce: the archive cannot take records")
    assert str(target) in last
