"""What the devices' own dependency resolution will do with the deployments in force.

- `deployment-unresolvable`: a thing group's deployment alone cannot be resolved on a platform
  of the group's devices: a device that joins the group fails it, while members that already
  run what it needs keep it. (A thing's own deployment has no joiners: its device is
  device-unresolvable's.)
- `device-unresolvable`: everything that reaches a core device, over what it runs now, cannot
  be resolved: its next deployment fails.
- `deployment-dependency-discontinued`: the deployment's resolution picks a DISCONTINUED
  version of a component it does not name itself.

Silent where the picture is partial (an incomplete scan, membership not read): a missing
recipe would read as a version nobody can pick. Messages quote the nucleus's own failure text.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace

from ggwatch.findings import Details, Finding, ResourceType, Rule
from ggwatch.model import Deployment, VersionRef
from ggwatch.resolution import Failure, Platform, Resolution
from ggwatch.rules.base import Scope, device_arn, finding, label, with_deployment
from ggwatch.rules.fleet import Fleet, platform_label, platform_of, source_of
from ggwatch.rules.recommend import latest_active


def _excluded(scope: Scope, deployment: Deployment) -> bool:
    exclusions = scope.config.exclusions
    detail = scope.target.details[deployment.deployment_id]
    return exclusions.target(deployment.target_arn) or exclusions.tagged(detail.tags)


def joinable(deployment: Deployment) -> bool:
    """Whether devices can join the deployment's target: a thing group. A thing's own
    deployment has one device, whose fate is device-unresolvable's."""
    return source_of(deployment.target_arn).startswith("thinggroup/")


def _considered(scope: Scope) -> Iterator[Deployment]:
    for _, deployment in sorted(scope.fleet.in_force.items()):
        if not _excluded(scope, deployment):
            yield deployment


def _platforms(fleet: Fleet, deployment: Deployment) -> list[tuple[Platform, int]]:
    counts = Counter(p for p in map(platform_of, fleet.members(deployment)) if p is not None)
    return sorted(counts.items(), key=lambda item: platform_label(item[0]))


def _failure_details(failure: Failure, platform: Platform, ids: tuple[str, ...]) -> Details:
    return Details(
        component_name=failure.component,
        requirements=failure.requirements,
        platform=platform_label(platform),
        deployment_ids=ids,
    )


def deployment_resolution_findings(scope: Scope) -> Iterator[Finding]:
    """Deployments that a new device on one of the target's platforms cannot resolve, and the
    DISCONTINUED dependencies the others pull in."""
    fleet, config = scope.fleet, scope.config
    unresolvable = config.enabled(Rule.DEPLOYMENT_UNRESOLVABLE)
    discontinued = config.enabled(Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED)
    if not fleet.usable or not (unresolvable or discontinued):
        return
    for deployment in _considered(scope):
        picked: dict[str, list[tuple[Platform, Resolution]]] = {}
        for platform, members in _platforms(fleet, deployment):
            result = fleet.alone(deployment, platform)
            if result.failure is not None:
                if (
                    unresolvable
                    and joinable(deployment)
                    and not config.exclusions.component(result.failure.component)
                ):
                    yield _unresolvable(scope, deployment, platform, members, result.failure)
                continue
            names = {name for name, _ in fleet.roots_of(deployment)[1]}
            for name in result.discontinued:
                if name not in names and not config.exclusions.component(name):
                    picked.setdefault(name, []).append((platform, result))
        if discontinued:
            for name, where in sorted(picked.items()):
                yield from _discontinued(scope, deployment, name, where)


def _unresolvable(
    scope: Scope, deployment: Deployment, platform: Platform, members: int, failure: Failure
) -> Finding:
    details = _failure_details(failure, platform, (deployment.deployment_id,))
    details = replace(with_deployment(details, deployment), devices_affected=members)
    message = (
        f"Deployment '{label(deployment)}' for {deployment.target_arn} cannot be resolved on "
        f"{platform} by a device that joins its target ({members} member(s) on this "
        f"platform): {failure.message}"
    )
    return finding(
        scope.config,
        Rule.DEPLOYMENT_UNRESOLVABLE,
        scope.target,
        (ResourceType.DEPLOYMENT, deployment.deployment_id),
        message,
        details,
    )


def _discontinued(
    scope: Scope,
    deployment: Deployment,
    name: str,
    where: list[tuple[Platform, Resolution]],
) -> Iterator[Finding]:
    """One finding per DISCONTINUED version picked, whatever the platforms that pick it."""
    versions: dict[str, list[tuple[Platform, Resolution]]] = {}
    for platform, result in where:
        version = result.version(name)
        if version is not None:
            versions.setdefault(version, []).append((platform, result))
    for version, seen in sorted(versions.items()):
        status = scope.target.versions.get(VersionRef(name, version))
        requirements = seen[0][1].requirements_on(name)
        required = ", ".join(f"{source} requires {rng}" for source, rng in requirements)
        guidance = f": {status.message.rstrip(' .')}" if status and status.message else ""
        latest = latest_active(scope.target, name)
        note = (
            f"Move the component that requires it ({required}) to a version whose range "
            "admits an ACTIVE version."
        )
        message = (
            f"Deployment '{label(deployment)}' for {deployment.target_arn} pulls in {name} "
            f"{version} as a dependency, which its publisher marked DISCONTINUED{guidance}. "
            f"{note}"
        )
        details = Details(
            component_name=name,
            component_version=version,
            vendor_guidance=status.guidance.value if status else None,
            vendor_guidance_message=status.message if status else None,
            latest_version=latest,
            recommendation_note=note,
            requirements=requirements,
            platform=", ".join(platform_label(p) for p, _ in seen),
            deployment_ids=(deployment.deployment_id,),
            devices_affected=sum(
                1
                for device in scope.fleet.members(deployment)
                if platform_of(device) in {p for p, _ in seen}
            ),
        )
        yield finding(
            scope.config,
            Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED,
            scope.target,
            (ResourceType.DEPLOYMENT, deployment.deployment_id),
            message,
            with_deployment(details, deployment),
        )


def device_resolution_findings(scope: Scope) -> Iterator[Finding]:
    """Core devices whose deployments in force, together, cannot be resolved."""
    fleet, config = scope.fleet, scope.config
    if not fleet.usable or not config.enabled(Rule.DEVICE_UNRESOLVABLE):
        return
    for device in scope.target.devices:
        result = fleet.device(device)
        if result is None or result.failure is None:
            continue
        failure = result.failure
        if config.exclusions.component(failure.component):
            continue
        # Silenced like a device's component findings (its thing ARN), and where a deployment
        # that reaches it is excluded (by its target or its tags).
        if config.exclusions.target(device_arn(scope.target, device.thing_name)):
            continue
        reach = fleet.reach(device).deployments
        if any(_excluded(scope, d) for d in reach):
            continue
        platform = platform_of(device)
        assert platform is not None  # fleet.device resolved it
        sources = ", ".join(f"'{label(d)}' ({source_of(d.target_arn)})" for d in reach)
        message = (
            f"Core device {device.thing_name} cannot resolve the deployments that reach it "
            f"({sources}); its next deployment fails: {failure.message}"
        )
        yield finding(
            config,
            Rule.DEVICE_UNRESOLVABLE,
            scope.target,
            (ResourceType.CORE_DEVICE, device.thing_name),
            message,
            _failure_details(failure, platform, tuple(d.deployment_id for d in reach)),
        )
