"""The daemon's evaluator, finding log and back-off in process: hand-built scan outcomes in,
finding events, views, cleanup jobs and log lines out (tests/cli covers the same through a
subprocess)."""

from __future__ import annotations

import dataclasses
import random
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass

import anyio
import pytest
import structlog
from anyio.streams.memory import MemoryObjectReceiveStream
from structlog.testing import capture_logs
from structlog.typing import EventDict

from ggwatch.cleanup.executor import CleanupJob
from ggwatch.daemon.evaluator import Evaluator
from ggwatch.daemon.poller import RETRY_BASE_SECONDS, Progress, ScanOutcome, next_delay
from ggwatch.findings import Finding, Severity
from ggwatch.model import Guidance, Snapshot, TargetSnapshot
from ggwatch.rules import assess
from ggwatch.settings import Settings
from ggwatch.sinks.finding_log import FindingLog
from ggwatch.state import DaemonView, MergedFindings, StateHolder, TargetStatus
from ggwatch.tracker import EventKind, FindingEvent
from tests.unit.builders import NOW, TargetBuilder, target_id, v

APP = "com.example.App"
NUCLEUS = "aws.greengrass.Nucleus"


def fleet(app: Guidance = Guidance.DELETED, *, failing: bool = False) -> TargetSnapshot:
    """One deployment and one device that use APP 1.0.0 (critical when DELETED) and the
    nucleus 2.9.0 (DISCONTINUED: warnings)."""
    t = TargetBuilder()
    t.version(APP, "1.0.0", app)
    t.version(NUCLEUS, "2.9.0", Guidance.DISCONTINUED)
    t.deploy("d-1", v(APP, "1.0.0"), v(NUCLEUS, "2.9.0"))
    t.device("core-1", v(NUCLEUS, "2.9.0"), v(APP, "1.0.0"))
    t.call("ListDeployments", 1)
    if failing:
        t.error("ListCoreDevices", "ThrottlingException", "Rate exceeded")
    return t.build()


def outcome(snapshot: TargetSnapshot, *, refresh: bool = False) -> ScanOutcome:
    return ScanOutcome(snapshot.target, snapshot, 1.5, refresh=refresh)


@dataclass
class Rig:
    evaluator: Evaluator
    holder: StateHolder
    sinks: tuple[MemoryObjectReceiveStream[FindingEvent], ...]
    jobs: MemoryObjectReceiveStream[CleanupJob]

    def events(self, sink: int = 0) -> list[FindingEvent]:
        out = []
        while True:
            try:
                out.append(self.sinks[sink].receive_nowait())
            except anyio.WouldBlock:
                return out


@pytest.fixture
def unfiltered_logs() -> Iterator[None]:
    """Loggers built under structlog's defaults: another test in the same worker may have
    configured a level filter (as the daemon does), which would drop the debug lines
    `capture_logs` is to see."""
    before = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**before)


@pytest.fixture
async def rig(unfiltered_logs: None) -> AsyncIterator[Rig]:
    view = DaemonView(started_at=NOW, targets=(TargetStatus(target_id()),))
    holder = StateHolder(view)
    streams = [anyio.create_memory_object_stream[FindingEvent](100) for _ in range(2)]
    jobs_send, jobs_receive = anyio.create_memory_object_stream[CleanupJob](1)
    evaluator = Evaluator(
        Settings(),
        holder,
        tuple(send for send, _ in streams),
        lambda: NOW,
        jobs_send,
    )
    yield Rig(evaluator, holder, tuple(receive for _, receive in streams), jobs_receive)
    for send, receive in streams:
        send.close()
        receive.close()
    jobs_send.close()
    jobs_receive.close()


async def test_first_complete_scan_opens_findings_as_initial_and_logs_a_summary(rig: Rig) -> None:
    with capture_logs() as logs:
        await rig.evaluator.fold(outcome(fleet()))
    events = rig.events()
    assert [e.kind for e in events] == [EventKind.OPENED] * 4
    assert all(e.initial for e in events)
    summary = next(line for line in logs if line["event"] == "findings.summary")
    assert summary["open_findings"] == 4
    assert summary["by_severity"] == {"critical": 2, "warning": 2, "info": 0}
    view = rig.holder.view
    assert view.ready
    assert view.evaluations == 1
    assert len(view.findings) == 4
    assert view.targets[0].scans == 1
    assert view.targets[0].account == "123456789012"


