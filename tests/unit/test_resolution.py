"""The resolver (ggwatch.resolution.resolve) on each case of the reference's resolution facts.

    world = World().add("A", "1.0.0", deps={"B": "^1.0.0"}).add("B", "1.2.0")
    world.resolve({"thinggroup/g": {"A": "1.0.0"}})

A `World` is a catalogue builder: only the facts a test names, everything else ACTIVE, on any
platform, with no dependencies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field

import pytest

from ggwatch.resolution import (
    EMPTY,
    REPICK_LIMIT,
    Candidate,
    Catalogue,
    Dependency,
    DependencyType,
    FailureKind,
    Guidance,
    Installed,
    Platform,
    PlatformClaim,
    Resolution,
    Roots,
    resolution_key,
    resolve,
)

LINUX = Platform("linux", "amd64")
ARM = Platform("linux", "armv7")
NUCLEUS = "aws.greengrass.Nucleus"
CLI = "aws.greengrass.Cli"
NO_VERSION = "No local or cloud component version satisfies the requirements."


@dataclass
class World:
    """A mutable catalogue builder for tests; `resolve` freezes it into a `Catalogue`."""

    components: dict[str, list[Candidate]] = field(default_factory=dict)

    def add(
        self,
        name: str,
        version: str,
        *,
        deps: dict[str, str] | None = None,
        guidance: Guidance = Guidance.ACTIVE,
        on: tuple[PlatformClaim, ...] = (),
        nucleus: bool = False,
        soft: frozenset[str] = frozenset(),
    ) -> World:
        dependencies = tuple(
            Dependency(dep, rng, DependencyType.SOFT if dep in soft else DependencyType.HARD)
            for dep, rng in (deps or {}).items()
        )
        candidate = Candidate(version, dependencies, on, guidance, nucleus)
        self.components.setdefault(name, []).append(candidate)
        return self

    def nuclei(self, *versions: str) -> World:
        for version in versions:
            self.add(NUCLEUS, version, nucleus=True)
        return self

    def catalogue(self) -> Catalogue:
        return Catalogue.of(self.components)

    def resolve(
        self,
        roots: dict[str, dict[str, str]],
        local: dict[str, str] | None = None,
        platform: Platform = LINUX,
        *,
        defer: bool = True,
    ) -> Resolution:
        installed = Installed.of(local) if local is not None else EMPTY
        return resolve(Roots.of(roots), self.catalogue(), platform, installed, defer=defer)


def failure_of(resolution: Resolution) -> tuple[FailureKind, str]:
    assert resolution.failure is not None, resolution
    return resolution.failure.kind, resolution.failure.message


def test_roots_of_every_group_are_merged_and_dependencies_walked() -> None:
    world = (
        World()
        .add("A", "1.0.0", deps={"C": "^1.0.0"})
        .add("B", "2.0.0", deps={"C": ">=1.1.0"})
        .add("C", "1.0.0")
        .add("C", "1.1.0")
        .add("C", "1.4.2")
        .add("C", "2.0.0")
    )
    result = world.resolve({"thinggroup/a": {"A": "1.0.0"}, "thing/core-1": {"B": "2.0.0"}})
    assert result.ok
    # Where constraints overlap, the highest applicable version.
    assert result.as_dict() == {"A": "1.0.0", "B": "2.0.0", "C": "1.4.2"}
    assert result.roots == ("A", "B")


def test_conflict_across_groups_names_every_requirement_and_source() -> None:
    world = World().nuclei("2.14.0", "2.14.3", "2.15.0")
    world.add(CLI, "2.14.3", deps={NUCLEUS: ">=2.14.0 <2.15.0"}, soft=frozenset({NUCLEUS}))
    result = world.resolve(
        {"thinggroup/pinned": {NUCLEUS: "2.15.0"}, "thinggroup/tools": {CLI: "2.14.3"}}
    )
    assert failure_of(result) == (
        FailureKind.NO_VERSION,
        f"{NO_VERSION} Component {NUCLEUS} version constraints: thinggroup/pinned requires "
        f"=2.15.0, {CLI} requires >=2.14.0 <2.15.0.",
    )
    assert result.failure is not None
    assert result.failure.component == NUCLEUS
    assert result.failure.requirements == (
        ("thinggroup/pinned", "=2.15.0"),
        (CLI, ">=2.14.0 <2.15.0"),
    )


def test_two_groups_pinning_different_versions_of_one_root_conflict() -> None:
    result = (
        World()
        .add("A", "1.0.0")
        .add("A", "1.1.0")
        .resolve({"thinggroup/a": {"A": "1.1.0"}, "LOCAL_DEPLOYMENT": {"A": "1.0.0"}})
    )
    assert failure_of(result)[1] == (
        f"{NO_VERSION} Component A version constraints: thinggroup/a requires =1.1.0, "
        "LOCAL_DEPLOYMENT requires =1.0.0."
    )


def deleted_world() -> World:
    return (
        World()
        .add("App", "1.0.0", deps={"Lib": "~1.1.0"})
        .add("Lib", "1.0.0")
        .add("Lib", "1.1.0", guidance=Guidance.DELETED)
        .add("Lib", "1.1.1", guidance=Guidance.DELETED)
    )


def test_a_range_only_deleted_versions_satisfy_fails_a_new_device() -> None:
    result = deleted_world().resolve({"thinggroup/g": {"App": "1.0.0"}})
    assert failure_of(result) == (
        FailureKind.NO_VERSION,
        f"{NO_VERSION} Component Lib version constraints: App requires ~1.1.0.",
    )


def test_a_device_running_a_satisfying_deleted_version_keeps_it() -> None:
    result = deleted_world().resolve({"thinggroup/g": {"App": "1.0.0"}}, local={"Lib": "1.1.0"})
    assert result.ok
    assert result.version("Lib") == "1.1.0"
    assert result.deleted == ("Lib",)


def test_a_local_version_the_cloud_no_longer_lists_is_kept_as_deleted() -> None:
    world = World().add("App", "1.0.0", deps={"Gone": "^3.0.0"}).add("Gone", "2.0.0")
    result = world.resolve({"thinggroup/g": {"App": "1.0.0"}}, local={"Gone": "3.1.0"})
    assert result.ok
    assert result.version("Gone") == "3.1.0"
    assert result.deleted == ("Gone",)


def test_no_version_for_the_platform() -> None:
    world = (
        World()
        .add("App", "1.0.0", deps={"Driver": "^1.0.0"})
        .add("Driver", "1.0.0", on=(PlatformClaim("linux", "aarch64"),))
        .add("Driver", "1.1.0", on=(PlatformClaim("linux", "amd64"), PlatformClaim("windows")))
    )
    result = world.resolve({"thinggroup/g": {"App": "1.0.0"}}, platform=ARM)
    assert failure_of(result) == (
        FailureKind.NO_PLATFORM_VERSION,
        "The latest version of Component Driver doesn't claim platform "
        "{os=linux, architecture=armv7} compatibility. "
        "Component Driver version constraints: App requires ^1.0.0.",
    )


def test_the_highest_version_claiming_the_platform_is_picked() -> None:
    world = (
        World()
        .add("App", "1.0.0", deps={"Driver": "*"})
        .add("Driver", "1.0.0", on=(PlatformClaim("linux", "*"),))
        .add("Driver", "1.1.0", on=(PlatformClaim("linux", "amd64"),))
    )
    roots = {"thinggroup/g": {"App": "1.0.0"}}
    assert world.resolve(roots, platform=ARM).version("Driver") == "1.0.0"
    assert world.resolve(roots, platform=LINUX).version("Driver") == "1.1.0"


@pytest.mark.parametrize(
    ("claim", "matches"),
    [
        (PlatformClaim(), True),
        (PlatformClaim(os="*", architecture="*"), True),
        (PlatformClaim(architecture="armv7"), True),
        (PlatformClaim(os="linux", architecture="armv7"), True),
        (PlatformClaim(os="windows"), False),
        (PlatformClaim(os="Linux"), False),  # exact: no source says the nucleus folds case
        (PlatformClaim(architecture="aarch64"), False),
    ],
)
def test_a_manifest_claim_matches_by_exact_value_or_wildcard(
    claim: PlatformClaim, matches: bool
) -> None:
    assert claim.matches(ARM) is matches
    assert Candidate("1.0.0", platforms=(claim,)).claims(ARM) is matches


def test_a_version_without_platform_claims_runs_anywhere() -> None:
    assert Candidate("1.0.0").claims(ARM)


def test_a_discontinued_dependency_is_picked_and_reported() -> None:
    world = (
        World()
        .add("App", "1.0.0", deps={"Lib": "^1.0.0"})
        .add("Lib", "1.0.0")
        .add("Lib", "1.1.0", guidance=Guidance.DISCONTINUED)
        .add("Lib", "1.2.0", guidance=Guidance.DELETED)
    )
    result = world.resolve({"thinggroup/g": {"App": "1.0.0"}})
    assert result.ok
    assert result.version("Lib") == "1.1.0"
    assert result.discontinued == ("Lib",)
    assert result.deleted == ()


def test_a_local_version_that_satisfies_is_kept_over_a_newer_one() -> None:
    world = World().add("App", "1.0.0", deps={"Lib": "^1.0.0"}).add("Lib", "1.0.0")
    world.add("Lib", "1.3.0")
    roots = {"thinggroup/g": {"App": "1.0.0"}}
    assert world.resolve(roots, local={"Lib": "1.0.0"}).version("Lib") == "1.0.0"
    assert world.resolve(roots, local={"Lib": "0.9.0"}).version("Lib") == "1.3.0"
    assert world.resolve(roots).version("Lib") == "1.3.0"


def test_a_root_moves_off_the_local_version_its_deployment_does_not_name() -> None:
    world = World().add("App", "1.0.0").add("App", "2.0.0")
    result = world.resolve({"thinggroup/g": {"App": "2.0.0"}}, local={"App": "1.0.0"})
    assert result.version("App") == "2.0.0"


def repick_world(*, s_new: dict[str, str], s_old: dict[str, str], t: dict[str, str]) -> World:
    """S is first picked at 1.1.0, then pinned to 1.0.0 by T, a dependency found later."""
    return (
        World()
        .add("A", "1.0.0", deps={"S": "^1.0.0"})
        .add("B", "1.0.0", deps={"T": "=1.0.0"})
        .add("T", "1.0.0", deps={"S": "=1.0.0", **t})
        .add("S", "1.1.0", deps=s_new)
        .add("S", "1.0.0", deps=s_old)
        .add("X", "1.0.0")
        .add("X", "2.0.0")
        .add("Y", "1.0.0")
    )


ROOTS_AB = {"thinggroup/a": {"A": "1.0.0"}, "thinggroup/b": {"B": "1.0.0"}}


def test_when_a_pick_changes_components_only_its_old_edges_needed_are_dropped() -> None:
    world = repick_world(s_new={"Y": "^1.0.0"}, s_old={"X": "^1.0.0"}, t={})
    assert world.resolve({"thinggroup/a": {"A": "1.0.0"}}).as_dict() == {
        "A": "1.0.0",
        "S": "1.1.0",
        "Y": "1.0.0",
    }
    result = world.resolve(ROOTS_AB)
    assert result.ok
    # Y was needed only by S 1.1.0: once T moves S to 1.0.0, nothing requires it.
    assert result.as_dict() == {
        "A": "1.0.0",
        "B": "1.0.0",
        "S": "1.0.0",
        "T": "1.0.0",
        "X": "1.0.0",
    }


def test_a_dropped_edge_no_longer_constrains_and_its_target_is_re_picked() -> None:
    # X is first picked under S 1.1.0's `<2.0.0`; when S moves, X is re-picked without it.
    world = repick_world(s_new={"X": "<2.0.0"}, s_old={}, t={"X": "*"})
    assert world.resolve(ROOTS_AB).version("X") == "2.0.0"


def deferral_world(s_one_needs: str) -> World:
    """X's requirements conflict while S, which sets one of them, waits to be re-picked."""
    return (
        World()
        .add("A", "1.0.0", deps={"S": "^1.0.0"})
        .add("B", "1.0.0", deps={"T": "=1.0.0"})
        .add("S", "1.1.0", deps={"X": "<2.0.0"})
        .add("S", "1.0.0", deps={"X": s_one_needs})
        .add("T", "1.0.0", deps={"S": "=1.0.0", "X": "=2.0.0"})
        .add("X", "1.0.0")
        .add("X", "2.0.0")
    )


