"""What the nucleus checks once every component has a pick, and the failures it reports.

The messages read like the nucleus's own, so a person who has seen the device log knows them:
`No local or cloud component version satisfies the requirements. Component X version
constraints: thinggroup/a requires =1.1.0, compC requires <1.0.0.`
"""

from __future__ import annotations

from collections.abc import Mapping

from ggwatch.resolution.model import Candidate, Failure, FailureKind, Platform, Requirements
from ggwatch.resolution.ranges import is_version, parse_version

NUCLEUS_UPDATE_CODE = "UNAUTHORIZED_NUCLEUS_MINOR_VERSION_UPDATE"


def constraints(component: str, requirements: Requirements) -> str:
    listed = ", ".join(f"{source} requires {rng}" for source, rng in requirements)
    return f"Component {component} version constraints: {listed}."


def unsatisfiable(
    component: str, requirements: Requirements, kind: FailureKind, platform: Platform
) -> Failure:
    if kind is FailureKind.NO_PLATFORM_VERSION:
        cause = (
            f"The latest version of Component {component} doesn't claim platform {platform} "
            "compatibility."
        )
    else:
        cause = "No local or cloud component version satisfies the requirements."
    return Failure(component, requirements, kind, f"{cause} {constraints(component, requirements)}")


def unsettled(component: str, requirements: Requirements, changes: int) -> Failure:
    message = (
        f"Dependency resolution did not settle: component {component} changed version "
        f"{changes} times. {constraints(component, requirements)}"
    )
    return Failure(component, requirements, FailureKind.UNSETTLED, message)


def after_walk(
    picks: Mapping[str, Candidate],
    requirements: Mapping[str, Requirements],
    roots: tuple[str, ...],
    local: Mapping[str, str],
) -> Failure | None:
    """The nucleus's checks after the walk, in its order: cycles, one nucleus, nucleus moves."""
    graph = {
        name: tuple(d.name for d in c.dependencies if d.name in picks) for name, c in picks.items()
    }
    cycle = find_cycle(graph)
    if cycle is not None:
        head = cycle[0]
        message = f"Circular dependency detected: {' -> '.join(cycle)}."
        return Failure(head, requirements.get(head, ()), FailureKind.CIRCULAR_DEPENDENCY, message)
    nuclei = sorted(name for name, candidate in picks.items() if candidate.nucleus)
    if len(nuclei) > 1:
        message = f"More than one nucleus component resolved: {', '.join(nuclei)}."
        return Failure(
            nuclei[0], requirements.get(nuclei[0], ()), FailureKind.MULTIPLE_NUCLEI, message
        )
    for name in nuclei:
        old, new = local.get(name), picks[name].version
        if name not in roots and old is not None and _other_minor(old, new):
            message = (
                f"The deployment would move the nucleus {name} from {old} to {new}, another minor "
                f"or major version, without naming {name} as a root component "
                f"({NUCLEUS_UPDATE_CODE}). {constraints(name, requirements.get(name, ()))}"
            )
            return Failure(
                name, requirements.get(name, ()), FailureKind.NUCLEUS_MINOR_UPDATE, message
            )
    return None


def _other_minor(old: str, new: str) -> bool:
    if not (is_version(old) and is_version(new)):
        return old != new
    before, after = parse_version(old), parse_version(new)
    return (before.major, before.minor) != (after.major, after.minor)


def find_cycle(graph: Mapping[str, tuple[str, ...]]) -> tuple[str, ...] | None:
    """The first cycle met walking `graph` depth-first from its nodes in name order."""
    done: set[str] = set()
    path: list[str] = []

    def visit(node: str) -> tuple[str, ...] | None:
        path.append(node)
        for successor in graph.get(node, ()):
            if successor in path:
                return (*path[path.index(successor) :], successor)
            if successor not in done and (found := visit(successor)) is not None:
                return found
        path.pop()
        done.add(node)
        return None

    for node in sorted(graph):
        if node not in done and (found := visit(node)) is not None:
            return found
    return None
