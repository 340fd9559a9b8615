"""What may be deleted: pure decisions over immutable values, no I/O, no clock reads.

Two gates, the same for every trigger (the daemon's cycle after a scan, and an Alertmanager
webhook naming deployments). `select` picks candidates from a complete scan: open
stale-deployment findings past the grace period, not excluded, within the blast-radius cap
(over all of the target's candidates, whatever a request names) and the per-cycle cap (what is
left of it since the scan). `recheck` looks at a fresh GetDeployment answer just before the
delete: still not latest, not ACTIVE, still old enough, not retained, not excluded. Either gate
says why it says no; `HELD_BACK` are the reasons that may pass later by themselves.
"""

from __future__ import annotations

import datetime as dt
import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import NamedTuple

from ggwatch.findings import Rule
from ggwatch.model import Deployment, TargetId, TargetSnapshot
from ggwatch.tracker import OpenFinding

RETAIN_TAG = ("ggwatch:retain", "true")


class Skip(StrEnum):
    """Why a deployment is not deleted; bounded, so it can label a metric."""

    INCOMPLETE_SCAN = "incomplete_scan"
    NOT_LISTED = "not_listed"
    GRACE = "grace_period"
    EXCLUDED_TARGET = "excluded_target"
    EXCLUDED_NAME = "excluded_name"
    RETAINED = "retained_tag"
    LATEST = "latest_for_target"
    ACTIVE = "active"
    TOO_YOUNG = "too_young"
    BLAST_RADIUS = "blast_radius"
    PER_CYCLE = "per_cycle_cap"
    CONFLICT = "conflict"
    ARCHIVE_FAILED = "archive_failed"
    AWS_ERROR = "aws_error"
    INVALID = "invalid_request"
    NOT_FOUND = "not_found"  # named by a request, but no such deployment (listed, or at re-check)
    NOT_STALE = "not_stale"  # named by a request, but no open stale-deployment finding
    DEADLINE = "deadline"  # the request's time ran out before its turn
    HELD_BY_OTHER = "held_by_other"  # another replica archived it first and deletes it


# What is not done now but may be later, unasked: answered as held back, not as refused.
HELD_BACK = frozenset(
    {Skip.GRACE, Skip.BLAST_RADIUS, Skip.PER_CYCLE, Skip.DEADLINE, Skip.INCOMPLETE_SCAN}
)


@dataclass(frozen=True, slots=True)
class Policy:
    """Everything that decides what cleanup does: its mode and triggers, the guards, and the
    pace of deletions."""

    stale_after_days: float
    grace_seconds: float
    max_percent: float
    max_per_cycle: int
    exclude_target_arns: tuple[str, ...] = ()
    exclude_deployment_names: tuple[str, ...] = ()
    mode: str = "dry-run"  # "off", "dry-run" or "enforce"
    on_scan: bool = True  # False: only requests (the webhook) trigger deletions
    rate_per_second: float = 1.0  # deletions, at most


@dataclass(frozen=True, slots=True)
class Candidate:
    target: TargetId
    account: str | None
    deployment_id: str
    target_arn: str
    name: str | None


@dataclass(frozen=True, slots=True)
class Selection:
    candidates: tuple[Candidate, ...]
    skipped: tuple[tuple[str, Skip], ...]  # (deployment id, why)
    # In their grace period: deleted early only if their archive already exists (a crash
    # between archive and delete), see the executor.
    waiting: tuple[Candidate, ...] = ()
    blocked: str | None = None  # the whole target is left alone, and why


def excluded(policy: Policy, target_arn: str, name: str | None) -> Skip | None:
    if any(fnmatch.fnmatchcase(target_arn, glob) for glob in policy.exclude_target_arns):
        return Skip.EXCLUDED_TARGET
    if name is not None and any(
        fnmatch.fnmatchcase(name, glob) for glob in policy.exclude_deployment_names
    ):
        return Skip.EXCLUDED_NAME
    return None


def retained(tags: Mapping[str, str]) -> bool:
    key, value = RETAIN_TAG
    return tags.get(key, "").strip().lower() == value


def _candidate(target: TargetSnapshot, deployment: Deployment) -> Candidate:
    return Candidate(
        target.target,
        target.account,
        deployment.deployment_id,
        deployment.target_arn,
        deployment.name,
    )


