"""Component versions and npm ranges (ggwatch.resolution.ranges) against npm's documented rules.

The range examples are node-semver's README (github.com/npm/node-semver#ranges); each row is
(range, version, whether npm says the version satisfies it).
"""

from __future__ import annotations

import pytest
from semantic_version import NpmSpec, Version

from ggwatch.resolution.ranges import (
    VersionError,
    is_range,
    is_version,
    newest,
    parse_version,
    satisfies,
    sort_key,
)


@pytest.mark.parametrize("text", ["1.2.3", "0.0.0", "10.20.30", "1.0.0-rc.1", "1.0.0-0.3.7+b.1"])
def test_a_component_version_is_strict_semver(text: str) -> None:
    assert is_version(text)


@pytest.mark.parametrize(
    "text",
    ["v1.2.3", "1.2", "1", "01.2.3", "1.2.3-01", "1.2.3.4", "1.2.3-", "1.2.3+", "", " 1.2.3"],
)
def test_anything_else_is_not_a_version(text: str) -> None:
    assert not is_version(text)
    with pytest.raises(VersionError):
        parse_version(text)


def test_parsed_parts() -> None:
    version = parse_version("2.14.3-rc.1+build.7")
    assert (version.major, version.minor, version.patch) == (2, 14, 3)
    assert version.prerelease == ("rc", "1")
    assert version.build == ("build", "7")


def test_sort_key_follows_semver_org_precedence() -> None:
    # semver.org section 11's own example, then numbers compared as numbers.
    ordered = [
        "1.0.0-alpha",
        "1.0.0-alpha.1",
        "1.0.0-alpha.beta",
        "1.0.0-beta",
        "1.0.0-beta.2",
        "1.0.0-beta.11",
        "1.0.0-rc.1",
        "1.0.0",
        "1.9.0",
        "1.10.0",
        "2.0.0",
    ]
    assert sorted(ordered[5:] + ordered[:5], key=sort_key) == ordered


def test_sort_key_ignores_build_metadata() -> None:
    assert sort_key("1.0.0+a") == sort_key("1.0.0+b") == sort_key("1.0.0")


def test_newest() -> None:
    assert newest(["1.2.0", "1.10.0", "1.9.9", "1.10.0-rc.1"]) == "1.10.0"
    assert newest(["2.0.0-rc.1", "1.9.0"]) == "2.0.0-rc.1"
    assert newest([]) is None


NPM_README = [
    # `||` joins comparator sets.
    ("1.2.7 || >=1.2.9 <2.0.0", "1.2.7", True),
    ("1.2.7 || >=1.2.9 <2.0.0", "1.2.9", True),
    ("1.2.7 || >=1.2.9 <2.0.0", "1.4.6", True),
    ("1.2.7 || >=1.2.9 <2.0.0", "1.2.8", False),
    ("1.2.7 || >=1.2.9 <2.0.0", "2.0.0", False),
    # Pre-releases: only where the set names one on the same MAJOR.MINOR.PATCH.
    (">1.2.3-alpha.3", "1.2.3-alpha.7", True),
    (">1.2.3-alpha.3", "3.4.5-alpha.9", False),
    (">1.2.3-alpha.3", "3.4.5", True),
    (">1.2.3-alpha.3", "1.2.3-alpha.2", False),
    # Hyphen ranges: a partial high end stands for its whole X-range.
    ("1.2.3 - 2.3.4", "1.2.3", True),
    ("1.2.3 - 2.3.4", "2.3.4", True),
    ("1.2.3 - 2.3.4", "2.3.5", False),
    ("1.2.3 - 2.3.4", "1.2.2", False),
    ("1.2 - 2.3.4", "1.2.0", True),
    ("1.2 - 2.3.4", "1.1.9", False),
    ("1.2.3 - 2.3", "2.3.9", True),
    ("1.2.3 - 2.3", "2.4.0", False),
    ("1.2.3 - 2", "2.9.9", True),
    ("1.2.3 - 2", "3.0.0", False),
    # X-ranges.
    ("*", "0.0.0", True),
    ("*", "9.9.9", True),
    ("*", "1.0.0-alpha", False),
    ("", "1.0.0", True),
    ("1.x", "1.0.0", True),
    ("1.x", "1.9.9", True),
    ("1.x", "2.0.0", False),
    ("1.2.x", "1.2.5", True),
    ("1.2.x", "1.3.0", False),
    ("1", "1.9.9", True),
    ("1", "2.0.0", False),
    ("1.2", "1.2.0", True),
    ("1.2", "1.2.9", True),
    ("1.2", "1.3.0", False),
    # Tilde: patch-level changes if a minor is given, minor-level if not.
    ("~1.2.3", "1.2.3", True),
    ("~1.2.3", "1.2.9", True),
    ("~1.2.3", "1.3.0", False),
    ("~1.2", "1.2.0", True),
    ("~1.2", "1.3.0", False),
    ("~1", "1.9.9", True),
    ("~1", "2.0.0", False),
    ("~0.2.3", "0.2.3", True),
    ("~0.2.3", "0.3.0", False),
    ("~0.2", "0.2.0", True),
    ("~0.2", "0.3.0", False),
    ("~0", "0.9.9", True),
    ("~0", "1.0.0", False),
    ("~1.2.3-beta.2", "1.2.3-beta.4", True),
    ("~1.2.3-beta.2", "1.2.4-beta.2", False),
    ("~1.2.3-beta.2", "1.2.9", True),
    # Caret: no change to the left-most non-zero part.
    ("^1.2.3", "1.2.3", True),
    ("^1.2.3", "1.9.9", True),
    ("^1.2.3", "2.0.0", False),
    ("^0.2.3", "0.2.9", True),
    ("^0.2.3", "0.3.0", False),
    ("^0.0.3", "0.0.3", True),
    ("^0.0.3", "0.0.4", False),
    ("^1.2.3-beta.2", "1.2.3-beta.4", True),
    ("^1.2.3-beta.2", "1.2.4-beta.2", False),
    ("^0.0.3-beta", "0.0.3-pr.2", True),
    ("^0.0.3-beta", "0.0.4", False),
    ("^1.2.x", "1.2.0", True),
    ("^1.2.x", "1.9.9", True),
    ("^1.2.x", "2.0.0", False),
    ("^0.0.x", "0.0.9", True),
    ("^0.0.x", "0.1.0", False),
    ("^0.0", "0.0.9", True),
    ("^0.0", "0.1.0", False),
    ("^1.x", "1.0.0", True),
    ("^1.x", "2.0.0", False),
    ("^0.x", "0.9.9", True),
    ("^0.x", "1.0.0", False),
    # The recipe reference's own examples.
    (">=2.0.0 <2.12.0", "2.11.9", True),
    (">=2.0.0 <2.12.0", "2.12.0", False),
    ("^2.1.0", "2.9.0", True),
    ("~2.5.0", "2.6.0", False),
    ("2.x", "2.5.0", True),
    ("=1.2.3", "1.2.3", True),
    ("=1.2.3", "1.2.4", False),
    ("1.2.3", "1.2.3+build.1", True),  # build metadata is ignored
]


