"""The finding lifecycle: a pure diff of the open findings against a new evaluation.

A finding opens when first seen, changes when the same problem on the same resource is seen
with other facts (severity, guidance message, recommended version, ...), and resolves when a
complete scan of its target no longer sees it. A target whose scan was incomplete resolves
nothing: what could not be re-checked stays open.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from enum import StrEnum

from ggwatch.findings import Finding
from ggwatch.model import TargetId

Key = tuple[str, ...]


class EventKind(StrEnum):
    OPENED = "finding.opened"
    CHANGED = "finding.changed"
    RESOLVED = "finding.resolved"


@dataclass(frozen=True, slots=True)
class OpenFinding:
    finding: Finding
    since: dt.datetime


@dataclass(frozen=True, slots=True)
class FindingEvent:
    kind: EventKind
    finding: Finding  # the new facts (for resolved: the last ones seen)
    since: dt.datetime
    previous: Finding | None = None  # for changed: what it was
    # An opening found by its target's first complete scan since start: already true before
    # this process started, so sinks may summarise rather than announce it.
    initial: bool = False


@dataclass(frozen=True, slots=True)
class Diff:
    open: Mapping[Key, OpenFinding]
    events: tuple[FindingEvent, ...]


def diff(
    open_now: Mapping[Key, OpenFinding],
    found: Collection[Finding],
    rechecked: Collection[TargetId],
    now: dt.datetime,
) -> Diff:
    """New open findings and the events that lead there, in a deterministic order.

    `rechecked` are the targets whose scan was complete: only their findings can resolve.
    """
    result: dict[Key, OpenFinding] = {}
    events: list[FindingEvent] = []
    for finding in sorted(found, key=lambda f: f.sort_key):
        before = open_now.get(finding.key)
        if before is None:
            result[finding.key] = OpenFinding(finding, now)
            events.append(FindingEvent(EventKind.OPENED, finding, now))
        elif before.finding != finding:
            result[finding.key] = OpenFinding(finding, before.since)
            events.append(FindingEvent(EventKind.CHANGED, finding, before.since, before.finding))
        else:
            result[finding.key] = before
    for key in sorted(open_now, key=lambda k: open_now[k].finding.sort_key):
        if key in result:
            continue
        before = open_now[key]
        if before.finding.target in rechecked:
            events.append(FindingEvent(EventKind.RESOLVED, before.finding, before.since))
        else:
            result[key] = before  # not re-checked: still open
    return Diff(result, tuple(events))
