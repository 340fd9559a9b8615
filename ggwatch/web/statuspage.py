"""The status page at `/`: the daemon's view as one small HTML document. Pure: view in, text out.

Names, versions and messages come from the AWS API and from component publishers, so every
value goes through `_e` (html.escape, quotes included) and only the literal markup here is
trusted. No JavaScript: the page is readable by anyone who can reach the port, without Grafana.
"""

from __future__ import annotations

import datetime as dt
import html

from ggwatch.findings import Finding, Severity
from ggwatch.model import TargetId
from ggwatch.state import DaemonView, TargetStatus

# Past this many rows the page points at /findings instead: a page the size of a huge fleet's
# findings helps no reader and costs the daemon memory on every request.
MAX_ROWS = 1000

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

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1b1b1b; }
table { border-collapse: collapse; margin: .5em 0 1.5em; }
th, td { border: 1px solid #ccc; padding: .25em .5em; text-align: left; vertical-align: top; }
th { background: #f2f2f2; }
tr.critical td.severity { background: #f8d0d0; }
tr.warning td.severity { background: #fbe8c0; }
tr.info td.severity { background: #dde8f8; }
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
    first, *rest = (_e(c) for c in cells)
    return (
        f'<tr class="{_e(f.severity.value)}"><td class="severity">{first}</td>'
        + "".join(f"<td>{c}</td>" for c in rest)
        + "</tr>"
    )


def _findings(view: DaemonView) -> str:
    if not view.findings:
        return "<p>No open findings.</p>"
    # Worst first; within a severity, the view's own (report) order.
    ordered = sorted(view.findings, key=lambda f: -f.severity.rank)
    head = "".join(f"<th>{h}</th>" for h in _FINDING_COLUMNS)
    rows = "\n".join(_finding_row(f) for f in ordered[:MAX_ROWS])
    more = ""
    if len(ordered) > MAX_ROWS:
        more = f'<p>{len(ordered) - MAX_ROWS} more in <a href="findings">findings</a>.</p>'
    table = f'<table id="findings"><thead><tr>{head}</tr></thead><tbody>\n{rows}\n</tbody></table>'
    return table + more


def render(view: DaemonView) -> str:
    """The whole page for this view."""
    counts = ", ".join(f"{sum(f.severity is s for f in view.findings)} {s.value}" for s in Severity)
    ready = "ready" if view.ready else "waiting for a complete scan of every target"
    targets = "\n".join(_target_row(t) for t in view.targets)
    # Relative links, so the page still works behind a proxy that serves it under a prefix.
    nav = " ".join(
        f'<a href="{path}">{text}</a>'
        for path, text in (
            ("findings", "findings (JSON)"),
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
<p id="summary">{_e(len(view.findings))} open findings ({_e(counts)}); {_e(ready)}.
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
</body>
</html>
"""
