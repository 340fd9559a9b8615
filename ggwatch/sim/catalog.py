"""AWS-provided (public) components as the simulator lists them: realistic names and histories.

Version series are written compactly: {"2.12": 6} means 2.12.0 through 2.12.6. The withdrawn
versions are the ones AWS documents as no longer available (see
shared/reference/greengrass-v2-facts.md); which of them the API marks DELETED rather than
DISCONTINUED is not documented, so the catalog picks one reading and tests may flip it.

Recipes: every version's ComponentDependencies and Manifests come from here (`requirements`,
`platforms`), the same in every Region and independent of the generator's randomness. Most
components constrain the nucleus, SOFT as AWS's own recipes do, to `>=2.0.0 <2.(m+1).0` where
2.m is the nucleus minor current when the version was built (the versions of every component
are spread over the same years, so the k-th of n was built against the nucleus k/n along its
history, and each component's newest version accepts the newest nucleus); the Greengrass CLI
accepts only its own minor of the nucleus, as AWS ships it.
"""

from __future__ import annotations

from typing import Any

NUCLEUS = "aws.greengrass.Nucleus"
TOKEN_EXCHANGE = "aws.greengrass.TokenExchangeService"  # noqa: S105 (a component name)
STREAM_MANAGER = "aws.greengrass.StreamManager"
CLI = "aws.greengrass.Cli"

# name -> {"major.minor": highest patch}
SERIES: dict[str, dict[str, int]] = {
    NUCLEUS: {
        "2.0": 5,
        "2.1": 0,
        "2.2": 0,
        "2.3": 0,
        "2.4": 0,
        "2.5": 6,
        "2.6": 0,
        "2.7": 0,
        "2.8": 1,
        "2.9": 6,
        "2.10": 3,
        "2.11": 3,
        "2.12": 6,
        "2.13": 0,
        "2.14": 3,
        "2.15": 0,
    },
    "aws.greengrass.Cli": {
        "2.0": 5,
        "2.4": 0,
        "2.5": 6,
        "2.9": 6,
        "2.10": 3,
        "2.11": 3,
        "2.12": 6,
        "2.13": 0,
        "2.14": 3,
        "2.15": 0,
    },
    TOKEN_EXCHANGE: {"2.0": 3},
    "aws.greengrass.LogManager": {"2.0": 2, "2.1": 3, "2.2": 8, "2.3": 9},
    "aws.greengrass.ShadowManager": {"2.0": 6, "2.1": 1, "2.2": 4, "2.3": 9},
    "aws.greengrass.StreamManager": {"2.0": 15, "2.1": 13, "2.2": 1},
    "aws.greengrass.SecretManager": {"2.0": 9, "2.1": 8, "2.2": 2},
    "aws.greengrass.LambdaManager": {"2.0": 5, "2.1": 4, "2.2": 11, "2.3": 4},
    "aws.greengrass.LocalDebugConsole": {"2.0": 2, "2.1": 0, "2.2": 8, "2.3": 0, "2.4": 3},
    "aws.greengrass.DockerApplicationManager": {"2.0": 11},
    "aws.greengrass.clientdevices.Auth": {
        "2.0": 4,
        "2.1": 0,
        "2.2": 3,
        "2.3": 2,
        "2.4": 5,
        "2.5": 2,
    },
    "aws.greengrass.clientdevices.mqtt.Moquette": {"2.0": 3, "2.1": 0, "2.2": 0, "2.3": 7},
    "aws.greengrass.clientdevices.mqtt.Bridge": {"2.0": 2, "2.1": 1, "2.2": 6, "2.3": 2},
    "aws.greengrass.clientdevices.IPDetector": {"2.0": 2, "2.1": 9, "2.2": 2},
    "aws.greengrass.SecureTunneling": {"1.0": 19, "1.1": 3},  # 1.1.3 replaced withdrawn 1.1.2
    "aws.greengrass.DeviceDefender": {"2.0": 11, "3.0": 3, "3.1": 2},
    "aws.greengrass.telemetry.NucleusEmitter": {"1.0": 10},
    "aws.greengrass.DiskSpooler": {"1.0": 5},
    "aws.iot.SiteWiseEdgePublisher": {"2.0": 3, "2.1": 13, "2.2": 4, "2.3": 1, "2.4": 1},
}

DESCRIPTIONS: dict[str, str] = {
    NUCLEUS: "Core functionality for device side orchestration of deployments and lifecycle "
    "management for execution of Greengrass components and applications.",
    "aws.greengrass.Cli": "The Greengrass CLI component provides a local command-line "
    "interface to develop and debug components.",
    TOKEN_EXCHANGE: "Makes AWS credentials available to components that use AWS services.",
}

# Components that pull in the token exchange service as a non-root dependency.
NEEDS_TOKEN_EXCHANGE = frozenset(
    {
        "aws.greengrass.LogManager",
        "aws.greengrass.StreamManager",
        "aws.greengrass.DockerApplicationManager",
        "aws.greengrass.SecretManager",
        "aws.iot.SiteWiseEdgePublisher",
    }
)

# Components that use stream manager to export data.
NEEDS_STREAM_MANAGER = frozenset({"aws.iot.SiteWiseEdgePublisher"})

