"""ResolveComponentCandidates: the version of a component a core device should install.

A core device asks while it resolves a deployment, one component at a time: the candidate
names the component, the version the device already has (`componentVersion`, the nucleus's
local candidate: information, not a requirement) and the merged requirements on it, each
keyed by who asks (`thinggroup/NAME`, `thing/NAME` or the dependent component's name). The
answer is the highest version that satisfies every requirement, is not DELETED (a version
DeleteComponent removed included) and claims the request's platform, with its recipe (JSON,
which the nucleus reads it as), its vendor guidance and the guidance message: a DISCONTINUED
version is answered, with its guidance. None satisfies: ResourceNotFoundException "no usable
version"; some satisfy but none claims the platform: ResourceNotFoundException "doesn't claim
platform".

The pick follows the simulator's own resolver (`ggwatch.sim.resolution`: a candidate's
platforms and `Candidate.runs_on`, npm ranges by `ggwatch.sim.versions`) over the Region's
catalogue (`Installer.catalogue`), as a device without a local version would pick.

Served on the data-plane listener (dataplane.py) to core devices; on the control-plane
listener server.py refuses it to IAM callers unless the reading `candidates_for_iam` is
`served`. Readings of the model where it says nothing (its request members are all
optional): a request without `platform`, or without a candidate, answers ValidationException;
several candidates are resolved each on its own, in order (the nucleus sends one).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from ggwatch.sim import versions
from ggwatch.sim.operations.call import Call, Output
from ggwatch.sim.operations.components import settled
from ggwatch.sim.resolution import Candidate, Platform
from ggwatch.sim.store import ComponentVersion, RegionState, SimError, recipe_of

OPERATION = "ResolveComponentCandidates"
SHOWN = 5  # versions a message names at most
# What AWS answers an IAM caller on the control-plane endpoint (reading "denied").
IAM_REFUSAL = (
    "ResolveComponentCandidates is served only on the AWS IoT Greengrass data-plane endpoint, "
    "to core devices that authenticate with their AWS IoT device certificate; IAM (SigV4) "
    "callers on the control-plane endpoint cannot use it (simulated; the simulator's data "
    "plane is its own listener)."
)


def resolve_component_candidates(call: Call) -> Output:
    platform, shown = _platform(call.params.get("platform"))
    candidates = call.params.get("componentCandidates")
    if not candidates:
        raise _invalid("componentCandidates", "must name the component to resolve")
    resolved = [
        _resolve(call.state, platform, shown, candidate, f"componentCandidates[{index}]")
        for index, candidate in enumerate(candidates)
    ]
    return {"resolvedComponentVersions": resolved}


def _platform(sent: Mapping[str, Any] | None) -> tuple[Platform, str]:
    """The resolver's platform (os and architecture; a missing one is claimed only by a
    manifest for any), and the platform as messages show it."""
    if sent is None:
        raise _invalid("platform", "is required: the platform to resolve for (os, architecture)")
    attributes: Mapping[str, str] = sent.get("attributes") or {}
    shown = ", ".join(f"{key}={value}" for key, value in attributes.items())
    return Platform(attributes.get("os", ""), attributes.get("architecture", "")), f"{{{shown}}}"


def _resolve(
    state: RegionState, platform: Platform, shown: str, sent: Mapping[str, Any], where: str
) -> Output:
    name = sent.get("componentName")
    if name is None:
        raise _invalid(f"{where}.componentName", "is required")
    requirements: Mapping[str, str] = sent.get("versionRequirements") or {}
    for source, requirement in requirements.items():
        if not versions.is_range(requirement):
            raise _invalid(
                f"{where}.versionRequirements.{source}",
                f"{requirement!r} is not a semantic version requirement (an npm range, such "
                "as >=2.0.0 <3.0.0 or ^1.2.0)",
            )
    known = state.installer.catalogue().get(name)
    pick, fitting, deleted = _pick(known or (), requirements.values(), platform)
    if pick is None:
        raise _not_usable(state, name, requirements, shown, fitting, deleted, known is not None)
    component = state.component(name)
    assert component is not None  # a version the catalogue offers is the component's
    return _answer(settled(component.versions[pick.version]))


def _pick(
    known: Sequence[Candidate], ranges: Iterable[str], platform: Platform
) -> tuple[Candidate | None, list[str], list[str]]:
    """The highest version that fits every range, is not DELETED and runs on `platform`;
    else None, with the versions that fit but claim other platforms, and the DELETED ones
    that fit (both newest first)."""
    wanted = tuple(ranges)
    elsewhere: list[str] = []
    deleted: list[str] = []
    for candidate in sorted(known, key=lambda c: versions.sort_key(c.version), reverse=True):
        if not all(versions.satisfies(candidate.version, r) for r in wanted):
            continue
        if candidate.deleted:
            deleted.append(candidate.version)
        elif candidate.runs_on(platform):
            return candidate, [], []
        else:
            elsewhere.append(candidate.version)
    return None, elsewhere, deleted


def _answer(record: ComponentVersion) -> Output:
    return {
        "arn": record.arn,
        "componentName": record.name,
        "componentVersion": record.version,
        # The nucleus parses the answer's recipe as JSON ("cloud sends JSON").
        "recipe": json.dumps(recipe_of(record), indent=2).encode("utf-8"),
        "vendorGuidance": record.vendor_guidance,
        "message": record.guidance_message or None,
    }


def _not_usable(
    state: RegionState,
    name: str,
    requirements: Mapping[str, str],
    shown: str,
    elsewhere: list[str],
    deleted: list[str],
    known: bool,
) -> SimError:
    if elsewhere:
        listed = ", ".join(elsewhere[:SHOWN])
        more = f" and {len(elsewhere) - SHOWN} more" if len(elsewhere) > SHOWN else ""
        message = (
            f"The latest version of Component {name} doesn't claim platform {shown} "
            f"compatibility (versions that satisfy the requirements: {listed}{more})."
        )
    else:
        said = ", ".join(f"{source} requires {rng}" for source, rng in requirements.items())
        if deleted:
            more = f" and {len(deleted) - SHOWN} more" if len(deleted) > SHOWN else ""
            why = f"only DELETED versions do ({', '.join(deleted[:SHOWN])}{more})"
        elif known:
            why = "none does"
        else:
            why = f"no such component in account {state.account}, {state.region}"
        message = (
            f"Component {name} has no usable version that satisfies the requirements"
            f"{f' ({said})' if said else ''}: {why}."
        )
    component = state.component(name)
    return SimError(
        "ResourceNotFoundException",
        message,
        resourceId=component.arn if component is not None else name,
        resourceType="component",
    )


def _invalid(name: str, message: str) -> SimError:
    return SimError(
        "ValidationException",
        f"1 validation error detected: {name} {message}",
        reason="FIELD_VALIDATION_FAILED",
        fields=[{"name": name, "message": message}],
    )
