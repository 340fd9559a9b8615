"""What a team deploys to a target: versions that work together on the target's devices.

A generated deployment first names the versions current when it was made (`version_at`), as
a team picking from the console would. Its latest revision, the one devices resolve, is then
made to work the way a team makes a deployment work after its first failure:

- a pinned nucleus is never older than the newest one the target's devices run (pinning it
  lower would move those devices down a minor, and private recipes' ranges exclude old ones);
- the Greengrass CLI ships with each nucleus minor, so it is deployed with the nucleus and at
  that minor;
- an AWS-provided component moves up to its first version whose recipe accepts the nucleus the
  devices will run (its recipe bounds the nucleus from above, `<2.(m+1).0`);
- a component named with a dependency of its own in the same deployment gets a version in the
  dependent's range.

- then the resolver has the last word (`settle`): a root whose pin clashes with a range some
  other component asks of it moves to the newest version in those ranges.

What still fails is what fails for users: two targets of one device naming different versions
of a component, a platform a recipe does not claim, versions deleted later (cases.py).
"""

from __future__ import annotations

from collections.abc import Iterable

from ggwatch.sim import catalog, resolution, versions
from ggwatch.sim.store import ComponentVersion, CoreDevice, RegionState


def newest_nucleus(devices: Iterable[CoreDevice]) -> str | None:
    """The newest nucleus the devices run (None: none runs one)."""
    found = [v for d in devices if (v := d.core_version) is not None and versions.is_version(v)]
    return versions.newest(found)


class Stacks:
    """Makes the deployments of one account and Region work (one per fleet being made: it
    remembers each component's versions in order, which do not change meanwhile)."""

    def __init__(self, state: RegionState) -> None:
        self.state = state
        self._ordered: dict[str, list[ComponentVersion]] = {}
        self._fits: dict[tuple[str, str], bool] = {}

    def later(self, name: str, version: str = "0.0.0") -> list[ComponentVersion]:
        """The component's versions from `version` on, oldest first."""
        ordered = self._ordered.get(name)
        if ordered is None:
            component = self.state.component(name)
            found = component.versions.values() if component is not None else ()
            ordered = self._ordered[name] = sorted(
                found, key=lambda v: versions.sort_key(v.version)
            )
        start = versions.sort_key(version)
        return [v for v in ordered if versions.sort_key(v.version) >= start]

    def satisfies(self, version: str, requirement: str) -> bool:
        key = (version, requirement)
        found = self._fits.get(key)
        if found is None:
            found = self._fits[key] = versions.satisfies(version, requirement)
        return found

    def accepts(self, record: ComponentVersion, name: str, version: str) -> bool:
        wanted = record.requirements.get(name)
        return wanted is None or self.satisfies(version, wanted[0])

    def coherent(self, stack: dict[str, str], floor: str | None) -> dict[str, str]:
        """The stack (name -> version) made to resolve on devices running nuclei up to
        `floor`."""
        out = self._with_nucleus(stack, floor)
        nucleus = out.get(catalog.NUCLEUS, floor)
        for name in sorted(out):
            if name in (catalog.NUCLEUS, catalog.CLI) or nucleus is None:
                continue
            for record in self.later(name, out[name]):
                if self.accepts(record, catalog.NUCLEUS, nucleus):
                    out[name] = record.version
                    break
        return out

    def _with_nucleus(self, stack: dict[str, str], floor: str | None) -> dict[str, str]:
        """A pinned nucleus no older than `floor`; the CLI with it, at its minor."""
        out = dict(stack)
        if catalog.CLI in out:
            out.setdefault(catalog.NUCLEUS, floor or out[catalog.CLI])
        pinned = out.get(catalog.NUCLEUS)
        if pinned is None:
            return out
        if floor is not None:
            pinned = out[catalog.NUCLEUS] = max(pinned, floor, key=versions.sort_key)
        if catalog.CLI in out:
            line = versions.parse(pinned).minor_line
            same = [
                v.version
                for v in self.later(catalog.CLI)
                if versions.parse(v.version).minor_line == line
            ]
            if same:
                out[catalog.CLI] = same[-1]
            else:
                del out[catalog.CLI]
        return out

    def settle(self, stack: dict[str, str], floor: str | None, source: str) -> None:
        """Resolve the stack alone, as a linux/amd64 device running `floor` would, and move
        each root that fails to the newest version in the ranges the others ask of it."""
        local = {catalog.NUCLEUS: floor} if floor is not None else {}
        probe = resolution.Platform("linux", "amd64")
        for _ in range(2 * len(stack) + 1):
            failure = self.state.installer.probe({source: stack}, probe, local).failure
            if failure is None or failure.component not in stack:
                return
            ranges = [r for s, r in failure.requirements if s != source]
            fitting = [
                v.version
                for v in reversed(self.later(failure.component))
                if v.vendor_guidance != "DELETED"
                and all(self.satisfies(v.version, r) for r in ranges)
            ]
            if not ranges or not fitting or fitting[0] == stack[failure.component]:
                return
            stack[failure.component] = fitting[0]
