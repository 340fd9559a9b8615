"""Tags: TagResource, UntagResource, ListTagsForResource on deployments, core devices and
private components."""

from __future__ import annotations

from ggwatch.sim.operations.call import Call, Output
from ggwatch.sim.store import SimError, not_found


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
