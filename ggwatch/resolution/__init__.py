"""Dependency resolution as a Greengrass core device does it, without the device (pure).

`ranges` reads npm-style version ranges; `model` holds the values; `resolver.resolve` follows
the nucleus's walk; `checks` holds what it checks afterwards and how failures read. No I/O, no
AWS, no clock, no module state beyond the memoised range parsing.
"""

from ggwatch.resolution.model import (
    EMPTY,
    Candidate,
    Catalogue,
    Dependency,
    DependencyType,
    Failure,
    FailureKind,
    Guidance,
    Installed,
    Platform,
    PlatformClaim,
    Resolution,
    Roots,
)
from ggwatch.resolution.ranges import (
    ComponentVersion,
    RangeError,
    SortKey,
    VersionError,
    is_range,
    is_version,
    newest,
    parse_version,
    satisfies,
    sort_key,
)
from ggwatch.resolution.resolver import REPICK_LIMIT, resolution_key, resolve

__all__ = [
    "EMPTY",
    "REPICK_LIMIT",
    "Candidate",
    "Catalogue",
    "ComponentVersion",
    "Dependency",
    "DependencyType",
    "Failure",
    "FailureKind",
    "Guidance",
    "Installed",
    "Platform",
    "PlatformClaim",
    "RangeError",
    "Resolution",
    "Roots",
    "SortKey",
    "VersionError",
    "is_range",
    "is_version",
    "newest",
    "parse_version",
    "resolution_key",
    "resolve",
    "satisfies",
    "sort_key",
]
