"""A scan result as text: a table for people, JSON for programs. Pure: values in, text out."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ggwatch.findings import Finding, Plan, Severity
from ggwatch.model import Snapshot, TargetError, TargetSnapshot
from ggwatch.state import DaemonView
from ggwatch.terminal import printable


@dataclass(frozen=True, slots=True)
class ScanResult:
    """One scan: what was seen, what the rules found, when, and how long it took."""

    snapshot: Snapshot
    findings: tuple[Finding, ...]
    generated_at: dt.datetime
    duration_seconds: float
    plans: tuple[Plan, ...] = ()  # the remediation plans the findings lead to


def errors_json(errors: Sequence[TargetError]) -> list[dict[str, str]]:
    return [{"operation": e.operation, "code": e.code, "message": e.message} for e in errors]


def timestamp(moment: dt.datetime) -> str:
    """ISO 8601 in UTC with a Z, as the JSON schema says."""
    return moment.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def target_json(target: TargetSnapshot) -> dict[str, Any]:
    return {
        "region": target.region,
        "account": target.account,
        "account_alias": target.alias,
        "complete": target.complete,
        "errors": errors_json(target.errors),
    }


def stats_json(report: ScanResult) -> dict[str, Any]:
    targets = report.snapshot.targets
    by_operation: dict[str, dict[str, int]] = {}
    for target in targets:
        for call in target.calls:
            outcomes = by_operation.setdefault(call.operation, {})
            outcomes[call.outcome] = outcomes.get(call.outcome, 0) + call.count
    return {
        "api_calls": sum(t.api_calls for t in targets),
        "throttled_calls": sum(t.throttled_calls for t in targets),
        "calls_by_operation": dict(sorted(by_operation.items())),
        "deployments": sum(len(t.deployments) for t in targets),
        "core_devices": sum(len(t.devices) for t in targets),
        "component_versions_described": sum(len(t.versions) for t in targets),
        # What a full scan needs at the least, and its time at each target's budget (targets
        # are scanned in parallel, so the slowest one sets the floor).
        "minimal_calls": sum(t.minimal_calls for t in targets),
        "rate_limit_floor_seconds": round(max((t.floor_seconds for t in targets), default=0.0), 3),
        "duration_seconds": round(report.duration_seconds, 3),
    }


def to_json(report: ScanResult) -> str:
    document = {
        "generated_at": timestamp(report.generated_at),
        "complete": report.snapshot.complete,
        "targets": [target_json(t) for t in report.snapshot.targets],
        "stats": stats_json(report),
        "findings": [f.to_json() for f in report.findings],
    }
    return json.dumps(document, indent=2)


def view_json(view: DaemonView) -> dict[str, Any]:
    """The daemon's current view in `to_json`'s schema, so /findings parses like a scan's JSON.

    A view is not one scan, so three fields are read the nearest way: generated_at is when
    the newest target scan finished (the daemon's start before any); a target not scanned yet
    is incomplete with no errors; stats add up each target's last scan, and duration_seconds is
    the longest of them, as `scan` times its targets scanned side by side.
    """
    durations = [
        t.last_duration_seconds for t in view.targets if t.last_duration_seconds is not None
    ]
    generated_at = view.as_of
    last_scans = Snapshot(tuple(t.snapshot for t in view.targets if t.snapshot is not None))
    scanned = ScanResult(
        last_scans, tuple(view.findings), generated_at, max(durations, default=0.0)
    )
    targets = [
        {
            "region": t.region,
            "account": t.account,
            "account_alias": t.alias,
            "complete": t.complete is True,
            "errors": errors_json(t.errors),
        }
        for t in view.targets
    ]
    return {
        "generated_at": timestamp(generated_at),
        "complete": all(t["complete"] for t in targets),
        "targets": targets,
        "stats": stats_json(scanned),
        "findings": [f.to_json() for f in view.findings],
    }


def _component(finding: Finding) -> str:
    d = finding.details
    if d.component_name is None:
        return ""
    text = f"{d.component_name} {d.component_version or ''}".rstrip()
    return f"{text} -> {d.recommended_version}" if d.recommended_version else text


def _resource(finding: Finding) -> str:
    return f"{finding.resource_type.value} {finding.resource_id}"


def _columns(rows: Sequence[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def to_table(report: ScanResult) -> str:
    """The findings for a terminal; names and messages from AWS have their controls escaped."""
    # Escaped cell by cell, before the columns are measured, so escapes keep them aligned.
    return "\n".join(_table_lines(report))


def _table_lines(report: ScanResult) -> list[str]:
    lines: list[str] = []
    for severity in Severity:
        group = [f for f in report.findings if f.severity is severity]
        if not group:
            continue
        lines.append(f"{severity.value.upper()} ({len(group)})")
        rows: list[tuple[str, ...]] = [("rule", "where", "resource", "component -> recommended")]
        rows += [
            tuple(
                printable(cell)
                for cell in (f.rule.value, f.target.label(f.account), _resource(f), _component(f))
            )
            for f in group
        ]
        header, *body = _columns(rows)
        lines.append("  " + header)
        for finding, line in zip(group, body, strict=True):
            lines.append("  " + line)
            lines.append("      " + printable(finding.message))
        lines.append("")
    lines.append(summary(report))
    for target in report.snapshot.targets:
        for error in target.errors:
            lines.append(
                printable(
                    f"incomplete {target.target.label(target.account)}: {error.operation}: "
                    f"{error.code}: {error.message}"
                )
            )
    return lines


def summary(report: ScanResult) -> str:
    counts = {s: sum(f.severity is s for f in report.findings) for s in Severity}
    targets = report.snapshot.targets
    incomplete = sum(not t.complete for t in targets)
    found = ", ".join(f"{n} {s.value}" for s, n in counts.items())
    state = f", {incomplete} incomplete" if incomplete else ""
    calls = sum(t.api_calls for t in targets)
    return (
        f"{len(report.findings)} findings ({found}) in {len(targets)} target(s){state}; "
        f"{calls} API calls in {report.duration_seconds:.1f} s"
    )


def _changes(plan: Plan) -> str:
    return ", ".join(
        f"{c.component_name} {c.from_version} -> {c.to_version or '?'}" for c in plan.changes
    )


def plans_json(plans: Sequence[Plan], generated_at: dt.datetime) -> str:
    document = {
        "generated_at": timestamp(generated_at),
        "plans": [p.to_json() for p in plans],
    }
    return json.dumps(document, indent=2)


def plans_table(plans: Sequence[Plan]) -> str:
    """The plans for a terminal: one row each, the reason of a blocked one under it."""
    if not plans:
        return "no plans: no in-force deployment names a flagged version"
    rows: list[tuple[str, ...]] = [("verdict", "where", "deployment", "target", "changes")]
    rows += [
        tuple(
            printable(cell)
            for cell in (
                p.verdict.value,
                p.target.label(p.account),
                p.deployment_id,
                p.target_arn.rpartition(":")[2],
                _changes(p),
            )
        )
        for p in plans
    ]
    header, *body = _columns(rows)
    lines = [header]
    for plan, line in zip(plans, body, strict=True):
        lines.append(line)
        if plan.reason:
            lines.append("    " + printable(plan.reason))
    ok = sum(p.verdict.value == "ok" for p in plans)
    lines.append(f"{len(plans)} plan(s): {ok} ok, {len(plans) - ok} blocked")
    return "\n".join(lines)
