"""The values resolution reads and answers: platforms, candidates, the catalogue, the outcome.

All immutable and hashable except `Catalogue` (hashed by identity, so one catalogue object can
be part of a memo key) and `Resolution` (an answer, not a key).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from types import MappingProxyType
from typing import TypeAlias

from ggwatch.resolution.ranges import SortKey, is_version, sort_key

ANY = "*"


class Guidance(StrEnum):
    """DescribeComponent's vendorGuidance; the same strings as `ggwatch.model.Guidance`."""

    ACTIVE = "ACTIVE"
    DISCONTINUED = "DISCONTINUED"
    DELETED = "DELETED"


class DependencyType(StrEnum):
    HARD = "HARD"  # the recipe's default
    SOFT = "SOFT"


@dataclass(frozen=True, slots=True)
class Platform:
    """A core device's platform as ListCoreDevices reports it."""

    os: str
    architecture: str

    def __str__(self) -> str:
        # The nucleus prints platforms as a Java map does.
        return f"{{os={self.os}, architecture={self.architecture}}}"


@dataclass(frozen=True, slots=True)
class PlatformClaim:
    """One manifest's `Platform`: an attribute left out (None) or `*` matches any device.

    Values compare exactly: no source says the nucleus folds case. Custom platform attributes
    are not modelled: the control plane does not report a device's.
    """

    os: str | None = None
    architecture: str | None = None

    def matches(self, platform: Platform) -> bool:
        return _attribute_matches(self.os, platform.os) and _attribute_matches(
            self.architecture, platform.architecture
        )


def _attribute_matches(claim: str | None, actual: str) -> bool:
    return claim is None or claim in (ANY, actual)


@dataclass(frozen=True, slots=True)
class Dependency:
    """One `ComponentDependencies` entry: a component and its npm `VersionRequirement`."""

    name: str
    requirement: str
    type: DependencyType = DependencyType.HARD


@dataclass(frozen=True, slots=True)
class Candidate:
    """One version of a component as the cloud knows it."""

    version: str
    dependencies: tuple[Dependency, ...] = ()  # in the recipe's order
    platforms: tuple[PlatformClaim, ...] = ()  # none: runs anywhere
    guidance: Guidance = Guidance.ACTIVE
    nucleus: bool = False  # ComponentType aws.greengrass.nucleus

    def claims(self, platform: Platform) -> bool:
        return not self.platforms or any(claim.matches(platform) for claim in self.platforms)


def _order(candidate: Candidate) -> tuple[int, SortKey]:
    # AWS only accepts semantic versions; anything else sorts last and satisfies no range.
    if is_version(candidate.version):
        return (1, sort_key(candidate.version))
    return (0, (0, 0, 0, 0, ()))


@dataclass(frozen=True, slots=True, eq=False)
class Catalogue:
    """Every component's candidate versions, newest first, as one scan read them."""

    components: Mapping[str, tuple[Candidate, ...]]
    _index: Mapping[str, Mapping[str, Candidate]] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        ordered = {
            name: tuple(sorted(candidates, key=_order, reverse=True))
            for name, candidates in self.components.items()
        }
        index = {
            name: MappingProxyType({c.version: c for c in reversed(candidates)})
            for name, candidates in ordered.items()
        }
        object.__setattr__(self, "components", MappingProxyType(ordered))
        object.__setattr__(self, "_index", MappingProxyType(index))

    @classmethod
    def of(cls, components: Mapping[str, Iterable[Candidate]]) -> Catalogue:
        return cls({name: tuple(candidates) for name, candidates in components.items()})

    def candidates(self, name: str) -> tuple[Candidate, ...]:
        return self.components.get(name, ())

    def find(self, name: str, version: str) -> Candidate | None:
        return self._index.get(name, {}).get(version)

    def is_nucleus(self, name: str) -> bool:
        return any(c.nucleus for c in self.candidates(name))


@dataclass(frozen=True, slots=True)
class Roots:
    """Each source's root components and their exact versions, in the caller's order.

    Sources as the nucleus writes them: `thinggroup/NAME`, `thing/NAME`, `LOCAL_DEPLOYMENT`.
    The order decides the order of requirements in messages and of the walk; put the
    deployment being applied first, and build device classes in one canonical order so that
    equal classes share a memo entry.
    """

    sources: tuple[tuple[str, tuple[tuple[str, str], ...]], ...] = ()

    @classmethod
    def of(cls, sources: Mapping[str, Mapping[str, str]]) -> Roots:
        return cls(tuple((s, tuple(components.items())) for s, components in sources.items()))

    def names(self) -> tuple[str, ...]:
        """The root components, in first-seen order."""
        return tuple(dict.fromkeys(name for _, comps in self.sources for name, _ in comps))


@dataclass(frozen=True, slots=True)
class Installed:
    """What a device runs now: component name -> version, sorted by name."""

    versions: tuple[tuple[str, str], ...] = ()

    @classmethod
    def of(cls, versions: Mapping[str, str]) -> Installed:
        return cls(tuple(sorted(versions.items())))

    def get(self, name: str) -> str | None:
        return dict(self.versions).get(name)


EMPTY = Installed()


class FailureKind(StrEnum):
    NO_VERSION = "no-version"
    NO_PLATFORM_VERSION = "no-version-for-platform"
    NUCLEUS_MINOR_UPDATE = "nucleus-minor-update-without-root"
    CIRCULAR_DEPENDENCY = "circular-dependency"
    MULTIPLE_NUCLEI = "more-than-one-nucleus"
    UNSETTLED = "did-not-settle"  # ggwatch's own guard against oscillation


Requirements: TypeAlias = tuple[tuple[str, str], ...]


@dataclass(frozen=True, slots=True)
class Failure:
    """Why a resolution fails: the component, every requirement on it and who set it."""

    component: str
    requirements: Requirements  # (source, range), in the order they were added
    kind: FailureKind
    message: str


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a device would run: its picks, or the first failure (picks made before it kept)."""

    picks: tuple[tuple[str, str], ...]  # (component, version), sorted by name
    roots: tuple[str, ...]
    discontinued: tuple[str, ...] = ()  # picks whose version is DISCONTINUED
    deleted: tuple[str, ...] = ()  # local versions kept that the cloud deleted or no longer lists
    failure: Failure | None = None
    # Every requirement on each pick and who set it, as the walk left them, sorted by name.
    requirements: tuple[tuple[str, Requirements], ...] = ()

    @property
    def ok(self) -> bool:
        return self.failure is None

    def as_dict(self) -> dict[str, str]:
        return dict(self.picks)

    def version(self, name: str) -> str | None:
        return self.as_dict().get(name)

    def requirements_on(self, name: str) -> Requirements:
        return dict(self.requirements).get(name, ())
