"""What the rules are told: per-rule switches and severities, the stale age, exclusions.

Plain validated values (pydantic), no I/O: the settings embed them and the pure rules read them.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from ggwatch.findings import DEFAULT_SEVERITY, Rule, Severity


class RuleOverride(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    enabled: bool = Field(
        default=True, description="false: the rule is not evaluated and raises no findings."
    )
    severity: Severity | None = Field(
        default=None,
        description="critical, warning or info, for this rule's findings. None: the rule's "
        "default severity.",
    )


class Exclusions(BaseModel):
    """Findings to leave out. Globs use shell syntax (*, ?, [..]) and match whole values."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    target_arns: tuple[str, ...] = Field(
        default=(),
        description="Deployment target ARNs (thing or thing group); a core device matches by "
        "its thing ARN, arn:PARTITION:iot:REGION:ACCOUNT:thing/NAME (PARTITION aws, aws-cn or "
        "aws-us-gov, as in the deployments' target ARNs).",
    )
    component_names: tuple[str, ...] = Field(
        default=(),
        description="Component names (not ARNs), such as com.example.*; findings about a "
        "matching component are left out.",
    )
    deployment_tags: Mapping[str, str] = Field(
        default_factory=dict,
        description="tag key -> value ('*' for any value). Applies where a deployment's tags "
        "were read: the in-force deployments, whose details every scan fetches.",
    )

    def target(self, arn: str) -> bool:
        return any(fnmatch.fnmatchcase(arn, glob) for glob in self.target_arns)

    def component(self, name: str) -> bool:
        return any(fnmatch.fnmatchcase(name, glob) for glob in self.component_names)

    def tagged(self, tags: Mapping[str, str]) -> bool:
        return any(
            key in tags and (value == "*" or tags[key] == value)
            for key, value in self.deployment_tags.items()
        )


class RulesConfig(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    stale_after_days: float = Field(default=30.0, ge=0.0)
    rules: Mapping[Rule, RuleOverride] = Field(default_factory=dict)
    exclusions: Exclusions = Exclusions()
    upgrade_policy: Literal["patch", "minor", "major"] = Field(
        default="minor",
        description="How far a recommended version may move from the version in use: patch "
        "(the same minor version), minor (the same major version) or major (any version). "
        "Newer versions are tried first; an older one only when no newer one resolves.",
    )

    conflict_reading: Literal["deferred", "eager"] = Field(
        default="deferred",
        description="When a component no version satisfies fails a resolution (no source "
        "says): deferred, once nothing that requires it is still to be re-picked, or eager, "
        "at the first visit that finds none.",
    )

    def enabled(self, rule: Rule) -> bool:
        override = self.rules.get(rule)
        return override is None or override.enabled

    def severity(self, rule: Rule) -> Severity:
        override = self.rules.get(rule)
        if override is not None and override.severity is not None:
            return override.severity
        return DEFAULT_SEVERITY[rule]
