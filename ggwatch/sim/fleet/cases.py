"""The resolution cases a generated fleet always holds, beyond those that arise by chance.

Chance gives conflicts across targets (a canary group or a device's own deployment naming
another version of a component its site group deploys, two groups pinning different nuclei)
and components that claim no version for armv7. On purpose, in every account and Region with
four private components or more:

- a DISCONTINUED version picked as a dependency: the last private component's recipe asks for
  `aws.greengrass.SecureTunneling >=1.1.0 <1.1.3`, whose newest, 1.1.2, AWS discontinued (its
  recipe also holds the nucleus below 2.15.0);
- a dependency range that only deleted versions satisfy: the one before it asks for the first
  one at `~1.0.0`, and every 1.0.x of the first is deleted once devices installed it
  (DeleteComponent, or DELETED guidance with `private_guidance`);
- a component with no version for armv7: the third from last claims amd64 and aarch64 only;
Each of those three components is deployed by one site group only (the first three, in
order), so the failures they cause are where one looks for them.
- devices that joined after the deletion (`late_devices`, 2%): they resolve today's catalogue
  and fail where older members of their groups keep running the deleted versions.
"""

from __future__ import annotations

import random

from ggwatch.sim import versions
from ggwatch.sim.fleet.base import DAY, install_latest
from ggwatch.sim.store import CoreDevice, RegionState, platform

SECURE_TUNNELING = "aws.greengrass.SecureTunneling"
DISCONTINUED_RANGE = ">=1.1.0 <1.1.3"  # its newest, 1.1.2, is DISCONTINUED (catalog.WITHDRAWN)
DELETED_RANGE = "~1.0.0"
NO_ARMV7 = (platform("linux", "armv7"),)


def add_dependencies(state: RegionState) -> None:
    """Give the last private components (in the order made) the cases' recipes: the last
    ones, as no component depends on them (edges go to components made before)."""
    names = list(state.private)
    if len(names) < 4:
        return  # the cases need three components to themselves and the first
    for record in state.private[names[-1]].versions.values():
        record.requirements[SECURE_TUNNELING] = (DISCONTINUED_RANGE, "HARD")
    if _has_later_line(state, names[0]):
        for record in state.private[names[-2]].versions.values():
            record.requirements[names[0]] = (DELETED_RANGE, "HARD")
    for record in state.private[names[-3]].versions.values():
        record.platforms = tuple(p for p in record.platforms if p not in NO_ARMV7)


def case_components(state: RegionState) -> list[str]:
    """The components the cases gave recipes to, in the order of the site groups that deploy
    them (one each: the first site group deploys the first)."""
    names = list(state.private)
    return names[-3:][::-1] if len(names) >= 4 else []


def _has_later_line(state: RegionState, name: str) -> bool:
    """Whether the component has a version past 1.0.x (its 1.0.x can go, never its newest)."""
    return any(not versions.satisfies(v, DELETED_RANGE) for v in state.private[name].versions)


def withdraw_dependency(state: RegionState, *, private_guidance: bool, deletes: bool) -> None:
    """Delete (or mark DELETED) the 1.0.x versions the case's component depends on; nothing
    when the fleet deletes nothing."""
    names = list(state.private)
    asked = (
        deletes
        and len(names) >= 3
        and any(
            r.requirements.get(names[0]) == (DELETED_RANGE, "HARD")
            for r in state.private[names[-2]].versions.values()
        )
    )
    if not asked:
        state.installer.changed()  # guidance may have changed all the same
        return
    first = state.private[names[0]]
    for version in [v for v in first.order[1:] if versions.satisfies(v, DELETED_RANGE)]:
        record = first.versions[version]
        if private_guidance:
            record.vendor_guidance = "DELETED"
            record.guidance_message = f"Removed: upgrade to {first.order[0]}."
        else:
            state.delete_private_version(record)
    state.installer.changed()


def late_devices(state: RegionState, share: float) -> list[str]:
    """Every n-th device by name (n = 1/share), the ones provisioned after the deletions."""
    step = max(1, round(1 / share)) if share > 0 else 0
    return sorted(state.devices)[step - 1 :: step] if step else []


def provision_late(state: RegionState, device: CoreDevice, now: float, rng: random.Random) -> None:
    """The device joins its groups within the last three weeks and resolves what they deploy."""
    joined = now - rng.uniform(1, 21) * DAY
    device.last_update = joined
    install_latest(state, device, rng.uniform(0, DAY), at=joined)
