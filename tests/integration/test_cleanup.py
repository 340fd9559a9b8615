"""Guarded cleanup against the simulator: what is deleted is read back from its call log.

The sample fleet's us-west-2 has seven deployments, three of them stale: 'berlin baseline'
(superseded, INACTIVE), 'austin telemetry' (superseded, CANCELED) and 'osaka first try'
(superseded, tagged ggwatch:retain=true). Only the first two may ever be deleted.
"""

from __future__ import annotations

import datetime as dt
import json
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from ggwatch.archive.files import FileArchive
from ggwatch.archive.record import ArchiveRecord
from ggwatch.aws.callguard import CallCounter, RetryPolicy
from ggwatch.aws.clients import Target, greengrass_clients, new_session
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.aws.quota import TokenBucket
from ggwatch.cleanup.executor import Cleaner
from ggwatch.cleanup.policy import Policy
from ggwatch.findings import Rule
from ggwatch.model import DEFAULT_ALIAS, TargetId, TargetSnapshot
from ggwatch.report import ScanResult
from ggwatch.scan import scan_once, utcnow
from ggwatch.settings import Settings
from ggwatch.sim.server import Running
from ggwatch.tracker import OpenFinding

REGION = "us-west-2"
DELETABLE = {"berlin baseline", "austin telemetry"}
HERE = TargetId(DEFAULT_ALIAS, REGION)


def policy(**changes: Any) -> Policy:
    base = Policy(stale_after_days=30, grace_seconds=0, max_percent=50, max_per_cycle=10)
    return replace(base, **changes)


@pytest.fixture
async def admin(sim: Running) -> AsyncIterator[AioGreengrass]:
    target = Target(HERE)
    async with greengrass_clients(
        [target], {HERE: new_session()}, connect_timeout=5, read_timeout=30, pool_size=4
    ) as clients:
        yield AioGreengrass(
            clients[HERE], REGION, TokenBucket(1000.0), CallCounter(), RetryPolicy(5)
        )


@pytest.fixture
async def scanned(sim: Running, settings: Settings) -> ScanResult:
    return await scan_once(settings.model_copy(update={"regions": (REGION,)}))


def target_of(result: ScanResult) -> TargetSnapshot:
    return result.snapshot.targets[0]


def open_for(result: ScanResult, hours: float = 2.0) -> list[OpenFinding]:
    since = utcnow() - dt.timedelta(hours=hours)
    return [OpenFinding(f, since) for f in result.findings]


def names(result: ScanResult) -> dict[str, str]:
    return {d.deployment_id: d.name or "" for d in target_of(result).deployments}


async def sim_calls(sim: Running, operation: str) -> list[dict[str, Any]]:
    async with aiohttp.ClientSession() as session:
        response = await session.get(f"{sim.endpoint}/_sim/calls")
        calls = (await response.json())["calls"]
    return [c for c in calls if c["operation"] == operation]


async def deleted_names(sim: Running, result: ScanResult) -> list[str]:
    by_id = names(result)
    calls = await sim_calls(sim, "DeleteDeployment")
    return sorted(by_id[c["params"]["deploymentId"]] for c in calls if c["status"] == 204)


def cleaner(
    mode: str, admin: AioGreengrass, archive: FileArchive | None, **changes: Any
) -> Cleaner:
    config = policy(mode=mode, rate_per_second=100.0, **changes)
    return Cleaner(config, {HERE: admin}, archive, utcnow)


