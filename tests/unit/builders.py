"""Snapshot builders for the rules and report tests: sensible defaults, only the facts a test names.

    t = TargetBuilder()
    t.version("com.example.App", "1.0.0", Guidance.DELETED)
    t.deploy("d-1", v("com.example.App", "1.0.0"))
    t.device("core-1", v("com.example.App", "1.0.0"))
    snapshot(t)

What dependency resolution reads comes from the same builder:

    t.recipe("com.example.App", "1.0.0", ("com.example.Lib", "^1.0.0"), platforms=["linux"])
    t.device("core-2", platform="linux", architecture="armv7")
    t.member("core-2", "fleet")      # AWS IoT membership; read once any member is added

Membership stays None (not read, so the resolution rules are silent) until `member` is called
or `membership_read` is set; `membership_read=False` leaves it None whatever was added.

Every value is one of ggwatch.model's immutable types; the builder itself is a plain mutable
helper that only the tests use.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from ggwatch.findings import Finding
from ggwatch.model import (
    DEFAULT_ALIAS,
    CallCount,
    CoreDevice,
    Deployment,
    DeploymentDetail,
    Guidance,
    InstalledComponent,
    Recipe,
    RecipeDependency,
    Snapshot,
    TargetError,
    TargetId,
    TargetSnapshot,
    VersionRef,
    VersionStatus,
)
from ggwatch.resolution import sort_key
from ggwatch.rules import RULES, RulesConfig, Scope

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-west-2"
ACCOUNT = "123456789012"
PUBLIC_PREFIX = "aws.greengrass."
# What ListCoreDevices reports for a device by default (the simulator's spelling).
OS = "linux"
ARCH = "amd64"

# A recipe dependency: (component, npm range) or (component, npm range, HARD|SOFT).
Dep = tuple[str, str] | tuple[str, str, str]
# A manifest's platform: "os", "os/architecture" ("*" for any), or its attributes.
PlatformSpec = str | Mapping[str, str]


def target_id(region: str = REGION, alias: str = DEFAULT_ALIAS) -> TargetId:
    return TargetId(alias, region)


def v(name: str, version: str) -> VersionRef:
    return VersionRef(name, version)


def thing_arn(thing: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:iot:{region}:{account}:thing/{thing}"


def group_arn(group: str, region: str = REGION, account: str = ACCOUNT) -> str:
    return f"arn:aws:iot:{region}:{account}:thinggroup/{group}"


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def component_arn(ref: VersionRef, region: str = REGION, account: str = ACCOUNT) -> str:
    """Public components live in the 'aws' account, private ones in the caller's."""
    owner = "aws" if ref.name.startswith(PUBLIC_PREFIX) else account
    return f"arn:aws:greengrass:{region}:{owner}:components:{ref.name}:versions:{ref.version}"


