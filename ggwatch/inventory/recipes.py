"""Step 4 of a collection: the recipes dependency resolution needs, and the versions to pick from.

Starting from every version an in-force deployment names and the versions a flagged one may
move to (the newest few within the upgrade policy), read each recipe (GetComponent, kept for
the life of the process: a version's recipe never changes), then for each component a recipe
depends on, its versions (ListComponentVersions, refreshed with guidance) and the recipes of
those its requirements can reach, wave by wave, until no new version is reached. Only versions
some requirement admits are read: a component's other versions cannot be picked.
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


# The newest versions within the upgrade policy read per flagged component: a recommendation is
# the newest that resolves, and past a handful the older ones are not worth a call each.
UPGRADE_CANDIDATES = 8


@dataclass(slots=True)
class RecipeReader:
    """One pass's recipe reading: its adapter, collector, cache, ARNs and start, and what it
    found so far (a component's versions are listed, and counted, once per pass)."""

    api: GreengrassAPI
    c: Collector
    cache: RegionCache
    arns: ArnResolver
    started: dt.datetime
    found: RecipesFound = field(default_factory=RecipesFound)

    async def read(self, named: Iterable[VersionRef], admits: Admits) -> RecipesFound:
        """The recipes of `named` and, wave by wave, of every version their dependency ranges
        admit."""
        found = self.found
        wave = set(named) - found.recipes.keys()
        ranges: dict[str, set[str]] = {}  # component -> every range asked of it so far
        while wave:
            await _read_wave(self.api, self.c, self.cache, self.arns, wave, found)
            reached = _requirements(found.recipes, wave)
            wave = set()
            for name, wanted in sorted(reached.items()):
                ranges.setdefault(name, set()).update(wanted)
                versions = await self.versions(name)
                wave |= {
                    VersionRef(name, v)
                    for v in versions
                    if VersionRef(name, v) not in found.recipes
                    and any(admits(v, r) for r in ranges[name])
                }
        return found

    async def candidates(
        self, in_use: Iterable[VersionRef], flagged: Iterable[str], allowed: Allowed
    ) -> set[VersionRef]:
        """For each flagged component, the newest UPGRADE_CANDIDATES versions that `allowed`
        lets some version in use move to: what a recommendation may pick from."""
        using: dict[str, list[str]] = {}
        for ref in in_use:
            using.setdefault(ref.name, []).append(ref.version)
        out: set[VersionRef] = set()
        for name in sorted(set(flagged)):
            current = using.get(name, [])
            versions = await self.versions(name)
            admitted = [v for v in versions if any(allowed(now, v) for now in current)]
            out |= {VersionRef(name, v) for v in admitted[:UPGRADE_CANDIDATES]}
        return out

    async def versions(self, name: str) -> tuple[str, ...]:
        return await _versions(
            self.api, self.c, self.cache, self.arns, name, self.started, self.found
        )


Allowed = Callable[[str, str], bool]  # (version in use, candidate) -> may it move there


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
