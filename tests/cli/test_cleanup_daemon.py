"""`ggwatch run` with cleanup on, against `ggwatch sim`: dry-run, enforce, the webhook."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import RunCli, ServeCli, Served, StartDaemon
from tests.cli.test_daemon import get, sample, wait_first_scans
from tests.simctl import patch_knobs

TOKEN = "a-long-enough-webhook-token"


@pytest.fixture
def fleet(serve_cli: ServeCli) -> Served:
    return serve_cli("sim", "--fleet", "config/sample-fleet.yaml", "--port", "0")


@pytest.fixture
def deployments(fleet: Served) -> dict[str, dict[str, Any]]:
    client = boto3.client(
        "greengrassv2",
        endpoint_url=fleet.endpoint,
        region_name="us-west-2",
        aws_access_key_id=access_key(0),
        aws_secret_access_key="simulated",
    )
    items = client.list_deployments(historyFilter="ALL")["deployments"]
    return {d["deploymentName"]: d for d in items}


@pytest.fixture
def cleanup_env(fleet: Served, tmp_path: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_GREENGRASSV2": fleet.endpoint,
        "AWS_ENDPOINT_URL_IOT": fleet.endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "GGWATCH_REGIONS": "us-west-2,eu-central-1",
        "GGWATCH_POLL_INTERVAL_SECONDS": "1",
        "GGWATCH_SERVICE_RATE": "1000",
        "GGWATCH_ARCHIVE_URI": f"file://{tmp_path}/archive",
        "GGWATCH_WEBHOOK_TOKEN": TOKEN,
    }


def deletes(fleet: Served) -> list[dict[str, Any]]:
    with urllib.request.urlopen(f"{fleet.endpoint}/_sim/calls", timeout=10) as response:
        calls = json.loads(response.read())["calls"]
    return [c for c in calls if c["operation"] == "DeleteDeployment"]


def alert(deployment_id: str, fingerprint: str = "f1") -> dict[str, Any]:
    return {
        "version": "4",
        "status": "firing",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "alertname": "GGWatchStaleDeployments",
                    "rule": "stale-deployment",
                    "aws_region": "us-west-2",
                    "resource_id": deployment_id,
                },
                "fingerprint": fingerprint,
                "startsAt": "2026-11-24T00:00:00Z",
            }
        ],
    }


def post_alert(port: int, body: dict[str, Any], token: str = TOKEN) -> tuple[int, Any]:
    request = urllib.request.Request(
        f"http://127.0.0.1:{port}/alertmanager",
        data=json.dumps(body).encode(),
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def test_dry_run_logs_what_it_would_delete_and_deletes_nothing(
    start_daemon: StartDaemon, fleet: Served, cleanup_env: dict[str, str]
) -> None:
    env = {**cleanup_env, "GGWATCH_CLEANUP_MODE": "dry-run", "GGWATCH_CLEANUP_GRACE_SECONDS": "0"}
    _, logs, port = start_daemon(env)
    banner = logs.wait_for(lambda e: e.get("event") == "cleanup.enabled", timeout=10)
    assert "DRY-RUN" in banner["banner"]
    logs.wait_for(lambda e: e.get("event") == "cleanup.would_delete", timeout=30)
    wait_first_scans(logs)
    logs.drain(2)
    assert deletes(fleet) == []
    metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
    would = sample(
        metrics, "ggwatch_cleanup_actions_total", aws_region="us-west-2", action="would_delete"
    )
    assert would is not None
    assert would >= 2


def test_enforce_through_the_webhook(
    start_daemon: StartDaemon,
    fleet: Served,
    cleanup_env: dict[str, str],
    deployments: dict[str, dict[str, Any]],
) -> None:
    # Alert-driven only: the daemon's own cycle never deletes, so only the webhook can.
    env = {
        **cleanup_env,
        "GGWATCH_CLEANUP_MODE": "enforce",
        "GGWATCH_CLEANUP_GRACE_SECONDS": "0",
        "GGWATCH_CLEANUP_ON_SCAN": "false",
    }
    _, logs, port = start_daemon(env)
    wait_first_scans(logs)
    stale = deployments["berlin baseline"]["deploymentId"]
    in_force = deployments["berlin nucleus upgrade"]["deploymentId"]

    assert post_alert(port, alert(stale), token="wrong-token-wrong-token")[0] == 401
    assert post_alert(port, {"version": "4", "alerts": "nope"})[0] == 400
    assert deletes(fleet) == []

    status, body = post_alert(port, alert(stale))
    assert status == 200
    assert body["results"][0]["action"] == "deleted"
    assert body["results"][0]["outcome"] == "ok"
    status, body = post_alert(port, alert(stale))  # Alertmanager repeats itself
    assert body["results"][0].get("duplicate") == "true"
    # An alert decides nothing the scan did not find: the in-force deployment has no open
    # stale-deployment finding, so it is refused before any AWS call.
    status, body = post_alert(port, alert(in_force, fingerprint="f2"))
    assert (body["results"][0]["action"], body["results"][0]["outcome"]) == (
        "skipped",
        "not_stale",
    )
    done = [c for c in deletes(fleet) if c["status"] == 204]  # a throttled try records no id
    assert [c["params"]["deploymentId"] for c in done] == [stale]
    archived = list(Path(env["GGWATCH_ARCHIVE_URI"].removeprefix("file://")).rglob("*.json"))
    assert [p.stem for p in archived] == [stale]
    metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
    west = {"aws_region": "us-west-2", "action": "deleted", "outcome": "ok"}
    assert sample(metrics, "ggwatch_cleanup_actions_total", **west) == 1


def test_enforce_without_an_archive_refuses_to_start(
    ggwatch: RunCli, cleanup_env: dict[str, str]
) -> None:
    env = {**cleanup_env, "GGWATCH_CLEANUP_MODE": "enforce", "GGWATCH_ARCHIVE_URI": ""}
    env.pop("GGWATCH_ARCHIVE_URI")
    result = ggwatch("run", env={**env, "GGWATCH_ARCHIVE_URI": ""})
    assert result.code == 2
    assert "GGWATCH_ARCHIVE_URI" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_killed_between_archive_and_delete_completes_once(
    start_daemon: StartDaemon, fleet: Served, cleanup_env: dict[str, str]
) -> None:
    env = {
        **cleanup_env,
        "GGWATCH_REGIONS": "us-west-2",
        "GGWATCH_CLEANUP_MODE": "enforce",
        "GGWATCH_CLEANUP_GRACE_SECONDS": "0",
        "GGWATCH_MAX_IN_FLIGHT": "16",
        # At 3 s an answer, reading every recipe the resolution needs would take the first scan
        # a minute before the cleaner runs; this test is about the cleaner.
        "GGWATCH_RESOLVE_DEPENDENCIES": "false",
    }
    # Slow answers leave a window between the archive and the end of the delete for the kill to
    # land in; the delete is also refused, so that a kill that comes late (a loaded machine)
    # still leaves the deployment archived and not deleted.
    patch_knobs(fleet.endpoint, {"latency_ms": 3000, "access_denied": ["DeleteDeployment"]})
    process, logs, _ = start_daemon(env)
    archived = logs.wait_for(lambda e: e.get("event") == "cleanup.archived", timeout=60)
    process.kill()  # no chance to finish anything
    process.wait(timeout=10)
    victim = archived["deployment_id"]
    assert Path(archived["location"]).exists()

    patch_knobs(fleet.endpoint, {"latency_ms": 0, "access_denied": []})
    # After the restart every finding is young again: only the archived one may go now.
    _, logs, _ = start_daemon({**env, "GGWATCH_CLEANUP_GRACE_SECONDS": "3600"})
    try:
        # Alone this takes seconds; two workers of the suite on two cores have taken over 60
        # (a new process, a full scan, then the cleaner's paced calls). Returns on success.
        logs.wait_for(
            lambda e: e.get("event") == "cleanup.deleted" and e.get("deployment_id") == victim,
            120,
        )
    except pytest.fail.Exception:
        # Scans repeat every second and hide the cleanup's own lines: name them.
        steps = [e for e in logs.seen if str(e.get("event", "")).startswith("cleanup.")]
        pytest.fail(f"{victim} not deleted after the restart; cleanup said: {steps}")
    logs.drain(3)
    finished = [c for c in deletes(fleet) if c["status"] == 204]
    assert [c["params"]["deploymentId"] for c in finished] == [victim]