@pytest.mark.parametrize(("requirement", "version", "npm"), NPM_README)
def test_npm_readme_examples(requirement: str, version: str, npm: bool) -> None:
    assert is_range(requirement)
    assert satisfies(version, requirement) is npm


# Where semantic_version's NpmSpec answers differently from npm: ggwatch follows npm. Each row
# also asserts NpmSpec's own answer, so a release that fixes it fails here and says so.
NPMSPEC_DIFFERS = [
    ("<1.0.0", "1.0.0-alpha", False),  # NpmSpec offers a pre-release to any same-patch bound
    ("<=1.0.0", "1.0.0-beta", False),
    ("<=1.2.3-alpha", "1.2.3", False),  # NpmSpec widens a pre-release bound to its release
    (">=1.2.3-alpha <1.2.3", "1.2.3", False),
    ("=1.2.3-rc.1", "1.2.3", False),
    (">=1.0.0-rc.1 <1.0.0-rc.5", "1.0.0-rc.3", True),  # NpmSpec's extra bound excludes it
    ("1.2.3+build", "1.2.3", True),  # NpmSpec compares build metadata
    ("=1.2.3+b", "1.2.3", True),
]


@pytest.mark.parametrize(("requirement", "version", "npm"), NPMSPEC_DIFFERS)
def test_where_npmspec_differs_ggwatch_answers_as_npm(
    requirement: str, version: str, npm: bool
) -> None:
    assert satisfies(version, requirement) is npm
    assert NpmSpec(requirement).match(Version(version)) is not npm


@pytest.mark.parametrize(
    ("requirement", "version"),
    [
        (">= 1.2.3", "1.2.3"),  # whitespace after an operator
        (">=1.0.0  <2.0.0", "1.5.0"),  # two spaces between comparators
        ("=v1.2.3", "1.2.3"),  # `v` after an operator
        ("~>1.2", "1.2.9"),  # `~>` spells `~`
        ("~> 1.2", "1.2.9"),
    ],
)
def test_spellings_npm_accepts_and_npmspec_rejects(requirement: str, version: str) -> None:
    assert satisfies(version, requirement)
    with pytest.raises(ValueError, match="Invalid"):
        NpmSpec(requirement)


@pytest.mark.parametrize(
    ("requirement", "version"), [(">=1.0.0", "2.0.0-beta"), ("*", "1.0.0-rc.1")]
)
def test_a_lone_comparator_keeps_npms_prerelease_rule(requirement: str, version: str) -> None:
    """Open reading: semver4j 3.1.0 would admit these (its rule needs two comparators)."""
    assert not satisfies(version, requirement)


@pytest.mark.parametrize(
    "requirement", [">*", "1.x-beta", "not a range", "1.2.3 -", "1.2.3 - 2.0.0 >=1.0.0", "1.2.3-"]
)
def test_an_unreadable_range_is_satisfied_by_nothing(requirement: str) -> None:
    assert not is_range(requirement)
    assert not satisfies("1.2.3", requirement)


def test_a_non_version_satisfies_nothing() -> None:
    assert not satisfies("v1.2.3", "*")
    assert not satisfies("1.2", "1.x")


def test_answers_are_memoised() -> None:
    satisfies("7.7.7", "^7.0.0")
    before = satisfies.cache_info().hits
    assert satisfies("7.7.7", "^7.0.0")
    assert satisfies.cache_info().hits == before + 1
