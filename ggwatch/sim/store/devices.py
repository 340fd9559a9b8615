"""What core devices run: every deployment that reaches one is resolved on it, as the nucleus does.

A device runs, per target (its thing, each of its thing groups), the deployment of that target
it last installed (`CoreDevice.running`). When a deployment reaches it, the root components of
that deployment and of every other one it runs are resolved together by
`ggwatch.sim.resolution` against the Region's component versions (their recipes'
dependencies and platforms, their vendor guidance, and the versions DeleteComponent removed,
which the cloud no longer offers but devices that have them keep), the device's platform, and
what it has installed. On success it installs exactly the picks (roots `isRoot`, dependencies
not; an unchanged version keeps its timestamps) and removes the rest; on failure it keeps what
it had, and its effective deployment is FAILED with the resolver's message. Either way it
reports to EventBridge through the Region's outbox.

The catalogue is built once per Region and rebuilt after a change (`Installer.changed`);
resolutions are memoised by what they depend on: the deployments' roots, the platform, and
the versions the device has.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ggwatch.sim import eventbridge as events
from ggwatch.sim import resolution, versions
from ggwatch.sim.resolution import Candidate, Catalogue, PickCache, Platform, Resolution
from ggwatch.sim.store.records import (
    NUCLEUS,
    Applied,
    ComponentVersion,
    CoreDevice,
    Deployment,
    EffectiveDeployment,
    Installed,
)

if TYPE_CHECKING:
    from ggwatch.sim.store.region import RegionState

MEMO_LIMIT = 50_000  # resolutions kept per Region before the memo starts afresh
# Removing a device from a thing group removes that group's components from this nucleus on.
REMOVES_ON_LEAVING = "2.5.0"
# statusDetails {errorStack, errorTypes} for each of the resolver's failure codes.
ERRORS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "NO_AVAILABLE_COMPONENT_VERSION": (events.NO_VERSION_STACK, events.NO_VERSION_TYPES),
    resolution.UNAUTHORIZED_NUCLEUS: (
        ("DEPLOYMENT_FAILURE", resolution.UNAUTHORIZED_NUCLEUS),
        ("REQUEST_ERROR",),
    ),
    "CIRCULAR": (
        ("DEPLOYMENT_FAILURE", "COMPONENT_CIRCULAR_DEPENDENCY_ERROR"),
        ("COMPONENT_RECIPE_ERROR",),
    ),
    "MULTIPLE": (
        ("DEPLOYMENT_FAILURE", "MULTIPLE_NUCLEUS_RESOLVED_ERROR"),
        ("COMPONENT_RECIPE_ERROR",),
    ),
}

Footprint = dict[str, tuple[str, bool, str]]
MemoKey = tuple[
    tuple[tuple[str, tuple[tuple[str, str], ...]], ...],
    tuple[bool, ...],
    tuple[tuple[str, str], ...],
]


def source_of(target_arn: str) -> str:
    """The requirement's source the nucleus names: `thing/NAME` or `thinggroup/NAME`."""
    return target_arn.rpartition(":")[2]


def applied(deployment: Deployment) -> Applied:
    roots = sorted((n, str(s["componentVersion"])) for n, s in deployment.components.items())
    return Applied(deployment.deployment_id, tuple(roots))


def platform_of(device: CoreDevice) -> Platform:
    return Platform(device.platform, device.architecture)


def candidate(record: ComponentVersion, *, deleted: bool = False) -> Candidate:
    """A version as the resolver knows it: its recipe's facts and its guidance."""
    platforms = tuple(
        Platform(
            str(p.get("attributes", {}).get("os", "*")),
            str(p.get("attributes", {}).get("architecture", "*")),
        )
        for p in record.platforms
    )
    return Candidate(
        version=record.version,
        dependencies={name: rng for name, (rng, _) in sorted(record.requirements.items())},
        platforms=platforms,
        deleted=deleted or record.vendor_guidance == "DELETED",
        discontinued=record.vendor_guidance == "DISCONTINUED",
        nucleus=record.component_type == "aws.greengrass.nucleus",
    )


def footprint(device: CoreDevice) -> Footprint:
    return {name: (i.version, i.is_root, i.state) for name, i in device.installed.items()}


