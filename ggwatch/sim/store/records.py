"""The simulator's records: components and their versions, deployments, core devices.

Plain data with the ARNs AWS gives them, the error the simulator answers with, and the two
seams the state needs from outside: the readings of undocumented behaviour, and the outbox the
state reports events to.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any, Protocol

from ggwatch.sim import eventbridge, versions

PUBLIC_OWNER = "aws"
NUCLEUS = "aws.greengrass.Nucleus"
SUPERSEDED_READINGS = ("INACTIVE", "CANCELED")
CANDIDATES_READINGS = ("denied", "served")  # Readings.candidates_for_iam
CONFLICT_READINGS = ("deferred", "eager")  # Readings.conflicts


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


def version_key(version: str) -> versions.SortKey:
    """Sort key for component versions: semver precedence (pre-releases below the release,
    build metadata ignored). ValueError for a version that is not semantic."""
    return versions.sort_key(version)


def component_arn(region: str, owner: str, name: str) -> str:
    return f"arn:aws:greengrass:{region}:{owner}:components:{name}"


def iot_job_id(deployment_id: str) -> str:
    """The IoT job AWS makes for a deployment: a UUID of its own, not the deployment's id
    (derived from it, so a generated world stays the same for the same seed)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"iot-job/{deployment_id}"))


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
    # A fleet's dependencies pinned to the newest version in range (name -> version): recipe
    # facts only, devices resolve the ranges of `requirements` (store/devices.py).
    dependencies: dict[str, str] = field(default_factory=dict)
    # The recipe's ComponentDependencies: name -> (VersionRequirement, DependencyType).
    requirements: dict[str, tuple[str, str]] = field(default_factory=dict)
    component_type: str | None = None  # the recipe's ComponentType, e.g. aws.greengrass.nucleus
    # The recipe as its publisher uploaded it (CreateComponentVersion); None: built from the
    # fields above (store/recipes.py). A version's recipe never changes.
    recipe: dict[str, Any] | None = None


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
        self.order = versions.newest_first(self.versions)

    def remove(self, version: str) -> None:
        del self.versions[version]
        self.order.remove(version)

    def latest(self) -> ComponentVersion:
        return self.versions[self.order[0]]


def default_deployment_policies() -> dict[str, Any]:
    """The deployment policies AWS gives a deployment created without any (the model's
    documented defaults, and what GetDeployment answers for it)."""
    return {
        "failureHandlingPolicy": "ROLLBACK",
        "componentUpdatePolicy": {"timeoutInSeconds": 60, "action": "NOTIFY_COMPONENTS"},
        "configurationValidationPolicy": {"timeoutInSeconds": 30},
    }


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
    policies: dict[str, Any] = field(default_factory=default_deployment_policies)
    iot_job_configuration: dict[str, Any] | None = None
    tags: dict[str, str] = field(default_factory=dict)

    @property
    def arn(self) -> str:
        return f"arn:aws:greengrass:{self.region}:{self.account}:deployments:{self.deployment_id}"

    @property
    def iot_job_id(self) -> str:
        return iot_job_id(self.deployment_id)

    @property
    def iot_job_arn(self) -> str:
        return f"arn:aws:iot:{self.region}:{self.account}:job/{self.iot_job_id}"

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
    error_stack: tuple[str, ...] = ()  # statusDetails, for a failure
    error_types: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Applied:
    """A deployment a device runs: the revision of its target last installed, and its roots
    (kept here, so a deleted deployment still counts for what the device runs)."""

    deployment_id: str
    components: tuple[tuple[str, str], ...]  # (name, version), sorted


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
    # Per target ARN (its thing, its thing groups), the deployment it runs.
    running: dict[str, Applied] = field(default_factory=dict)
    # The targets it belonged to when it last acted on its membership (RegionState.add_device,
    # membership_changed): what joining or leaving a group is measured against.
    targets: frozenset[str] = frozenset()

    @property
    def core_version(self) -> str | None:
        nucleus = self.installed.get(NUCLEUS)
        return nucleus.version if nucleus else None

    def provision(self, nucleus: str, at: float) -> None:
        """The nucleus installed by hand when the device was set up (not by a deployment)."""
        self.installed[NUCLEUS] = Installed(
            NUCLEUS, nucleus, is_root=False, source="LOCAL", changed=at, reported=at
        )


class Outbox(Protocol):
    """Where the store reports what a device would tell EventBridge: a synchronous put that
    never blocks (the emitter's outbox), so the store itself does no I/O."""

    def put(self, event: eventbridge.Event) -> None: ...


@dataclass(slots=True)
class Readings:
    """Where AWS's behaviour is undocumented, which reading the simulator plays."""

    superseded_status: str = "INACTIVE"  # or CANCELED
    delete_active_error: str = "conflict"  # or validation
    # Whether a fleet file or the control API may mark a private version DISCONTINUED or
    # DELETED. No AWS API does (vendor guidance is for AWS-provided components; a private
    # version is removed with DeleteComponent): allowing it is an undocumented reading, off
    # unless asked for.
    private_guidance: bool = False
    # ResolveComponentCandidates from an IAM (SigV4) caller on the control-plane endpoint: AWS
    # serves it only on the data-plane endpoint to IoT device certificates; the error it gives
    # an IAM caller is not confirmed. "denied": AccessDeniedException (403); "served": answered
    # as the data plane answers a core device (the caller's account and Region).
    candidates_for_iam: str = "denied"
    # When a component no version satisfies fails the resolution: no source says. "deferred":
    # only once no component that asks something of it is still to be re-picked (its
    # requirement may go away); "eager": at once, at the first visit that finds none.
    conflicts: str = "deferred"
