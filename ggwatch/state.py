"""What the daemon knows right now, as one immutable view that readers take whole.

`StateHolder` is the one mutable cell. Every write is `holder.update(change)`: a function of
the current view, applied with no await in between, so writes cannot interleave and no reader
sees half of one. Each part of the view has one writer:

- the evaluator: targets, findings, remediation plans, API calls, evaluations, and
  `last_progress_monotonic`;
- the cleaner's publisher (ggwatch.daemon): `cleanup_actions`;
- the events queues' publisher (ggwatch.daemon): `event_messages`.

What is fixed at start (severities, cleanup mode, number of queues) is in the first view. The
metrics collector, the health endpoints and the HTML page only read `holder.view`; no reader
ever calls AWS.
"""

from __future__ import annotations

import datetime as dt
import heapq
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import overload

from ggwatch.findings import Finding, Plan, Rule, Severity
from ggwatch.model import TargetError, TargetId, TargetSnapshot


class MergedFindings(Sequence[Finding]):
    """Each target's open findings, each part in report order, read as one sequence in report
    order. Merged the first time a reader needs the whole (a scrape, the status page), not by
    the evaluator on every pass: a pass then costs its own target's findings, not everyone's.
    Two readers that merge at once compute the same tuple; either may keep it."""

    __slots__ = ("_merged", "_parts")

    def __init__(self, parts: Sequence[tuple[Finding, ...]]) -> None:
        self._parts = tuple(parts)
        self._merged: tuple[Finding, ...] | None = None

    def _all(self) -> tuple[Finding, ...]:
        merged = self._merged
        if merged is None:
            merged = tuple(heapq.merge(*self._parts, key=lambda f: f.sort_key))
            self._merged = merged
        return merged

    def __len__(self) -> int:
        return sum(map(len, self._parts))

    @overload
    def __getitem__(self, index: int) -> Finding: ...
    @overload
    def __getitem__(self, index: slice) -> tuple[Finding, ...]: ...
    def __getitem__(self, index: int | slice) -> Finding | tuple[Finding, ...]:
        return self._all()[index]

    def __iter__(self) -> Iterator[Finding]:
        return iter(self._all())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, MergedFindings | tuple | list):
            return tuple(self) == tuple(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._all())

    def __repr__(self) -> str:
        return f"MergedFindings({len(self)} findings from {len(self._parts)} targets)"


@dataclass(frozen=True, slots=True)
class ApiCalls:
    """Cumulative AWS calls of one target since start, by operation and outcome."""

    target: TargetId
    account: str | None
    operation: str
    outcome: str
    count: int

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def alias(self) -> str:
        return self.target.alias


@dataclass(frozen=True, slots=True)
class TargetStatus:
    target: TargetId
    account: str | None = None
    scans: int = 0  # attempted
    failed_scans: int = 0  # finished incomplete
    last_attempt: dt.datetime | None = None  # when the last scan finished, complete or not
    last_success: dt.datetime | None = None  # when the last complete scan finished
    last_duration_seconds: float | None = None
    complete: bool | None = None  # the last scan's; None before the first
    errors: tuple[TargetError, ...] = ()
    # The last scan's snapshot. Inventory gauges read the last complete one, so an incomplete
    # scan never zeroes them.
    snapshot: TargetSnapshot | None = None
    complete_snapshot: TargetSnapshot | None = None
    refreshes: int = 0  # targeted refreshes that events triggered

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def alias(self) -> str:
        return self.target.alias


@dataclass(frozen=True, slots=True)
class DaemonView:
    started_at: dt.datetime
    targets: tuple[TargetStatus, ...]
    findings: Sequence[Finding] = ()  # open now, in report order
    # Proposed now: each target's plans from its last pass, by target then deployment id.
    # Proposed only: the daemon never applies them (`ggwatch apply` is a reviewed step).
    plans: tuple[Plan, ...] = ()
    api_calls: tuple[ApiCalls, ...] = ()
    severities: tuple[tuple[Rule, Severity], ...] = ()  # each enabled rule's configured severity
    evaluations: int = 0
    cleanup_mode: str = "off"
    # Cumulative cleanup steps: (account_alias, aws_region, mode, action, outcome) -> count.
    cleanup_actions: tuple[tuple[tuple[str, str, str, str, str], int], ...] = ()
    # Events queues consumed, and their messages by outcome (refreshed, ignored, malformed,
    # failed) plus failed receives (receive_errors) -> count.
    events_queues: int = 0
    event_messages: tuple[tuple[str, int], ...] = ()

    @property
    def ready(self) -> bool:
        """Every target has had a complete scan since start."""
        return all(t.last_success is not None for t in self.targets)

    @property
    def as_of(self) -> dt.datetime:
        """When the newest pass of any target finished; the daemon's start before any."""
        attempts = [t.last_attempt for t in self.targets if t.last_attempt is not None]
        return max(attempts, default=self.started_at)

    def target(self, where: TargetId) -> TargetStatus:
        return next(t for t in self.targets if t.target == where)

    def with_target(self, status: TargetStatus) -> DaemonView:
        targets = tuple(status if t.target == status.target else t for t in self.targets)
        return replace(self, targets=targets)


class StateHolder:
    """The one mutable cell: `view` for readers, `update` for the writers named above."""

    __slots__ = ("_view", "last_progress_monotonic")

    def __init__(self, view: DaemonView) -> None:
        self._view = view
        # Seconds on the event loop's clock when the daemon last made progress (a call of a
        # pass under way completed, or a pass finished), for liveness. The evaluator's.
        self.last_progress_monotonic: float | None = None

    @property
    def view(self) -> DaemonView:
        return self._view

    def update(self, change: Callable[[DaemonView], DaemonView]) -> DaemonView:
        self._view = change(self._view)
        return self._view
