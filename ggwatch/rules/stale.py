"""Deployments that no longer do anything: superseded revisions and cancelled latest ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

from ggwatch.findings import Details, Finding, ResourceType, Rule
from ggwatch.rules.base import Scope, finding, label, with_deployment


def stale_findings(scope: Scope) -> Iterator[Finding]:
    """Superseded or cancelled deployments older than `stale_after_days`."""
    target, config, now = scope.target, scope.config, scope.now
    rule = Rule.STALE_DEPLOYMENT
    if not config.enabled(rule):
        return
    cutoff = now - dt.timedelta(days=config.stale_after_days)
    exclusions = config.exclusions
    for deployment in target.deployments:
        if deployment.in_force or deployment.created >= cutoff:  # stale: strictly older
            continue
        if exclusions.target(deployment.target_arn):
            continue
        detail = target.details.get(deployment.deployment_id)
        if detail is not None and exclusions.tagged(detail.tags):
            continue
        age_days = (now - deployment.created).total_seconds() / 86400
        why = "superseded" if not deployment.is_latest else "cancelled"
        yield finding(
            config,
            rule,
            target,
            (ResourceType.DEPLOYMENT, deployment.deployment_id),
            f"Deployment '{label(deployment)}' for {deployment.target_arn} is {why} "
            f"({deployment.status}) and {age_days:.0f} days old.",
            with_deployment(Details(), deployment),
        )
