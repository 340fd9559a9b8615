"""Semantic versions as Greengrass reads them: semver.org 2.0 precedence and npm's ranges.

The nucleus parses a recipe's `VersionRequirement` with semver4j's npm mode, so the simulator
uses an npm-compatible port (the PyPI package `node-semver`, imported as `nodesemver`) and
wraps it here: the rest of the simulator never imports the library, and gets strict parsing
(a component version is `MAJOR.MINOR.PATCH[-PRERELEASE][+BUILD]`, nothing looser), ordering
where pre-releases sort below their release and build metadata is ignored, and npm's range
rules (a pre-release satisfies a range only when a comparator of the same MAJOR.MINOR.PATCH
names a pre-release).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import nodesemver

SortKey = tuple[Any, ...]


class VersionError(ValueError):
    """Text that is not a semantic version, or not an npm range."""


@dataclass(frozen=True, slots=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple[int | str, ...]
    build: tuple[str, ...]

    @property
    def minor_line(self) -> tuple[int, int]:
        return (self.major, self.minor)


@lru_cache(maxsize=65_536)
def parse(text: str) -> Version:
    """A strict semantic version; VersionError for anything else (`v1.2.3`, `1.2`, ` 1.2.3`)."""
    if not isinstance(text, str):
        raise VersionError(f"not a semantic version: {text!r}")
    parsed = nodesemver.parse(text, loose=False)
    if parsed is None:
        raise VersionError(f"not a semantic version: {text!r}")
    build = tuple(str(b) for b in parsed.build)
    canonical = str(parsed.version) + ("+" + ".".join(build) if build else "")
    if canonical != text:
        raise VersionError(f"not a semantic version: {text!r} (write {canonical})")
    prerelease = tuple(p if isinstance(p, int) else str(p) for p in parsed.prerelease)
    return Version(int(parsed.major), int(parsed.minor), int(parsed.patch), prerelease, build)


def is_version(text: str) -> bool:
    try:
        parse(text)
    except VersionError:
        return False
    return True


def compare(a: str, b: str) -> int:
    """-1, 0 or 1 by semver precedence (build metadata ignored)."""
    parse(a), parse(b)
    return int(nodesemver.compare(a, b, loose=False))


@lru_cache(maxsize=65_536)
def sort_key(version: str) -> SortKey:
    """A key that sorts exactly as `compare` does, made of ints and strings (for page tokens)."""
    parse(version)
    return tuple(nodesemver.full_key_function(version))


def newest_first(versions: Iterable[str]) -> list[str]:
    """Highest precedence first, as ListComponentVersions lists them."""
    return sorted(versions, key=sort_key, reverse=True)


def newest(versions: Iterable[str]) -> str | None:
    return max(versions, key=sort_key, default=None)


@lru_cache(maxsize=4096)
def _range(requirement: str) -> Any:
    if not isinstance(requirement, str) or not requirement.strip():
        raise VersionError(f"not a version requirement: {requirement!r}")
    try:
        return nodesemver.make_range(requirement, loose=False)
    except ValueError:
        raise VersionError(f"not a version requirement: {requirement!r}") from None


def is_range(requirement: str) -> bool:
    """An npm range (`>=2.0.0 <2.13.0`, `^1.2.3`, `~1.2`, `1.x`, `*`, `1.2.3 || 2.x`...)."""
    try:
        _range(requirement)
    except VersionError:
        return False
    return True


def satisfies(version: str, requirement: str) -> bool:
    """Whether `version` is in `requirement`, by npm's rules (pre-releases included only
    when the range names a pre-release of the same MAJOR.MINOR.PATCH)."""
    parse(version)
    return bool(_range(requirement).test(version))


def max_satisfying(versions: Iterable[str], requirement: str) -> str | None:
    """The highest version in `requirement`, or None: what the nucleus would pick."""
    matching = [v for v in versions if satisfies(v, requirement)]
    return max(matching, key=sort_key) if matching else None
