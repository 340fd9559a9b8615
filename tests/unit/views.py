"""Daemon views for the HTTP and status page tests, and a reader for the page's tables.

    view = fleet_view()           two targets, findings of every severity, hostile text
    tables = read_tables(html)    {"findings": [[cell text, ...], ...], "targets": [...]}

The fleet's findings come from the real rules over a built snapshot; the hostile component
name and publisher message check that the page shows them as text, never as markup.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from html.parser import HTMLParser

from ggwatch.findings import Finding
from ggwatch.model import Guidance, TargetSnapshot
from ggwatch.rules import RulesConfig, evaluate
from ggwatch.rules.recommend import Policy
from ggwatch.state import DaemonView, StateHolder, TargetStatus
from tests.unit.builders import NOW, TargetBuilder, days_ago, snapshot, target_id, v

APP = "com.example.App"
NUCLEUS = "aws.greengrass.Nucleus"
HOSTILE = "com.example.A&\"'<>"  # a component name with every character HTML treats specially
SCRIPT = "<script>alert(1)</script>"
STARTED = NOW - dt.timedelta(hours=1)


def fleet_target(region: str = "us-west-2") -> TargetBuilder:
    t = TargetBuilder(region=region)
    t.version(APP, "1.0.0", Guidance.DELETED, "Broken.")
    t.version(NUCLEUS, "2.9.0", Guidance.DISCONTINUED)
    t.version(HOSTILE, "6.6.6", Guidance.DISCONTINUED, SCRIPT)
    t.recommend(APP, "3.0.0")
    t.recommend(NUCLEUS, None)
    t.recommend(HOSTILE, "7.0.0")
    t.deploy("d-1", v(APP, "1.0.0"), v(NUCLEUS, "2.9.0"))
    t.deploy("d-0", latest=False, created=days_ago(90))
    t.device("core-1", v(NUCLEUS, "2.9.0"), v(APP, "1.0.0"))
    t.device("core-2", v(HOSTILE, "6.6.6"))
    t.call("ListDeployments", 2)
    t.call("DescribeComponent", 3)
    t.call("DescribeComponent", 1, "ThrottlingException")
    return t


def scanned(snap: TargetSnapshot, *, complete: bool = True) -> TargetStatus:
    """A target after three scans, the last one `complete` or not."""
    return TargetStatus(
        snap.target,
        account=snap.account,
        scans=3,
        failed_scans=0 if complete else 1,
        last_attempt=NOW,
        last_success=NOW - dt.timedelta(minutes=5) if complete else None,
        last_duration_seconds=4.25,
        complete=complete,
        errors=snap.errors,
        snapshot=snap,
        complete_snapshot=snap if complete else None,
    )


def fleet_view(*, ready: bool = False, policy: Policy = "major") -> DaemonView:
    """us-west-2 complete with 6 findings; eu-west-1 incomplete (ready=True: both complete).
    `policy`: the upgrade policy; major, so the page shows recommendations across majors."""
    west = fleet_target().build()
    east_builder = TargetBuilder(region="eu-west-1")
    if not ready:
        east_builder.error("ListCoreDevices", "AccessDeniedException", "not <authorized>")
    east = east_builder.build()
    findings = evaluate(snapshot(west), RulesConfig(upgrade_policy=policy), NOW)
    return DaemonView(
        started_at=STARTED,
        targets=(scanned(west), scanned(east, complete=ready)),
        # Reversed, so the page has to order by severity itself.
        findings=tuple(reversed(findings)),
        evaluations=3,
    )


def unscanned_view() -> DaemonView:
    """The daemon before its first scan finished."""
    return DaemonView(started_at=STARTED, targets=(TargetStatus(target_id("us-west-2")),))


def holder(view: DaemonView | None = None) -> StateHolder:
    return StateHolder(view=view or fleet_view())


def with_findings(view: DaemonView, findings: tuple[Finding, ...]) -> DaemonView:
    return dataclasses.replace(view, findings=findings)


class _Tables(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: dict[str, list[list[str]]] = {}
        self.start_tags: list[str] = []
        self._table: list[list[str]] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.start_tags.append(tag)
        if tag == "table":
            self._table = self.tables.setdefault(dict(attrs).get("id") or "", [])
        elif tag == "tr" and self._table is not None:
            self._table.append([])
        elif tag in ("td", "th"):
            self._cell = []

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None and self._table:
            self._table[-1].append(" ".join(" ".join(self._cell).split()))
            self._cell = None
        elif tag == "table":
            self._table = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def read_tables(page: str) -> dict[str, list[list[str]]]:
    """Each table's rows (header row first) as cell texts, by the table's id."""
    parser = _Tables()
    parser.feed(page)
    parser.close()
    return parser.tables


def start_tags(page: str) -> list[str]:
    parser = _Tables()
    parser.feed(page)
    parser.close()
    return parser.start_tags