@dataclass
class TargetBuilder:
    """One account and Region; add to it, then build() an immutable TargetSnapshot."""

    region: str = REGION
    account: str | None = ACCOUNT
    deployments: list[Deployment] = field(default_factory=list)
    details: dict[str, DeploymentDetail] = field(default_factory=dict)
    devices: list[CoreDevice] = field(default_factory=list)
    versions: dict[VersionRef, VersionStatus] = field(default_factory=dict)
    recommended: dict[str, str | None] = field(default_factory=dict)
    errors: list[TargetError] = field(default_factory=list)
    calls: list[CallCount] = field(default_factory=list)
    recipes: dict[VersionRef, Recipe] = field(default_factory=dict)
    memberships: dict[str, set[str]] = field(default_factory=dict)
    # None: membership is read exactly when a member was added; True/False force it.
    membership_read: bool | None = None
    started: dt.datetime = NOW - dt.timedelta(seconds=5)
    finished: dt.datetime = NOW

    def thing(self, thing: str) -> str:
        return thing_arn(thing, self.region, self.account or "*")

    def group(self, group: str) -> str:
        return group_arn(group, self.region, self.account or "*")

    def deploy(
        self,
        deployment_id: str,
        *components: VersionRef,
        target: str | None = None,
        status: str = "ACTIVE",
        latest: bool = True,
        created: dt.datetime | None = None,
        name: str | None = None,
        tags: dict[str, str] | None = None,
        read: bool = True,
    ) -> Deployment:
        """A deployment (default: in force, a day old, to thing group 'fleet') and its detail.

        read=False leaves the detail out, as when GetDeployment was not called or failed:
        its components and tags are then unknown.
        """
        deployment = Deployment(
            deployment_id=deployment_id,
            name=name,
            target_arn=target or self.group("fleet"),
            revision_id="1",
            status=status,
            is_latest=latest,
            created=created or days_ago(1),
        )
        self.deployments.append(deployment)
        if read:
            self.details[deployment_id] = DeploymentDetail(
                deployment_id=deployment_id,
                components=tuple(components),
                tags=MappingProxyType(dict(tags or {})),
            )
        return deployment

    def device(
        self,
        thing: str,
        *components: VersionRef,
        installed_read: bool = True,
        platform: str | None = OS,
        architecture: str | None = ARCH,
    ) -> CoreDevice:
        """A HEALTHY linux/amd64 core device with these components installed (the first one
        a root); platform/architecture None: ListCoreDevices did not say."""
        installed = (
            tuple(
                InstalledComponent(ref.name, ref.version, is_root=i == 0, lifecycle_state="RUNNING")
                for i, ref in enumerate(components)
            )
            if installed_read
            else None
        )
        device = CoreDevice(
            thing,
            "HEALTHY",
            NOW - dt.timedelta(hours=1),
            installed,
            platform=platform,
            architecture=architecture,
        )
        self.devices.append(device)
        return device

    def version(
        self,
        name: str,
        version: str,
        guidance: Guidance = Guidance.ACTIVE,
        message: str | None = None,
        *,
        exists: bool = True,
    ) -> VersionStatus:
        ref = v(name, version)
        status = VersionStatus(
            ref=ref,
            arn=component_arn(ref, self.region, self.account or "*"),
            guidance=guidance,
            message=message,
            exists=exists,
        )
        self.versions[ref] = status
        return status

    def gone(self, name: str, version: str) -> VersionStatus:
        """A referenced version DescribeComponent reports as not found: DELETED, not existing."""
        return self.version(name, version, Guidance.DELETED, exists=False)

    def recipe(
        self,
        name: str,
        version: str,
        *dependencies: Dep,
        platforms: Iterable[PlatformSpec] = (),
        component_type: str | None = None,
    ) -> Recipe:
        """A version's recipe (GetComponent); the version is also described ACTIVE unless
        `version()` says otherwise (before or after). No platforms: it runs anywhere."""
        ref = v(name, version)
        recipe = Recipe(
            ref=ref,
            component_type=component_type,
            dependencies=tuple(RecipeDependency(*dependency) for dependency in dependencies),
            platforms=tuple(_manifest(p) for p in platforms),
        )
        self.recipes[ref] = recipe
        if ref not in self.versions:
            self.version(name, version)
        return recipe

    def member(self, thing: str, *groups: str) -> None:
        """AWS IoT lists `thing` in these thing groups (none: read, in no group)."""
        self.memberships.setdefault(thing, set()).update(groups)

    def recommend(self, name: str, version: str | None) -> None:
        self.recommended[name] = version

    def error(self, operation: str, code: str, message: str) -> None:
        self.errors.append(TargetError(operation, code, message))

    def call(self, operation: str, count: int, outcome: str = "ok") -> None:
        self.calls.append(CallCount(operation, outcome, count))

    def build(self) -> TargetSnapshot:
        private = frozenset(
            ref.name for ref in self.versions if not ref.name.startswith(PUBLIC_PREFIX)
        )
        return TargetSnapshot(
            target=target_id(self.region),
            account=self.account,
            complete=not self.errors,
            errors=tuple(self.errors),
            deployments=tuple(self.deployments),
            details=MappingProxyType(dict(self.details)),
            devices=tuple(self.devices),
            versions=MappingProxyType(dict(self.versions)),
            recommended=MappingProxyType(dict(self.recommended)),
            private_components=private,
            calls=tuple(self.calls),
            started=self.started,
            finished=self.finished,
            recipes=MappingProxyType(dict(self.recipes)),
            candidates=MappingProxyType(self._candidates()),
            membership=self._membership(),
        )

    def _candidates(self) -> dict[str, tuple[str, ...]]:
        """ListComponentVersions' answer for each component a recipe was read for: newest first."""
        out: dict[str, list[str]] = {}
        for ref in self.recipes:
            out.setdefault(ref.name, []).append(ref.version)
        return {
            name: tuple(sorted(versions, key=sort_key, reverse=True))
            for name, versions in sorted(out.items())
        }

    def _membership(self) -> Mapping[str, tuple[str, ...]] | None:
        read = self.membership_read if self.membership_read is not None else bool(self.memberships)
        if not read:
            return None
        return MappingProxyType(
            {thing: tuple(sorted(groups)) for thing, groups in sorted(self.memberships.items())}
        )


def _manifest(spec: PlatformSpec) -> tuple[tuple[str, str], ...]:
    if isinstance(spec, str):
        os, _, architecture = spec.partition("/")
        spec = {"os": os, "architecture": architecture} if architecture else {"os": os}
    return tuple(sorted(spec.items()))


def evaluated(t: TargetBuilder, config: RulesConfig | None = None) -> tuple[list[Finding], Scope]:
    """Every rule family over one target, and the scope they shared (its fleet's memo)."""
    scope = Scope(t.build(), config or RulesConfig(), NOW)
    return [f for family in RULES for f in family(scope)], scope


def snapshot(*targets: TargetBuilder | TargetSnapshot) -> Snapshot:
    return Snapshot(tuple(t.build() if isinstance(t, TargetBuilder) else t for t in targets))
