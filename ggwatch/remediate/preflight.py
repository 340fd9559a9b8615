"""`ggwatch preflight FILE`: the findings a deployment would cause, before it exists.

FILE is a create-deployment input (JSON or YAML, what `aws greengrassv2 create-deployment
--cli-input-json` takes), checked against botocore's CreateDeployment input shape. Its target's
account and Region are scanned as usual, with the recipes and guidance of the versions it names
read as if it were in force; then it takes the place of its target's in-force deployment and
the rules run. What is reported: the findings about it (the versions it names, what it alone
resolves to on each platform of its target's devices) and the devices of its target that
could no longer resolve everything that reaches them.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from ggwatch.aws.clients import Session, new_session
from ggwatch.aws.requests import problems
from ggwatch.errors import PlanError
from ggwatch.findings import Finding, ResourceType
from ggwatch.model import Deployment, DeploymentDetail, Snapshot, TargetSnapshot, VersionRef
from ggwatch.names import is_account_id, is_region
from ggwatch.report import ScanResult
from ggwatch.rules import evaluate
from ggwatch.scan import scan_once, utcnow
from ggwatch.settings import Settings

PROPOSED_ID = "preflight"  # the proposed deployment's id in findings: it has none yet
MAX_BYTES = 1_000_000


@dataclass(frozen=True, slots=True)
class Proposal:
    path: Path
    request: Mapping[str, Any]
    target_arn: str
    region: str
    account: str
    components: tuple[VersionRef, ...]

    @property
    def name(self) -> str | None:
        value = self.request.get("deploymentName")
        return str(value) if value else None


def read_proposal(path: Path) -> Proposal:
    """The file as a proposal; PlanError naming the file and what is wrong."""
    try:
        raw = path.read_bytes()[: MAX_BYTES + 1]
    except OSError as exc:
        raise PlanError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(raw) > MAX_BYTES:
        raise PlanError(f"{path}: larger than {MAX_BYTES} bytes")
    try:
        # JSON is YAML; the safe loader builds plain values only.
        document = yaml.safe_load(raw.decode("utf-8"))
    except (UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise PlanError(f"{path}: neither JSON nor YAML: {first}") from None
    if not isinstance(document, dict):
        raise PlanError(f"{path}: not a create-deployment input (a mapping of its members)")
    found = problems("CreateDeployment", document)
    if found is not None:
        raise PlanError(f"{path}: not a valid CreateDeployment input: {found}")
    target_arn = str(document["targetArn"])
    region, account = _where(path, target_arn)
    components = document.get("components") or {}
    refs = []
    for name, spec in sorted(components.items()):
        version = spec.get("componentVersion")
        if not version:
            raise PlanError(f"{path}: component {name} has no componentVersion")
        refs.append(VersionRef(str(name), str(version)))
    return Proposal(path, document, target_arn, region, account, tuple(refs))


def _where(path: Path, target_arn: str) -> tuple[str, str]:
    parts = target_arn.split(":", 5)
    if (
        len(parts) != 6
        or parts[0] != "arn"
        or parts[2] != "iot"
        or not is_region(parts[3])
        or not is_account_id(parts[4])
        or not parts[5].startswith(("thing/", "thinggroup/"))
    ):
        raise PlanError(
            f"{path}: targetArn {target_arn!r} is not a thing or thing group ARN "
            "(arn:aws:iot:REGION:ACCOUNT:thing/NAME or .../thinggroup/NAME)"
        )
    return parts[3], parts[4]


async def predict(
    settings: Settings,
    proposal: Proposal,
    *,
    session: Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> ScanResult:
    """Scan the proposal's target and evaluate the fleet with the proposal in force."""
    scoped = _only_region(settings, proposal.region)
    result = await scan_once(
        scoped, session=session or new_session(), clock=clock, extra=proposal.components
    )
    targets = [t for t in result.snapshot.targets if t.account == proposal.account]
    if not targets:
        watched = ", ".join(t.target.label(t.account) for t in result.snapshot.targets)
        raise PlanError(
            f"{proposal.path}: its target is in account {proposal.account}, which the settings "
            f"do not watch in {proposal.region} (watched: {watched or 'none'})"
        )
    target = with_proposal(targets[0], proposal, clock())
    findings = tuple(
        f for f in evaluate(Snapshot((target,)), settings.rules_config, clock()) if _about(f)
    )
    return ScanResult(Snapshot((target,)), findings, result.generated_at, result.duration_seconds)


def _only_region(settings: Settings, region: str) -> Settings:
    """The settings narrowed to one Region: only the proposal's target is scanned."""
    if not settings.targets:
        return settings.model_copy(update={"regions": (region,)})
    targets = tuple(
        t.model_copy(update={"regions": (region,)})
        for t in settings.targets
        if not t.regions or region in t.regions
    )
    return settings.model_copy(update={"targets": targets, "regions": (region,)})


def with_proposal(target: TargetSnapshot, proposal: Proposal, now: dt.datetime) -> TargetSnapshot:
    """The snapshot with the proposal as its target's latest deployment (the current one, if
    any, superseded), as the service would have it after CreateDeployment."""
    deployments = tuple(
        replace(d, is_latest=False) if d.target_arn == proposal.target_arn else d
        for d in target.deployments
    )
    proposed = Deployment(
        deployment_id=PROPOSED_ID,
        name=proposal.name,
        target_arn=proposal.target_arn,
        revision_id=None,
        status="ACTIVE",
        is_latest=True,
        created=now,
    )
    tags = proposal.request.get("tags") or {}
    detail = DeploymentDetail(PROPOSED_ID, proposal.components, MappingProxyType(dict(tags)))
    return replace(
        target,
        deployments=(*deployments, proposed),
        details=MappingProxyType({**target.details, PROPOSED_ID: detail}),
    )


def _about(finding: Finding) -> bool:
    """Whether the proposal causes the finding (not what the fleet has anyway)."""
    if finding.resource_type is ResourceType.DEPLOYMENT:
        return finding.resource_id == PROPOSED_ID
    return PROPOSED_ID in (finding.details.deployment_ids or ())
