"""Deployments in force and core devices that use DISCONTINUED or DELETED versions."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from functools import partial

from ggwatch.findings import Details, Finding, ResourceType, Rule
from ggwatch.model import Guidance, TargetSnapshot, VersionRef, VersionStatus
from ggwatch.names import partition
from ggwatch.rules.base import finding, label, with_deployment
from ggwatch.rules.config import RulesConfig

DEPLOYMENT_RULES = {
    Guidance.DELETED: Rule.DEPLOYMENT_DELETED,
    Guidance.DISCONTINUED: Rule.DEPLOYMENT_DISCONTINUED,
}
DEVICE_RULES = {
    Guidance.DELETED: Rule.DEVICE_DELETED,
    Guidance.DISCONTINUED: Rule.DEVICE_DISCONTINUED,
}


def describe_status(status: VersionStatus) -> str:
    """The guidance in words, with the publisher's message when there is one."""
    if not status.exists:
        return "which no longer exists (DescribeComponent: not found)"
    text = f"which its publisher marked {status.guidance.value}"
    # Publishers end their messages with a period; the finding adds its own.
    return f"{text}: {status.message.rstrip(' .')}" if status.message else text


def _advice(recommended: str | None) -> str:
    return f" Move to {recommended}." if recommended else " No ACTIVE version is available."


def _component_details(target: TargetSnapshot, ref: VersionRef, status: VersionStatus) -> Details:
    return Details(
        component_name=ref.name,
        component_version=ref.version,
        vendor_guidance=status.guidance.value,
        vendor_guidance_message=status.message,
        recommended_version=target.recommended.get(ref.name),
    )


def _flagged(
    target: TargetSnapshot, refs: tuple[VersionRef, ...], config: RulesConfig
) -> Iterator[tuple[VersionRef, VersionStatus]]:
    for ref in sorted(set(refs)):
        status = target.versions.get(ref)
        # Not described (a failed call) is unknown, not ACTIVE: the target is then incomplete.
        if status is None or not status.flagged or config.exclusions.component(ref.name):
            continue
        yield ref, status


def _component_findings(
    target: TargetSnapshot,
    config: RulesConfig,
    refs: tuple[VersionRef, ...],
    rules: Mapping[Guidance, Rule],
    resource: tuple[ResourceType, str],
    subject: str,
    extend: Callable[[Details], Details] = lambda details: details,
) -> Iterator[Finding]:
    """One finding per flagged version a resource names; `subject` starts the message."""
    for ref, status in _flagged(target, refs, config):
        rule = rules[status.guidance]
        if not config.enabled(rule):
            continue
        details = _component_details(target, ref, status)
        message = f"{subject} {ref.name} {ref.version}, {describe_status(status)}."
        yield finding(
            config,
            rule,
            target,
            resource,
            message + _advice(details.recommended_version),
            extend(details),
        )


def deployment_findings(
    target: TargetSnapshot, config: RulesConfig, _now: dt.datetime
) -> Iterator[Finding]:
    """Deployments in force that name a DISCONTINUED or DELETED version."""
    exclusions = config.exclusions
    for deployment in target.deployments:
        if not deployment.in_force or exclusions.target(deployment.target_arn):
            continue
        detail = target.details.get(deployment.deployment_id)
        if detail is None or exclusions.tagged(detail.tags):
            continue
        yield from _component_findings(
            target,
            config,
            detail.components,
            DEPLOYMENT_RULES,
            (ResourceType.DEPLOYMENT, deployment.deployment_id),
            f"Deployment '{label(deployment)}' for {deployment.target_arn} names",
            partial(with_deployment, deployment=deployment),
        )


def device_findings(
    target: TargetSnapshot, config: RulesConfig, _now: dt.datetime
) -> Iterator[Finding]:
    """Core devices that run a DISCONTINUED or DELETED version."""
    exclusions = config.exclusions
    for device in target.devices:
        if device.installed is None:
            continue
        where = f"{partition(target.region)}:iot:{target.region}:{target.account or '*'}"
        thing_arn = f"arn:{where}:thing/{device.thing_name}"
        if exclusions.target(thing_arn):
            continue
        yield from _component_findings(
            target,
            config,
            tuple(component.ref for component in device.installed),
            DEVICE_RULES,
            (ResourceType.CORE_DEVICE, device.thing_name),
            f"Core device {device.thing_name} runs",
        )
