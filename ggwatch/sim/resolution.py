"""How a core device resolves what it must run: the nucleus's dependency resolution, pure.

Written from ../shared/reference/dependency-resolution.md (the nucleus's
`DependencyResolver.resolveDependencies`), not from ggwatch's own resolver: the simulator is
the witness the product is checked against.

- Each deployment reaching the device (its thing's, and each of its thing groups' latest)
  contributes its root components, each with the requirement `=<version>` keyed by its group
  name (`thing/<name>`, `thinggroup/<name>`).
- Breadth-first from the roots, a component's pick must satisfy every requirement on it: a
  version the device already has that satisfies them is kept; otherwise the highest version
  that satisfies them, is not DELETED and claims the device's platform. The pick's recipe adds
  requirements on its dependencies, keyed by the dependent component's name; when a pick
  changes, the requirements its old version imposed are dropped and the dependencies
  re-resolved. A component no version satisfies fails the deployment once no component that
  asks something of it is still to be re-picked (the reference does not say in which order the
  nucleus meets a conflict that a later re-pick would remove; this reading never fails on one).
- Then: no circular dependency, at most one nucleus, and no move of the nucleus to another
  minor or major version unless a deployment names the nucleus as a root component.

Nothing here does I/O; `resolve` is a function of its arguments.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from ggwatch.sim import versions

NO_VERSION = "No local or cloud component version satisfies the requirements."
UNAUTHORIZED_NUCLEUS = "UNAUTHORIZED_NUCLEUS_MINOR_VERSION_UPDATE"
# More picks than this many times the components means the picks do not settle.
CHANGES_PER_COMPONENT = 20


@lru_cache(maxsize=65_536)
def _satisfies(version: str, requirement: str) -> bool:
    """npm's test, memoised: a fleet's devices ask the same few pairs again and again."""
    return versions.satisfies(version, requirement)


@dataclass(frozen=True, slots=True)
class Platform:
    os: str
    architecture: str

    def claims(self, other: Platform) -> bool:
        """Whether a manifest for `self` runs on `other` (`*` is any)."""
        return self.os in ("*", other.os) and self.architecture in ("*", other.architecture)

    def __str__(self) -> str:
        return f"{{os={self.os}, architecture={self.architecture}}}"


@dataclass(frozen=True, slots=True)
class Candidate:
    """One version of a component as the cloud knows it, from its recipe and its status."""

    version: str
    # name -> npm range, in the recipe's order (the resolver walks them in it)
    dependencies: Mapping[str, str] = field(default_factory=dict)
    platforms: tuple[Platform, ...] = ()  # its manifests; none: every platform
    deleted: bool = False
    discontinued: bool = False
    nucleus: bool = False  # ComponentType aws.greengrass.nucleus

    def runs_on(self, platform: Platform) -> bool:
        return not self.platforms or any(p.claims(platform) for p in self.platforms)


Catalogue = Mapping[str, Sequence[Candidate]]
PickKey = tuple[str, frozenset[str], str | None]  # component, its ranges, the local version


@dataclass(slots=True)
class PickCache:
    """What resolutions over one catalogue can share (a pick does not depend on who asks):
    per platform, each pick or why there is none; each component's versions, newest first.
    Valid for that catalogue only: start a new one when it changes."""

    picks: dict[Platform, dict[PickKey, Candidate | str]] = field(default_factory=dict)
    orders: dict[str, tuple[Candidate, ...]] = field(default_factory=dict)
    acyclic: bool | None = None  # whether no versions of the catalogue can form a cycle

    def may_cycle(self, catalogue: Catalogue) -> bool:
        """Whether picks from this catalogue can depend on each other in a circle: only if
        the components' dependencies, over all their versions, have one."""
        if self.acyclic is None:
            edges = {
                name: {d for c in each for d in c.dependencies} for name, each in catalogue.items()
            }
            self.acyclic = not _cycle_among(edges)
        return not self.acyclic

    def newest_first(self, name: str, catalogue: Catalogue) -> tuple[Candidate, ...]:
        found = self.orders.get(name)
        if found is None:
            known = catalogue.get(name, ())
            found = self.orders[name] = tuple(
                sorted(known, key=lambda c: versions.sort_key(c.version), reverse=True)
            )
        return found


