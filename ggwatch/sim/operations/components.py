"""Components: ListComponents, ListComponentVersions, DescribeComponent."""

from __future__ import annotations

from typing import Any

from ggwatch.sim.operations.call import Call, Output
from ggwatch.sim.pagination import descending
from ggwatch.sim.store import ComponentVersion, version_key


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
