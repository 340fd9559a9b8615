"""A target as dependency resolution sees it: the catalogue, what reaches each device, and
memoised resolutions (pure; built once per target per evaluation).

- The catalogue: every version a recipe was read for (the versions in force and those their
  dependency ranges reach), with its dependencies, platforms and guidance; a version the scan
  saw as gone (DeleteComponent) is left out, so a requirement only it met fails as on a device.
- What reaches a device: its thing's in-force deployment and the in-force deployment of each
  thing group AWS IoT lists it in, each as the nucleus names its source.
- Devices with the same deployments, platform and installed versions are one class: each
  class resolves once, so the cost grows with classes, not devices.

Resolution needs the whole picture: on an incomplete scan, or without membership (not read),
`usable` is False and the resolution rules stay silent rather than guess.
"""

from __future__ import annotations

from collections.abc import Hashable, Iterator, Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from ggwatch.model import CoreDevice, Deployment, Guidance, Recipe, TargetSnapshot, VersionRef
from ggwatch.resolution import (
    EMPTY,
    Candidate,
    Catalogue,
    Dependency,
    DependencyType,
    Installed,
    Platform,
    PlatformClaim,
    Resolution,
    Roots,
    resolution_key,
    resolve,
)
from ggwatch.resolution import Guidance as Vendor

if TYPE_CHECKING:
    from ggwatch.rules.recommend import Advice

NUCLEUS_TYPE = "aws.greengrass.nucleus"


def source_of(target_arn: str) -> str:
    """How the nucleus names a deployment's target: `thinggroup/NAME` or `thing/NAME`."""
    return target_arn.rpartition(":")[2]


def platform_label(platform: Platform) -> str:
    return f"{platform.os}/{platform.architecture}"


@dataclass(frozen=True, slots=True)
class Reach:
    """The in-force deployments that reach one device, in the order sources sort."""

    deployments: tuple[Deployment, ...]

    @property
    def ids(self) -> tuple[str, ...]:
        return tuple(d.deployment_id for d in self.deployments)


