"""Recipes (RecipeFormatVersion 2020-01-25): built from a version's facts, or read from one.

A version made by the fleet generator or a fleet file has no uploaded recipe: `recipe_of`
writes the one its facts describe (name, version, type, publisher, ComponentDependencies,
Manifests with their Platform). A version made by CreateComponentVersion keeps the recipe its
publisher uploaded, and `read_recipe` takes the facts the API shows from it. Decoding JSON or
YAML text is the operation's business: the store does no parsing of its own.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ggwatch.sim import versions
from ggwatch.sim.store.records import NUCLEUS, Component, ComponentVersion

FORMAT_VERSION = "2020-01-25"
DEPENDENCY_TYPES = ("HARD", "SOFT")
COMPONENT_TYPES = (
    "aws.greengrass.generic",
    "aws.greengrass.lambda",
    "aws.greengrass.plugin",
    "aws.greengrass.nucleus",
)
Platform = dict[str, Any]  # DescribeComponent's ComponentPlatform: {name, attributes}


class RecipeError(ValueError):
    """A recipe that cannot be a component version's; the message names the key."""


def platform(os: str, architecture: str | None = None) -> Platform:
    attributes = {"os": os} if architecture is None else {"os": os, "architecture": architecture}
    return {"name": os, "attributes": attributes}


def recipe_of(version: ComponentVersion) -> dict[str, Any]:
    """The version's recipe: as uploaded, or as its facts describe it."""
    if version.recipe is not None:
        return version.recipe
    out: dict[str, Any] = {
        "RecipeFormatVersion": FORMAT_VERSION,
        "ComponentName": version.name,
        "ComponentVersion": version.version,
    }
    if version.component_type is not None:
        out["ComponentType"] = version.component_type
    out["ComponentDescription"] = version.description
    out["ComponentPublisher"] = version.publisher
    if version.requirements:
        out["ComponentDependencies"] = {
            name: {"VersionRequirement": requirement, "DependencyType": kind}
            for name, (requirement, kind) in sorted(version.requirements.items())
        }
    generic = version.component_type in (None, "aws.greengrass.generic")
    manifests = []
    for each in version.platforms:
        manifest: dict[str, Any] = {"Platform": dict(each.get("attributes", {}))}
        if generic:
            manifest["Lifecycle"] = {"Run": "{artifacts:decompressedPath}/run"}
        manifests.append(manifest)
    out["Manifests"] = manifests
    return out


@dataclass(frozen=True, slots=True)
class RecipeFacts:
    """What the API shows of an uploaded recipe."""

    name: str
    version: str
    component_type: str | None
    description: str
    publisher: str
    requirements: dict[str, tuple[str, str]]
    platforms: tuple[Platform, ...]


def read_recipe(doc: Any) -> RecipeFacts:
    """The facts of a decoded recipe document; RecipeError for what AWS would refuse."""
    if not isinstance(doc, dict):
        raise RecipeError("the recipe must be a JSON or YAML object")
    if str(doc.get("RecipeFormatVersion")) != FORMAT_VERSION:
        raise RecipeError(f"RecipeFormatVersion must be {FORMAT_VERSION}")
    name = _text(doc, "ComponentName", 128)
    version = _text(doc, "ComponentVersion", 64)
    if not versions.is_version(version):
        raise RecipeError(f"ComponentVersion {version!r} is not a semantic version (1.0.0)")
    kind = doc.get("ComponentType")
    if kind is not None and kind not in COMPONENT_TYPES:
        raise RecipeError(f"ComponentType must be one of {', '.join(COMPONENT_TYPES)}")
    return RecipeFacts(
        name=name,
        version=version,
        component_type=kind,
        description=str(doc.get("ComponentDescription") or ""),
        publisher=str(doc.get("ComponentPublisher") or ""),
        requirements=read_dependencies(doc.get("ComponentDependencies") or {}),
        platforms=_platforms(doc.get("Manifests") or []),
    )


def read_dependencies(value: Any) -> dict[str, tuple[str, str]]:
    if not isinstance(value, dict):
        raise RecipeError("ComponentDependencies must be a map of component names")
    out: dict[str, tuple[str, str]] = {}
    for dep, spec in value.items():
        at = f"ComponentDependencies.{dep}"
        if not isinstance(spec, dict):
            raise RecipeError(f"{at} must be a map with VersionRequirement")
        requirement = str(spec.get("VersionRequirement", "")).strip()
        if not versions.is_range(requirement):
            raise RecipeError(f"{at}.VersionRequirement {requirement!r} is not an npm range")
        kind = spec.get("DependencyType", "HARD")
        if kind not in DEPENDENCY_TYPES:
            raise RecipeError(f"{at}.DependencyType must be HARD or SOFT")
        out[str(dep)] = (requirement, str(kind))
    return out


def _platforms(manifests: Any) -> tuple[Platform, ...]:
    if not isinstance(manifests, list):
        raise RecipeError("Manifests must be a list")
    out: list[Platform] = []
    for i, manifest in enumerate(manifests):
        where = f"Manifests[{i}].Platform"
        if not isinstance(manifest, dict):
            raise RecipeError(f"Manifests[{i}] must be a map")
        attributes = manifest.get("Platform") or {}
        if not isinstance(attributes, dict) or not all(
            isinstance(v, str) and v for v in attributes.values()
        ):
            raise RecipeError(f"{where} must map attribute names to text")
        text = {str(k): str(v) for k, v in attributes.items()}
        out.append({"name": text.get("os", "*"), "attributes": text})
    return tuple(out)


def _text(doc: Mapping[str, Any], key: str, most: int) -> str:
    value = doc.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not value or len(value) > most:
        raise RecipeError(f"{key} is required: text of 1 to {most} characters")
    return value


def pin(
    version: ComponentVersion,
    lookup: Callable[[str], Component | None],
    *,
    strict: bool = False,
    only: Collection[str] | None = None,
) -> None:
    """Resolve the recipe's dependencies (the nucleus aside: a device keeps its own; with
    `only`, just those named) to the newest version in range, which devices install as
    non-root components until device-side resolution replaces these pins. A dependency no
    known version satisfies stays unpinned, or with `strict`, is a RecipeError."""
    version.dependencies = {}
    for name, (requirement, _) in sorted(version.requirements.items()):
        if name == NUCLEUS or (only is not None and name not in only):
            continue
        component = lookup(name)
        chosen = versions.max_satisfying(component.order, requirement) if component else None
        if chosen is not None:
            version.dependencies[name] = chosen
        elif strict:
            raise RecipeError(f"no version of {name} satisfies {requirement!r}")
