"""The status page at `/`: the daemon's view as one small HTML document. Pure: view in, text out.

Names, versions and messages come from the AWS API and from component publishers, so every
value goes through `_e` (html.escape, quotes included) and only the literal markup here is
trusted. No JavaScript: the page is readable by anyone who can reach the port, without Grafana.
"""

from __future__ import annotations

import datetime as dt
import html
from collections.abc import Callable, Iterable, Sequence
from typing import TypeVar

from ggwatch.findings import Change, Finding, Plan, Severity, Verdict
from ggwatch.model import TargetId
from ggwatch.state import DaemonView, TargetStatus

# Past this many rows a table points at its JSON endpoint instead: a page the size of a huge
# fleet's findings helps no reader and costs the daemon memory on every request.
MAX_ROWS = 1000

T = TypeVar("T")

_FINDING_COLUMNS = (
    "Severity",
    "Rule",
    "Target",
    "Resource",
    "Component",
    "Version",
    "Vendor guidance",
    "Recommended",
    "Message",
)

_PLAN_COLUMNS = ("Target", "Deployment", "Changes", "Verdict", "Reason")

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr.critical td.severity { background: #f8d0d0; }
tr.warning td.severity { background: #fbe8c0; }
tr.info td.severity { background: #dde8f8; }
tr.blocked td.verdict { background: #f8d0d0; }
tr.ok td.verdict { background: #d4eed4; }
td.bad { color: #a00000; }
nav a { margin-right: 1em; }
ul { margin: 0; padding-left: 1.2em; }
"""


def _e(value: object) -> str:
    """A value as HTML text; None (not known, or not applicable) as a dash."""
    return "\u2014" if value is None else html.escape(str(value), quote=True)


def _time(value: dt.datetime | None) -> str:
    if value is None:
        return _e(None)
    return _e(value.astimezone(dt.UTC).strftime("%Y-%m-%d %H:%M:%S UTC"))


def _where(target: TargetId, account: str | None) -> str:
    return _e(target.label(account))


def _target_row(t: TargetStatus) -> str:
    if t.complete is None:
        result = "<td>not scanned yet</td>"
    elif t.complete:
        result = "<td>complete</td>"
    else:
        result = '<td class="bad">incomplete</td>'
    duration = None if t.last_duration_seconds is None else f"{t.last_duration_seconds:.1f} s"
    calls = None
    if t.snapshot is not None:
        calls = f"{t.snapshot.api_calls} ({t.snapshot.throttled_calls} throttled)"
    errors = "".join(f"<li>{_e(f'{e.operation}: {e.code}: {e.message}')}</li>" for e in t.errors)
    return (
        f"<tr><td>{_where(t.target, t.account)}</td><td>{_time(t.last_attempt)}</td>{result}"
        f"<td>{_e(duration)}</td><td>{_e(calls)}</td>"
        f"<td>{_e(t.scans)} ({_e(t.failed_scans)} failed)</td><td>{_time(t.last_success)}</td>"
        f"<td>{f'<ul>{errors}</ul>' if errors else _e('none')}</td></tr>"
    )


def _row(cells: Iterable[str], mark: str, marked: int, kind: str) -> str:
    """One table row of HTML cells: `mark` classes the row and, as `kind`, its `marked` cell."""
    return (
        f'<tr class="{_e(mark)}">'
        + "".join(
            f'<td class="{kind}">{c}</td>' if i == marked else f"<td>{c}</td>"
            for i, c in enumerate(cells)
        )
        + "</tr>"
    )


def _table(name: str, columns: Sequence[str], items: Sequence[T], row: Callable[[T], str]) -> str:
    """At most MAX_ROWS rows, then a link to the endpoint `name` (also the table's id)."""
    head = "".join(f"<th>{h}</th>" for h in columns)
    rows = "\n".join(row(item) for item in items[:MAX_ROWS])
    more = ""
    if len(items) > MAX_ROWS:
        more = f'<p>{len(items) - MAX_ROWS} more in <a href="{name}">{name}</a>.</p>'
    table = f'<table id="{name}"><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>'
    return table + more


def _finding_row(f: Finding) -> str:
    d = f.details
    guidance = d.vendor_guidance
    if guidance is not None and d.vendor_guidance_message:
        guidance = f"{guidance}: {d.vendor_guidance_message}"
    cells = (
        f.severity.value,
        f.rule.value,
        f.target.label(f.account),
        f"{f.resource_type.value} {f.resource_id}",
        d.component_name,
        d.component_version,
        guidance,
        d.recommended_version,
        f.message,
    )
    return _row((_e(c) for c in cells), f.severity.value, 0, "severity")


def _findings(view: DaemonView) -> str:
    if not view.findings:
        return "<p>No open findings.</p>"
    # Worst first; within a severity, the view's own (report) order.
    ordered = sorted(view.findings, key=lambda f: -f.severity.rank)
    return _table("findings", _FINDING_COLUMNS, ordered, _finding_row)


def _change(c: Change) -> str:
    return f"<li>{_e(c.component_name)} {_e(c.from_version)} -&gt; {_e(c.to_version)}</li>"


def _plan_row(p: Plan) -> str:
    named = f" ({p.deployment_name})" if p.deployment_name else ""
    cells = (
        _where(p.target, p.account),
        _e(p.deployment_id + named),
        f"<ul>{''.join(_change(c) for c in p.changes)}</ul>",
        _e(p.verdict.value),
        _e(p.reason),
    )
    return _row(cells, p.verdict.value, 3, "verdict")


def _plans(view: DaemonView) -> str:
    if not view.plans:
        return "<p>No plans: no in-force deployment names a flagged version.</p>"
    return _table("plans", _PLAN_COLUMNS, view.plans, _plan_row)


def render(view: DaemonView) -> str:
    """The whole page for this view."""
    counts = ", ".join(f"{sum(f.severity is s for f in view.findings)} {s.value}" for s in Severity)
    verdicts = ", ".join(f"{sum(p.verdict is v for p in view.plans)} {v.value}" for v in Verdict)
    ready = "ready" if view.ready else "waiting for a complete scan of every target"
    targets = "\n".join(_target_row(t) for t in view.targets)
    # Relative links, so the page still works behind a proxy that serves it under a prefix.
    nav = " ".join(
        f'<a href="{path}">{text}</a>'
        for path, text in (
            ("findings", "findings (JSON)"),
            ("plans", "plans (JSON)"),
            ("metrics", "metrics"),
            ("healthz", "healthz"),
            ("readyz", "readyz"),
        )
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>ggwatch status</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>ggwatch</h1>
<p id="summary">{_e(len(view.findings))} open findings ({_e(counts)}); {_e(ready)};
{_e(len(view.plans))} remediation plans ({_e(verdicts)}).
Running since {_time(view.started_at)}; {_e(view.evaluations)} evaluations.</p>
<nav>{nav}</nav>
<h2>Targets</h2>
<table id="targets"><thead><tr><th>Target</th><th>Last scan</th><th>Result</th>
<th>Duration</th><th>API calls</th><th>Scans</th><th>Last complete scan</th><th>Errors</th></tr>
</thead><tbody>
{targets}
</tbody></table>
<h2>Open findings</h2>
{_findings(view)}
<h2>Remediation plans</h2>
<p>Proposed revisions of the in-force deployments that name a flagged version, each moving only
those versions. The daemon does not apply them: <code>ggwatch plan --output-dir</code> writes
them and <code>ggwatch apply --confirm</code> creates the ok ones, after review.</p>
{_plans(view)}
</body>
</html>
"""