def test_open_reading_a_conflict_waits_for_a_queued_dependent() -> None:
    """X sees {S: <2.0.0, T: =2.0.0} while S is queued; S's re-pick lifts the conflict.

    The reading chosen (resolver module docstring): defer X behind S rather than fail at once.
    """
    result = deferral_world(s_one_needs=">=2.0.0").resolve(ROOTS_AB)
    assert result.ok, result.failure
    assert result.as_dict() == {
        "A": "1.0.0",
        "B": "1.0.0",
        "S": "1.0.0",
        "T": "1.0.0",
        "X": "2.0.0",
    }


def test_open_reading_the_conflict_fails_once_no_dependent_is_queued() -> None:
    result = deferral_world(s_one_needs="<2.0.0").resolve(ROOTS_AB)
    # S's requirement was dropped and added again by its re-pick: it now comes last.
    assert failure_of(result) == (
        FailureKind.NO_VERSION,
        f"{NO_VERSION} Component X version constraints: T requires =2.0.0, S requires <2.0.0.",
    )


def test_eager_reading_fails_at_the_first_visit_that_finds_no_version() -> None:
    """`conflict_reading: eager`: the world the open reading resolves fails, naming the
    requirements X saw while S was still queued."""
    result = deferral_world(s_one_needs=">=2.0.0").resolve(ROOTS_AB, defer=False)
    kind, message = failure_of(result)
    assert kind is FailureKind.NO_VERSION
    assert message.startswith(f"{NO_VERSION} Component X version constraints: ")
    assert "S requires <2.0.0" in message
    assert "T requires =2.0.0" in message


