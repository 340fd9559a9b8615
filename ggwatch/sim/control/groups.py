"""The control API's thing groups: create one (optionally nested), move a device in or out.

Membership changes keep `device.thing_groups` and the region's ThingGroups in step, then call
`RegionState.membership_changed(thing_name, now)` where the state has it (device-side
re-resolution). A device that leaves a group keeps it in `deployed_groups`, so ListCoreDevices
with that thingGroupArn still lists it, as AWS documents.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ggwatch.sim.control.common import (
    BadRequest,
    json_body,
    path_device,
    region_state,
    required_text,
)
from ggwatch.sim.store import ThingGroupError, move_device, thing_group_arn

if TYPE_CHECKING:
    from ggwatch.sim.server import Simulator


async def create_group(sim: Simulator, request: web.Request) -> Any:
    """POST /_sim/groups {"name", "parent"?, "account"?, "region"?}."""
    data = await json_body(request)
    state = region_state(sim, data)
    name = required_text(data, "name")
    parent = data.get("parent")
    if parent is not None and (not isinstance(parent, str) or not parent):
        raise BadRequest("parent must be a thing group name or null")
    groups = state.thing_groups
    if groups.exists(name):
        raise BadRequest(f"thing group {name} exists already", status=409)
    try:
        groups.create(name, parent)
    except ThingGroupError as exc:
        raise BadRequest(str(exc), status=404 if exc.missing else 400) from None
    return {
        "name": name,
        "arn": thing_group_arn(state.region, state.account, name),
        "parent": parent,
    }


async def set_groups(sim: Simulator, request: web.Request) -> Any:
    """POST /_sim/devices/{thing}/groups {"add": [...], "remove": [...]}."""
    data = await json_body(request)
    state = region_state(sim, data)
    device = path_device(state, request)
    thing = device.thing_name
    add, remove = _names(data, "add"), _names(data, "remove")
    try:
        changed = move_device(state.thing_groups, device, add, remove)
    except ThingGroupError as exc:
        raise BadRequest(str(exc), status=404) from None
    hook = getattr(state, "membership_changed", None)
    if changed and callable(hook):
        hook(thing, sim.clock())
    return {"thingName": thing, "thingGroups": list(device.thing_groups), "changed": changed}


def _names(data: dict[str, Any], key: str) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise BadRequest(f"{key} must be a list of thing group names")
    return list(value)