# Components whose recipes name no nucleus range: part of the nucleus, or independent of it.
NO_NUCLEUS_RANGE = frozenset({NUCLEUS, TOKEN_EXCHANGE, "aws.greengrass.DockerApplicationManager"})

PLUGINS = frozenset(
    {
        TOKEN_EXCHANGE,
        CLI,
        "aws.greengrass.LogManager",
        "aws.greengrass.ShadowManager",
        "aws.greengrass.SecretManager",
        "aws.greengrass.LambdaManager",
        "aws.greengrass.clientdevices.Auth",
        "aws.greengrass.clientdevices.mqtt.Moquette",
        "aws.greengrass.clientdevices.mqtt.Bridge",
        "aws.greengrass.clientdevices.IPDetector",
        "aws.greengrass.telemetry.NucleusEmitter",
        "aws.greengrass.DiskSpooler",
    }
)

LINUX: tuple[dict[str, Any], ...] = tuple(
    {"name": "linux", "attributes": {"os": "linux", "architecture": arch}}
    for arch in ("amd64", "aarch64", "armv7")
)
WINDOWS: tuple[dict[str, Any], ...] = (
    {"name": "windows", "attributes": {"os": "windows", "architecture": "amd64"}},
)
LINUX_AND_WINDOWS = LINUX + WINDOWS
# Components that also run on Windows core devices; the rest claim Linux only.
ON_WINDOWS = frozenset(
    {
        NUCLEUS,
        CLI,
        TOKEN_EXCHANGE,
        "aws.greengrass.LogManager",
        "aws.greengrass.ShadowManager",
        STREAM_MANAGER,
        "aws.greengrass.SecretManager",
        "aws.greengrass.clientdevices.Auth",
        "aws.greengrass.clientdevices.mqtt.Moquette",
        "aws.greengrass.clientdevices.mqtt.Bridge",
        "aws.greengrass.clientdevices.IPDetector",
        "aws.greengrass.telemetry.NucleusEmitter",
        "aws.greengrass.DiskSpooler",
        "aws.iot.SiteWiseEdgePublisher",
    }
)

# (name, version, guidance, message): documented withdrawals.
WITHDRAWN: tuple[tuple[str, str, str, str], ...] = (
    (NUCLEUS, "2.14.0", "DELETED", "This version is no longer available. Upgrade to 2.14.1."),
    (NUCLEUS, "2.12.3", "DISCONTINUED", "This version has an issue. Upgrade to 2.12.4 or later."),
    (NUCLEUS, "2.5.1", "DISCONTINUED", "This version is no longer available. Upgrade to 2.5.2."),
    ("aws.greengrass.Cli", "2.12.3", "DISCONTINUED", "Upgrade to 2.12.4 or later."),
    ("aws.greengrass.SecureTunneling", "1.1.2", "DISCONTINUED", "Upgrade to a later version."),
    (
        "aws.greengrass.clientdevices.Auth",
        "2.3.0",
        "DISCONTINUED",
        "This version is discontinued. Upgrade to 2.3.1.",
    ),
    ("aws.greengrass.DeviceDefender", "3.0.0", "DISCONTINUED", "Upgrade to 3.0.1 or later."),
    ("aws.iot.SiteWiseEdgePublisher", "2.1.3", "DISCONTINUED", "Upgrade to 2.1.4 or later."),
)


def versions(name: str) -> list[str]:
    """Every version of a public component, oldest first."""
    out: list[str] = []
    for minor, top in SERIES[name].items():
        out.extend(f"{minor}.{patch}" for patch in range(top + 1))
    return out


def component_type(name: str) -> str:
    if name == NUCLEUS:
        return "aws.greengrass.nucleus"
    return "aws.greengrass.plugin" if name in PLUGINS else "aws.greengrass.generic"


def platforms(name: str) -> tuple[dict[str, Any], ...]:
    return LINUX_AND_WINDOWS if name in ON_WINDOWS else LINUX


def nucleus_requirement(name: str, version: str) -> str | None:
    """The nucleus range of a public version's recipe (None: its recipe names none)."""
    if name in NO_NUCLEUS_RANGE:
        return None
    if name == CLI:  # the CLI ships with each nucleus minor and accepts only that minor
        major, minor = version.split(".")[:2]
        return f">={major}.{minor}.0 <{major}.{int(minor) + 1}.0"
    series, nucleus = versions(name), versions(NUCLEUS)
    built_with = nucleus[(series.index(version) + 1) * len(nucleus) // len(series) - 1]
    major, minor = built_with.split(".")[:2]
    return f">=2.0.0 <{major}.{int(minor) + 1}.0"


def requirements(name: str, version: str) -> dict[str, tuple[str, str]]:
    """A public version's ComponentDependencies: name -> (VersionRequirement, DependencyType)."""
    out: dict[str, tuple[str, str]] = {}
    nucleus = nucleus_requirement(name, version)
    if nucleus is not None:
        out[NUCLEUS] = (nucleus, "SOFT")
    if name in NEEDS_TOKEN_EXCHANGE:
        out[TOKEN_EXCHANGE] = ("^2.0.0", "HARD")
    if name in NEEDS_STREAM_MANAGER:
        out[STREAM_MANAGER] = ("^2.0.0", "HARD")
    return out