def select(
    target: TargetSnapshot,
    open_findings: Sequence[OpenFinding],
    policy: Policy,
    now: dt.datetime,
    *,
    requested: Sequence[str] | None = None,
    allowance: int | None = None,
) -> Selection:
    """Candidates for deletion in one target, from its latest scan (which must be complete).

    With `requested` (a webhook's deployment ids), only those are candidates, and each
    requested id gets an answer: a candidate, waiting (grace), or skipped with why, `NOT_FOUND`
    when the scan listed no such deployment. The blast radius is still measured over every
    candidate of the target. `allowance` is what is left of the per-cycle cap (default all).
    """
    stale = sorted(
        (
            o
            for o in open_findings
            if o.finding.rule is Rule.STALE_DEPLOYMENT and o.finding.target == target.target
        ),
        key=lambda o: (o.since, o.finding.resource_id),
    )
    if not target.complete:
        ids = requested if requested is not None else [o.finding.resource_id for o in stale]
        return Selection((), tuple((i, Skip.INCOMPLETE_SCAN) for i in dict.fromkeys(ids)))
    ready, waiting, skipped = found = _sort(target, stale, policy, now)
    total = len(target.deployments)
    # In decimal, as configured: 69 of 375 is exactly 18.4%, though not in binary floating point.
    blocked = None
    if ready and len(ready) * 100 > total * Decimal(repr(policy.max_percent)):
        blocked = (
            f"{len(ready)} candidates are more than {policy.max_percent:g}% of the target's "
            f"{total} deployments"
        )
    if requested is not None:
        return _requested(target, requested, found, blocked, policy, allowance)
    if blocked is not None:
        skipped.extend((c.deployment_id, Skip.BLAST_RADIUS) for c in ready)
        return Selection((), tuple(skipped), (), blocked)
    cap = _cap(policy, allowance)
    skipped.extend((c.deployment_id, Skip.PER_CYCLE) for c in ready[cap:])
    return Selection(tuple(ready[:cap]), tuple(skipped), tuple(waiting))


def _cap(policy: Policy, allowance: int | None) -> int:
    return max(
        0, policy.max_per_cycle if allowance is None else min(allowance, policy.max_per_cycle)
    )


class _Sorted(NamedTuple):
    ready: list[Candidate]
    waiting: list[Candidate]  # in their grace period
    skipped: list[tuple[str, Skip]]


def _sort(
    target: TargetSnapshot, stale: Sequence[OpenFinding], policy: Policy, now: dt.datetime
) -> _Sorted:
    """The target's stale findings, oldest first, as ready, waiting (grace) and skipped."""
    listed = {d.deployment_id: d for d in target.deployments}
    ready: list[Candidate] = []
    waiting: list[Candidate] = []
    skipped: list[tuple[str, Skip]] = []
    for item in stale:
        deployment = listed.get(item.finding.resource_id)
        if deployment is None:
            skipped.append((item.finding.resource_id, Skip.NOT_LISTED))
            continue
        reason = excluded(policy, deployment.target_arn, deployment.name)
        detail = target.details.get(deployment.deployment_id)
        if reason is None and detail is not None and retained(detail.tags):
            reason = Skip.RETAINED
        if reason is not None:
            skipped.append((deployment.deployment_id, reason))
        elif (now - item.since).total_seconds() < policy.grace_seconds:
            waiting.append(_candidate(target, deployment))
        else:
            ready.append(_candidate(target, deployment))
    return _Sorted(ready, waiting, skipped)


def _requested(
    target: TargetSnapshot,
    requested: Sequence[str],
    found: _Sorted,
    blocked: str | None,
    policy: Policy,
    allowance: int | None,
) -> Selection:
    """Every requested id answered once, in the order asked; candidates up to the cap."""
    ready_ids = {c.deployment_id: c for c in found.ready}
    waiting_ids = {c.deployment_id for c in found.waiting}
    skip = dict(found.skipped)
    listed = {d.deployment_id for d in target.deployments}
    cap = _cap(policy, allowance)
    chosen: list[Candidate] = []
    answers: list[tuple[str, Skip]] = []
    for deployment_id in dict.fromkeys(requested):
        if deployment_id in ready_ids:
            if blocked is not None:
                answers.append((deployment_id, Skip.BLAST_RADIUS))
            elif len(chosen) < cap:
                chosen.append(ready_ids[deployment_id])
            else:
                answers.append((deployment_id, Skip.PER_CYCLE))
        elif deployment_id in waiting_ids:
            answers.append((deployment_id, Skip.GRACE))
        elif deployment_id in skip:
            answers.append((deployment_id, skip[deployment_id]))
        elif deployment_id in listed:
            answers.append((deployment_id, Skip.NOT_STALE))
        else:
            answers.append((deployment_id, Skip.NOT_FOUND))
    return Selection(tuple(chosen), tuple(answers), (), blocked)


@dataclass(frozen=True, slots=True)
class Fresh:
    """What a fresh GetDeployment says, as the re-check needs it."""

    deployment_id: str
    target_arn: str
    name: str | None
    status: str
    is_latest: bool
    created: dt.datetime
    tags: Mapping[str, str]


def recheck(fresh: Fresh, policy: Policy, now: dt.datetime) -> Skip | None:
    """None when the deployment may go; else why not. Conservative on every doubt."""
    if fresh.is_latest:
        return Skip.LATEST
    if fresh.status == "ACTIVE":
        return Skip.ACTIVE  # it must be cancelled first, and ggwatch never cancels
    if now - fresh.created <= dt.timedelta(days=policy.stale_after_days):
        return Skip.TOO_YOUNG
    if retained(fresh.tags):
        return Skip.RETAINED
    return excluded(policy, fresh.target_arn, fresh.name)
