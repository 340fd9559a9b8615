"""Step 5 of a collection: the recipes dependency resolution needs, and the versions to pick from.

Starting from every version an in-force deployment names, read each recipe (GetComponent, kept
for the life of the process: a version's recipe never changes), then for each component a
recipe depends on, its versions (ListComponentVersions, refreshed with guidance) and the
recipes of those its requirements can reach, wave by wave, until no new version is reached.
Only versions some requirement admits are read: a component's other versions cannot be picked.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field

from ggwatch.aws.api import GreengrassAPI
from ggwatch.inventory.arns import ArnResolver
from ggwatch.inventory.cache import ListedVersions, RegionCache
from ggwatch.inventory.calls import Collector, bounded_each
from ggwatch.model import Recipe, VersionRef

Admits = Callable[[str, str], bool]  # (version, npm range) -> whether the range admits it


@dataclass(slots=True)
class RecipesFound:
    """Recipes by version (None: the version is gone), the versions of each component a
    dependency reaches, and the calls a full scan spends on them."""

    recipes: dict[VersionRef, Recipe | None] = field(default_factory=dict)
    candidates: dict[str, tuple[str, ...]] = field(default_factory=dict)
    calls: int = 0


async def read_recipes(
    api: GreengrassAPI,
    c: Collector,
    cache: RegionCache,
    arns: ArnResolver,
    named: Iterable[VersionRef],
    admits: Admits,
    started: dt.datetime,
) -> RecipesFound:
    found = RecipesFound()
    wave = set(named)
    ranges: dict[str, set[str]] = {}  # component -> every range asked of it so far
    while wave:
        await _read_wave(api, c, cache, arns, wave, found)
        reached = _requirements(found.recipes, wave)
        wave = set()
        for name, wanted in sorted(reached.items()):
            ranges.setdefault(name, set()).update(wanted)
            versions = await _versions(api, c, cache, arns, name, started, found)
            wave |= {
                VersionRef(name, v)
                for v in versions
                if VersionRef(name, v) not in found.recipes
                and any(admits(v, r) for r in ranges[name])
            }
    return found


def _requirements(
    recipes: Mapping[VersionRef, Recipe | None], refs: Iterable[VersionRef]
) -> dict[str, set[str]]:
    out: dict[str, set[str]] = {}
    for ref in refs:
        recipe = recipes.get(ref)
        for dependency in recipe.dependencies if recipe is not None else ():
            out.setdefault(dependency.name, set()).add(dependency.requirement)
    return out


async def _read_wave(
    api: GreengrassAPI,
    c: Collector,
    cache: RegionCache,
    arns: ArnResolver,
    wave: set[VersionRef],
    found: RecipesFound,
) -> None:
    async def read(ref: VersionRef) -> None:
        found.calls += 1
        if ref in cache.recipes:
            found.recipes[ref] = cache.recipes[ref]
            return
        done, recipe = await c.attempt(lambda: api.get_recipe(ref, arns.version(ref)))
        if done:
            found.recipes[ref] = cache.recipes[ref] = recipe

    await bounded_each(sorted(wave), read, c.limit)


async def _versions(
    api: GreengrassAPI,
    c: Collector,
    cache: RegionCache,
    arns: ArnResolver,
    name: str,
    started: dt.datetime,
    found: RecipesFound,
) -> tuple[str, ...]:
    """The component's versions, newest first, from the cache when fresh."""
    if name in found.candidates:
        return found.candidates[name]
    seen = cache.listed.get(name)
    if seen is None or not cache.fresh(seen.read_at, started, cache.describe_refresh):

        async def listing() -> tuple[str, ...]:
            return tuple([v async for v, _ in api.component_versions(arns.component(name))])

        versions = await c.guarded(listing)
        if versions is None:
            return ()
        seen = cache.listed[name] = ListedVersions(versions, started)
    found.candidates[name] = seen.versions
    found.calls += max(1, -(-len(seen.versions) // 100))
    return seen.versions
