"""One account's resources in one Region, and the invariants a real Greengrass V2 keeps.

Every change goes through the methods here: one latest deployment per target, devices resolve
each deployment that reaches them (store/devices.py), and a device's
lastStatusUpdateTimestamp moves when it processes a deployment. What a device would report to
EventBridge then goes to the outbox (a non-blocking put): the state does no I/O.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from ggwatch.sim.store.devices import Installer
from ggwatch.sim.store.groups import ThingGroups
from ggwatch.sim.store.index import DeploymentIndex
from ggwatch.sim.store.records import (
    PUBLIC_OWNER,
    Component,
    ComponentVersion,
    CoreDevice,
    Deployment,
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
        # Versions DeleteComponent removed: the cloud offers them no more, devices keep them.
        self.deleted_versions: dict[str, dict[str, ComponentVersion]] = {}
        self.installer = Installer(self)  # devices resolving deployments (store/devices.py)

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
        self.installer.changed()

    def delete_private_version(self, version: ComponentVersion) -> None:
        """DeleteComponent: the version goes, and its component with its last version.

        Deployments that name it are not edited, and devices keep running it: AWS deletes the
        recipe and artifacts, not what core devices already installed.
        """
        component = self.private[version.name]
        component.remove(version.version)
        self.deleted_versions.setdefault(version.name, {})[version.version] = version
        self.installer.changed()
        self.resource_tags.pop(version.arn, None)
        if not component.versions:
            del self.private[version.name]
            self.resource_tags.pop(component.arn, None)

    # -- core devices and thing groups ---------------------------------------------------------

    def add_device(self, device: CoreDevice) -> None:
        self.devices[device.thing_name] = device
        for group in device.thing_groups:
            self.groups.setdefault(group, set()).add(device.thing_name)
        device.targets = frozenset(self.targets_of(device))

    def membership_changed(self, thing_name: str, now: float) -> None:
        """The device joined or left thing groups (`device.thing_groups` already says so): it
        gets the latest deployments of groups it joined and, with nucleus >= 2.5.0, drops the
        components of groups it left (store/devices.py)."""
        self.installer.membership_changed(self.devices[thing_name], now)

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
        """Deliver a deployment to the devices of its target, which resolve it on their side.

        With `devices`, to those only (devices that joined the target later); the deployment's
        own status, which the other devices made, stays as it is. A thing group's deployment
        stays ACTIVE while its devices fail; a thing's is COMPLETED, or FAILED with its device.
        """
        now = self.clock()
        reached = self.devices_for_target(deployment.target_arn) if devices is None else devices
        failed = False
        for device in reached:
            failed |= self.installer.deliver(device, deployment, now).status == "FAILED"
        thing_target = ":thing/" in deployment.target_arn
        if devices is None and thing_target and deployment.status == "ACTIVE":
            deployment.status = "FAILED" if failed else "COMPLETED"

    def devices_running(self, name: str, version: str) -> list[str]:
        """The core devices with this version of a component installed (root or not)."""
        return [
            thing
            for thing, device in sorted(self.devices.items())
            if (installed := device.installed.get(name)) is not None
            and installed.version == version
        ]
