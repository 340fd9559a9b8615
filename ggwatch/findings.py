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
    DEPLOYMENT_UNRESOLVABLE = "deployment-unresolvable"
    DEVICE_UNRESOLVABLE = "device-unresolvable"
    DEPLOYMENT_DEPENDENCY_DISCONTINUED = "deployment-dependency-discontinued"


DEFAULT_SEVERITY: dict[Rule, Severity] = {
    Rule.DEPLOYMENT_DELETED: Severity.CRITICAL,
    Rule.DEPLOYMENT_DISCONTINUED: Severity.WARNING,
    Rule.DEVICE_DELETED: Severity.CRITICAL,
    Rule.DEVICE_DISCONTINUED: Severity.WARNING,
    Rule.STALE_DEPLOYMENT: Severity.INFO,
    Rule.DEPLOYMENT_UNRESOLVABLE: Severity.CRITICAL,
    Rule.DEVICE_UNRESOLVABLE: Severity.CRITICAL,
    Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED: Severity.WARNING,
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
    # The newest ACTIVE version that keeps everything it reaches resolvable, within the
    # upgrade policy; `latest_version` is the newest ACTIVE one regardless.
    recommended_version: str | None = None
    deployment_id: str | None = None
    target_arn: str | None = None
    deployment_status: str | None = None
    latest_version: str | None = None
    # Why no version is recommended, when none is (None: one is, or none was looked for).
    recommendation_note: str | None = None
    # Resolution findings: every requirement on the component, by the source the nucleus
    # names it by (thinggroup/X, thing/Y, or the dependent component), in the walk's order.
    requirements: tuple[tuple[str, str], ...] | None = None
    platform: str | None = None  # "os/architecture"
    deployment_ids: tuple[str, ...] | None = None  # the in-force deployments involved
    devices_affected: int | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        if self.component_name is not None:
            # Component rules always carry these keys, null where unknown.
            out.update(
                component_name=self.component_name,
                component_version=self.component_version,
                vendor_guidance=self.vendor_guidance,
                vendor_guidance_message=self.vendor_guidance_message,
                recommended_version=self.recommended_version,
                latest_version=self.latest_version,
            )
            if self.recommendation_note is not None:
                out["recommendation_note"] = self.recommendation_note
        if self.deployment_id is not None:
            out.update(
                deployment_id=self.deployment_id,
                target_arn=self.target_arn,
                deployment_status=self.deployment_status,
            )
        if self.requirements is not None:
            out["requirements"] = dict(self.requirements)
        if self.platform is not None:
            out["platform"] = self.platform
        if self.deployment_ids is not None:
            out["deployment_ids"] = list(self.deployment_ids)
        if self.devices_affected is not None:
            out["devices_affected"] = self.devices_affected
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
            # One deployment-unresolvable finding per platform; other rules' findings keep
            # their identity while the platforms they list change.
            (self.details.platform or "") if self.rule is Rule.DEPLOYMENT_UNRESOLVABLE else "",
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


class Verdict(StrEnum):
    OK = "ok"  # resolves for every device class it reaches, ACTIVE versions only
    BLOCKED = "blocked"  # with the reason


@dataclass(frozen=True, slots=True)
class Change:
    """One flagged root component of a deployment and where its plan moves it."""

    component_name: str
    from_version: str
    to_version: str | None  # None: nothing qualifies (the plan is blocked)
    rule: Rule

    def to_json(self) -> dict[str, Any]:
        return {
            "component_name": self.component_name,
            "from_version": self.from_version,
            "to_version": self.to_version,
            "rule": self.rule.value,
        }


@dataclass(frozen=True, slots=True)
class Plan:
    """A proposed revision of one in-force deployment: the same deployment with only its
    flagged versions moved to their recommendation, and whether it resolves."""

    target: TargetId
    account: str | None
    deployment_id: str  # the base revision's deployment
    deployment_name: str | None
    target_arn: str
    revision_id: str | None
    changes: tuple[Change, ...]
    verdict: Verdict
    reason: str | None  # why blocked
    devices: int  # core devices the target reaches now

    @property
    def region(self) -> str:
        return self.target.region

    @property
    def moves(self) -> tuple[tuple[str, str], ...]:
        """(component, version) for each change that has a version to move to."""
        return tuple((c.component_name, c.to_version) for c in self.changes if c.to_version)

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "account_alias": self.target.alias,
            "region": self.region,
            "deployment_id": self.deployment_id,
            "deployment_name": self.deployment_name,
            "target_arn": self.target_arn,
            "revision_id": self.revision_id,
            "verdict": self.verdict.value,
            "reason": self.reason,
            "devices": self.devices,
            "changes": [c.to_json() for c in self.changes],
        }