@dataclass(frozen=True, slots=True)
class Failure:
    """Why the deployment fails on the device; what it keeps running is unchanged."""

    component: str
    requirements: tuple[tuple[str, str], ...]  # (source, range), in the order they were added
    message: str
    code: str = "NO_AVAILABLE_COMPONENT_VERSION"


@dataclass(frozen=True, slots=True)
class Resolution:
    """What the device runs after the deployment: every component and its version."""

    picks: Mapping[str, str]
    roots: frozenset[str]
    discontinued: tuple[str, ...] = ()  # components picked at a DISCONTINUED version
    failure: Failure | None = None

    @property
    def ok(self) -> bool:
        return self.failure is None


def root_requirements(
    deployments: Mapping[str, Mapping[str, str]],
) -> dict[str, dict[str, str]]:
    """{source: {component: version}} as {component: {source: "=version"}}."""
    out: dict[str, dict[str, str]] = {}
    for source in sorted(deployments):
        for name, version in sorted(deployments[source].items()):
            out.setdefault(name, {})[source] = f"={version}"
    return out


def resolve(
    deployments: Mapping[str, Mapping[str, str]],
    catalogue: Catalogue,
    platform: Platform,
    local: Mapping[str, str],
    *,
    cache: PickCache | None = None,
    defer: bool = True,
) -> Resolution:
    """Resolve the root components of every deployment reaching a device.

    `deployments` maps each source (`thinggroup/X`, `thing/Y`) to its root components and
    versions; `local` is what the device runs now (name -> version). `cache`, the caller's,
    remembers picks across calls with the same catalogue (a pick does not depend on who asks).
    `defer` (Readings.conflicts, not confirmed): a component no version satisfies fails only
    once nothing that requires it is still to be re-picked; False: at once.
    """
    return _Resolver(catalogue, platform, local, cache, defer).run(deployments)


