"""Components: ListComponents, ListComponentVersions, DescribeComponent, GetComponent,
DeleteComponent. (CreateComponentVersion: component_versions.)"""

from __future__ import annotations

import json
from typing import Any

import yaml

from ggwatch.sim.operations.call import Call, Output
from ggwatch.sim.pagination import descending
from ggwatch.sim.store import PUBLIC_OWNER, ComponentVersion, SimError, recipe_of, version_key

# The model and the API reference name no default for recipeOutputFormat; the simulator
# answers YAML when none is asked for (NOT CONFIRMED: clients should always ask).
DEFAULT_RECIPE_FORMAT = "YAML"


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
    version = settled(call.state.version_by_arn(call.params["arn"]))
    return describe(version, call.state.resource_tags.get(version.arn, version.tags))


def settled(version: ComponentVersion) -> ComponentVersion:
    """A version CreateComponentVersion answered REQUESTED is DEPLOYABLE when next read: the
    simulator registers a recipe at once, but answers the creation as AWS does."""
    if version.state == "REQUESTED":
        version.state = "DEPLOYABLE"
    return version


def get_component(call: Call) -> Output:
    version = settled(call.state.version_by_arn(call.params["arn"]))
    output_format = call.params.get("recipeOutputFormat", DEFAULT_RECIPE_FORMAT)
    recipe = recipe_of(version)
    if output_format == "JSON":
        text = json.dumps(recipe, indent=2)
    else:
        text = yaml.safe_dump(recipe, sort_keys=False, default_flow_style=False)
    return {
        "recipeOutputFormat": output_format,
        "recipe": text.encode("utf-8"),
        "tags": call.state.resource_tags.get(version.arn, version.tags),
    }


def delete_component(call: Call) -> Output:
    """DeleteComponent: the version's recipe and artifacts go; deployments and devices stay."""
    state = call.state
    version = state.version_by_arn(call.params["arn"])
    if version.arn.split(":")[4] == PUBLIC_OWNER:
        # An AWS-provided version belongs to AWS's account, not the caller's: AWS answers a
        # caller acting on a resource it does not own with AccessDeniedException (403), as
        # IAM does for any other account's resource, rather than a ValidationException about
        # the request's form, which is well formed.
        raise SimError(
            "AccessDeniedException",
            f"User is not authorized to perform: greengrass:DeleteComponent on resource: "
            f"{version.arn} (AWS-provided component versions cannot be deleted).",
        )
    state.delete_private_version(version)
    return {}


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
