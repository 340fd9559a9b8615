"""Findings: what the rules report. Rule ids and the JSON shape are a public interface."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ggwatch.model import TargetId


class Severity(StrEnum):
    CRITICAL = "critical"
    WARNING = "warning"
    INFO = "info"

    @property
    def rank(self) -> int:
        """Higher is worse; for ordering and --fail-on thresholds."""
        return {"critical": 3, "warning": 2, "info": 1}[self.value]


class Rule(StrEnum):
    DEPLOYMENT_DELETED = "deployment-uses-deleted-component"
    DEPLOYMENT_DISCONTINUED = "deployment-uses-discontinued-component"
    DEVICE_DELETED = "device-runs-deleted-component"
    DEVICE_DISCONTINUED = "device-runs-discontinued-component"
    STALE_DEPLOYMENT = "stale-deployment"


DEFAULT_SEVERITY: dict[Rule, Severity] = {
    Rule.DEPLOYMENT_DELETED: Severity.CRITICAL,
    Rule.DEPLOYMENT_DISCONTINUED: Severity.WARNING,
    Rule.DEVICE_DELETED: Severity.CRITICAL,
    Rule.DEVICE_DISCONTINUED: Severity.WARNING,
    Rule.STALE_DEPLOYMENT: Severity.INFO,
}


class ResourceType(StrEnum):
    DEPLOYMENT = "deployment"
    CORE_DEVICE = "core-device"


@dataclass(frozen=True, slots=True)
class Details:
    """Facts behind a finding; a field is None where it does not apply."""

    component_name: str | None = None
    component_version: str | None = None
    vendor_guidance: str | None = None
    vendor_guidance_message: str | None = None
    recommended_version: str | None = None
    deployment_id: str | None = None
    target_arn: str | None = None
    deployment_status: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.component_name is not None:
            # Component rules always carry all five keys, null where unknown.
            out.update(
                component_name=self.component_name,
                component_version=self.component_version,
                vendor_guidance=self.vendor_guidance,
                vendor_guidance_message=self.vendor_guidance_message,
                recommended_version=self.recommended_version,
            )
        if self.deployment_id is not None:
            out.update(
                deployment_id=self.deployment_id,
                target_arn=self.target_arn,
                deployment_status=self.deployment_status,
            )
        return out


@dataclass(frozen=True, slots=True)
class Finding:
    rule: Rule
    severity: Severity
    target: TargetId
    account: str | None
    resource_type: ResourceType
    resource_id: str
    message: str
    details: Details

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def account_alias(self) -> str:
        return self.target.alias

    @property
    def key(self) -> tuple[str, ...]:
        """Identity across scans: the same problem on the same resource is the same finding."""
        return (
            self.rule.value,
            self.account_alias,
            self.account or "",
            self.region,
            self.resource_type.value,
            self.resource_id,
            self.details.component_name or "",
            self.details.component_version or "",
        )

    @property
    def sort_key(self) -> tuple[Any, ...]:
        return (-self.severity.rank, *self.key)

    def to_json(self) -> dict[str, Any]:
        return {
            "rule": self.rule.value,
            "severity": self.severity.value,
            "region": self.region,
            "account": self.account,
            "account_alias": self.account_alias,
            "resource_type": self.resource_type.value,
            "resource_id": self.resource_id,
            "message": self.message,
            "details": self.details.to_json(),
        }
