"""Remediation plans: for each in-force deployment that names a flagged version, the revision
that moves only those versions to their recommendation, re-resolved for every device class it
reaches (pure).

A plan is `ok` when every flagged version has a recommendation and the revision resolves alone
on every platform of its target's devices with ACTIVE versions only, and for every member
together with its other deployments; otherwise `blocked`, with the first reason. Recommendations
are chosen one component at a time, so a revision that moves several is re-resolved whole.
Without the whole picture (an incomplete scan, membership not read) every plan is blocked:
nothing may be created from a partial view.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from ggwatch.findings import Change, Finding, Plan, ResourceType, Rule, Verdict
from ggwatch.model import Deployment, Guidance, VersionRef
from ggwatch.rules.base import Scope
from ggwatch.rules.fleet import Fleet
from ggwatch.rules.recommend import Pairs, revision_resolutions

PLANNED_RULES = frozenset({Rule.DEPLOYMENT_DELETED, Rule.DEPLOYMENT_DISCONTINUED})


def propose(scope: Scope, findings: Iterable[Finding]) -> Iterator[Plan]:
    """One plan per in-force deployment of this target with a flagged root version."""
    changes: dict[str, list[Change]] = {}
    for f in findings:
        if f.target != scope.target.target or f.rule not in PLANNED_RULES:
            continue
        if f.resource_type is not ResourceType.DEPLOYMENT or f.details.component_name is None:
            continue
        changes.setdefault(f.resource_id, []).append(
            Change(
                f.details.component_name,
                f.details.component_version or "",
                f.details.recommended_version,
                f.rule,
            )
        )
    by_id = {d.deployment_id: d for d in scope.target.deployments}
    for deployment_id, moves in sorted(changes.items()):
        deployment = by_id[deployment_id]
        ordered = tuple(sorted(moves, key=lambda c: c.component_name))
        verdict, reason = judge(scope, deployment, ordered)
        yield Plan(
            target=scope.target.target,
            account=scope.target.account,
            deployment_id=deployment_id,
            deployment_name=deployment.name,
            target_arn=deployment.target_arn,
            revision_id=deployment.revision_id,
            changes=ordered,
            verdict=verdict,
            reason=reason,
            devices=sum(1 for _ in scope.fleet.members(deployment)) if scope.fleet.usable else 0,
        )


def judge(
    scope: Scope, deployment: Deployment, changes: tuple[Change, ...]
) -> tuple[Verdict, str | None]:
    fleet = scope.fleet
    if not fleet.usable:
        why = "the scan was incomplete" if not scope.target.complete else "membership not read"
        return Verdict.BLOCKED, f"The revision could not be re-resolved: {why}."
    stuck = [c for c in changes if c.to_version is None]
    if stuck:
        first = stuck[0]
        return Verdict.BLOCKED, (
            f"No version to move {first.component_name} {first.from_version} to."
        )
    _, pairs = fleet.roots_of(deployment)
    moved = dict(pairs)
    for change in changes:
        assert change.to_version is not None
        moved[change.component_name] = change.to_version
    revision: Pairs = tuple(sorted(moved.items()))
    return _resolves(fleet, deployment, revision)


def _resolves(fleet: Fleet, deployment: Deployment, revision: Pairs) -> tuple[Verdict, str | None]:
    for where, alone, result in revision_resolutions(fleet, deployment, revision):
        if result.failure is not None:
            return Verdict.BLOCKED, f"Fails on {where}: {result.failure.message}"
        if alone:
            flagged = [
                f"{name} {version} ({state})"
                for name, version in result.picks
                if (state := _not_active(fleet, VersionRef(name, version))) is not None
            ]
            if flagged:
                return Verdict.BLOCKED, f"On {where} it picks {', '.join(flagged)}."
    return Verdict.OK, None


def _not_active(fleet: Fleet, ref: VersionRef) -> str | None:
    """Why a pick is not a plain ACTIVE version; None if it is."""
    status = fleet.target.versions.get(ref)
    if status is None:
        return "guidance not read"  # cannot be vouched for
    if not status.exists:
        return "deleted"
    return None if status.guidance is Guidance.ACTIVE else status.guidance.value
