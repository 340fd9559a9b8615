"""The recipes of private components: the generator's edges, and a fleet file's keys.

Private components depend on the nucleus (a range, SOFT), on AWS-provided components and on
each other (always on one made before, so the graph has no cycles), and claim Linux, some
Windows too. The generator draws these from a random stream of their own, seeded by the
fleet's seed, account and Region, so adding recipes left every other generated fact (devices,
deployments, guidance, what devices run) as it was: the generator's edges are recipe facts,
which devices act on once they resolve dependencies. A fleet file's `depends_on` is pinned to
the newest version in range, which devices install as non-root components, as before.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from typing import Any

from ggwatch.sim import catalog, versions
from ggwatch.sim.fleet.base import FleetError
from ggwatch.sim.store import (
    RecipeError,
    RegionState,
    pin,
    platform,
    read_dependencies,
)

NUCLEUS_RANGES = (">=2.0.0 <3.0.0", "^2.5.0", ">=2.9.0 <2.16.0", "^2.0.0")
PUBLIC_DEPENDENCIES = (
    catalog.TOKEN_EXCHANGE,
    catalog.STREAM_MANAGER,
    "aws.greengrass.SecretManager",
    "aws.greengrass.ShadowManager",
)
PRIVATE_RANGES = ("^1.0.0", ">=1.0.0 <2.0.0", "1.x")
DEFAULT_PLATFORMS = ({"name": "linux", "attributes": {"os": "linux"}},)


def private_recipes(state: RegionState, seed: int) -> None:
    """Give every private version of a generated account and Region its recipe's facts."""
    rng = random.Random(f"{seed}:{state.account}:{state.region}:recipes")
    earlier: list[str] = []
    for name in list(state.private):  # in the order they were made
        requirements: dict[str, tuple[str, str]] = {}
        if rng.random() < 0.85:
            requirements[catalog.NUCLEUS] = (rng.choice(NUCLEUS_RANGES), "SOFT")
        for dep in rng.sample(PUBLIC_DEPENDENCIES, rng.choice((0, 1, 1, 2))):
            requirements[dep] = ("^2.0.0", "HARD")
        if earlier and rng.random() < 0.4:
            kind = rng.choice(("HARD", "SOFT"))
            requirements[rng.choice(earlier)] = (rng.choice(PRIVATE_RANGES), kind)
        platforms = [platform("linux", arch) for arch in ("amd64", "aarch64", "armv7")]
        if rng.random() < 0.15:
            platforms.append(platform("windows", "amd64"))
        for record in state.private[name].versions.values():
            record.requirements = dict(requirements)
            record.platforms = tuple(platforms)
        earlier.append(name)


def read_depends_on(value: Any, at: str) -> dict[str, tuple[str, str]]:
    """A fleet file's `depends_on`: {name: RANGE} or {name: {requirement: RANGE, type: T}}.

    A bare version (`2.0.3`) is the npm range of exactly that version, so older fleet files,
    which pinned versions, mean what they meant.
    """
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise FleetError(f"{at}: expected a mapping of component names")
    recipe: dict[str, dict[str, Any]] = {}
    for dep, spec in value.items():
        if isinstance(spec, dict):
            unknown = sorted(set(spec) - {"requirement", "type"})
            if unknown:
                raise FleetError(
                    f"{at}.{dep}: unknown key {unknown[0]!r} (known: requirement, type)"
                )
            recipe[str(dep)] = {
                "VersionRequirement": str(spec.get("requirement", "*")),
                "DependencyType": spec.get("type", "HARD"),
            }
        else:
            recipe[str(dep)] = {"VersionRequirement": str(spec)}
    try:
        return read_dependencies(recipe)
    except RecipeError as exc:
        raise FleetError(f"{at}: {exc}") from None


def read_platforms(value: Any, at: str) -> tuple[dict[str, Any], ...]:
    """A fleet file's `platforms`: a list of `linux`, `linux/amd64` or {os, architecture}."""
    if value is None:
        return DEFAULT_PLATFORMS
    if not isinstance(value, list) or not value:
        raise FleetError(f"{at}: expected a non-empty list such as [linux/amd64, windows]")
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item:
            os, _, arch = item.partition("/")
            out.append(platform(os, arch or None))
        elif isinstance(item, Mapping) and isinstance(item.get("os"), str):
            attributes = {str(k): str(v) for k, v in item.items()}
            out.append({"name": attributes["os"], "attributes": attributes})
        else:
            raise FleetError(f"{at}[{i}]: write linux, linux/amd64 or {{os: linux}}")
    return tuple(out)


def pin_loaded(state: RegionState, where: str) -> None:
    """Pin a fleet file's dependencies once every component of the account and Region is in."""
    for name, component in sorted(state.private.items()):
        for record in component.versions.values():
            try:
                pin(record, state.component, strict=True)
            except RecipeError as exc:
                raise FleetError(f"{where}.components.{name} {record.version}: {exc}") from None


def check_version(text: str, at: str) -> str:
    if not versions.is_version(text):
        raise FleetError(f"{at}.version: {text!r} is not a semantic version such as 1.2.0")
    return text
