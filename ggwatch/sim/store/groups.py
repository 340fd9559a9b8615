"""AWS IoT thing groups of one account and Region: nesting and direct membership (no I/O).

A group may have a parent (nested groups, as AWS IoT's CreateThingGroup `parentGroupName`);
its direct members are thing names. `members` is the RegionState's own `groups` dict (group ->
direct members), shared rather than copied, so the two cannot drift; a group that is in it
but has no parent here is a top-level group (a fleet device naming an undeclared group makes
one). `CoreDevice.thing_groups` stays the direct membership the rest of the simulator reads;
`move_device` keeps both in step.
"""

from __future__ import annotations

import random
from collections.abc import Iterable

from ggwatch.sim.store.records import CoreDevice


class ThingGroupError(ValueError):
    """A group change that cannot be made: `missing` names an unknown group, if that is why."""

    def __init__(self, message: str, missing: str | None = None) -> None:
        super().__init__(message)
        self.missing = missing


class ThingGroups:
    """Thing groups with optional parents, and their direct members."""

    def __init__(self, members: dict[str, set[str]] | None = None) -> None:
        self.members = members if members is not None else {}
        self.parents: dict[str, str] = {}  # group -> parent group

    def exists(self, group: str) -> bool:
        return group in self.members

    def create(self, group: str, parent: str | None = None) -> None:
        """A new group (or an existing one without a parent given a parent)."""
        if parent is not None:
            self.require(parent)
            if parent == group or group in self.ancestors(parent):
                raise ThingGroupError(f"thing group {parent} is {group} or nested under it")
            self.parents[group] = parent
        self.members.setdefault(group, set())

    def parent(self, group: str) -> str | None:
        return self.parents.get(group)

    def ancestors(self, group: str) -> list[str]:
        """The group's parent, its parent's parent and so on, nearest first."""
        out: list[str] = []
        current = self.parents.get(group)
        while current is not None and current not in out:
            out.append(current)
            current = self.parents.get(current)
        return out

    def children(self, group: str) -> list[str]:
        return sorted(child for child, parent in self.parents.items() if parent == group)

    def descendants(self, group: str) -> list[str]:
        """Every group nested under `group`, at any depth, sorted."""
        found: set[str] = set()
        todo = [group]
        while todo:
            for child in self.children(todo.pop()):
                if child not in found:
                    found.add(child)
                    todo.append(child)
        return sorted(found)

    def things_in(self, group: str, recursive: bool = False) -> list[str]:
        """The group's direct members, or (recursive) those of its nested groups too; sorted."""
        self.require(group)
        things = set(self.members.get(group, ()))
        if recursive:
            for child in self.descendants(group):
                things |= self.members.get(child, set())
        return sorted(things)

    def groups_of(self, thing: str, with_ancestors: bool = False) -> list[str]:
        """The groups the thing is a direct member of, or (with_ancestors) their ancestors too."""
        direct = {group for group, things in self.members.items() if thing in things}
        if with_ancestors:
            direct |= {a for group in list(direct) for a in self.ancestors(group)}
        return sorted(direct)

    def add(self, group: str, thing: str) -> None:
        self.require(group)
        self.members[group].add(thing)

    def remove(self, group: str, thing: str) -> None:
        self.require(group)
        self.members[group].discard(thing)

    def nest_some(self, groups: list[str], rng: random.Random, share: float = 0.3) -> None:
        """Nest about `share` of `groups` after the first, each under an earlier one."""
        for index, group in enumerate(groups[1:], start=1):
            if rng.random() < share:
                self.create(group, rng.choice(groups[:index]))

    def require(self, group: str) -> None:
        if group not in self.members:
            raise ThingGroupError(f"no thing group {group}", missing=group)


def move_device(
    groups: ThingGroups, device: CoreDevice, add: Iterable[str] = (), remove: Iterable[str] = ()
) -> bool:
    """Put a device into `add` and take it out of `remove` (existing groups only), keeping
    `device.thing_groups` (its direct membership, in joining order) and `groups` in step.
    True when its membership changed. ThingGroupError, changing nothing, for an unknown group."""
    add, remove = list(add), list(remove)
    for group in (*add, *remove):
        groups.require(group)
    gone = set(remove)
    kept = [g for g in device.thing_groups if g not in gone]
    joined = [g for g in dict.fromkeys(add) if g not in kept]
    after = (*kept, *joined)
    for group in gone:
        groups.remove(group, device.thing_name)
    for group in after:
        groups.add(group, device.thing_name)
    changed = after != device.thing_groups
    device.thing_groups = after
    return changed
