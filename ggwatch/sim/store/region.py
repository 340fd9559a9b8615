"""The simulator's in-memory world: accounts, regions, components, deployments, core devices.

Mutable by design (it is a fake service), but every change goes through the methods here, so
the invariants a real Greengrass V2 keeps hold after each one: one latest deployment per
target, devices' installed components follow the latest deployments of their targets, and a
device's lastStatusUpdateTimestamp moves when it processes a deployment. What a device would
report to EventBridge then goes to an outbox (a non-blocking put): the store does no I/O.
"""

from __future__ import annotations

import bisect
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol

from ggwatch.sim import events

PUBLIC_OWNER = "aws"
NUCLEUS = "aws.greengrass.Nucleus"
SUPERSEDED_READINGS = ("INACTIVE", "CANCELED")


class SimError(Exception):
    """An AWS error the simulator answers with: code, message and the error's extra members."""

    def __init__(
        self, code: str, message: str, *, retry_after: int | None = None, **members: Any
    ) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message
        self.retry_after = retry_after  # sent as the Retry-After header
        self.members = members


def not_found(kind: str, resource_id: str) -> SimError:
    return SimError(
        "ResourceNotFoundException",
        f"{kind} {resource_id} was not found.",
        resourceId=resource_id,
        resourceType=kind,
    )


def version_key(version: str) -> tuple[tuple[int, int | str], ...]:
    """Sort key for component versions: numeric parts compare as numbers, the rest as text."""
    parts: list[tuple[int, int | str]] = []
    for piece in version.replace("-", ".").split("."):
        parts.append((0, int(piece)) if piece.isdigit() else (1, piece))
    return tuple(parts)


def component_arn(region: str, owner: str, name: str) -> str:
    return f"arn:aws:greengrass:{region}:{owner}:components:{name}"


def thing_arn(region: str, account: str, thing: str) -> str:
    return f"arn:aws:iot:{region}:{account}:thing/{thing}"


def thing_group_arn(region: str, account: str, group: str) -> str:
    return f"arn:aws:iot:{region}:{account}:thinggroup/{group}"


@dataclass(slots=True)
class ComponentVersion:
    name: str
    version: str
    arn: str
    created: float
    publisher: str
    description: str
    vendor_guidance: str | None = "ACTIVE"
    guidance_message: str | None = None
    state: str = "DEPLOYABLE"
    platforms: tuple[dict[str, Any], ...] = ({"name": "linux", "attributes": {"os": "linux"}},)
    tags: dict[str, str] = field(default_factory=dict)
    # Resolved dependencies (name -> version) that the nucleus installs as non-root components.
    dependencies: dict[str, str] = field(default_factory=dict)


@dataclass(slots=True)
class Component:
    name: str
    arn: str
    owner: str
    versions: dict[str, ComponentVersion] = field(default_factory=dict)
    # Newest first, as ListComponentVersions answers.
    order: list[str] = field(default_factory=list)

    def add(self, version: ComponentVersion) -> None:
        self.versions[version.version] = version
        self.order = sorted(self.versions, key=version_key, reverse=True)

    def latest(self) -> ComponentVersion:
        return self.versions[self.order[0]]


@dataclass(slots=True)
class Deployment:
    deployment_id: str
    revision_id: str
    target_arn: str
    name: str
    created: float
    status: str
    components: dict[str, dict[str, Any]]
    account: str
    region: str
    is_latest: bool = True
    parent_target_arn: str | None = None
    policies: dict[str, Any] | None = None
    iot_job_configuration: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account}:deployments:{self.deployment_id}"

    @property
    def iot_job_id(self) -> str:
        return self.deployment_id

    @property
    def iot_job_arn(self) -> str:
        return f"arn:aws:iot:{self.region}:{self.account}:job/{self.deployment_id}"

    @property
    def sort_key(self) -> tuple[float, str]:
        # Newest first; the id breaks ties so pages are stable.
        return (-self.created, self.deployment_id)


@dataclass(slots=True)
class Installed:
    name: str
    version: str
    is_root: bool
    source: str
    changed: float
    reported: float
    state: str = "RUNNING"


@dataclass(slots=True)
class EffectiveDeployment:
    deployment_id: str
    name: str
    target_arn: str
    status: str
    created: float
    modified: float
    reason: str | None = None


@dataclass(slots=True)
class CoreDevice:
    thing_name: str
    status: str
    last_update: float
    thing_groups: tuple[str, ...]
    platform: str = "linux"
    architecture: str = "amd64"
    runtime: str = "aws_nucleus_classic"
    installed: dict[str, Installed] = field(default_factory=dict)
    effective: dict[str, EffectiveDeployment] = field(default_factory=dict)
    # Thing groups whose deployments reached the device, even after it left the group:
    # ListCoreDevices(thingGroupArn=...) lists those devices too.
    deployed_groups: set[str] = field(default_factory=set)
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def core_version(self) -> str | None:
        nucleus = self.installed.get(NUCLEUS)
        return nucleus.version if nucleus else None