def test_both_readings_agree_where_no_dependent_is_queued() -> None:
    world = deferral_world(s_one_needs="<2.0.0")
    assert world.resolve(ROOTS_AB, defer=False).failure is not None
    assert world.resolve(ROOTS_AB).failure is not None
    plain = World().add("A", "1.0.0", deps={"C": "^1.0.0"}).add("C", "1.3.0")
    roots = {"thinggroup/a": {"A": "1.0.0"}}
    assert plain.resolve(roots, defer=False) == plain.resolve(roots)


def nucleus_world() -> World:
    world = World().nuclei("2.13.0", "2.14.0", "2.14.3", "2.15.0")
    return world.add(CLI, "2.14.3", deps={NUCLEUS: ">=2.14.0 <2.15.0"})


def test_the_nucleus_may_not_change_minor_version_unless_it_is_a_root() -> None:
    result = nucleus_world().resolve({"thinggroup/g": {CLI: "2.14.3"}}, local={NUCLEUS: "2.13.0"})
    assert failure_of(result) == (
        FailureKind.NUCLEUS_MINOR_UPDATE,
        f"The deployment would move the nucleus {NUCLEUS} from 2.13.0 to 2.14.3, another minor "
        f"or major version, without naming {NUCLEUS} as a root component "
        f"(UNAUTHORIZED_NUCLEUS_MINOR_VERSION_UPDATE). Component {NUCLEUS} version constraints: "
        f"{CLI} requires >=2.14.0 <2.15.0.",
    )


