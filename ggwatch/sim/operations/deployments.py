"""The Greengrass V2 operations the simulator implements: validated params in, output out.

Each handler gets the caller's account-and-Region state and the parameters already checked
against the model's input shape; it answers a dict in the model's output shape (timestamps
as epoch seconds) or raises SimError with a modelled error code.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from ggwatch.sim.faults import Knobs, Quotas
from ggwatch.sim.pagination import Pager, descending
from ggwatch.sim.store import (
    ComponentVersion,
    CoreDevice,
    Deployment,
    RegionState,
    SimError,
    not_found,
    version_key,
)

Params = dict[str, Any]
Output = dict[str, Any]


@dataclass(slots=True)
class Call:
    """Everything one operation may touch."""

    state: RegionState
    params: Params
    knobs: Knobs
    quotas: Quotas
    pager: Pager

    def page(self, operation: str, entries: Any, keep: Any = None) -> tuple[list[Any], str | None]:
        return self.pager.page(operation, self.params, entries, keep)


# -- components ------------------------------------------------------------------------------


def list_components(call: Call) -> Output:
    state = call.state
    pool = state.public if call.params.get("scope", "PRIVATE") == "PUBLIC" else state.private
    entries = [(name, pool[name]) for name in sorted(pool)]
    items, token = call.page("ListComponents", entries)
    components = []
    for component in items:
        latest = component.latest()
        components.append(
            {
                "arn": component.arn,
                "componentName": component.name,
                "latestVersion": {
                    "arn": latest.arn,
                    "componentVersion": latest.version,
                    "creationTimestamp": latest.created,
                    "description": latest.description or None,
                    "publisher": latest.publisher or None,
                    "platforms": list(latest.platforms),
                },
            }
        )
    return {"components": components, "nextToken": token}


def list_component_versions(call: Call) -> Output:
    component = call.state.component_by_arn(call.params["arn"])
    # Keyed by version, not position: a version published between two pages shifts no cursor.
    entries = [(descending(version_key(v)), component.versions[v]) for v in component.order]
    items, token = call.page("ListComponentVersions", entries)
    versions = [
        {"componentName": v.name, "componentVersion": v.version, "arn": v.arn} for v in items
    ]
    return {"componentVersions": versions, "nextToken": token}


def describe_component(call: Call) -> Output:
    version = call.state.version_by_arn(call.params["arn"])
    return describe(version, call.state.resource_tags.get(version.arn, version.tags))


def describe(version: ComponentVersion, tags: dict[str, str]) -> Output:
    status: dict[str, Any] = {"componentState": version.state}
    if version.vendor_guidance is not None:
        status["vendorGuidance"] = version.vendor_guidance
    if version.guidance_message:
        status["vendorGuidanceMessage"] = version.guidance_message
    return {
        "arn": version.arn,
        "componentName": version.name,
        "componentVersion": version.version,
        "creationTimestamp": version.created,
        "publisher": version.publisher,
        "description": version.description,
        "status": status,
        "platforms": list(version.platforms),
        "tags": tags,
    }


# -- deployments -----------------------------------------------------------------------------


def deployment_item(dep: Deployment) -> Output:
    return {
        "targetArn": dep.target_arn,
        "revisionId": dep.revision_id,
        "deploymentId": dep.deployment_id,
        "deploymentName": dep.name,
        "creationTimestamp": dep.created,
        "deploymentStatus": dep.status,
        "isLatestForTarget": dep.is_latest,
        "parentTargetArn": dep.parent_target_arn,
    }


def list_deployments(call: Call) -> Output:
    index = call.state.deployments
    params = call.params
    target = params.get("targetArn")
    entries = index.by_target.get(target, []) if target else index.all
    latest_only = params.get("historyFilter", "LATEST_ONLY") == "LATEST_ONLY"
    parent = params.get("parentTargetArn")

    def keep(dep: Deployment) -> bool:
        if latest_only and not dep.is_latest:
            return False
        return parent is None or dep.parent_target_arn == parent

    filtered = keep if (latest_only or parent) else None
    items, token = call.page("ListDeployments", entries, filtered)
    return {"deployments": [deployment_item(d) for d in items], "nextToken": token}


def _deployment(call: Call) -> Deployment:
    deployment_id = call.params["deploymentId"]
    dep = call.state.deployments.by_id.get(deployment_id)
    if dep is None:
        raise not_found("deployment", deployment_id)
    return dep


def get_deployment(call: Call) -> Output:
    dep = _deployment(call)
    out = deployment_item(dep)
    out.update(
        {
            "iotJobId": dep.iot_job_id,
            "iotJobArn": dep.iot_job_arn,
            "components": dep.components,
            "deploymentPolicies": dep.policies,
            "iotJobConfiguration": dep.iot_job_configuration,
            "tags": dep.tags,
        }
    )
    return out


def create_deployment(call: Call) -> Output:
    state, params = call.state, call.params
    target = params["targetArn"]
    _check_own_arn(state, target, "targetArn")
    parent = params.get("parentTargetArn")
    if parent is not None:
        _check_own_arn(state, parent, "parentTargetArn")
    token = params.get("clientToken")
    request = json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True)
    if token is not None and token in state.idempotency:
        seen_request, seen_id = state.idempotency[token]
        if seen_request != request:
            raise SimError(
                "ConflictException",
                "The client token was already used with a different request.",
                resourceId=token,
                resourceType="clientToken",
            )
        return _created(state.deployments.by_id[seen_id])
    components = params.get("components", {})
    for name, spec in sorted(components.items()):
        component = state.component(name)
        if component is None or spec["componentVersion"] not in component.versions:
            raise not_found("component version", f"{name}:{spec['componentVersion']}")
    previous = state.deployments.latest.get(target)
    dep = Deployment(
        deployment_id=state.new_deployment_id(),
        revision_id=str(int(previous.revision_id) + 1) if previous else "1",
        target_arn=target,
        name=params.get("deploymentName") or f"Deployment for {target.rpartition('/')[2]}",
        created=max(state.clock(), previous.created + 0.001 if previous else 0.0),
        status="ACTIVE",
        components=components,
        account=state.account,
        region=state.region,
        parent_target_arn=parent,
        policies=params.get("deploymentPolicies"),
        iot_job_configuration=params.get("iotJobConfiguration"),
        tags=dict(params.get("tags", {})),
    )
    state.add_deployment(dep)
    if token is not None:
        state.idempotency[token] = (request, dep.deployment_id)
    return _created(dep)


def _created(dep: Deployment) -> Output:
    return {
        "deploymentId": dep.deployment_id,
        "iotJobId": dep.iot_job_id,
        "iotJobArn": dep.iot_job_arn,
    }


def _check_own_arn(state: RegionState, arn: str, member: str) -> None:
    region, account = arn.split(":")[3:5]
    if region != state.region or account != state.account:
        raise SimError(
            "ValidationException",
            f"{member} must name a resource of account {state.account} in {state.region}.",
            reason="FIELD_VALIDATION_FAILED",
            fields=[{"name": member, "message": "wrong account or Region"}],
        )


def cancel_deployment(call: Call) -> Output:
    dep = _deployment(call)
    if dep.status != "ACTIVE":
        raise SimError(
            "ConflictException",
            f"Deployment {dep.deployment_id} is {dep.status} and cannot be canceled.",
            resourceId=dep.deployment_id,
            resourceType="deployment",
        )
    dep.status = "CANCELED"
    return {"message": f"Canceled deployment {dep.deployment_id}."}


def delete_deployment(call: Call) -> Output:
    dep = _deployment(call)
    if dep.status == "ACTIVE":
        message = "To delete an active deployment, you must first cancel it."
        if call.knobs.readings.delete_active_error == "validation":
            raise SimError("ValidationException", message, reason="OTHER")
        raise SimError(
            "ConflictException", message, resourceId=dep.deployment_id, resourceType="deployment"
        )
    if not call.quotas.start_deletion(call.state.account):
        raise SimError(
            "ThrottlingException",
            "Too many deployment deletions are in progress; try again later.",
            quotaCode="L-DELETE-DEPLOYMENT-JOBS",
            serviceCode="greengrass",
            retry_after=1,
        )
    call.state.deployments.remove(dep)
    return {}


# -- core devices ----------------------------------------------------------------------------


def _device(call: Call) -> CoreDevice:
    name = call.params["coreDeviceThingName"]
    device = call.state.devices.get(name)
    if device is None:
        raise not_found("core device", name)
    return device


def device_item(device: CoreDevice) -> Output:
    return {
        "coreDeviceThingName": device.thing_name,
        "status": device.status,
        "lastStatusUpdateTimestamp": device.last_update,
        "platform": device.platform,
        "architecture": device.architecture,
        "runtime": device.runtime,
    }


def list_core_devices(call: Call) -> Output:
    state, params = call.state, call.params
    group_arn = params.get("thingGroupArn")
    group = group_arn.rpartition("/")[2] if group_arn else None
    if group_arn is not None:
        _check_own_arn(state, group_arn, "thingGroupArn")
    status, runtime = params.get("status"), params.get("runtime")

    def keep(device: CoreDevice) -> bool:
        return (
            (group is None or group in device.deployed_groups)
            and (status is None or device.status == status)
            and (runtime is None or device.runtime == runtime)
        )

    entries = [(name, state.devices[name]) for name in sorted(state.devices)]
    items, token = call.page("ListCoreDevices", entries, keep)
    return {"coreDevices": [device_item(d) for d in items], "nextToken": token}


def get_core_device(call: Call) -> Output:
    device = _device(call)
    out = device_item(device)
    out.update({"coreVersion": device.core_version, "tags": device.tags})
    return out


def list_installed_components(call: Call) -> Output:
    device = _device(call)
    roots_only = call.params.get("topologyFilter", "ROOT") == "ROOT"
    entries = [(name, device.installed[name]) for name in sorted(device.installed)]
    items, token = call.page(
        "ListInstalledComponents", entries, (lambda i: i.is_root) if roots_only else None
    )
    installed = [
        {
            "componentName": i.name,
            "componentVersion": i.version,
            "lifecycleState": i.state,
            "isRoot": i.is_root,
            "lastStatusChangeTimestamp": i.changed,
            "lastReportedTimestamp": i.reported,
            "lastInstallationSource": i.source,
        }
        for i in items
    ]
    return {"installedComponents": installed, "nextToken": token}


def list_effective_deployments(call: Call) -> Output:
    device = _device(call)
    records = sorted(device.effective.values(), key=lambda e: (-e.created, e.deployment_id))
    entries = [((-e.created, e.deployment_id), e) for e in records]
    items, token = call.page("ListEffectiveDeployments", entries)
    out = []
    for e in items:
        dep = call.state.deployments.by_id.get(e.deployment_id)
        out.append(
            {
                "deploymentId": e.deployment_id,
                "deploymentName": e.name,
                "iotJobId": dep.iot_job_id if dep else None,
                "iotJobArn": dep.iot_job_arn if dep else None,
                "targetArn": e.target_arn,
                "coreDeviceExecutionStatus": e.status,
                "reason": e.reason,
                "creationTimestamp": e.created,
                "modifiedTimestamp": e.modified,
            }
        )
    return {"effectiveDeployments": out, "nextToken": token}


# -- tags ------------------------------------------------------------------------------------


def _tags_of(call: Call) -> dict[str, str]:
    state, arn = call.state, call.params["resourceArn"]
    kind, _, rest = arn.split(":", 5)[5].partition(":")
    owner = arn.split(":")[4]
    if arn.split(":")[3] != state.region or owner != state.account:
        raise not_found("resource", arn)
    if kind == "deployments" and rest in state.deployments.by_id:
        return state.deployments.by_id[rest].tags
    if kind == "coreDevices" and rest in state.devices:
        return state.devices[rest].tags
    if kind == "components":
        name, _, version = rest.partition(":versions:")
        component = state.private.get(name)
        if component is not None and (not version or version in component.versions):
            return state.resource_tags.setdefault(arn, {})
    raise not_found("resource", arn)


def tag_resource(call: Call) -> Output:
    tags = _tags_of(call)
    if len(set(tags) | set(call.params["tags"])) > 200:
        raise SimError(
            "ValidationException",
            "A resource can have at most 200 tags.",
            reason="FIELD_VALIDATION_FAILED",
        )
    tags.update(call.params["tags"])
    return {}


def untag_resource(call: Call) -> Output:
    tags = _tags_of(call)
    for key in call.params["tagKeys"]:
        tags.pop(key, None)
    return {}


def list_tags_for_resource(call: Call) -> Output:
    return {"tags": dict(_tags_of(call))}


HANDLERS: dict[str, Callable[[Call], Output]] = {
    "ListComponents": list_components,
    "ListComponentVersions": list_component_versions,
    "DescribeComponent": describe_component,
    "ListDeployments": list_deployments,
    "GetDeployment": get_deployment,
    "CreateDeployment": create_deployment,
    "CancelDeployment": cancel_deployment,
    "DeleteDeployment": delete_deployment,
    "ListCoreDevices": list_core_devices,
    "GetCoreDevice": get_core_device,
    "ListInstalledComponents": list_installed_components,
    "ListEffectiveDeployments": list_effective_deployments,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
