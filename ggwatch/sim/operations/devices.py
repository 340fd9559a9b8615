"""Core devices: ListCoreDevices, GetCoreDevice, ListInstalledComponents,
ListEffectiveDeployments."""

from __future__ import annotations

from ggwatch.sim.operations.call import Call, Output, check_own_arn
from ggwatch.sim.store import CoreDevice, iot_job_id, not_found


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
        check_own_arn(state, group_arn, "thingGroupArn")
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
    state = call.state
    out = []
    for e in items:
        job = iot_job_id(e.deployment_id)  # its job's, even after the deployment was deleted
        item: Output = {
            "deploymentId": e.deployment_id,
            "deploymentName": e.name,
            "iotJobId": job,
            "iotJobArn": f"arn:aws:iot:{state.region}:{state.account}:job/{job}",
            "targetArn": e.target_arn,
            "coreDeviceExecutionStatus": e.status,
            "reason": e.reason,
            "creationTimestamp": e.created,
            "modifiedTimestamp": e.modified,
        }
        if e.error_stack or e.error_types:
            item["statusDetails"] = {
                "errorStack": list(e.error_stack),
                "errorTypes": list(e.error_types),
            }
        out.append(item)
    return {"effectiveDeployments": out, "nextToken": token}