def test_the_nucleus_changes_minor_version_when_it_is_a_root() -> None:
    result = nucleus_world().resolve(
        {"thinggroup/g": {CLI: "2.14.3"}, "thinggroup/core": {NUCLEUS: "2.14.0"}},
        local={NUCLEUS: "2.13.0"},
    )
    assert result.ok
    assert result.version(NUCLEUS) == "2.14.0"


def test_a_patch_change_of_the_nucleus_is_allowed_as_a_dependency() -> None:
    world = nucleus_world().add("Tool", "1.0.0", deps={NUCLEUS: ">=2.14.3 <2.15.0"})
    result = world.resolve({"thinggroup/g": {"Tool": "1.0.0"}}, local={NUCLEUS: "2.14.0"})
    assert result.ok
    assert result.version(NUCLEUS) == "2.14.3"


def test_a_new_device_takes_the_nucleus_its_dependents_allow() -> None:
    result = nucleus_world().resolve({"thinggroup/g": {CLI: "2.14.3"}})
    assert result.ok
    assert result.version(NUCLEUS) == "2.14.3"


def test_a_circular_dependency_fails() -> None:
    world = World().add("A", "1.0.0", deps={"B": "^1.0.0"}).add("B", "1.0.0", deps={"A": "*"})
    result = world.resolve({"thinggroup/g": {"A": "1.0.0"}})
    assert failure_of(result) == (
        FailureKind.CIRCULAR_DEPENDENCY,
        "Circular dependency detected: A -> B -> A.",
    )
    assert result.failure is not None
    assert result.failure.requirements == (("thinggroup/g", "=1.0.0"), ("B", "*"))


