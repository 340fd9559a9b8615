"""The log sink: one structlog event per finding transition, never re-logged every cycle."""

from __future__ import annotations

from typing import Any

import structlog
from anyio.abc import ObjectReceiveStream

from ggwatch.findings import Finding, Severity
from ggwatch.tracker import EventKind, FindingEvent

LEVELS = {EventKind.OPENED: "warning", EventKind.CHANGED: "info", EventKind.RESOLVED: "info"}


def finding_fields(finding: Finding) -> dict[str, Any]:
    """A finding as flat log fields: what an operator greps for, and what alerts name."""
    out: dict[str, Any] = {
        "rule": finding.rule.value,
        "severity": finding.severity.value,
        "aws_region": finding.region,
        "aws_account_id": finding.account,
        "account_alias": finding.account_alias,
        "resource_type": finding.resource_type.value,
        "resource_id": finding.resource_id,
        "message": finding.message,
    }
    out.update({k: v for k, v in finding.details.to_json().items() if v is not None})
    return out


def event_fields(event: FindingEvent) -> dict[str, Any]:
    out = finding_fields(event.finding)
    out["open_since"] = event.since.isoformat()
    if event.previous is not None:
        before = event.previous
        changed = {
            name: getattr(before.details, name)
            for name in ("vendor_guidance_message", "recommended_version", "deployment_status")
            if getattr(before.details, name) != getattr(event.finding.details, name)
        }
        if before.severity is not event.finding.severity:
            changed["severity"] = before.severity.value
        out["previous"] = changed
    return out


class FindingLog:
    """The log sink: each event as one structlog line on `ggwatch.findings`.

    `initial` openings (a target's first complete scan) are logged only if critical: the
    evaluator logs one summary for those, so a restart does not flood the log with what was
    already known before it.
    """

    name = "finding_log"

    async def run(self, events: ObjectReceiveStream[FindingEvent]) -> None:
        log = structlog.get_logger("ggwatch.findings")
        async with events:
            async for event in events:
                if event.initial and event.finding.severity is not Severity.CRITICAL:
                    continue
                getattr(log, LEVELS[event.kind])(event.kind.value, **event_fields(event))
