"""Component versions and npm-style version ranges, as the nucleus reads recipes.

A recipe's `VersionRequirement` is an npm range (the nucleus parses it with semver4j's npm
mode). The grammar, the desugaring of `^`, `~`, X-ranges and hyphen ranges come from
`semantic_version`'s `NpmSpec` parser; the matching of one comparator set is done here, on
typed values, because `NpmSpec.match` departs from npm where recipes can notice it:

- it offers a pre-release to any comparator whose version has the same MAJOR.MINOR.PATCH, so
  `<2.0.0` matches `2.0.0-rc.1` and `<=1.0.0` matches `1.0.0-beta`; npm offers a pre-release
  only to a comparator set that itself names a pre-release of that MAJOR.MINOR.PATCH;
- it widens a pre-release comparator to its release, so `=1.2.3-rc.1` (a deployment pinning a
  pre-release) and `<=1.2.3-rc.1` match `1.2.3`, and it narrows an upper pre-release bound to
  its release's minor, so `>=1.0.0-rc.1 <1.0.0-rc.5` misses `1.0.0-rc.3`;
- it rejects whitespace npm accepts (`>= 1.2.3`, two spaces between comparators) and `=v1.2.3`,
  `~>1.2`;
- it matches build metadata in `=1.2.3+b`, which npm (and semver.org precedence) ignore.

tests/unit/test_resolution_ranges.py pins each difference next to npm's documented examples.

Open reading: semver4j 3.1.0, the nucleus's library, applies npm's pre-release rule only to a
set of two or more comparators, so on a device a lone `>=1.0.0`, `<1.0.0` or `*` admits
pre-releases that npm, and ggwatch, reject. Only pre-release component versions can tell.

Everything here is pure and memoised: the same strings always give the same answers.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Final

# semantic_version ships no type information; it is used only through the typed functions here.
import semantic_version

__all__ = [
    "ComponentVersion",
    "RangeError",
    "SortKey",
    "VersionError",
    "is_range",
    "is_version",
    "newest",
    "parse_version",
    "satisfies",
    "sort_key",
]

# One pre-release identifier by semver.org precedence: numeric ones (0, n, "") sort below
# alphanumeric ones (1, 0, text), numeric ones by value, alphanumeric ones in ASCII order.
Identifier = tuple[int, int, str]
# MAJOR, MINOR, PATCH, 1 for a release and 0 for a pre-release (below its release), identifiers.
SortKey = tuple[int, int, int, int, tuple[Identifier, ...]]

_CACHE: Final = 4096

# npm drops whitespace after an operator (`>= 1.2.3`).
_OPERATOR_SPACE = re.compile(r"(<=|>=|<|>|=|\^|~)\s+")
# npm accepts a `v` before any version in a range (`v1.2.3`, `>=v1.2.3`, `1.0.0 - v2.0.0`).
_V_PREFIX = re.compile(r"(^|[\s<>=^~])v(?=\d)")
# The library's spelling of the operators its parser produces.
_EQ, _LT, _LTE, _GT, _GTE = "==", "<", "<=", ">", ">="


class VersionError(ValueError):
    """A string that is not a component version (MAJOR.MINOR.PATCH[-pre][+build])."""


class RangeError(ValueError):
    """A string that is not an npm version range."""


@dataclass(frozen=True, slots=True)
class ComponentVersion:
    """One strictly parsed component version; `key` orders by semver.org precedence."""

    text: str
    major: int
    minor: int
    patch: int
    prerelease: tuple[str, ...] = ()
    build: tuple[str, ...] = ()

    @property
    def release(self) -> tuple[int, int, int]:
        return (self.major, self.minor, self.patch)

    @property
    def key(self) -> SortKey:
        """Precedence without build metadata: `1.0.0+a` and `1.0.0+b` rank the same."""
        idents = tuple(
            (0, int(part), "") if part.isdigit() else (1, 0, part) for part in self.prerelease
        )
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, idents)


@dataclass(frozen=True, slots=True)
class _Comparator:
    operator: str
    version: ComponentVersion

    def admits(self, key: SortKey) -> bool:
        mine = self.version.key
        if self.operator == _EQ:
            return key == mine
        if self.operator == _LT:
            return key < mine
        if self.operator == _LTE:
            return key <= mine
        if self.operator == _GT:
            return key > mine
        return key >= mine


# A range: comparator sets joined by `||`; a version matches if it matches any one set.
_Range = tuple[tuple[_Comparator, ...], ...]


def _from_library(version: Any, text: str) -> ComponentVersion:
    return ComponentVersion(
        text=text,
        major=int(version.major),
        minor=int(version.minor),
        patch=int(version.patch),
        prerelease=tuple(str(p) for p in version.prerelease),
        build=tuple(str(b) for b in version.build),
    )


@lru_cache(maxsize=_CACHE)
def parse_version(text: str) -> ComponentVersion:
    """A component version, strictly: `1.2.3`, `1.2.3-rc.1+b7`; not `v1.2.3`, `1.2`, `01.2.3`."""
    try:
        parsed = semantic_version.Version(text)
    except ValueError as exc:
        raise VersionError(
            f"not a component version (MAJOR.MINOR.PATCH[-pre][+build]): {text!r}"
        ) from exc
    return _from_library(parsed, text)


def is_version(text: str) -> bool:
    try:
        parse_version(text)
    except VersionError:
        return False
    return True


def sort_key(version: str) -> SortKey:
    """semver.org precedence; raises VersionError for a string that is not a version."""
    return parse_version(version).key


def newest(versions: Iterable[str]) -> str | None:
    """The highest version (the first of equal precedence), None for none; strict like sort_key."""
    return max(versions, key=sort_key, default=None)


def _normalise(text: str) -> str:
    # `~>` is npm's other spelling of `~`, with or without a space after it.
    text = text.replace("~>", "~")
    return _V_PREFIX.sub(r"\1", _OPERATOR_SPACE.sub(r"\1", text))


def _blocks(alternative: str) -> list[str]:
    words = alternative.split()
    if not words:
        return [">=0.0.0"]  # npm: an empty set is `*`
    if "-" in words:
        # A hyphen range is the whole set: `LOW - HIGH`, each a plain (possibly partial) version.
        if len(words) != 3 or words[1] != "-":
            raise RangeError(f"a hyphen range is `LOW - HIGH`: {alternative!r}")
        return [">=" + words[0], "<=" + words[2]]
    return words


def _comparators(block: str, text: str) -> list[_Comparator]:
    # NpmSpec's block pattern also takes `v>=1.0.0` and an empty `-`/`+` part, which npm rejects.
    if (
        block.startswith("v")
        or block.endswith(("-", "+"))
        or "-+" in block
        or not semantic_version.NpmSpec.Parser.NPM_SPEC_BLOCK.match(block)
    ):
        raise RangeError(f"not an npm range: {text!r} (at {block!r})")
    try:
        ranges = semantic_version.NpmSpec.Parser.parse_simple(block)
    except ValueError as exc:
        raise RangeError(f"not an npm range: {text!r} (at {block!r})") from exc
    return [_Comparator(str(r.operator), _from_library(r.target, str(r.target))) for r in ranges]


@lru_cache(maxsize=_CACHE)
def _parse_range(text: str) -> _Range:
    sets: list[tuple[_Comparator, ...]] = []
    for alternative in _normalise(text).split("||"):
        comparators: list[_Comparator] = []
        for block in _blocks(alternative):
            comparators.extend(_comparators(block, text))
        sets.append(tuple(comparators))
    return tuple(sets)


def is_range(text: str) -> bool:
    try:
        _parse_range(text)
    except RangeError:
        return False
    return True


def _set_admits(comparators: tuple[_Comparator, ...], version: ComponentVersion) -> bool:
    key = version.key
    if not all(c.admits(key) for c in comparators):
        return False
    if not version.prerelease:
        return True
    # npm: a pre-release matches only a set that names a pre-release of the same release, so
    # that a pre-release is installed only where someone asked for one.
    return any(c.version.prerelease and c.version.release == version.release for c in comparators)


@lru_cache(maxsize=_CACHE * 16)
def satisfies(version: str, requirement: str) -> bool:
    """Whether `version` is in the npm range `requirement`; False if either does not parse.

    Total on purpose: a recipe's unreadable requirement is met by no version, so resolution
    fails and names it, rather than stopping the scan.
    """
    try:
        parsed = parse_version(version)
        ranges = _parse_range(requirement)
    except ValueError:
        return False
    return any(_set_admits(comparators, parsed) for comparators in ranges)