def test_two_nuclei_fail() -> None:
    world = World().nuclei("2.14.0").add("aws.greengrass.NucleusLite", "2.0.0", nucleus=True)
    result = world.resolve(
        {
            "thinggroup/a": {NUCLEUS: "2.14.0"},
            "thinggroup/b": {"aws.greengrass.NucleusLite": "2.0.0"},
        }
    )
    assert failure_of(result) == (
        FailureKind.MULTIPLE_NUCLEI,
        f"More than one nucleus component resolved: {NUCLEUS}, aws.greengrass.NucleusLite.",
    )


def test_an_oscillating_walk_stops_with_a_clear_failure() -> None:
    # B 1.1.0 asks for an older B, and B 1.0.0 no longer does: each pick undoes the other.
    world = World().add("A", "1.0.0", deps={"B": "^1.0.0"}).add("B", "1.0.0")
    world.add("B", "1.1.0", deps={"B": "<1.1.0"})
    kind, message = failure_of(world.resolve({"thinggroup/g": {"A": "1.0.0"}}))
    assert kind is FailureKind.UNSETTLED
    assert message.startswith(
        f"Dependency resolution did not settle: component B changed version {REPICK_LIMIT} times."
    )


def test_an_unknown_component_has_no_version() -> None:
    result = (
        World()
        .add("A", "1.0.0", deps={"Missing": "^1.0.0"})
        .resolve({"thing/core-1": {"A": "1.0.0"}})
    )
    assert failure_of(result) == (
        FailureKind.NO_VERSION,
        f"{NO_VERSION} Component Missing version constraints: A requires ^1.0.0.",
    )


def test_an_unreadable_requirement_is_satisfied_by_nothing() -> None:
    world = World().add("A", "1.0.0", deps={"B": "latest please"}).add("B", "1.0.0")
    result = world.resolve({"thinggroup/g": {"A": "1.0.0"}})
    assert failure_of(result)[1].endswith("A requires latest please.")


def test_the_dependency_type_is_kept() -> None:
    world = nucleus_world()
    world.add("Tool", "1.0.0", deps={NUCLEUS: "^2.0.0", CLI: "*"}, soft=frozenset({NUCLEUS}))
    candidate = world.catalogue().find("Tool", "1.0.0")
    assert candidate is not None
    assert [(d.name, d.type) for d in candidate.dependencies] == [
        (NUCLEUS, DependencyType.SOFT),
        (CLI, DependencyType.HARD),
    ]


def test_the_catalogue_orders_candidates_newest_first() -> None:
    catalogue = World().add("A", "1.9.0").add("A", "1.10.0").add("A", "1.10.0-rc.1").catalogue()
    assert [c.version for c in catalogue.candidates("A")] == ["1.10.0", "1.10.0-rc.1", "1.9.0"]
    assert catalogue.candidates("unknown") == ()


def test_inputs_are_hashable_so_a_caller_can_memoise_device_classes() -> None:
    world = World().add("A", "1.0.0", deps={"B": "^1.0.0"}).add("B", "1.0.0")
    catalogue = world.catalogue()
    cached = functools.lru_cache(maxsize=None)(resolve)
    for _device in range(3):  # three devices, one class: same groups, platform and local state
        roots = Roots.of({"thinggroup/g": {"A": "1.0.0"}})
        local = Installed.of({"B": "1.0.0"})
        assert cached(roots, catalogue, LINUX, local).ok
    assert cached.cache_info().hits == 2
    assert resolution_key(Roots.of({"thinggroup/g": {"A": "1.0.0"}}), LINUX) == resolution_key(
        Roots.of({"thinggroup/g": {"A": "1.0.0"}}), LINUX, EMPTY
    )


def test_resolution_is_deterministic() -> None:
    world = deferral_world(s_one_needs=">=2.0.0")
    assert world.resolve(ROOTS_AB) == world.resolve(ROOTS_AB)