async def test_every_sink_gets_every_event_in_the_same_order(rig: Rig) -> None:
    await rig.evaluator.fold(outcome(fleet()))
    await rig.evaluator.fold(outcome(fleet(Guidance.DISCONTINUED)))
    first, second = rig.events(0), rig.events(1)
    assert first == second
    assert len(first) == 8  # 4 opened, then 2 resolved (deleted) and 2 opened (discontinued)


async def test_later_findings_are_not_initial(rig: Rig) -> None:
    await rig.evaluator.fold(outcome(fleet(Guidance.ACTIVE)))
    assert all(e.initial for e in rig.events())
    await rig.evaluator.fold(outcome(fleet(Guidance.DELETED)))
    opened = [e for e in rig.events() if e.kind is EventKind.OPENED]
    assert len(opened) == 2
    assert not any(e.initial for e in opened)


async def test_an_incomplete_scan_resolves_nothing_and_its_recovery_is_logged(rig: Rig) -> None:
    await rig.evaluator.fold(outcome(fleet()))
    rig.events()
    with capture_logs() as logs:
        await rig.evaluator.fold(outcome(fleet(Guidance.ACTIVE, failing=True)))
    assert rig.events() == []  # what could not be re-checked stays open
    assert len(rig.holder.view.findings) == 4
    incomplete = next(line for line in logs if line["event"] == "scan.incomplete")
    assert incomplete["error_code"] == "ThrottlingException"
    with capture_logs() as logs:
        await rig.evaluator.fold(outcome(fleet(Guidance.ACTIVE)))
    assert "scan.recovered" in [line["event"] for line in logs]
    resolved = rig.events()
    assert len(resolved) == 2
    assert {e.kind for e in resolved} == {EventKind.RESOLVED}
    assert rig.holder.view.targets[0].failed_scans == 1


async def test_only_complete_full_scans_reach_the_cleaner(rig: Rig) -> None:
    await rig.evaluator.fold(outcome(fleet(failing=True)))
    await rig.evaluator.fold(outcome(fleet(), refresh=True))
    with pytest.raises(anyio.WouldBlock):
        rig.jobs.receive_nowait()
    await rig.evaluator.fold(outcome(fleet()))
    job = rig.jobs.receive_nowait()
    assert job.snapshot.complete
    assert len(job.open_findings) == 4


async def test_a_busy_cleaner_does_not_hold_up_evaluation(rig: Rig) -> None:
    with capture_logs() as logs:
        for _ in range(3):  # the cleaner's stream holds one job; nobody takes it
            await rig.evaluator.fold(outcome(fleet()))
    assert [line["event"] for line in logs].count("cleanup.busy") == 2
    assert rig.holder.view.evaluations == 3


async def test_progress_moves_liveness_and_call_counts(rig: Rig) -> None:
    where = fleet().target
    rig.evaluator.published = anyio.current_time() - 60  # the last view is old
    rig.evaluator.progress(Progress(where, (("ListCoreDevices", "ok", 3),)))
    assert rig.holder.last_progress_monotonic is not None
    calls = {(c.operation, c.outcome): c.count for c in rig.holder.view.api_calls}
    assert calls == {("ListCoreDevices", "ok"): 3}
    await rig.evaluator.fold(outcome(fleet()))  # the pass ends: its snapshot's calls count
    calls = {(c.operation, c.outcome): c.count for c in rig.holder.view.api_calls}
    assert calls == {("ListDeployments", "ok"): 1}


async def test_run_closes_every_sink_when_the_snapshots_end(rig: Rig) -> None:
    send, receive = anyio.create_memory_object_stream[ScanOutcome | Progress](1)
    async with anyio.create_task_group() as group:
        group.start_soon(rig.evaluator.run, receive)
        await send.send(outcome(fleet()))
        send.close()
    for sink in rig.sinks:
        assert len([event async for event in sink]) == 4  # drained, then end of stream


async def feed(events: list[FindingEvent]) -> list[EventDict]:
    send, receive = anyio.create_memory_object_stream[FindingEvent](len(events))
    for event in events:
        send.send_nowait(event)
    send.close()
    with capture_logs() as logs:
        await FindingLog().run(receive)
    return logs


