"""Deployments in force and core devices that use DISCONTINUED or DELETED versions."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from functools import partial

from ggwatch.findings import Details, Finding, ResourceType, Rule
from ggwatch.model import (
    CoreDevice,
    Deployment,
    Guidance,
    TargetSnapshot,
    VersionRef,
    VersionStatus,
)
from ggwatch.rules import recommend
from ggwatch.rules.base import Scope, device_arn, finding, label, with_deployment
from ggwatch.rules.config import RulesConfig
from ggwatch.rules.recommend import Advice

Advise = Callable[[VersionRef], Advice]

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


def advice_text(advice: Advice) -> str:
    if advice.version is not None:
        return f" Move to {advice.version}."
    if advice.note is not None:
        return f" {advice.note}"
    return " No ACTIVE version is available."


def _component_details(ref: VersionRef, status: VersionStatus, advice: Advice) -> Details:
    return Details(
        component_name=ref.name,
        component_version=ref.version,
        vendor_guidance=status.guidance.value,
        vendor_guidance_message=status.message,
        recommended_version=advice.version,
        latest_version=advice.latest,
        recommendation_note=advice.note if advice.version is None else None,
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
    scope: Scope,
    refs: tuple[VersionRef, ...],
    rules: Mapping[Guidance, Rule],
    resource: tuple[ResourceType, str],
    subject: str,
    advise: Advise,
    extend: Callable[[Details], Details] = lambda details: details,
) -> Iterator[Finding]:
    """One finding per flagged version a resource names; `subject` starts the message."""
    target, config = scope.target, scope.config
    for ref, status in _flagged(target, refs, config):
        rule = rules[status.guidance]
        if not config.enabled(rule):
            continue
        advice = advise(ref)
        message = f"{subject} {ref.name} {ref.version}, {describe_status(status)}."
        yield finding(
            config,
            rule,
            target,
            resource,
            message + advice_text(advice),
            extend(_component_details(ref, status, advice)),
        )


def deployment_findings(scope: Scope) -> Iterator[Finding]:
    """Deployments in force that name a DISCONTINUED or DELETED version."""
    target, config, policy = scope.target, scope.config, scope.config.upgrade_policy
    exclusions = config.exclusions
    for deployment in target.deployments:
        if not deployment.in_force or exclusions.target(deployment.target_arn):
            continue
        detail = target.details.get(deployment.deployment_id)
        if detail is None or exclusions.tagged(detail.tags):
            continue

        def advise(ref: VersionRef, deployment: Deployment = deployment) -> Advice:
            return recommend.for_deployment(scope.fleet, deployment, ref.name, ref.version, policy)

        yield from _component_findings(
            scope,
            detail.components,
            DEPLOYMENT_RULES,
            (ResourceType.DEPLOYMENT, deployment.deployment_id),
            f"Deployment '{label(deployment)}' for {deployment.target_arn} names",
            advise,
            partial(with_deployment, deployment=deployment),
        )


def device_findings(scope: Scope) -> Iterator[Finding]:
    """Core devices that run a DISCONTINUED or DELETED version."""
    target, config, policy = scope.target, scope.config, scope.config.upgrade_policy
    exclusions = config.exclusions
    for device in target.devices:
        if device.installed is None:
            continue
        if exclusions.target(device_arn(target, device.thing_name)):
            continue

        def advise_device(ref: VersionRef, device: CoreDevice = device) -> Advice:
            return recommend.for_device(scope.fleet, device, ref.name, ref.version, policy)

        yield from _component_findings(
            scope,
            tuple(component.ref for component in device.installed),
            DEVICE_RULES,
            (ResourceType.CORE_DEVICE, device.thing_name),
            f"Core device {device.thing_name} runs",
            advise_device,
        )
