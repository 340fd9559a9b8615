"""AWS IoT's thing group operations, from botocore's `iot` model: ListThingsInThingGroup
(`recursive` includes the things of nested groups) and ListThingGroupsForThing (the groups the
thing was added to directly; their parents are not listed)."""

from __future__ import annotations

from ggwatch.sim.operations.call import Call, Output
from ggwatch.sim.store import not_found, thing_group_arn


def list_things_in_thing_group(call: Call) -> Output:
    groups, name = call.state.thing_groups, call.params["thingGroupName"]
    if not groups.exists(name):
        raise not_found("thing group", name)
    things = groups.things_in(name, recursive=bool(call.params.get("recursive", False)))
    items, token = call.page("ListThingsInThingGroup", [(t, t) for t in things])
    return {"things": items, "nextToken": token}


def list_thing_groups_for_thing(call: Call) -> Output:
    state, name = call.state, call.params["thingName"]
    if name not in state.devices:  # the simulator's things are its core devices
        raise not_found("thing", name)
    entries = [(g, g) for g in state.thing_groups.groups_of(name)]
    items, token = call.page("ListThingGroupsForThing", entries)
    arn = thing_group_arn
    groups = [{"groupName": g, "groupArn": arn(state.region, state.account, g)} for g in items]
    return {"thingGroups": groups, "nextToken": token}