async def test_finding_log_skips_initial_openings_below_critical(rig: Rig) -> None:
    await rig.evaluator.fold(outcome(fleet()))
    logs = await feed(rig.events())
    assert {line["severity"] for line in logs} == {Severity.CRITICAL.value}
    assert [line["log_level"] for line in logs] == ["warning", "warning"]
    assert {line["event"] for line in logs} == {"finding.opened"}


async def test_finding_log_names_what_changed(rig: Rig) -> None:
    await rig.evaluator.fold(outcome(fleet()))
    rig.events()
    snap = fleet()
    guided = dataclasses.replace(
        snap,
        versions={
            **snap.versions,
            v(APP, "1.0.0"): dataclasses.replace(snap.versions[v(APP, "1.0.0")], message="Gone."),
        },
    )
    await rig.evaluator.fold(outcome(guided))
    logs = await feed(rig.events())
    assert [line["event"] for line in logs] == ["finding.changed", "finding.changed"]
    assert all(line["previous"] == {"vendor_guidance_message": None} for line in logs)
    assert all(line["log_level"] == "info" for line in logs)


@pytest.mark.parametrize("failures", [0, 1, 2, 3, 10])
def test_next_delay_backs_off_up_to_the_interval_within_the_jitter(failures: int) -> None:
    settings = Settings(poll_interval_seconds=60, poll_jitter=0.1)
    base = 60.0 if not failures else min(60.0, RETRY_BASE_SECONDS * 2 ** (failures - 1))
    delays = [next_delay(settings.poll, failures, random.Random(seed)) for seed in range(200)]
    assert all(base * 0.9 <= d <= base * 1.1 for d in delays)
    assert max(delays) - min(delays) > base * 0.1  # the jitter spreads replicas apart


async def test_a_pass_touches_only_its_own_targets_findings(unfiltered_logs: None) -> None:
    west, east = fleet(), dataclasses.replace(fleet(), target=target_id("us-east-1"))
    holder = StateHolder(
        DaemonView(started_at=NOW, targets=(TargetStatus(west.target), TargetStatus(east.target)))
    )
    send, receive = anyio.create_memory_object_stream[FindingEvent](100)
    evaluator = Evaluator(Settings(), holder, (send,), lambda: NOW)
    await evaluator.fold(outcome(west))
    await evaluator.fold(outcome(east))
    both = holder.view.findings
    assert {f.region for f in both} == {"us-west-2", "us-east-1"}
    assert list(both) == sorted(both, key=lambda f: f.sort_key)  # merged in report order

    # West's APP turns ACTIVE: its two critical findings resolve; east's stay, unevaluated.
    while True:
        try:
            receive.receive_nowait()
        except anyio.WouldBlock:
            break
    await evaluator.fold(outcome(fleet(Guidance.ACTIVE)))
    events = []
    while True:
        try:
            events.append(receive.receive_nowait())
        except anyio.WouldBlock:
            break
    assert [(e.kind, e.finding.region) for e in events] == [(EventKind.RESOLVED, "us-west-2")] * 2
    after = holder.view.findings
    assert [f for f in after if f.region == "us-east-1"] == [
        f for f in both if f.region == "us-east-1"
    ]
    assert list(after) == sorted(after, key=lambda f: f.sort_key)
    send.close()
    receive.close()


def test_merged_findings_read_as_one_sequence_in_report_order() -> None:
    def ordered(snapshot: TargetSnapshot) -> tuple[Finding, ...]:
        findings = assess(Snapshot((snapshot,)), Settings().rules_config, NOW).findings
        return tuple(sorted(findings, key=lambda f: f.sort_key))

    west = ordered(fleet())
    east = ordered(dataclasses.replace(fleet(Guidance.DISCONTINUED), target=target_id("us-east-1")))
    merged = MergedFindings((west, east))
    everything = tuple(sorted(west + east, key=lambda f: f.sort_key))
    assert len(merged) == len(everything)  # without merging
    assert tuple(merged) == everything
    assert merged[0] == everything[0]
    assert merged[:3] == everything[:3]
    assert merged == everything
    assert bool(MergedFindings(((), ()))) is False
