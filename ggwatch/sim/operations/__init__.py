"""The Greengrass V2 operations the simulator implements: validated params in, output out.

Each handler gets the caller's account-and-Region state and the parameters already checked
against the model's input shape; it answers a dict in the model's output shape (timestamps
as epoch seconds) or raises SimError with a modelled error code.

    call         Call (what a handler may touch) and the checks handlers share
    components   ListComponents, ListComponentVersions, DescribeComponent, GetComponent,
                 DeleteComponent
    component_versions  CreateComponentVersion
    deployments  List/Get/Create/Cancel/DeleteDeployment
    devices      ListCoreDevices, GetCoreDevice, ListInstalledComponents,
                 ListEffectiveDeployments
    tags         TagResource, UntagResource, ListTagsForResource
    candidates   ResolveComponentCandidates (the data plane's; server.py refuses it to IAM
                 callers on the control plane unless the reading candidates_for_iam says so)
    iot          AWS IoT's ListThingsInThingGroup, ListThingGroupsForThing (IOT_HANDLERS)
    account      the AWS Account Management API's ListRegions, GetRegionOptStatus
                 (ACCOUNT_HANDLERS: a global service's, they take an AccountCall)
"""

from __future__ import annotations

from collections.abc import Callable

from ggwatch.sim.operations import (
    account,
    candidates,
    component_versions,
    components,
    deployments,
    devices,
    iot,
    tags,
)
from ggwatch.sim.operations.account import AccountCall
from ggwatch.sim.operations.call import Call, Output, Params
from ggwatch.sim.operations.deployments import create_deployment

__all__ = [
    "ACCOUNT_HANDLERS",
    "HANDLERS",
    "IOT_HANDLERS",
    "AccountCall",
    "Call",
    "Output",
    "Params",
    "create_deployment",
]

HANDLERS: dict[str, Callable[[Call], Output]] = {
    "ListComponents": components.list_components,
    "ListComponentVersions": components.list_component_versions,
    "DescribeComponent": components.describe_component,
    "GetComponent": components.get_component,
    "DeleteComponent": components.delete_component,
    "CreateComponentVersion": component_versions.create_component_version,
    "ListDeployments": deployments.list_deployments,
    "GetDeployment": deployments.get_deployment,
    "CreateDeployment": deployments.create_deployment,
    "CancelDeployment": deployments.cancel_deployment,
    "DeleteDeployment": deployments.delete_deployment,
    "ListCoreDevices": devices.list_core_devices,
    "GetCoreDevice": devices.get_core_device,
    "ListInstalledComponents": devices.list_installed_components,
    "ListEffectiveDeployments": devices.list_effective_deployments,
    "TagResource": tags.tag_resource,
    "UntagResource": tags.untag_resource,
    "ListTagsForResource": tags.list_tags_for_resource,
    "ResolveComponentCandidates": candidates.resolve_component_candidates,
}

# AWS IoT operations (botocore's `iot` model), served on the same port for `iot`-signed calls.
IOT_HANDLERS: dict[str, Callable[[Call], Output]] = {
    "ListThingsInThingGroup": iot.list_things_in_thing_group,
    "ListThingGroupsForThing": iot.list_thing_groups_for_thing,
}

# The AWS Account Management API (botocore's `account` model), for `account`-signed calls.
ACCOUNT_HANDLERS: dict[str, Callable[[AccountCall], Output]] = {
    "ListRegions": account.list_regions,
    "GetRegionOptStatus": account.get_region_opt_status,
}
