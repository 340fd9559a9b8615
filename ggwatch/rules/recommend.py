"""Where to move from a flagged version: the newest ACTIVE version, within the upgrade policy,
that keeps the deployment and every device it reaches resolvable (pure).

A candidate is a version whose recipe and guidance the scan read. For a deployment, the
candidate replaces the flagged version among its root components; the revision must resolve
alone on every platform of the target's devices (a new member) and, for each member, together
with the other deployments that reach it, over what it runs now. For a device that runs a
flagged dependency no deployment names, the advice is what its own resolution picks once the
flagged version is no longer kept.

`latest` is the newest ACTIVE version regardless of policy and resolution; `note` says why no
version is recommended when none is.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ggwatch.model import CoreDevice, Deployment, Guidance, TargetSnapshot, VersionRef
from ggwatch.resolution import Installed, Resolution, Roots, is_version, parse_version
from ggwatch.rules.fleet import Fleet, platform_of, source_of

Policy = Literal["patch", "minor", "major"]
Pairs = tuple[tuple[str, str], ...]

# How a note names the policy's reach: "within <words>".
POLICY_WORDS = {
    "patch": "the same minor version",
    "minor": "the same major version",
    "major": "any version",
}


@dataclass(frozen=True, slots=True)
class Advice:
    version: str | None  # recommended
    latest: str | None  # the newest ACTIVE version, whatever the policy
    note: str | None = None  # why none is recommended


def within(policy: Policy, current: str, candidate: str) -> bool:
    """Whether the policy allows moving from `current` to `candidate`."""
    if policy == "major":
        return True
    if not (is_version(current) and is_version(candidate)):
        return False
    a, b = parse_version(current), parse_version(candidate)
    if policy == "minor":
        return a.major == b.major
    return (a.major, a.minor) == (b.major, b.minor)


def latest_active(target: TargetSnapshot, name: str) -> str | None:
    return target.recommended.get(name)


def choices(fleet: Fleet, name: str, current: str, policy: Policy) -> list[str]:
    """ACTIVE versions of the component the scan read (recipe and guidance), within the
    policy, other than `current`, newest first (`upgrade_allowed`)."""
    out = []
    for candidate in fleet.catalogue.candidates(name):
        status = fleet.target.versions.get(VersionRef(name, candidate.version))
        if status is None or status.guidance is not Guidance.ACTIVE or not status.exists:
            continue
        if upgrade_allowed(policy, current, candidate.version):
            out.append(candidate.version)
    return out


def upgrade_allowed(policy: Policy, current: str, candidate: str) -> bool:
    """Whether a recommendation may move `current` to `candidate`: another version, within the
    policy, and a pre-release only from a pre-release (nobody wants to be moved from a release
    to a release candidate)."""
    if candidate == current or (_prerelease(candidate) and not _prerelease(current)):
        return False
    return within(policy, current, candidate)


def _prerelease(version: str) -> bool:
    return is_version(version) and bool(parse_version(version).prerelease)


def replaced(pairs: Pairs, name: str, version: str) -> Pairs:
    return tuple(sorted((n, version if n == name else v) for n, v in pairs))


def revision_resolutions(
    fleet: Fleet, deployment: Deployment, pairs: Pairs
) -> Iterator[tuple[str, bool, Resolution]]:
    """How a revision of `deployment` with root components `pairs` resolves: (where, alone,
    resolution) for each platform of a new member (alone) and each member device together
    with its other deployments, over what it runs (memoised per class)."""
    source = source_of(deployment.target_arn)
    members = list(fleet.members(deployment))
    platforms = sorted({p for p in map(platform_of, members) if p is not None}, key=str)
    for platform in platforms:
        alone = fleet.resolve(Roots(((source, pairs),)), platform)
        yield f"a new device on {platform.os}/{platform.architecture}", True, alone
    for device in members:
        where = platform_of(device)
        if where is None or device.installed is None:
            continue
        roots = tuple(
            (source, pairs) if d.deployment_id == deployment.deployment_id else fleet.roots_of(d)
            for d in fleet.reach(device).deployments
        )
        local = Installed.of({c.name: c.version for c in device.installed})
        yield f"core device {device.thing_name}", False, fleet.resolve(Roots(roots), where, local)


def revision_failures(
    fleet: Fleet, deployment: Deployment, pairs: Pairs
) -> Iterator[tuple[str, Resolution]]:
    """Where such a revision fails: (where, resolution)."""
    for where, _, result in revision_resolutions(fleet, deployment, pairs):
        if not result.ok:
            yield where, result


def for_deployment(
    fleet: Fleet, deployment: Deployment, name: str, current: str, policy: Policy
) -> Advice:
    key = (deployment.deployment_id, name, current, policy)
    known = fleet.advice.get(key)
    if known is None:
        known = fleet.advice[key] = _for_deployment(fleet, deployment, name, current, policy)
    return known


def _for_deployment(
    fleet: Fleet, deployment: Deployment, name: str, current: str, policy: Policy
) -> Advice:
    latest = latest_active(fleet.target, name)
    if not fleet.usable:
        return _unchecked(latest, name, current, policy)
    options = choices(fleet, name, current, policy)
    if not options:
        return Advice(None, latest, _no_choice(name, policy))
    _, pairs = fleet.roots_of(deployment)
    # A device that cannot resolve what reaches it now, for reasons of its own, does not rule
    # out every version: a candidate is judged on what it breaks, not on what was broken.
    broken = {
        where: result.failure.component
        for where, result in revision_failures(fleet, deployment, pairs)
        if result.failure is not None and result.failure.component != name
    }

    def excused(where: str, result: Resolution) -> bool:
        # The same component fails there with or without the move: not the candidate's doing.
        failure = result.failure
        return failure is not None and broken.get(where) == failure.component

    first_failure: str | None = None
    for version in options:
        revision = replaced(pairs, name, version)
        failure = next(
            (f for f in revision_failures(fleet, deployment, revision) if not excused(*f)),
            None,
        )
        if failure is None:
            return Advice(version, latest)
        if first_failure is None:
            where, result = failure
            assert result.failure is not None
            first_failure = f"{version} fails on {where}: {result.failure.message}"
    return Advice(
        None,
        latest,
        f"No ACTIVE version of {name} within {POLICY_WORDS[policy]} keeps the deployment "
        f"resolvable; the newest, {first_failure}",
    )


def for_device(fleet: Fleet, device: CoreDevice, name: str, current: str, policy: Policy) -> Advice:
    latest = latest_active(fleet.target, name)
    if not fleet.usable:
        return _unchecked(latest, name, current, policy)
    reach = fleet.reach(device).deployments
    for deployment in reach:
        _, pairs = fleet.roots_of(deployment)
        named = dict(pairs).get(name)
        if named is not None:
            return for_deployment(fleet, deployment, name, named, policy)
    # A dependency: what the device's resolution picks once the flagged version is not kept.
    platform = platform_of(device)
    if platform is None or device.installed is None:
        return Advice(None, latest, "The device reports no platform or installed components.")
    roots = Roots(tuple(fleet.roots_of(d) for d in reach))
    local = Installed.of({c.name: c.version for c in device.installed if c.name != name})
    result = fleet.resolve(roots, platform, local)
    failure = result.failure
    if failure is not None and failure.component != name:
        return Advice(
            None,
            latest,
            f"No deployment names {name}, and the deployments that reach the device do not "
            f"resolve: {failure.message}",
        )
    pick = result.version(name)
    if failure is None and pick is None:
        # Nothing that reaches the device requires it (a group it left, a local deployment):
        # no deployment constrains where it may move.
        return _unchecked(latest, name, current, policy)
    status = fleet.target.versions.get(VersionRef(name, pick)) if pick is not None else None
    if (
        failure is None
        and pick is not None
        and status is not None
        and status.guidance is Guidance.ACTIVE
        and within(policy, current, pick)
    ):
        return Advice(pick, latest)
    # A failed pick has no entry among the picks' requirements: the failure lists them.
    requirements = failure.requirements if failure is not None else result.requirements_on(name)
    requirers = ", ".join(f"{s} requires {r}" for s, r in requirements)
    return Advice(
        None,
        latest,
        f"No deployment names {name}; the requirements on it ({requirers or 'none'}) admit "
        f"no ACTIVE version within {POLICY_WORDS[policy]}: move the component that requires it.",
    )


def _no_choice(name: str, policy: Policy) -> str:
    return f"No ACTIVE version of {name} within {POLICY_WORDS[policy]} is known."


def _unchecked(latest: str | None, name: str, current: str, policy: Policy) -> Advice:
    """Without the whole picture (an incomplete scan, membership not read) nothing can be
    resolved: the newest ACTIVE version, if the policy allows it."""
    if latest is not None and within(policy, current, latest):
        return Advice(latest, latest)
    return Advice(None, latest, _no_choice(name, policy))
