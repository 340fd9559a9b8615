"""Replicas of `ggwatch run` sharing the targets of one simulated fleet (ggwatch.shards).

Each replica is its own process over the same simulator, as StatefulSet pods would be: the
shards' targets partition the fleet's, a restarted replica owns what it owned, two replicas in
enforce delete each stale deployment once, and a webhook call to a non-owner does nothing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.shards import owner
from ggwatch.sim.fleet import access_key
from tests.cli.conftest import UNMETERED, LogReader, ServeCli, Served, StartDaemon
from tests.cli.test_cleanup_daemon import TOKEN, alert, deletes, post_alert
from tests.cli.test_daemon import get, sample

REGIONS = ("us-east-1", "us-west-2", "eu-west-1", "eu-central-1", "ap-northeast-1")


@pytest.fixture
def regions_fleet(serve_cli: ServeCli) -> Served:
    """A small generated fleet in every one of REGIONS, unmetered (the daemons do not pace)."""
    return serve_cli(
        "sim",
        *("--regions", ",".join(REGIONS), "--devices", "3", "--deployments", "10", "--seed", "5"),
        *UNMETERED,
    )


@pytest.fixture
def shard_env(regions_fleet: Served, tmp_path: Path) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_GREENGRASSV2": regions_fleet.endpoint,
        "AWS_ENDPOINT_URL_IOT": regions_fleet.endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "GGWATCH_REGIONS": ",".join(REGIONS),
        "GGWATCH_POLL_INTERVAL_SECONDS": "3600",
        "GGWATCH_SERVICE_RATE": "1000",
        "GGWATCH_ARCHIVE_URI": f"file://{tmp_path}/archive",
        "GGWATCH_WEBHOOK_TOKEN": TOKEN,
    }


def owned(logs: LogReader) -> set[str]:
    started = logs.wait_for(lambda e: e.get("event") == "daemon.started", timeout=30)
    return set(started["targets"])


def scanned(logs: LogReader, regions: set[str]) -> None:
    """Every Region of `regions` had its first complete scan."""
    for region in regions:

        def done(e: dict[str, Any], r: str = region) -> bool:
            return e.get("event") == "scan.completed" and e.get("aws_region") == r and e["complete"]

        logs.wait_for(done, 60)


def test_replicas_partition_the_targets_and_keep_it_across_a_restart(
    start_daemon: StartDaemon, shard_env: dict[str, str]
) -> None:
    total = 3
    replicas = [
        start_daemon(
            {**shard_env, "GGWATCH_TOTAL_SHARDS": str(total), "GGWATCH_POD_NAME": f"gg-{i}"}
        )
        for i in range(total)
    ]
    shares = [owned(logs) for _, logs, _ in replicas]
    everything = {str(TargetId(DEFAULT_ALIAS, r)) for r in REGIONS}
    assert set().union(*shares) == everything
    assert sum(map(len, shares)) == len(everything)  # no target twice
    for index, share in enumerate(shares):
        expected = {r for r in REGIONS if owner(TargetId(DEFAULT_ALIAS, r), total) == index}
        assert share == {str(TargetId(DEFAULT_ALIAS, r)) for r in expected}

    for index, (_, logs, port) in enumerate(replicas):
        regions = {t.split("/", 1)[1] for t in shares[index]}
        scanned(logs, regions)
        # Only its own targets: no other Region's scan, ever.
        seen = {e["aws_region"] for e in logs.seen if e.get("event") == "scan.completed"}
        assert seen == regions
        metrics = get(f"http://127.0.0.1:{port}/metrics")[1]
        mine = str(index)
        assert sample(metrics, "ggwatch_shard_info", shard=mine, total_shards=str(total)) == 1
        assert sample(metrics, "ggwatch_targets_owned", shard=mine) == len(regions)
        for region in regions:
            assert sample(metrics, "ggwatch_up", aws_region=region, shard=mine) == 1
        for region in set(REGIONS) - regions:
            assert sample(metrics, "ggwatch_up", aws_region=region) is None

    # A rollout restarts a replica: it owns what it owned.
    process, _, _ = replicas[1]
    process.terminate()
    assert process.wait(timeout=15) == 0
    _, again, _ = start_daemon(
        {**shard_env, "GGWATCH_TOTAL_SHARDS": str(total), "GGWATCH_SHARD": "1"}
    )
    assert owned(again) == shares[1]


def stale_in(logs: LogReader, regions: set[str]) -> int:
    """Stale-deployment findings of the first summaries of these Regions."""
    total = 0
    for region in regions:

        def summary_of(e: dict[str, Any], r: str = region) -> bool:
            return e.get("event") == "findings.summary" and e["aws_region"] == r

        summary = logs.wait_for(summary_of, 60)
        total += int(summary["by_rule"].get("stale-deployment", 0))
    return total


def test_two_replicas_in_enforce_delete_each_stale_deployment_once(
    start_daemon: StartDaemon, regions_fleet: Served, shard_env: dict[str, str]
) -> None:
    enforce = {
        **shard_env,
        "GGWATCH_TOTAL_SHARDS": "2",
        "GGWATCH_CLEANUP_MODE": "enforce",
        "GGWATCH_CLEANUP_GRACE_SECONDS": "0",
        "GGWATCH_CLEANUP_MAX_PERCENT": "100",
        "GGWATCH_CLEANUP_MAX_PER_CYCLE": "100",
        "GGWATCH_CLEANUP_RATE_PER_SECOND": "10",
    }
    replicas = [start_daemon({**enforce, "GGWATCH_SHARD": str(i)}) for i in range(2)]
    regions = [{t.split("/", 1)[1] for t in owned(logs)} for _, logs, _ in replicas]
    stale = sum(stale_in(logs, mine) for (_, logs, _), mine in zip(replicas, regions, strict=True))
    assert stale > 0

    deleted: list[str] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        deleted = [
            c["params"]["deploymentId"] for c in deletes(regions_fleet) if c["status"] == 204
        ]
        if len(deleted) >= stale:
            break
        time.sleep(0.5)
    for _, logs, _ in replicas:
        logs.drain(1)
    assert len(deleted) == stale
    assert len(set(deleted)) == stale, "a deployment was deleted twice"
    for (_, logs, _), mine in zip(replicas, regions, strict=True):
        done = {e["aws_region"] for e in logs.seen if e.get("event") == "cleanup.deleted"}
        assert done <= mine  # each deletes only in the Regions it owns

    # Alertmanager reaching the wrong replica: it says who owns the target and does nothing.
    (_, _, port_0), (_, logs_1, _) = replicas
    theirs = sorted(regions[1])[0]
    victim = next(
        e["deployment_id"]
        for e in logs_1.seen
        if e.get("event") == "cleanup.deleted" and e.get("aws_region") == theirs
    )
    body: dict[str, Any] = alert(victim)
    body["alerts"][0]["labels"]["aws_region"] = theirs
    before = len(deletes(regions_fleet))
    status, answer = post_alert(port_0, body)
    assert status == 200
    (result,) = answer["results"]
    assert (result["action"], result["outcome"], result["owner_shard"]) == (
        "ignored",
        "not_owner",
        "1",
    )
    assert len(deletes(regions_fleet)) == before