class Fleet:
    """One target's resolution inputs and a memo of answers (one evaluation's; one writer)."""

    def __init__(self, target: TargetSnapshot, *, defer: bool = True) -> None:
        self.target = target
        self.defer = defer  # the conflict reading (ggwatch.resolution.resolver)
        self._memo: dict[tuple[Hashable, int], Resolution] = {}
        self._catalogues: dict[tuple[tuple[str, str], ...], Catalogue] = {}
        # recommend's answers by (deployment id, component, version, policy): many findings
        # ask the same question.
        self.advice: dict[tuple[str, str, str, str], Advice] = {}

    @property
    def usable(self) -> bool:
        return self.target.complete and self.target.membership is not None

    # -- inputs --------------------------------------------------------------------------------

    @cached_property
    def in_force(self) -> Mapping[str, Deployment]:
        """Each target's in-force deployment, by its source (`thinggroup/X`, `thing/Y`)."""
        return {
            source_of(d.target_arn): d
            for d in sorted(self.target.deployments, key=lambda d: d.deployment_id)
            if d.in_force and d.deployment_id in self.target.details
        }

    @cached_property
    def catalogue(self) -> Catalogue:
        return self.catalogue_with(())

    def catalogue_with(self, extra: tuple[tuple[str, str], ...]) -> Catalogue:
        """The catalogue, or (for a proposed revision) with `extra` versions the scan may not
        have read as candidates: they are known only if their recipe was read."""
        known = self._catalogues.get(extra)
        if known is not None:
            return known
        refs = set(self.target.recipes) | {VersionRef(n, v) for n, v in extra}
        components: dict[str, list[Candidate]] = {}
        for ref in sorted(refs):
            candidate = self._candidate(ref)
            if candidate is not None:
                components.setdefault(ref.name, []).append(candidate)
        catalogue = Catalogue.of(components)
        self._catalogues[extra] = catalogue
        return catalogue

    def _candidate(self, ref: VersionRef) -> Candidate | None:
        recipe = self.target.recipes.get(ref)
        status = self.target.versions.get(ref)
        if recipe is None or (status is not None and not status.exists):
            return None
        guidance = Vendor(status.guidance.value) if status is not None else Vendor.ACTIVE
        return Candidate(
            version=ref.version,
            dependencies=tuple(
                _dependency(d.name, d.requirement, d.kind) for d in recipe.dependencies
            ),
            platforms=_claims(recipe),
            guidance=guidance,
            nucleus=recipe.component_type == NUCLEUS_TYPE,
        )

    def roots_of(self, deployment: Deployment) -> tuple[str, tuple[tuple[str, str], ...]]:
        detail = self.target.details[deployment.deployment_id]
        pairs = tuple(sorted((ref.name, ref.version) for ref in detail.components))
        return source_of(deployment.target_arn), pairs

    def reach(self, device: CoreDevice) -> Reach:
        """The in-force deployments that reach the device: its thing's, then its groups'."""
        groups = (self.target.membership or {}).get(device.thing_name, ())
        sources = [f"thing/{device.thing_name}", *(f"thinggroup/{g}" for g in groups)]
        return Reach(tuple(self.in_force[s] for s in sorted(sources) if s in self.in_force))

    def members(self, deployment: Deployment) -> Iterator[CoreDevice]:
        """The core devices the deployment's target reaches now, each once (a device listed
        twice across pages is counted once)."""
        source = source_of(deployment.target_arn)
        kind, _, name = source.partition("/")
        membership = self.target.membership or {}
        seen: set[str] = set()
        for device in self.target.devices:
            if device.thing_name in seen:
                continue
            seen.add(device.thing_name)
            if (kind == "thing" and device.thing_name == name) or (
                kind == "thinggroup" and name in membership.get(device.thing_name, ())
            ):
                yield device

    # -- answers -------------------------------------------------------------------------------

    def resolve(
        self,
        roots: Roots,
        platform: Platform,
        local: Installed = EMPTY,
        catalogue: Catalogue | None = None,
    ) -> Resolution:
        """`resolve` over this target's catalogue (or another), memoised per class."""
        catalogue = catalogue if catalogue is not None else self.catalogue
        key = (resolution_key(roots, platform, local), id(catalogue))
        found = self._memo.get(key)
        if found is None:
            found = self._memo[key] = resolve(roots, catalogue, platform, local, defer=self.defer)
        return found

    def alone(self, deployment: Deployment, platform: Platform) -> Resolution:
        """The deployment by itself on a device that runs nothing yet (a new member)."""
        return self.resolve(Roots((self.roots_of(deployment),)), platform)

    def device(self, device: CoreDevice) -> Resolution | None:
        """Everything that reaches the device, over what it runs now; None if unknown."""
        platform = platform_of(device)
        if platform is None or device.installed is None:
            return None
        reach = self.reach(device)
        roots = Roots(tuple(self.roots_of(d) for d in reach.deployments))
        local = Installed.of({c.name: c.version for c in device.installed})
        return self.resolve(roots, platform, local)

    @property
    def classes(self) -> int:
        """Distinct resolutions computed so far (device classes and deployment x platform)."""
        return len(self._memo)


def platform_of(device: CoreDevice) -> Platform | None:
    if not device.platform or not device.architecture:
        return None
    return Platform(device.platform, device.architecture)


def _dependency(name: str, requirement: str, kind: str) -> Dependency:
    return Dependency(
        name, requirement, DependencyType.SOFT if kind == "SOFT" else DependencyType.HARD
    )


def _claims(recipe: Recipe) -> tuple[PlatformClaim, ...]:
    # Only os and architecture are compared: the control plane reports no custom attributes
    # of a device, so a manifest's other attributes cannot be checked from here.
    claims = []
    for attributes in recipe.platforms:
        values = dict(attributes)
        claims.append(PlatformClaim(values.get("os"), values.get("architecture")))
    return tuple(claims)


def guidance_of(target: TargetSnapshot, ref: VersionRef) -> Guidance | None:
    status = target.versions.get(ref)
    return status.guidance if status is not None else None
