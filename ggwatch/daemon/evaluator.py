"""The evaluator: folds scan outcomes into the open findings, the remediation plans, the daemon
view and finding events, and hands complete scans to the cleaner. It plans; it never applies."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import replace
from functools import partial
from typing import NamedTuple

import anyio
import structlog
from anyio.abc import ObjectReceiveStream
from anyio.streams.memory import MemoryObjectSendStream

from ggwatch.aws.callguard import CallCounter
from ggwatch.aws.clients import (
    Target,
)
from ggwatch.cleanup.executor import CleanupJob
from ggwatch.daemon.poller import PROGRESS_SECONDS, Message, Progress, ScanOutcome
from ggwatch.findings import Finding, Plan, Rule, Severity
from ggwatch.model import Snapshot, TargetId, TargetSnapshot
from ggwatch.rules import assess
from ggwatch.settings import Settings
from ggwatch.state import ApiCalls, DaemonView, MergedFindings, StateHolder, TargetStatus
from ggwatch.tracker import EventKind, FindingEvent, Key, OpenFinding, diff


class CallKey(NamedTuple):
    """What the daemon counts AWS calls by."""

    target: TargetId
    operation: str
    outcome: str


class Evaluator:
    """Folds scan outcomes into the open findings, the daemon view and finding events.

    Each finding event goes to every sink's stream, in order; a full stream makes the evaluator
    wait (backpressure), so no event is dropped.
    """

    def __init__(
        self,
        settings: Settings,
        holder: StateHolder,
        sinks: tuple[MemoryObjectSendStream[FindingEvent], ...],
        clock: Callable[[], dt.datetime],
        cleanup: MemoryObjectSendStream[CleanupJob] | None = None,
        cleanup_calls: Mapping[TargetId, CallCounter] | None = None,
    ) -> None:
        self.cleanup = cleanup
        self.cleanup_calls = cleanup_calls or {}
        self.holder = holder
        self.sinks = sinks
        self.clock = clock
        self.config = settings.rules_config
        self.latest: dict[TargetId, TargetSnapshot] = {}
        # Each target's remediation plans from its last pass, whatever that pass saw: one that
        # was incomplete proposes only blocked plans (ggwatch.rules.plans), never stale ones.
        self.planned: dict[TargetId, tuple[Plan, ...]] = {}
        # Each target's open findings, and the same in report order. Rules look at one target at
        # a time, so a pass re-evaluates, re-diffs and re-sorts only its own target's: its cost
        # grows with that target's findings, not with every target's.
        self.open: dict[TargetId, dict[Key, OpenFinding]] = {}
        self.ordered: dict[TargetId, tuple[Finding, ...]] = {}
        self.calls: Counter[CallKey] = Counter()
        # Calls of passes under way, by target (their last Progress), until their outcome.
        self.inflight: dict[TargetId, tuple[tuple[str, str, int], ...]] = {}
        self.published = anyio.current_time()
        self.log = structlog.get_logger("ggwatch.evaluator")

    async def run(self, messages: ObjectReceiveStream[Message]) -> None:
        try:
            async with messages:
                async for message in messages:
                    if isinstance(message, Progress):
                        self.progress(message)
                    else:
                        await self.fold(message)
        finally:
            for sink in self.sinks:
                sink.close()  # the sinks drain what was sent, then stop

    def progress(self, message: Progress) -> None:
        """A pass under way made calls: liveness moves; the view shows them, at most once per
        PROGRESS_SECONDS whatever the number of targets (each view is rendered anew)."""
        before = sum(n for _, _, n in self.inflight.get(message.target, ()))
        self.inflight[message.target] = message.calls
        now = anyio.current_time()
        if message.attempts > before:
            self.holder.last_progress_monotonic = now
        if now - self.published >= PROGRESS_SECONDS:
            self.holder.update(lambda view: replace(view, api_calls=self._calls(view)))
            self.published = now

    async def fold(self, outcome: ScanOutcome) -> None:
        where, snapshot = outcome.target, outcome.snapshot
        before = self.holder.view.target(where)
        first_complete = snapshot.complete and before.last_success is None
        self._log_state_change(before, snapshot)
        for call in snapshot.calls:
            self.calls[CallKey(where, call.operation, call.outcome)] += call.count
        self.inflight.pop(where, None)  # now in snapshot.calls
        self.latest[where] = snapshot
        now = self.clock()
        # Pure and over immutable values, so a worker thread may run it: on a big fleet it
        # takes seconds, which the loop (health, metrics, the other targets' calls) cannot give.
        assessment = await anyio.to_thread.run_sync(assess, Snapshot((snapshot,)), self.config, now)
        self.planned[where] = assessment.plans
        rechecked = {where} if snapshot.complete else set()
        result = diff(self.open.get(where, {}), assessment.findings, rechecked, now)
        self.open[where] = dict(result.open)
        self.ordered[where] = tuple(
            sorted((o.finding for o in result.open.values()), key=lambda f: f.sort_key)
        )
        # A target's findings up to its first complete scan are what was already true before
        # this process started: one summary for them instead of an event each.
        not_yet = {t.target for t in self.holder.view.targets if t.last_success is None}
        status = self._status(before, outcome)
        self.holder.update(partial(self._view, status))
        self.holder.last_progress_monotonic = self.published = anyio.current_time()
        if first_complete:
            self._log_summary(where)
        for event in result.events:
            initial = event.kind is EventKind.OPENED and event.finding.target in not_yet
            for sink in self.sinks:
                await sink.send(replace(event, initial=initial))
        # The events that asked for this pass may now be deleted from their queue.
        outcome.batch.resolve(snapshot.complete)
        # Cleanup acts on full scans only: a refresh re-reads devices, not deployments.
        if self.cleanup is not None and snapshot.complete and not outcome.refresh:
            job = CleanupJob(snapshot, tuple(self.open[where].values()))
            try:
                self.cleanup.send_nowait(job)
            except anyio.WouldBlock:
                # The cleaner is still busy with this target's last job; the next scan brings
                # a fresher one. Nothing is lost: candidates stay open findings.
                self.log.debug("cleanup.busy", **_fields(where))
        self.log.info(
            "refresh.completed" if outcome.refresh else "scan.completed",
            **_fields(where, snapshot.account),
            complete=snapshot.complete,
            duration_seconds=round(outcome.duration_seconds, 3),
            api_calls=snapshot.api_calls,
            throttled_calls=snapshot.throttled_calls,
            open_findings=len(self.open[where]),
        )

    def _status(self, before: TargetStatus, outcome: ScanOutcome) -> TargetStatus:
        snapshot = outcome.snapshot
        scanned = 0 if outcome.refresh else 1
        return replace(
            before,
            account=snapshot.account or before.account,
            scans=before.scans + scanned,
            refreshes=before.refreshes + (1 - scanned),
            failed_scans=before.failed_scans + (0 if snapshot.complete else 1),
            last_attempt=snapshot.finished,
            last_success=snapshot.finished if snapshot.complete else before.last_success,
            last_duration_seconds=(
                before.last_duration_seconds if outcome.refresh else outcome.duration_seconds
            ),
            complete=snapshot.complete,
            errors=snapshot.errors,
            snapshot=snapshot,
            complete_snapshot=snapshot if snapshot.complete else before.complete_snapshot,
        )

    def _view(self, status: TargetStatus, before: DaemonView) -> DaemonView:
        view = before.with_target(status)
        # Each target's are in order already: merged when read, not sorted again here.
        findings = MergedFindings(tuple(self.ordered.values()))
        plans = tuple(plan for target in sorted(self.planned) for plan in self.planned[target])
        return replace(
            view,
            findings=findings,
            plans=plans,
            api_calls=self._calls(view),
            evaluations=view.evaluations + 1,
        )

    def _calls(self, view: DaemonView) -> tuple[ApiCalls, ...]:
        """Every call since start: finished passes, passes under way and the cleaner's."""
        accounts = {t.target: t.account for t in view.targets}
        totals = Counter(self.calls)
        for where, inflight in self.inflight.items():
            for operation, outcome, count in inflight:
                totals[CallKey(where, operation, outcome)] += count
        for where, counter in self.cleanup_calls.items():
            for (operation, outcome), count in counter.counts.items():
                totals[CallKey(where, operation, outcome)] += count
        return tuple(
            ApiCalls(key.target, accounts.get(key.target), key.operation, key.outcome, count)
            for key, count in sorted(totals.items())
        )

    def _log_state_change(self, before: TargetStatus, snapshot: TargetSnapshot) -> None:
        where = _fields(snapshot.target, snapshot.account or before.account)
        if not snapshot.complete and before.complete is not False:
            first = snapshot.errors[0] if snapshot.errors else None
            self.log.warning(
                "scan.incomplete",
                **where,
                errors=len(snapshot.errors),
                operation=first.operation if first else None,
                error_code=first.code if first else None,
                error=first.message if first else None,
            )
        elif snapshot.complete and before.complete is False:
            self.log.info("scan.recovered", **where)

    def _log_summary(self, target: TargetId) -> None:
        mine = [o.finding for o in self.open.get(target, {}).values()]
        by_severity = {s.value: sum(f.severity is s for f in mine) for s in Severity}
        by_rule = {r.value: n for r in Rule if (n := sum(f.rule is r for f in mine))}
        self.log.info(
            "findings.summary",
            **_fields(target),
            open_findings=len(mine),
            by_severity=by_severity,
            by_rule=by_rule,
        )


def _fields(target: TargetId, account: str | None = None) -> dict[str, str | None]:
    """How logs name a target."""
    fields = {"account_alias": target.alias, "aws_region": target.region}
    return {**fields, "aws_account_id": account} if account else dict(fields)


def initial_view(
    settings: Settings, targets: tuple[Target, ...], now: dt.datetime, events_queues: int = 0
) -> DaemonView:
    config = settings.rules_config
    return DaemonView(
        started_at=now,
        cleanup_mode=settings.cleanup_mode,
        events_queues=events_queues,
        targets=tuple(TargetStatus(t.id, account=t.account_id) for t in targets),
        severities=tuple((rule, config.severity(rule)) for rule in Rule if config.enabled(rule)),
    )
