"""One account's resources in one Region, and the invariants a real Greengrass V2 keeps.

Every change goes through the methods here: one latest deployment per target, devices'
installed components follow the latest deployments of their targets, and a device's
lastStatusUpdateTimestamp moves when it processes a deployment. What a device would report to
EventBridge then goes to the outbox (a non-blocking put): the state does no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ggwatch.sim import eventbridge as events
from ggwatch.sim.store.groups import ThingGroups
from ggwatch.sim.store.index import DeploymentIndex
from ggwatch.sim.store.records import (
    NUCLEUS,
    PUBLIC_OWNER,
    Component,
    ComponentVersion,
    CoreDevice,
    Deployment,
    EffectiveDeployment,
    Installed,
    Outbox,
    Readings,
    component_arn,
    not_found,
    thing_arn,
    thing_group_arn,
)


class RegionState:
    """One account's resources in one Region."""

    def __init__(
        self,
        account: str,
        region: str,
        public: dict[str, Component],
        clock: Callable[[], float],
        readings: Readings,
        outbox: Outbox | None = None,
    ) -> None:
        self.account = account
        self.region = region
        self.public = public
        self.private: dict[str, Component] = {}
        self.deployments = DeploymentIndex()
        self.devices: dict[str, CoreDevice] = {}
        self.groups: dict[str, set[str]] = {}  # thing group name -> core device names
        self.thing_groups = ThingGroups(self.groups)  # nesting; shares `groups` (store/groups.py)
        self.idempotency: dict[str, tuple[str, str]] = {}  # client token -> (request, id)
        # CreateComponentVersion's client tokens -> (request, response, when it was answered)
        self.component_tokens: dict[str, tuple[str, dict[str, Any], float]] = {}
        self.clock = clock
        self.readings = readings
        self.outbox = outbox  # None: nobody listens (a fleet being generated), emit nothing
        self.resource_tags: dict[str, dict[str, str]] = {}  # component ARNs' tags

    # -- components ------------------------------------------------------------------------

    def component(self, name: str) -> Component | None:
        """A name resolves to the account's own component first, then AWS's public one."""
        return self.private.get(name) or self.public.get(name)

    def component_by_arn(self, arn: str) -> Component:
        prefix = f"arn:aws:greengrass:{self.region}:"
        if not arn.startswith(prefix):
            raise not_found("component", arn)
        owner, _, name = arn[len(prefix) :].partition(":components:")
        pool = self.public if owner == PUBLIC_OWNER else self.private
        if owner not in (PUBLIC_OWNER, self.account) or name not in pool:
            raise not_found("component", arn)
        return pool[name]

    def version_by_arn(self, arn: str) -> ComponentVersion:
        base, sep, version = arn.rpartition(":versions:")
        if not sep:
            raise not_found("component version", arn)
        component = self.component_by_arn(base)
        if version not in component.versions:
            raise not_found("component version", arn)
        return component.versions[version]

    def add_private_version(self, version: ComponentVersion) -> None:
        component = self.private.get(version.name)
        if component is None:
            arn = component_arn(self.region, self.account, version.name)
            component = self.private[version.name] = Component(version.name, arn, self.account)
        component.add(version)

    def delete_private_version(self, version: ComponentVersion) -> None:
        """DeleteComponent: the version goes, and its component with its last version.

        Deployments that name it are not edited, and devices keep running it: AWS deletes the
        recipe and artifacts, not what core devices already installed.
        """
        component = self.private[version.name]
        component.remove(version.version)
        self.resource_tags.pop(version.arn, None)
        if not component.versions:
            del self.private[version.name]
            self.resource_tags.pop(component.arn, None)

    # -- core devices and thing groups ---------------------------------------------------------

    def add_device(self, device: CoreDevice) -> None:
        self.devices[device.thing_name] = device
        for group in device.thing_groups:
            self.groups.setdefault(group, set()).add(device.thing_name)

    def targets_of(self, device: CoreDevice) -> list[str]:
        own = thing_arn(self.region, self.account, device.thing_name)
        groups = [thing_group_arn(self.region, self.account, g) for g in device.thing_groups]
        return [own, *groups]

    def devices_for_target(self, target_arn: str) -> Iterator[CoreDevice]:
        kind, _, name = target_arn.rpartition(":")[2].partition("/")
        if kind == "thing":
            if name in self.devices:
                yield self.devices[name]
        else:
            for thing in sorted(self.groups.get(name, ())):
                yield self.devices[thing]

    # -- deployments ---------------------------------------------------------------------------

    def new_deployment_id(self) -> str:
        return str(uuid.uuid4())

    def add_deployment(self, deployment: Deployment, *, apply: bool = True) -> None:
        """Record a new revision for its target: the previous latest one is superseded."""
        previous = self.deployments.latest.get(deployment.target_arn)
        if previous is not None and previous.created <= deployment.created:
            previous.is_latest = False
            if previous.status in ("ACTIVE", "COMPLETED"):
                previous.status = self.readings.superseded_status
        elif previous is not None:
            deployment.is_latest = False  # an older revision loaded out of order
        self.deployments.add(deployment)
        if apply and deployment.is_latest:
            self.apply(deployment)

    def apply(self, deployment: Deployment, devices: Iterable[CoreDevice] | None = None) -> None:
        """Deliver a deployment to the devices of its target, as the nucleus would.

        With `devices`, to those only (devices that joined the target later); the deployment's
        own status, which the other devices made, stays as it is.
        """
        now = self.clock()
        is_group = ":thinggroup/" in deployment.target_arn
        group = deployment.target_arn.rpartition("/")[2] if is_group else None
        failing = self.undeployable(deployment)
        reached = self.devices_for_target(deployment.target_arn) if devices is None else devices
        for device in reached:
            if group:
                device.deployed_groups.add(group)
            device.effective[deployment.deployment_id] = EffectiveDeployment(
                deployment_id=deployment.deployment_id,
                name=deployment.name,
                target_arn=deployment.target_arn,
                status="FAILED" if failing else "SUCCEEDED",
                created=deployment.created,
                modified=now,
                reason=failing,
            )
            before = _footprint(device) if self.outbox is not None else {}
            if not failing:
                self.recompute(device, now)
            device.last_update = now
            self._report_deployment(device, device.effective[deployment.deployment_id], before)
        if devices is not None:
            return
        if failing:
            deployment.status = "FAILED"
        elif not is_group and deployment.status == "ACTIVE":
            deployment.status = "COMPLETED"

    def devices_running(self, name: str, version: str) -> list[str]:
        """The core devices with this version of a component installed (root or not)."""
        return [
            thing
            for thing, device in sorted(self.devices.items())
            if (installed := device.installed.get(name)) is not None
            and installed.version == version
        ]

    def _report_deployment(
        self,
        device: CoreDevice,
        received: EffectiveDeployment,
        before: dict[str, tuple[str, bool, str]],
    ) -> None:
        """What the device tells the cloud after processing a deployment, as events.

        The deployment's outcome (as ListEffectiveDeployments shows it), then the components
        it installed or changed. Removed components appear in no event: AWS sends none for a
        removal.
        """
        if self.outbox is None:
            return
        account, region, thing = self.account, self.region, device.thing_name
        now, deployment_id = received.modified, received.deployment_id
        if received.status == "FAILED":
            why = received.reason or "the deployment failed"
            outcome = events.deployment_failed(account, region, thing, deployment_id, why, now=now)
        else:
            outcome = events.effective_deployment_change(
                account, region, thing, deployment_id, received.status, now=now
            )
        self.outbox.put(outcome)
        changed = [
            events.ComponentStatus(i.name, i.version, i.is_root, i.state)
            for name, i in sorted(device.installed.items())
            if before.get(name) != (i.version, i.is_root, i.state)
        ]
        if changed:
            self.outbox.put(
                events.installed_component_change(account, region, thing, changed, now=now)
            )

    def undeployable(self, deployment: Deployment) -> str | None:
        """Why a deployment cannot install (it names a DELETED version), else None."""
        for name, spec in sorted(deployment.components.items()):
            component = self.component(name)
            version = component.versions.get(spec["componentVersion"]) if component else None
            if version is not None and version.vendor_guidance == "DELETED":
                return f"{name} {version.version} is DELETED and can no longer be deployed"
        return None

    def recompute(self, device: CoreDevice, now: float) -> None:
        """Installed components = per target of the device, the revision it runs (`_running`).

        Later deployments win where two name the same component. Their dependencies come in
        as non-root components. Components no deployment names any more are removed; the
        nucleus stays as the dependency of everything.
        """
        wanted: dict[str, tuple[str, str]] = {}
        running = [self._running(device, t) for t in self.targets_of(device)]
        for dep in sorted((d for d in running if d is not None), key=lambda d: d.created):
            for name, spec in dep.components.items():
                wanted[name] = (spec["componentVersion"], dep.deployment_id)
        installed: dict[str, Installed] = {}
        for name, (version, source) in sorted(wanted.items()):
            installed[name] = self._install(device, name, version, source, now, root=True)
        for name, (version, source) in sorted(wanted.items()):
            component = self.component(name)
            record = component.versions.get(version) if component else None
            for dep_name, dep_version in sorted(record.dependencies.items() if record else ()):
                if dep_name not in installed:
                    installed[dep_name] = self._install(
                        device, dep_name, dep_version, source, now, root=False
                    )
        nucleus = device.installed.get(NUCLEUS)
        if NUCLEUS not in installed and nucleus is not None:
            nucleus.is_root = False
            installed[NUCLEUS] = nucleus
        device.installed = installed

    def _running(self, device: CoreDevice, target: str) -> Deployment | None:
        """The newest revision of a target that reached the device and installed.

        A device runs only what reached it (not what was cancelled before it joined), and
        after a failed revision it rolls back to the one before.
        """
        latest = self.deployments.latest.get(target)
        history = (d for _, d in self.deployments.by_target.get(target, ()))
        for dep in (latest, *history) if latest is not None else history:
            received = device.effective.get(dep.deployment_id)
            if dep.status != "FAILED" and received is not None and received.status == "SUCCEEDED":
                return dep
        return None

    @staticmethod
    def _install(
        device: CoreDevice, name: str, version: str, source: str, now: float, *, root: bool
    ) -> Installed:
        current = device.installed.get(name)
        if current is not None and current.version == version:
            current.is_root = root
            current.source = source  # the last deployment that contained it, says the API
            return current
        return Installed(name, version, root, source, now, now)


def _footprint(device: CoreDevice) -> dict[str, tuple[str, bool, str]]:
    return {name: (i.version, i.is_root, i.state) for name, i in device.installed.items()}
