"""The simulator's semantic versions (ggwatch.sim.versions) on npm's own documented examples.

Ranges: npm's semver README (github.com/npm/node-semver, "Advanced Range Syntax" and
"Prerelease Tags"), which node-semver's README repeats. Precedence: semver.org 2.0, item 11.
"""

from __future__ import annotations

import itertools
import random

import pytest

from ggwatch.sim import versions

# (range, versions inside, versions outside): each from the README's description of the range.
RANGES: list[tuple[str, list[str], list[str]]] = [
    # Hyphen ranges: "1.2.3 - 2.3.4" := ">=1.2.3 <=2.3.4"
    ("1.2.3 - 2.3.4", ["1.2.3", "2.0.0", "2.3.4"], ["1.2.2", "2.3.5", "2.4.0"]),
    # A partial second version: "1.2.3 - 2.3" := ">=1.2.3 <2.4.0-0"; "1.2.3 - 2" := "<3.0.0-0"
    ("1.2.3 - 2.3", ["2.3.9"], ["2.4.0"]),
    ("1.2.3 - 2", ["2.9.9"], ["3.0.0"]),
    # A partial first version: "1.2 - 2.3.4" := ">=1.2.0 <=2.3.4"
    ("1.2 - 2.3.4", ["1.2.0"], ["1.1.9"]),
    # Caret: "^1.2.3" := ">=1.2.3 <2.0.0-0"
    ("^1.2.3", ["1.2.3", "1.9.9"], ["1.2.2", "2.0.0"]),
    # "^0.2.3" := ">=0.2.3 <0.3.0-0"
    ("^0.2.3", ["0.2.3", "0.2.9"], ["0.3.0", "0.2.2"]),
    # "^0.0.3" := ">=0.0.3 <0.0.4-0"
    ("^0.0.3", ["0.0.3"], ["0.0.4", "0.0.2"]),
    # "^1.2.3-beta.2" := ">=1.2.3-beta.2 <2.0.0-0": pre-releases of 1.2.3 only
    ("^1.2.3-beta.2", ["1.2.3-beta.4", "1.2.3"], ["1.2.4-beta.2", "1.2.3-beta.1"]),
    # "^1.x" := ">=1.0.0 <2.0.0-0"; "^0.x" := ">=0.0.0 <1.0.0-0"
    ("^1.x", ["1.0.0", "1.99.0"], ["2.0.0"]),
    ("^0.x", ["0.0.0", "0.9.9"], ["1.0.0"]),
    # Tilde: "~1.2.3" := ">=1.2.3 <1.3.0-0"
    ("~1.2.3", ["1.2.3", "1.2.9"], ["1.3.0", "1.2.2"]),
    # "~1.2" := ">=1.2.0 <1.3.0-0"; "~1" := ">=1.0.0 <2.0.0-0"
    ("~1.2", ["1.2.0", "1.2.99"], ["1.3.0"]),
    ("~1", ["1.0.0", "1.9.0"], ["2.0.0"]),
    # "~0.2.3" := ">=0.2.3 <0.3.0-0"
    ("~0.2.3", ["0.2.3"], ["0.3.0"]),
    # "~1.2.3-beta.2" := ">=1.2.3-beta.2 <1.3.0-0"
    ("~1.2.3-beta.2", ["1.2.3-beta.4", "1.2.4"], ["1.2.4-beta.2"]),
    # X-ranges: "1.x" := ">=1.0.0 <2.0.0-0"; "1.2.x" := ">=1.2.0 <1.3.0-0"; "*" := ">=0.0.0"
    ("1.x", ["1.0.0", "1.5.7"], ["2.0.0", "0.9.9"]),
    ("1.2.x", ["1.2.0", "1.2.5"], ["1.3.0"]),
    ("*", ["0.0.0", "9.9.9"], ["1.0.0-alpha"]),  # no pre-release matches a bare "*"
    ("", ["1.0.0"], []),  # npm: "" (empty string) := * := >=0.0.0; the wrapper refuses it
    # Partial versions: "1" := "1.x.x"; "1.2" := "1.2.x"
    ("1", ["1.0.0", "1.9.9"], ["2.0.0"]),
    ("1.2", ["1.2.0", "1.2.9"], ["1.3.0"]),
    # Comparators and sets
    (">=1.2.3 <2.0.0", ["1.2.3", "1.99.99"], ["2.0.0", "1.2.2"]),
    ("1.2.3 || 2.x", ["1.2.3", "2.0.0", "2.9.0"], ["1.2.4", "3.0.0"]),
    # Greengrass's own recipes: the nucleus range of an AWS-provided component
    (">=2.0.0 <2.13.0", ["2.0.0", "2.12.6"], ["2.13.0", "1.9.9", "2.13.0-rc.1"]),
    ("=1.2.3", ["1.2.3"], ["1.2.4"]),
    # Pre-release tags: ">1.2.3-alpha.3" lets in 1.2.3-alpha.7 but not 3.4.5-alpha.9; any
    # release above it is in.
    (">1.2.3-alpha.3", ["1.2.3-alpha.7", "3.4.5", "1.2.3"], ["3.4.5-alpha.9", "1.2.3-alpha.3"]),
]