class _Resolver:
    def __init__(
        self,
        catalogue: Catalogue,
        platform: Platform,
        local: Mapping[str, str],
        cache: PickCache | None = None,
        defer: bool = True,
    ) -> None:
        self.defer = defer
        self.catalogue = catalogue
        self.platform = platform
        self.local = local
        self.shared = PickCache() if cache is None else cache
        self.cache = self.shared.picks.setdefault(platform, {})
        self.requirements: dict[str, dict[str, str]] = {}
        self.picks: dict[str, Candidate] = {}

    def run(self, deployments: Mapping[str, Mapping[str, str]]) -> Resolution:
        self.requirements = root_requirements(deployments)
        roots = frozenset(self.requirements)
        queue = deque(sorted(roots))
        queued = set(queue)  # a component waits in the queue once: its visit sees the latest
        budget = CHANGES_PER_COMPONENT * max(1, len(self.catalogue) + len(roots))
        while queue:
            name = queue.popleft()
            queued.discard(name)
            if name not in self.requirements:
                continue  # no longer required by anything picked
            budget -= 1
            if budget < 0:
                return self._failed(name, "The version constraints do not settle.")
            pick = self._pick(name)
            if isinstance(pick, Failure):
                if self.defer and any(source in queued for source in self.requirements[name]):
                    # A component that asks something of this one is still to be re-picked:
                    # its requirement may go away. Fail only once none can change.
                    queue.append(name)
                    queued.add(name)
                    continue
                return Resolution({}, roots, failure=pick)
            if self.picks.get(name) == pick:
                continue
            for touched in self._repick(name, pick):
                if touched not in queued:
                    queue.append(touched)
                    queued.add(touched)
        return self._checked(roots)

    def _repick(self, name: str, pick: Candidate) -> list[str]:
        """Drop the old pick's requirements, add the new one's; the components to revisit."""
        touched: dict[str, None] = {}  # in the order met: the recipes' order, deterministic
        self._drop_edges(name, self.picks.get(name), touched)
        self.picks[name] = pick
        for dependency, requirement in pick.dependencies.items():
            self.requirements.setdefault(dependency, {})[name] = requirement
            touched[dependency] = None
        return list(touched)

    def _drop_edges(self, name: str, picked: Candidate | None, touched: dict[str, None]) -> None:
        """Take back what `picked` (name's pick) required; a component nothing requires any
        more is forgotten, and its own requirements with it."""
        for dependency in picked.dependencies if picked else ():
            on = self.requirements.get(dependency, {})
            on.pop(name, None)
            touched[dependency] = None
            if not on:
                self.requirements.pop(dependency, None)
                self._drop_edges(dependency, self.picks.pop(dependency, None), touched)

    def _pick(self, name: str) -> Candidate | Failure:
        ranges = frozenset(self.requirements[name].values())
        here = self.local.get(name)
        key = (name, ranges, here)
        found = self.cache.get(key)
        if found is None:
            found = self.cache[key] = self._choose(name, ranges, here)
        return self._failure(name, found) if isinstance(found, str) else found

    def _choose(self, name: str, ranges: frozenset[str], here: str | None) -> Candidate | str:
        """The pick for these ranges, or why there is none."""
        newest_first = self.shared.newest_first(name, self.catalogue)

        def fits(version: str) -> bool:
            return all(_satisfies(version, r) for r in ranges)

        if here is not None and versions.is_version(here) and fits(here):
            # Kept even when the cloud deleted it: the device has it.
            return next((c for c in newest_first if c.version == here), None) or Candidate(here)
        fitting = False
        for c in newest_first:  # the highest that fits, is not DELETED and runs here
            if c.deleted or not fits(c.version):
                continue
            if c.runs_on(self.platform):
                return c
            fitting = True
        if fitting:
            return (
                f"The latest version of Component {name} doesn't claim platform "
                f"{self.platform} compatibility."
            )
        return NO_VERSION

    def _failure(self, name: str, reason: str) -> Failure:
        wanted = tuple(self.requirements[name].items())
        said = ", ".join(f"{source} requires {rng}" for source, rng in wanted)
        return Failure(name, wanted, f"{reason} Component {name} version constraints: {said}.")

    def _failed(self, name: str, reason: str) -> Resolution:
        return Resolution({}, frozenset(), failure=self._failure(name, reason))

    def _checked(self, roots: frozenset[str]) -> Resolution:
        cycle = _cycle(self.picks) if self.shared.may_cycle(self.catalogue) else []
        if cycle:
            path = " -> ".join(cycle)
            message = f"Circular dependency detected: {path}."
            return Resolution({}, roots, failure=Failure(cycle[0], (), message, "CIRCULAR"))
        nuclei = sorted(n for n, c in self.picks.items() if c.nucleus)
        if len(nuclei) > 1:
            message = f"More than one nucleus component: {', '.join(nuclei)}."
            return Resolution({}, roots, failure=Failure(nuclei[0], (), message, "MULTIPLE"))
        for name in nuclei:
            failure = self._nucleus_update(name, roots)
            if failure is not None:
                return Resolution({}, roots, failure=failure)
        picks = {n: c.version for n, c in sorted(self.picks.items())}
        discontinued = tuple(n for n, c in sorted(self.picks.items()) if c.discontinued)
        return Resolution(picks, roots, discontinued)

    def _nucleus_update(self, name: str, roots: frozenset[str]) -> Failure | None:
        """A nucleus may change minor or major version only when a deployment names it."""
        here, pick = self.local.get(name), self.picks[name].version
        if name in roots or here is None or not versions.is_version(here):
            return None
        if versions.parse(here).minor_line == versions.parse(pick).minor_line:
            return None
        message = (
            f"The deployment would update {name} from {here} to {pick} without a deployment "
            f"naming it as a root component ({UNAUTHORIZED_NUCLEUS})."
        )
        return Failure(name, tuple(self.requirements[name].items()), message, UNAUTHORIZED_NUCLEUS)


def _cycle(picks: Mapping[str, Candidate]) -> list[str]:
    """A dependency cycle among the picks, as a path that ends where it starts; [] if none."""
    return _cycle_among({name: c.dependencies for name, c in picks.items()})


def _cycle_among(edges: Mapping[str, Iterable[str]]) -> list[str]:
    """A cycle in a graph (name -> the names it depends on) as a path; [] if none."""
    state: dict[str, int] = {}  # 1: on the path, 2: done
    path: list[str] = []

    def visit(name: str) -> list[str]:
        state[name] = 1
        path.append(name)
        for dependency in edges[name]:  # in the recipe's order
            if dependency not in edges:
                continue
            if state.get(dependency) == 1:
                return [*path[path.index(dependency) :], dependency]
            if dependency not in state and (found := visit(dependency)):
                return found
        path.pop()
        state[name] = 2
        return []

    for name in sorted(edges):
        if name not in state and (found := visit(name)):
            return found
    return []
