"""The webhook decides as the daemon's cycle does: the blast radius over the fleet, the
per-cycle cap, and a bounded amount of work per request (`ggwatch run` against `ggwatch sim`)."""

from __future__ import annotations

import json
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import UNMETERED, ServeCli, Served, StartDaemon
from tests.cli.test_cleanup_daemon import TOKEN, deletes, post_alert
from tests.cli.test_daemon import get
from tests.simctl import patch_knobs

# Of the crowded fleet's 80 deployments, those superseded or cancelled over 30 days ago: the
# simulator's own store holds 68 such (no retain tag among them).
STALE = 68


@pytest.fixture
def crowded(serve_cli: ServeCli) -> Served:
    """20 devices, 80 deployments: STALE of them stale (the review's reproduction). Unmetered,
    as in tests/cli/conftest.py: the daemons here do not pace themselves."""
    return serve_cli(
        "sim",
        *("--devices", "20", "--deployments", "80", "--seed", "3"),
        *UNMETERED,
    )


@pytest.fixture
def env(crowded: Served, tmp_path: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_GREENGRASSV2": crowded.endpoint,
        "AWS_ENDPOINT_URL_IOT": crowded.endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "GGWATCH_REGIONS": "us-west-2",
        "GGWATCH_POLL_INTERVAL_SECONDS": "3600",
        "GGWATCH_SERVICE_RATE": "1000",
        "GGWATCH_ARCHIVE_URI": f"file://{tmp_path}/archive",
        "GGWATCH_WEBHOOK_TOKEN": TOKEN,
        "GGWATCH_CLEANUP_GRACE_SECONDS": "0",
    }


def alerts(deployment_ids: list[str]) -> dict[str, Any]:
    return {
        "version": "4",
        "alerts": [
            {
                "status": "firing",
                "labels": {
                    "rule": "stale-deployment",
                    "aws_region": "us-west-2",
                    "resource_id": deployment_id,
                },
                "fingerprint": f"f{index}",
                "startsAt": "2026-11-24T00:00:00Z",
            }
            for index, deployment_id in enumerate(deployment_ids)
        ],
    }


def stale_ids(port: int) -> list[str]:
    findings = json.loads(get(f"http://127.0.0.1:{port}/findings")[1])["findings"]
    return [f["resource_id"] for f in findings if f["rule"] == "stale-deployment"]


def calls(crowded: Served, operation: str) -> int:
    with urllib.request.urlopen(f"{crowded.endpoint}/_sim/calls", timeout=10) as response:
        records = json.loads(response.read())["calls"]
    return sum(c["operation"] == operation for c in records)


def test_the_webhook_keeps_the_blast_radius(
    start_daemon: StartDaemon, crowded: Served, env: dict[str, str]
) -> None:
    _, logs, port = start_daemon({**env, "GGWATCH_CLEANUP_MODE": "enforce"})
    logs.wait_for(lambda e: e.get("event") == "cleanup.blocked", timeout=30)
    stale = stale_ids(port)
    assert len(stale) == STALE

    status, body = post_alert(port, alerts(stale))

    assert status == 200
    assert {(r["action"], r["outcome"]) for r in body["results"]} == {("held_back", "blast_radius")}
    assert deletes(crowded) == []
    logs.wait_for(lambda e: e.get("event") == "cleanup.request", timeout=5)


def test_the_webhook_does_at_most_the_cap_and_answers_the_rest(
    start_daemon: StartDaemon, crowded: Served, env: dict[str, str]
) -> None:
    _, logs, port = start_daemon(
        {
            **env,
            "GGWATCH_CLEANUP_MODE": "dry-run",
            "GGWATCH_CLEANUP_MAX_PERCENT": "100",
            "GGWATCH_CLEANUP_ON_SCAN": "false",
        }
    )
    logs.wait_for(lambda e: e.get("event") == "findings.summary", timeout=30)
    stale = stale_ids(port)
    before = calls(crowded, "GetDeployment")
    unknown = [f"00000000-0000-0000-0000-{i:012d}" for i in range(5000 - len(stale))]

    started = time.monotonic()
    status, body = post_alert(port, alerts(stale + unknown))
    took = time.monotonic() - started

    assert status == 200
    results = [(r["action"], r["outcome"]) for r in body["results"]]
    assert results.count(("would_delete", "ok")) == 10  # the per-cycle cap
    assert results.count(("held_back", "per_cycle_cap")) == len(stale) - 10
    assert results.count(("skipped", "not_found")) == len(unknown)
    assert calls(crowded, "GetDeployment") - before == 10  # no call for the rest
    assert took < 25.0
    metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
    deleted = [line for line in metrics.splitlines() if 'action="deleted"' in line]
    assert deleted  # the series exists from start ...
    assert all(line.endswith(" 0.0") for line in deleted), deleted  # ... and never moved

    # The cap holds until the next scan: a repeat is held back again, with no AWS call.
    _, again = post_alert(port, alerts(stale[10:11]))
    assert (again["results"][0]["action"], again["results"][0]["outcome"]) == (
        "held_back",
        "per_cycle_cap",
    )


@pytest.mark.slow
def test_two_enforce_daemons_on_one_fleet_delete_each_deployment_once(
    start_daemon: StartDaemon, crowded: Served, env: dict[str, str]
) -> None:
    # Until replicas coordinate, the create-only archive decides: only the daemon whose write
    # created a deployment's record deletes it. Slow answers make the two cycles overlap.
    patch_knobs(crowded.endpoint, {"latency_ms": 150})
    both = {
        **env,
        "GGWATCH_CLEANUP_MODE": "enforce",
        "GGWATCH_CLEANUP_MAX_PERCENT": "100",
        "GGWATCH_CLEANUP_MAX_PER_CYCLE": "100",
        "GGWATCH_CLEANUP_RATE_PER_SECOND": "10",
    }
    _, first, _ = start_daemon(both)
    _, second, _ = start_daemon(both)

    deleted: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        done = [c for c in deletes(crowded) if c["status"] == 204]
        deleted = [c["params"]["deploymentId"] for c in done]
        if len(deleted) >= STALE:
            break
        time.sleep(1.0)
    first.drain(3)
    second.drain(0.5)

    assert len(deleted) == STALE
    assert len(set(deleted)) == STALE, "a deployment was deleted twice"
    assert [c for c in deletes(crowded) if c["status"] == 404] == []
    archive = Path(env["GGWATCH_ARCHIVE_URI"].removeprefix("file://"))
    assert len(list(archive.rglob("*.json"))) == STALE
    # They did meet: one found the other's record (or its delete done) and stood back.
    skipped = [
        e
        for e in first.seen + second.seen
        if e.get("event") == "cleanup.skipped" and e.get("reason") in ("held_by_other", "not_found")
    ]
    assert skipped
