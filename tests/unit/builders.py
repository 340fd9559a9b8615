"""Snapshot builders for the rules and report tests: sensible defaults, only the facts a test names.

    t = TargetBuilder()
    t.version("com.example.App", "1.0.0", Guidance.DELETED)
    t.deploy("d-1", v("com.example.App", "1.0.0"))
    t.device("core-1", v("com.example.App", "1.0.0"))
    snapshot(t)

Every value is one of ggwatch.model's immutable types; the builder itself is a plain mutable
helper that only the tests use.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from types import MappingProxyType

from ggwatch.model import (
    DEFAULT_ALIAS,
    CallCount,
    CoreDevice,
    Deployment,
    DeploymentDetail,
    Guidance,
    InstalledComponent,
    Snapshot,
    TargetError,
    TargetId,
    TargetSnapshot,
    VersionRef,
    VersionStatus,
)

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-west-2"
ACCOUNT = "123456789012"
PUBLIC_PREFIX = "aws.greengrass."


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
        self, thing: str, *components: VersionRef, installed_read: bool = True
    ) -> CoreDevice:
        """A HEALTHY core device with these components installed (the first one a root)."""
        installed = (
            tuple(
                InstalledComponent(ref.name, ref.version, is_root=i == 0, lifecycle_state="RUNNING")
                for i, ref in enumerate(components)
            )
            if installed_read
            else None
        )
        device = CoreDevice(thing, "HEALTHY", NOW - dt.timedelta(hours=1), installed)
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
        )


def snapshot(*targets: TargetBuilder | TargetSnapshot) -> Snapshot:
    return Snapshot(tuple(t.build() if isinstance(t, TargetBuilder) else t for t in targets))