@pytest.mark.parametrize(("requirement", "inside", "outside"), RANGES, ids=[r[0] for r in RANGES])
def test_npm_documented_ranges(requirement: str, inside: list[str], outside: list[str]) -> None:
    if requirement == "":
        # A recipe's VersionRequirement is never empty; the wrapper does not guess.
        assert not versions.is_range(requirement)
        with pytest.raises(versions.VersionError):
            versions.satisfies("1.0.0", requirement)
        return
    assert versions.is_range(requirement)
    assert [v for v in inside if not versions.satisfies(v, requirement)] == []
    assert [v for v in outside if versions.satisfies(v, requirement)] == []


def test_max_satisfying_picks_the_highest_release_in_range() -> None:
    nucleus = ["2.0.0", "2.11.3", "2.12.0", "2.12.6", "2.13.0", "2.13.0-rc.1", "2.15.0"]
    assert versions.max_satisfying(nucleus, ">=2.0.0 <2.13.0") == "2.12.6"
    assert versions.max_satisfying(nucleus, "~2.12.0") == "2.12.6"
    assert versions.max_satisfying(nucleus, "^2.0.0") == "2.15.0"
    assert versions.max_satisfying(nucleus, "^3.0.0") is None
    assert versions.max_satisfying(nucleus, ">=2.13.0-rc.0 <2.14.0") == "2.13.0"
    assert versions.max_satisfying(["2.13.0-rc.1"], ">=2.13.0-rc.0 <2.14.0") == "2.13.0-rc.1"


PRECEDENCE = [
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0",
]


def test_semver_org_precedence() -> None:
    """semver.org 2.0 item 11: 1.0.0-alpha < 1.0.0-alpha.1 < ... < 1.0.0-rc.1 < 1.0.0."""
    for lower, higher in itertools.pairwise(PRECEDENCE):
        assert versions.compare(lower, higher) == -1, (lower, higher)
        assert versions.compare(higher, lower) == 1, (lower, higher)
        assert versions.sort_key(lower) < versions.sort_key(higher), (lower, higher)
    shuffled = PRECEDENCE[:]
    random.Random(3).shuffle(shuffled)
    assert versions.newest_first(shuffled) == PRECEDENCE[::-1]
    assert versions.newest(shuffled) == "2.0.0"


def test_build_metadata_is_ignored_in_precedence() -> None:
    assert versions.compare("1.0.0+20130313144700", "1.0.0") == 0
    assert versions.compare("1.0.0-beta+exp.sha.5114f85", "1.0.0-beta") == 0
    assert versions.sort_key("1.0.0+build.1") == versions.sort_key("1.0.0+build.2")
    assert versions.satisfies("1.0.0+build.7", "=1.0.0")
    assert versions.parse("1.0.0-rc.1+build.7").build == ("build", "7")


@pytest.mark.parametrize("text", ["1.2", "v1.2.3", "=1.2.3", " 1.2.3", "1.2.3.4", "01.2.3", "x"])
def test_only_strict_versions_parse(text: str) -> None:
    assert not versions.is_version(text)
    with pytest.raises(versions.VersionError):
        versions.parse(text)


def test_parse_gives_the_parts() -> None:
    parsed = versions.parse("2.12.6-rc.1")
    assert (parsed.major, parsed.minor, parsed.patch, parsed.prerelease) == (2, 12, 6, ("rc", 1))
    assert parsed.minor_line == (2, 12)


@pytest.mark.parametrize("text", ["not a range", ">=x.y", "1.2.3 - "])
def test_bad_ranges_are_refused(text: str) -> None:
    assert not versions.is_range(text)
