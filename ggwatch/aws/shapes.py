"""Greengrass V2 and AWS IoT answers parsed into domain values (ggwatch.model): the one place
that knows the APIs' shapes. A missing or mistyped member is a MalformedResponse, never a
KeyError."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, TypeVar

from ggwatch import errors
from ggwatch.model import (
    CoreDevice,
    Deployment,
    DeploymentDetail,
    Guidance,
    InstalledComponent,
    Recipe,
    RecipeDependency,
    VersionRef,
    VersionStatus,
)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ComponentSummary:
    name: str
    arn: str  # the component's ARN, without a version


@dataclass(frozen=True, slots=True)
class DeploymentRead:
    """One GetDeployment, parsed once: the deployment and its detail for decisions, and the
    whole answer (without response metadata) only for what an archive keeps."""

    deployment: Deployment
    detail: DeploymentDetail
    document: dict[str, Any]


def parsed(operation: str, convert: Callable[[], T]) -> T:
    """Build domain values from a response; a missing or mistyped member is a clear error."""
    try:
        return convert()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing member {exc}" if isinstance(exc, KeyError) else str(exc)
        raise errors.MalformedResponse(operation, "MalformedResponse", detail) from exc


def document(response: Mapping[str, Any]) -> dict[str, Any]:
    """An answer as an archive keeps it: without the response metadata."""
    return {k: v for k, v in response.items() if k != "ResponseMetadata"}


def component_summary(item: Mapping[str, Any]) -> ComponentSummary:
    return ComponentSummary(item["componentName"], item["arn"])


def deployment(item: Mapping[str, Any]) -> Deployment:
    """A ListDeployments item, or the same members of a GetDeployment answer."""
    return Deployment(
        deployment_id=item["deploymentId"],
        name=item.get("deploymentName"),
        target_arn=item["targetArn"],
        revision_id=item.get("revisionId"),
        status=item.get("deploymentStatus", "UNKNOWN"),
        is_latest=bool(item.get("isLatestForTarget")),
        created=_utc(item["creationTimestamp"]),
        parent_target_arn=item.get("parentTargetArn"),
    )


def detail(deployment_id: str, response: Mapping[str, Any]) -> DeploymentDetail:
    components = response.get("components") or {}
    refs = sorted(VersionRef(name, spec["componentVersion"]) for name, spec in components.items())
    return DeploymentDetail(
        deployment_id, tuple(refs), MappingProxyType(dict(response.get("tags") or {}))
    )


def deployment_read(response: Mapping[str, Any]) -> DeploymentRead:
    """A whole GetDeployment answer: the deployment, its detail and the document."""
    parsed_deployment = deployment(response)
    return DeploymentRead(
        parsed_deployment,
        detail(parsed_deployment.deployment_id, response),
        document(response),
    )


def version_status(ref: VersionRef, arn: str, response: Mapping[str, Any]) -> VersionStatus:
    status = response.get("status") or {}
    try:
        guidance = Guidance(status.get("vendorGuidance") or Guidance.ACTIVE.value)
    except ValueError:
        guidance = Guidance.ACTIVE  # a value newer than this code: do not raise false alarms
    return VersionStatus(ref, arn, guidance, status.get("vendorGuidanceMessage"))


def versions(page: list[Any]) -> list[tuple[str, str]]:
    return [(item["componentVersion"], item["arn"]) for item in page]


def core_device(item: Mapping[str, Any]) -> CoreDevice:
    stamp = item.get("lastStatusUpdateTimestamp")
    return CoreDevice(
        thing_name=item["coreDeviceThingName"],
        status=item.get("status"),
        last_status_update=_utc(stamp) if stamp else None,
        platform=_text_or_none(item.get("platform")),
        architecture=_text_or_none(item.get("architecture")),
    )


def _text_or_none(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise TypeError(f"expected text, got {type(value).__name__}")
    return value


def recipe(ref: VersionRef, response: Mapping[str, Any]) -> Recipe:
    """GetComponent's `recipe` (asked for as JSON; a blob botocore has decoded to bytes): the
    facts resolution needs. Anything else in the recipe is the publisher's business."""
    raw = response["recipe"]
    doc = json.loads(raw.decode("utf-8") if isinstance(raw, bytes | bytearray) else raw)
    if not isinstance(doc, dict):
        raise TypeError("the recipe is not a JSON object")
    dependencies = []
    for name, spec in (doc.get("ComponentDependencies") or {}).items():
        if not isinstance(spec, dict):
            raise TypeError(f"ComponentDependencies.{name} is not an object")
        dependencies.append(
            RecipeDependency(
                str(name),
                str(spec.get("VersionRequirement", "*")).strip(),
                str(spec.get("DependencyType", "HARD")),
            )
        )
    platforms = []
    for manifest in doc.get("Manifests") or []:
        attributes = manifest.get("Platform") or {}
        if not isinstance(attributes, dict):
            raise TypeError("a manifest's Platform is not an object")
        platforms.append(tuple(sorted((str(k), str(v)) for k, v in attributes.items())))
    kind = doc.get("ComponentType")
    return Recipe(ref, str(kind) if kind else None, tuple(dependencies), tuple(platforms))


def installed_component(item: Mapping[str, Any]) -> InstalledComponent:
    return InstalledComponent(
        name=item["componentName"],
        version=item["componentVersion"],
        is_root=bool(item.get("isRoot")),
        lifecycle_state=item.get("lifecycleState"),
        installation_source=item.get("lastInstallationSource"),
    )


def thing_names(items: list[Any]) -> tuple[str, ...]:
    """ListThingsInThingGroup's `things` (names), every page's: sorted, each once."""
    return tuple(sorted({_text(item) for item in items}))


def group_names(items: list[Any]) -> tuple[str, ...]:
    """ListThingGroupsForThing's `thingGroups` ({groupName, groupArn}), every page's: the
    names, sorted, each once."""
    return tuple(sorted({_text(item["groupName"]) for item in items}))


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise TypeError(f"expected a name, got {value!r}")
    return value


def _utc(value: dt.datetime | float) -> dt.datetime:
    """A timestamp as botocore parses it, or as epoch seconds (a document read back as JSON)."""
    if isinstance(value, int | float):
        return dt.datetime.fromtimestamp(value, dt.UTC)
    return value.astimezone(dt.UTC)