class DeploymentIndex:
    """Deployments kept sorted newest first, overall and per target, for keyset pagination."""

    def __init__(self) -> None:
        self.by_id: dict[str, Deployment] = {}
        self.all: list[tuple[tuple[float, str], Deployment]] = []
        self.by_target: dict[str, list[tuple[tuple[float, str], Deployment]]] = {}
        self.latest: dict[str, Deployment] = {}

    def add(self, deployment: Deployment) -> None:
        entry = (deployment.sort_key, deployment)
        self.by_id[deployment.deployment_id] = deployment
        bisect.insort(self.all, entry, key=lambda e: e[0])
        bisect.insort(self.by_target.setdefault(deployment.target_arn, []), entry, key=_key)
        if deployment.is_latest:
            self.latest[deployment.target_arn] = deployment

    def remove(self, deployment: Deployment) -> None:
        del self.by_id[deployment.deployment_id]
        _remove_entry(self.all, deployment)
        target_list = self.by_target[deployment.target_arn]
        _remove_entry(target_list, deployment)
        if not target_list:
            del self.by_target[deployment.target_arn]
        # A deleted latest deployment stays in `latest`: the devices that received it keep
        # running it, and later deployments to their other targets merge with it.

    def __len__(self) -> int:
        return len(self.by_id)


def _key(entry: tuple[tuple[float, str], Deployment]) -> tuple[float, str]:
    return entry[0]


def _remove_entry(entries: list[tuple[tuple[float, str], Deployment]], dep: Deployment) -> None:
    index = bisect.bisect_left(entries, dep.sort_key, key=_key)
    if index < len(entries) and entries[index][1] is dep:
        del entries[index]


class Outbox(Protocol):
    """Where the store reports what a device would tell EventBridge: a synchronous put that
    never blocks (the emitter's outbox), so the store itself does no I/O."""

    def put(self, event: events.Event) -> None: ...


@dataclass(slots=True)
class Readings:
    """Where AWS's behaviour is undocumented, which reading the simulator plays."""

    superseded_status: str = "INACTIVE"  # or CANCELED
    delete_active_error: str = "conflict"  # or validation


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
        self.idempotency: dict[str, tuple[str, str]] = {}  # client token -> (request, id)
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
            installed[name] = self._install(device, name, version, True, source, now)
        for name, (version, source) in sorted(wanted.items()):
            component = self.component(name)
            record = component.versions.get(version) if component else None
            for dep_name, dep_version in sorted(record.dependencies.items() if record else ()):
                if dep_name not in installed:
                    installed[dep_name] = self._install(
                        device, dep_name, dep_version, False, source, now
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
        device: CoreDevice, name: str, version: str, root: bool, source: str, now: float
    ) -> Installed:
        current = device.installed.get(name)
        if current is not None and current.version == version:
            current.is_root = root
            current.source = source  # the last deployment that contained it, says the API
            return current
        return Installed(name, version, root, source, now, now)


def _footprint(device: CoreDevice) -> dict[str, tuple[str, bool, str]]:
    return {name: (i.version, i.is_root, i.state) for name, i in device.installed.items()}


class World:
    """Every account and Region the simulator serves, and who is calling."""

    def __init__(self, clock: Callable[[], float], readings: Readings | None = None) -> None:
        self.clock = clock
        self.readings = readings or Readings()
        self.outbox: Outbox | None = None
        self.public: dict[str, dict[str, Component]] = {}
        self.regions: dict[tuple[str, str], RegionState] = {}
        self.access_keys: dict[str, str] = {}
        self.default_account = "123456789012"
        self.default_region = "us-west-2"

    def public_catalog(self, region: str) -> dict[str, Component]:
        return self.public.setdefault(region, {})

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Change the clock of the world and of every account and Region already in it."""
        self.clock = clock
        for state in self.regions.values():
            state.clock = clock

    def set_outbox(self, outbox: Outbox | None) -> None:
        """Report the changes of every account and Region, now and created later, to `outbox`."""
        self.outbox = outbox
        for state in self.regions.values():
            state.outbox = outbox

    def region(self, account: str, region: str) -> RegionState:
        """The state of one account and Region, created empty on first use as AWS would."""
        key = (account, region)
        state = self.regions.get(key)
        if state is None:
            state = RegionState(
                account,
                region,
                self.public_catalog(region),
                self.clock,
                self.readings,
                self.outbox,
            )
            self.regions[key] = state
        return state

    def account_for(self, access_key: str) -> str:
        return self.access_keys.get(access_key, self.default_account)

    def states(self) -> Iterable[RegionState]:
        return (self.regions[key] for key in sorted(self.regions))

    def summary(self) -> dict[str, Any]:
        # The account unknown access keys are answered as: what a client without a role
        # should take as its own (GetCallerIdentity is not the simulator's to answer).
        out: dict[str, Any] = {"default_account": self.default_account, "accounts": {}}
        for state in self.states():
            guidance: dict[str, int] = {}
            pools = (state.private.values(), state.public.values())
            for pool in pools:
                for component in pool:
                    for version in component.versions.values():
                        key = version.vendor_guidance or "ACTIVE"
                        guidance[key] = guidance.get(key, 0) + 1
            out["accounts"].setdefault(state.account, {})[state.region] = {
                "private_components": len(state.private),
                "public_components": len(state.public),
                "component_versions_by_guidance": guidance,
                "deployments": len(state.deployments),
                "latest_deployments": len(state.deployments.latest),
                "core_devices": len(state.devices),
                "thing_groups": len(state.groups),
            }
        return out