class Installer:
    """The devices of one account and Region acting on deployments and on their membership."""

    def __init__(self, state: RegionState) -> None:
        self.state = state
        self._catalogue: dict[str, tuple[Candidate, ...]] | None = None
        self._memo: dict[MemoKey, tuple[Platform, Resolution]] = {}
        self._picks = PickCache()
        self._kinds: dict[Platform, tuple[bool, ...]] = {}

    def changed(self) -> None:
        """A component version came, went or changed guidance: resolve afresh from now on."""
        self._catalogue = None
        self._memo = {}
        self._picks = PickCache()
        self._kinds = {}

    @property
    def defer(self) -> bool:
        """The reading of when a conflict fails (Readings.conflicts)."""
        return self.state.readings.conflicts == "deferred"

    def catalogue(self) -> Catalogue:
        if self._catalogue is None:
            state = self.state
            out: dict[str, tuple[Candidate, ...]] = {}
            for pool in (state.public, state.private):  # an account's own name shadows AWS's
                for name, component in pool.items():
                    out[name] = tuple(candidate(v) for v in component.versions.values())
            for name, gone in state.deleted_versions.items():
                present = {c.version for c in out.get(name, ())}
                extra = [candidate(v, deleted=True) for k, v in gone.items() if k not in present]
                out[name] = (*out.get(name, ()), *extra)
            self._catalogue = out
        return self._catalogue

    def kind(self, platform: Platform) -> tuple[bool, ...]:
        """Which of the catalogue's platform claims a platform meets: two platforms that meet
        the same ones (linux/amd64 and linux/aarch64, as a rule) resolve alike."""
        found = self._kinds.get(platform)
        if found is None:
            claims = {c.platforms for each in self.catalogue().values() for c in each}
            found = self._kinds[platform] = tuple(
                not claim or any(p.claims(platform) for p in claim)
                for claim in sorted(claims, key=repr)
            )
        return found

    def resolve(self, device: CoreDevice, running: Mapping[str, Applied]) -> Resolution:
        """What the device would run with these deployments (memoised: a failure names the
        platform, so only one for the same platform is taken again)."""
        platform = platform_of(device)
        local = tuple(sorted((n, i.version) for n, i in device.installed.items()))
        roots = tuple(sorted((t, a.components) for t, a in running.items()))
        key: MemoKey = (roots, self.kind(platform), local)
        found = self._memo.get(key)
        if found is not None and (found[1].failure is None or found[0] == platform):
            return found[1]
        deployments = {source_of(t): dict(components) for t, components in roots}
        outcome = resolution.resolve(
            deployments,
            self.catalogue(),
            platform,
            dict(local),
            cache=self._picks,
            defer=self.defer,
        )
        if len(self._memo) >= MEMO_LIMIT:
            self._memo, self._picks = {}, PickCache()
        self._memo[key] = (platform, outcome)
        return outcome

    def probe(
        self,
        deployments: Mapping[str, Mapping[str, str]],
        platform: Platform,
        local: Mapping[str, str],
    ) -> Resolution:
        """Resolve for a device that is not there (a fleet being made checks a deployment)."""
        return resolution.resolve(
            deployments, self.catalogue(), platform, local, cache=self._picks, defer=self.defer
        )

    def deliver(
        self, device: CoreDevice, deployment: Deployment, now: float
    ) -> EffectiveDeployment:
        """The device processes a deployment of one of its targets, and reports the outcome."""
        target = deployment.target_arn
        if ":thinggroup/" in target:
            device.deployed_groups.add(target.rpartition("/")[2])
        running = {**device.running, target: applied(deployment)}
        outcome = self.resolve(device, running)
        before = footprint(device) if self.state.outbox is not None else {}
        status, reason = "SUCCEEDED", None
        stack: tuple[str, ...] = ()
        types: tuple[str, ...] = ()
        if outcome.failure is None:
            device.running = running
            self.install(device, outcome, running, deployment.deployment_id, now)
        else:
            status, reason = "FAILED", outcome.failure.message
            stack, types = ERRORS.get(
                outcome.failure.code, ERRORS["NO_AVAILABLE_COMPONENT_VERSION"]
            )
        received = device.effective[deployment.deployment_id] = EffectiveDeployment(
            deployment_id=deployment.deployment_id,
            name=deployment.name,
            target_arn=target,
            status=status,
            created=deployment.created,
            modified=now,
            reason=reason,
            error_stack=stack,
            error_types=types,
        )
        device.last_update = now
        self.report(device, received, before)
        return received

    def membership_changed(self, device: CoreDevice, now: float) -> None:
        """The device joined or left thing groups: it acts on the difference.

        Leaving: a nucleus from 2.5.0 on resolves again without the group's deployment (its
        components go); an older one keeps running them. Joining: the group's latest
        deployment reaches it, as one made now would.
        """
        state = self.state
        targets = frozenset(state.targets_of(device))
        left, joined = device.targets - targets, targets - device.targets
        device.targets = targets
        nucleus = device.core_version
        removes = nucleus is not None and versions.is_version(nucleus)
        if left and removes and versions.compare(str(nucleus), REMOVES_ON_LEAVING) >= 0:
            kept = {t: a for t, a in device.running.items() if t not in left}
            outcome = self.resolve(device, kept) if len(kept) < len(device.running) else None
            if outcome is not None and outcome.failure is None:
                before = footprint(device) if state.outbox is not None else {}
                device.running = kept
                self.install(device, outcome, kept, None, now)
                device.last_update = now
                self.report_installed(device, before, now)
        reaching = [d for t in joined if (d := self.deliverable(t)) is not None]
        for deployment in sorted(reaching, key=lambda d: (d.created, d.deployment_id)):
            self.deliver(device, deployment, now)

    def deliverable(self, target: str) -> Deployment | None:
        """The latest deployment of a target, if it still reaches devices that join it."""
        latest = self.state.deployments.latest.get(target)
        if latest is None or latest.status not in ("ACTIVE", "COMPLETED"):
            return None  # cancelled and failed deployments reach no device that joins later
        return latest if latest.deployment_id in self.state.deployments.by_id else None

    def install(
        self,
        device: CoreDevice,
        outcome: Resolution,
        running: Mapping[str, Applied],
        deployment_id: str | None,
        now: float,
    ) -> None:
        """Install exactly the picks; the nucleus stays, as the dependency of everything."""
        named: dict[str, str] = {}  # root -> the deployment that names it
        for target in sorted(running):
            entry = running[target]
            for name, _ in entry.components:
                if entry.deployment_id == deployment_id or name not in named:
                    named[name] = entry.deployment_id
        installed: dict[str, Installed] = {}
        for name, version in outcome.picks.items():
            root = name in outcome.roots
            current = device.installed.get(name)
            source = named.get(name) if root else deployment_id
            if source is None:
                source = current.source if current is not None else "LOCAL"
            if current is not None and current.version == version:
                current.is_root, current.source = root, source
                installed[name] = current
            else:
                installed[name] = Installed(name, version, root, source, now, now)
        nucleus = device.installed.get(NUCLEUS)
        if NUCLEUS not in installed and nucleus is not None:
            nucleus.is_root = False
            installed[NUCLEUS] = nucleus
        device.installed = dict(sorted(installed.items()))

    def report(self, device: CoreDevice, received: EffectiveDeployment, before: Footprint) -> None:
        """The deployment's outcome (as ListEffectiveDeployments shows it), then the components
        it installed or changed. Removals appear in no event: AWS sends none for a removal."""
        state = self.state
        if state.outbox is None:
            return
        if received.status == "FAILED":
            why = received.reason or "the deployment failed"
            stack = received.error_stack or events.NO_VERSION_STACK
            outcome = events.effective_deployment_change(
                state.account,
                state.region,
                device.thing_name,
                received.deployment_id,
                "FAILED",
                now=received.modified,
                # The nucleus's reason reads "<most specific code>: <outcome>: <message>".
                reason=f"{stack[-1]}: FAILED_NO_STATE_CHANGE: {why}",
                error_stack=stack,
                error_types=received.error_types or events.NO_VERSION_TYPES,
            )
        else:
            outcome = events.effective_deployment_change(
                state.account,
                state.region,
                device.thing_name,
                received.deployment_id,
                received.status,
                now=received.modified,
            )
        state.outbox.put(outcome)
        self.report_installed(device, before, received.modified)

    def report_installed(self, device: CoreDevice, before: Footprint, now: float) -> None:
        state = self.state
        if state.outbox is None:
            return
        changed = [
            events.ComponentStatus(i.name, i.version, i.is_root, i.state)
            for name, i in sorted(device.installed.items())
            if before.get(name) != (i.version, i.is_root, i.state)
        ]
        if changed:
            state.outbox.put(
                events.installed_component_change(
                    state.account, state.region, device.thing_name, changed, now=now
                )
            )
