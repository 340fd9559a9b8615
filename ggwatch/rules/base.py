"""What every rule shares: how a finding is made for a target, and a deployment's facts."""

from __future__ import annotations

from dataclasses import replace

from ggwatch.findings import Details, Finding, ResourceType, Rule
from ggwatch.model import Deployment, TargetSnapshot
from ggwatch.rules.config import RulesConfig


def finding(
    config: RulesConfig,
    rule: Rule,
    target: TargetSnapshot,
    resource: tuple[ResourceType, str],
    message: str,
    details: Details,
) -> Finding:
    resource_type, resource_id = resource
    return Finding(
        rule=rule,
        severity=config.severity(rule),
        target=target.target,
        account=target.account,
        resource_type=resource_type,
        resource_id=resource_id,
        message=message,
        details=details,
    )


def with_deployment(details: Details, deployment: Deployment) -> Details:
    """Add the deployment's id, target and status to a finding's details."""
    return replace(
        details,
        deployment_id=deployment.deployment_id,
        target_arn=deployment.target_arn,
        deployment_status=deployment.status,
    )


def label(deployment: Deployment) -> str:
    """How a message names a deployment: its name, else its id."""
    return deployment.name or deployment.deployment_id