async def test_enforce_deletes_only_stale_unretained_and_archives_first(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    outcomes = await cleaner("enforce", admin, FileArchive(tmp_path)).cycle(
        target_of(scanned), open_for(scanned)
    )
    assert await deleted_names(sim, scanned) == sorted(DELETABLE)
    by_name = {names(scanned)[o.deployment_id]: o for o in outcomes}
    assert {n: o.outcome for n, o in by_name.items()} == {
        "berlin baseline": "ok",
        "austin telemetry": "ok",
        # Its tags are read by the fresh GetDeployment before anything is done to it.
        "osaka first try": "retained_tag",
    }
    files = sorted(tmp_path.rglob("*.json"))
    assert len(files) == 2
    document = json.loads(files[0].read_text())
    assert document["region"] == REGION
    assert document["deployment"]["deploymentId"] == files[0].stem
    assert document["deployment"]["components"]  # the full GetDeployment answer
    # Each delete came after its archive and a fresh GetDeployment.
    # Answered ones: a throttled call (ggwatch runs above the simulator's quota here) is
    # refused before its parameters are read, and records none.
    answered = [c for c in await sim_calls(sim, "GetDeployment") if c["status"] == 200]
    gets = {c["params"]["deploymentId"] for c in answered}
    assert {o.deployment_id for o in outcomes} <= gets


async def test_dry_run_calls_nothing_mutating(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    outcomes = await cleaner("dry-run", admin, None).cycle(target_of(scanned), open_for(scanned))
    assert sorted(o.action for o in outcomes) == ["skipped", "would_delete", "would_delete"]
    assert await sim_calls(sim, "DeleteDeployment") == []
    assert not list(tmp_path.iterdir())


async def test_grace_period_and_blast_radius_hold_back(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    young = await cleaner("enforce", admin, FileArchive(tmp_path), grace_seconds=3 * 3600).cycle(
        target_of(scanned), open_for(scanned)
    )
    assert young == []
    blocked = await cleaner("enforce", admin, FileArchive(tmp_path), max_percent=20).cycle(
        target_of(scanned), open_for(scanned)
    )
    assert [(o.action, o.outcome) for o in blocked] == [("blocked", "blast_radius")]
    assert await sim_calls(sim, "DeleteDeployment") == []


async def test_never_from_an_incomplete_scan(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    partial = replace(target_of(scanned), complete=False)
    assert (
        await cleaner("enforce", admin, FileArchive(tmp_path)).cycle(partial, open_for(scanned))
        == []
    )
    assert await sim_calls(sim, "DeleteDeployment") == []


async def test_recheck_skips_what_changed_since_the_scan(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    # The scan saw the in-force deployments as superseded and old (as if things changed
    # between the scan and the delete); the fresh GetDeployment says otherwise.
    target = target_of(scanned)
    in_force = [d for d in target.deployments if d.in_force]
    doctored = replace(
        target,
        deployments=tuple(
            replace(d, is_latest=False) if d.in_force else d for d in target.deployments
        ),
    )
    findings = [
        replace(f, rule=Rule.STALE_DEPLOYMENT, resource_id=d.deployment_id)
        for f, d in zip(scanned.findings, in_force, strict=False)
    ]
    since = utcnow() - dt.timedelta(hours=2)
    outcomes = await cleaner("enforce", admin, FileArchive(tmp_path), max_percent=100).cycle(
        doctored, [OpenFinding(f, since) for f in findings]
    )
    assert outcomes
    assert {o.outcome for o in outcomes} == {"latest_for_target"}
    assert await sim_calls(sim, "DeleteDeployment") == []
    assert not list(tmp_path.rglob("*.json"))


async def test_archive_failure_means_no_delete(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    outcomes = await cleaner("enforce", admin, FileArchive(blocker / "archive")).cycle(
        target_of(scanned), open_for(scanned)
    )
    assert sorted(o.outcome for o in outcomes) == [
        "archive_failed",
        "archive_failed",
        "retained_tag",
    ]
    assert await sim_calls(sim, "DeleteDeployment") == []


async def test_deleted_since_the_scan_is_not_found_not_counted_as_deleted(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    victim = next(i for i, n in names(scanned).items() if n == "berlin baseline")
    await admin.delete_deployment(victim)
    outcomes = await cleaner("enforce", admin, FileArchive(tmp_path)).cycle(
        target_of(scanned), open_for(scanned)
    )
    by_id = {o.deployment_id: o for o in outcomes}
    # Someone else deleted it: nothing for ggwatch to count as its own delete.
    assert (by_id[victim].action, by_id[victim].outcome) == ("skipped", "not_found")


async def test_throttled_delete_is_retried(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    async with aiohttp.ClientSession() as session:
        knobs = {"deletion_slots": 1, "deletion_seconds": 1.0}
        assert (await session.patch(f"{sim.endpoint}/_sim/knobs", json=knobs)).status == 200
    outcomes = await cleaner("enforce", admin, FileArchive(tmp_path)).cycle(
        target_of(scanned), open_for(scanned)
    )
    assert sorted(o.outcome for o in outcomes) == ["ok", "ok", "retained_tag"]
    deletes = await sim_calls(sim, "DeleteDeployment")
    assert [c["error"] for c in deletes].count("ThrottlingException") >= 1
    assert await deleted_names(sim, scanned) == sorted(DELETABLE)


async def test_crash_between_archive_and_delete_completes_once(
    sim: Running, admin: AioGreengrass, scanned: ScanResult, tmp_path: Path
) -> None:
    archive = FileArchive(tmp_path)
    victim = next(i for i, n in names(scanned).items() if n == "berlin baseline")
    document = await admin.get_deployment_document(victim)
    # What a process on this host that died right after archiving leaves behind (a pid above
    # Linux's pid_max, so no process can have it).
    writer = f"{socket.gethostname()}:4194305:crashed"
    await archive.write(
        ArchiveRecord(REGION, "123456789012", victim, document, "test", utcnow(), "crashed", writer)
    )
    # After a restart the findings are young again (grace not over): only the archived
    # one is finished now.
    restarted = cleaner("enforce", admin, archive, grace_seconds=3600)
    outcomes = await restarted.cycle(target_of(scanned), open_for(scanned, hours=0))
    assert [(o.deployment_id, o.action) for o in outcomes] == [(victim, "deleted")]
    again = await restarted.cycle(target_of(scanned), open_for(scanned, hours=0))
    assert [(o.action, o.outcome) for o in again] == [("skipped", "not_found")]
    assert await deleted_names(sim, scanned) == ["berlin baseline"]
