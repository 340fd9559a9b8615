"""The nucleus's dependency resolution, re-implemented from the facts
(../shared/reference/dependency-resolution.md), as a pure function.

`resolve(roots, catalogue, platform, local)`:

1. Every source's root components are merged; each root contributes `=<version>` keyed by its
   source (`thinggroup/X`, `thing/Y`, `LOCAL_DEPLOYMENT`).
2. Breadth-first from the roots, each component is picked from every requirement on it: the
   version the device runs now if it satisfies them all (kept even if the cloud deleted it
   since), else the highest cloud version that satisfies them all, is not DELETED and claims
   the platform. A pick's recipe dependencies add requirements keyed by the component's name.
3. When a pick changes, its old dependency edges are dropped and every component they named is
   re-resolved, as is every component whose requirements change; a component nothing requires
   any more is dropped, with its own edges.
4. Afterwards: no dependency cycle, at most one nucleus, and the nucleus moves to another
   minor or major version only when it is a root.

The first component that cannot be satisfied fails the resolution, with every requirement on
it and its source, in the order they were added. A component changes pick at most
`REPICK_LIMIT` times (a recipe set can make the walk oscillate); past that it fails as
`UNSETTLED` rather than loop.

Open reading (the facts do not say): a component that cannot be satisfied while a component
that asks something of it is still queued to be re-picked is deferred, not failed: it goes to
the back of the queue, behind that dependent, whose new pick may drop or change the
requirement. It fails when it comes round again and none of the components requiring it is
queued. So a failure names requirements of the settled walk, never one that the same pass
drops; a nucleus that fails eagerly would fail on a few recipe sets that ggwatch resolves.
The choice is `_may_defer`; `defer=False` (setting `conflict_reading: eager`) is the other
reading, failing at the first visit that finds no version.

Memoising: the answer depends only on (roots, catalogue, platform, local), all hashable
(`Catalogue` by identity), so a caller resolving device classes may wrap `resolve` in its own
`functools.lru_cache` or key a dict by `resolution_key(...)`. This module keeps no state.
"""

from __future__ import annotations

from collections import Counter, deque
from collections.abc import Hashable

from ggwatch.resolution.checks import after_walk, unsatisfiable, unsettled
from ggwatch.resolution.model import (
    EMPTY,
    Candidate,
    Catalogue,
    Failure,
    FailureKind,
    Guidance,
    Installed,
    Platform,
    Requirements,
    Resolution,
    Roots,
)
from ggwatch.resolution.ranges import satisfies

REPICK_LIMIT = 16


def resolution_key(roots: Roots, platform: Platform, local: Installed = EMPTY) -> Hashable:
    """What a resolution depends on besides the catalogue: equal keys, equal answers."""
    return (roots, platform, local)


def resolve(
    roots: Roots,
    catalogue: Catalogue,
    platform: Platform,
    local: Installed = EMPTY,
    *,
    defer: bool = True,
) -> Resolution:
    """`defer`: the open reading below (True) or failing at the first visit that finds no
    version (False)."""
    walk = _Walk(catalogue, platform, dict(local.versions), defer)
    for source, components in roots.sources:
        for name, version in components:
            walk.require(name, source, f"={version}")
    root_names = roots.names()
    failure = walk.run()
    if failure is None:
        failure = after_walk(walk.picks, walk.settled_requirements(), root_names, walk.local)
    return walk.resolution(root_names, failure)


class _Walk:
    """One resolution's working state; lives for one call of `resolve`."""

    def __init__(
        self, catalogue: Catalogue, platform: Platform, local: dict[str, str], defer: bool
    ) -> None:
        self.defer = defer
        self.catalogue = catalogue
        self.platform = platform
        self.local = local
        self.requirements: dict[str, dict[str, str]] = {}
        self.picks: dict[str, Candidate] = {}
        self.changes: Counter[str] = Counter()
        self.queue: deque[str] = deque()
        self.queued: set[str] = set()  # the queue's members, for O(1) membership

    def require(self, name: str, source: str, requirement: str) -> None:
        self.requirements.setdefault(name, {})[source] = requirement
        self._enqueue(name)

    def release(self, name: str, source: str) -> None:
        self.requirements.get(name, {}).pop(source, None)
        self._enqueue(name)

    def run(self) -> Failure | None:
        while self.queue:
            name = self.queue.popleft()
            self.queued.discard(name)
            failure = self._settle(name)
            if failure is not None:
                return failure
        return None

    def settled_requirements(self) -> dict[str, Requirements]:
        return {name: tuple(reqs.items()) for name, reqs in self.requirements.items()}

    def resolution(self, roots: tuple[str, ...], failure: Failure | None) -> Resolution:
        picks = sorted(self.picks.items())
        return Resolution(
            picks=tuple((name, c.version) for name, c in picks),
            roots=roots,
            discontinued=tuple(n for n, c in picks if c.guidance == Guidance.DISCONTINUED),
            deleted=tuple(n for n, c in picks if c.guidance == Guidance.DELETED),
            failure=failure,
            requirements=tuple(
                (name, tuple(self.requirements.get(name, {}).items())) for name, _ in picks
            ),
        )

    def _enqueue(self, name: str) -> None:
        if name not in self.queued:
            self.queued.add(name)
            self.queue.append(name)

    def _settle(self, name: str) -> Failure | None:
        requirements = self.requirements.get(name, {})
        if not requirements:
            # Nothing asks for it any more (its dependents moved): drop it and its edges.
            return self._change(name, None)
        choice = self._choose(name, tuple(requirements.values()))
        if isinstance(choice, FailureKind):
            if self._may_defer(requirements):
                self._enqueue(name)
                return None
            return unsatisfiable(name, tuple(requirements.items()), choice, self.platform)
        current = self.picks.get(name)
        if current is not None and current.version == choice.version:
            return None
        return self._change(name, choice)

    def _may_defer(self, requirements: dict[str, str]) -> bool:
        return self.defer and any(source in self.queued for source in requirements)

    def _change(self, name: str, new: Candidate | None) -> Failure | None:
        old = self.picks.get(name)
        if old is not None:
            if self.changes[name] >= REPICK_LIMIT:
                requirements = tuple(self.requirements.get(name, {}).items())
                return unsettled(name, requirements, self.changes[name])
            self.changes[name] += 1
            del self.picks[name]
            for dependency in old.dependencies:
                self.release(dependency.name, name)
        if new is not None:
            self.picks[name] = new
            for dependency in new.dependencies:
                self.require(dependency.name, name, dependency.requirement)
        return None

    def _choose(self, name: str, ranges: tuple[str, ...]) -> Candidate | FailureKind:
        running = self.local.get(name)
        if running is not None and all(satisfies(running, r) for r in ranges):
            known = self.catalogue.find(name, running)
            if known is not None:
                return known
            # Gone from the cloud (DeleteComponent): the device still has its recipe, ggwatch
            # does not, so its dependencies cannot be walked.
            return Candidate(
                running, guidance=Guidance.DELETED, nucleus=self.catalogue.is_nucleus(name)
            )
        wrong_platform = False
        for candidate in self.catalogue.candidates(name):
            if candidate.guidance == Guidance.DELETED:
                continue
            if not all(satisfies(candidate.version, r) for r in ranges):
                continue
            if candidate.claims(self.platform):
                return candidate
            wrong_platform = True
        return FailureKind.NO_PLATFORM_VERSION if wrong_platform else FailureKind.NO_VERSION
