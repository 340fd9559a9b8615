"""The finding lifecycle: opened, changed, resolved; nothing resolves without a re-check."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import replace
from typing import Any

from ggwatch.findings import Details, Finding, ResourceType, Rule, Severity
from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.tracker import EventKind, FindingEvent, diff

T0 = dt.datetime(2026, 11, 24, 12, 0, tzinfo=dt.UTC)
T1 = T0 + dt.timedelta(minutes=5)
US = TargetId(DEFAULT_ALIAS, "us-west-2")


def finding(resource: str, region: str = "us-west-2", **details: Any) -> Finding:
    return Finding(
        rule=Rule.DEVICE_DISCONTINUED,
        severity=Severity.WARNING,
        target=TargetId(DEFAULT_ALIAS, region),
        account="123456789012",
        resource_type=ResourceType.CORE_DEVICE,
        resource_id=resource,
        message=f"{resource} runs com.example.Telemetry 1.1.0",
        details=Details(
            component_name="com.example.Telemetry",
            component_version="1.1.0",
            vendor_guidance="DISCONTINUED",
            **details,
        ),
    )


def kinds(events: Iterable[FindingEvent]) -> list[tuple[EventKind, str]]:
    return [(e.kind, e.finding.resource_id) for e in events]


def test_first_sight_opens() -> None:
    result = diff({}, [finding("a"), finding("b")], {US}, T0)
    assert kinds(result.events) == [(EventKind.OPENED, "a"), (EventKind.OPENED, "b")]
    assert {o.since for o in result.open.values()} == {T0}


def test_seen_again_unchanged_is_silent_and_keeps_its_age() -> None:
    first = diff({}, [finding("a")], {US}, T0)
    again = diff(first.open, [finding("a")], {US}, T1)
    assert again.events == ()
    assert next(iter(again.open.values())).since == T0


def test_other_facts_about_the_same_problem_are_a_change() -> None:
    first = diff({}, [finding("a")], {US}, T0)
    moved = finding("a", recommended_version="1.2.0")
    result = diff(first.open, [moved], {US}, T1)
    assert kinds(result.events) == [(EventKind.CHANGED, "a")]
    event = result.events[0]
    assert event.previous is not None
    assert event.previous.details.recommended_version is None
    assert event.since == T0


def test_severity_override_is_a_change_not_a_new_finding() -> None:
    first = diff({}, [finding("a")], {US}, T0)
    worse = replace(finding("a"), severity=Severity.CRITICAL)
    assert kinds(diff(first.open, [worse], {US}, T1).events) == [(EventKind.CHANGED, "a")]


def test_gone_after_a_complete_scan_resolves() -> None:
    first = diff({}, [finding("a"), finding("b")], {US}, T0)
    result = diff(first.open, [finding("b")], {US}, T1)
    assert kinds(result.events) == [(EventKind.RESOLVED, "a")]
    assert [o.finding.resource_id for o in result.open.values()] == ["b"]


def test_gone_after_an_incomplete_scan_stays_open() -> None:
    both = {US, TargetId(DEFAULT_ALIAS, "eu-central-1")}
    first = diff({}, [finding("a"), finding("z", region="eu-central-1")], both, T0)
    # eu-central-1 could not be re-checked this time; us-west-2 could.
    result = diff(first.open, [], {US}, T1)
    assert kinds(result.events) == [(EventKind.RESOLVED, "a")]
    assert [o.finding.resource_id for o in result.open.values()] == ["z"]


def test_events_come_in_a_deterministic_order() -> None:
    found = [finding(name) for name in ("c", "a", "b")]
    once = diff({}, found, {US}, T0)
    twice = diff({}, list(reversed(found)), {US}, T0)
    assert once.events == twice.events


def test_a_target_resolves_only_its_own_findings_even_in_a_shared_region() -> None:
    prod = replace(finding("a"), target=TargetId("prod", "us-west-2"))
    staging = replace(finding("a"), account="210987654321", target=TargetId("staging", "us-west-2"))
    first = diff({}, [prod, staging], {prod.target, staging.target}, T0)
    assert len(first.open) == 2  # same resource id, two accounts: two findings

    # Only prod was re-checked: staging's finding cannot resolve.
    result = diff(first.open, [], {prod.target}, T1)

    assert [(e.kind, e.finding.account_alias) for e in result.events] == [
        (EventKind.RESOLVED, "prod")
    ]
    assert [o.finding.account_alias for o in result.open.values()] == ["staging"]
