"""What every rule shares: how a finding is made for a target, and a deployment's facts."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field, replace

from ggwatch.findings import Details, Finding, ResourceType, Rule
from ggwatch.model import Deployment, TargetSnapshot
from ggwatch.names import partition
from ggwatch.rules.config import RulesConfig
from ggwatch.rules.fleet import Fleet


@dataclass(frozen=True, slots=True)
class Scope:
    """What a rule family is given for one target: the snapshot, the configuration, the time,
    and the target's resolution view, shared by every family of one evaluation."""

    target: TargetSnapshot
    config: RulesConfig
    now: dt.datetime
    fleet: Fleet = field(init=False)

    def __post_init__(self) -> None:
        defer = self.config.conflict_reading == "deferred"
        object.__setattr__(self, "fleet", Fleet(self.target, defer=defer))


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


def device_arn(target: TargetSnapshot, thing_name: str) -> str:
    """A core device's thing ARN, by which exclusions match it (`*` for an unknown account)."""
    where = f"{partition(target.region)}:iot:{target.region}:{target.account or '*'}"
    return f"arn:{where}:thing/{thing_name}"


def label(deployment: Deployment) -> str:
    """How a message names a deployment: its name, else its id."""
    return deployment.name or deployment.deployment_id
