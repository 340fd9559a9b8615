"""The control API's fleet changes: vendor guidance, components, devices, what a device runs,
deployments; each emits the EventBridge events AWS would."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ggwatch.sim import eventbridge as events
from ggwatch.sim import versions
from ggwatch.sim.control.common import (
    GUIDANCE,
    LIFECYCLE,
    BadRequest,
    json_body,
    path_device,
    region_state,
    required_text,
)
from ggwatch.sim.model import InputError
from ggwatch.sim.operations import Call, create_deployment
from ggwatch.sim.store import (
    PUBLIC_OWNER,
    RECIPE_FORMAT,
    Component,
    ComponentVersion,
    CoreDevice,
    Installed,
    RecipeError,
    RegionState,
    component_arn,
    read_recipe,
)

if TYPE_CHECKING:
    from ggwatch.sim.server import Simulator


async def set_guidance(sim: Simulator, request: web.Request) -> Any:
    data = await json_body(request)
    state = region_state(sim, data)
    name, version = required_text(data, "componentName"), required_text(data, "componentVersion")
    guidance = required_text(data, "vendorGuidance")
    if guidance not in GUIDANCE:
        raise BadRequest(f"vendorGuidance must be one of {', '.join(GUIDANCE)}")
    component = state.component(name)
    if component is None or version not in component.versions:
        raise BadRequest(f"no component version {name} {version}", status=404)
    record = component.versions[version]
    if (
        component.owner != PUBLIC_OWNER
        and guidance != "ACTIVE"
        and not (sim.knobs.readings.private_guidance)
    ):
        raise BadRequest(
            f"{name} {version} is a private component version: no AWS API marks one "
            f"{guidance} (vendor guidance is set by AWS for AWS-provided components); "
            "private_guidance is off"
        )
    previous = record.vendor_guidance or "ACTIVE"
    record.vendor_guidance = guidance
    _catalogue_changed(sim, state, component)
    message = data.get("message")
    record.guidance_message = message if isinstance(message, str) and message else None
    if guidance != previous and guidance in ("DISCONTINUED", "DELETED"):
        _notify_withdrawn(sim, state, component, record)
    return {"arn": record.arn, "vendorGuidance": guidance, "message": record.guidance_message}


def _notify_withdrawn(
    sim: Simulator, state: RegionState, component: Component, record: ComponentVersion
) -> None:
    """AWS Health tells each account whose devices run a withdrawn version, listing them.

    An AWS-provided component is shared by every account in the Region, so each account with
    devices running it is told (unless its own component of that name shadows AWS's). An
    account with no such device is told nothing.
    """
    if component.owner == PUBLIC_OWNER:
        states = [s for s in sim.world.states() if s.region == state.region]
    else:
        states = [state]
    state_word = (record.vendor_guidance or "").lower()
    description = (
        f"AWS IoT Greengrass component {record.name} version {record.version} is {state_word}. "
        "Your core devices listed as affected resources run this version; deploy a supported "
        "version to them."
    )
    if record.guidance_message:
        description += f" {record.guidance_message}"
    now = sim.clock()
    for each in states:
        if each.component(record.name) is not component:
            continue
        things = each.devices_running(record.name, record.version)
        if things:
            for page in events.health_notification(
                each.account, each.region, things, description, now=now
            ):
                sim.events.put(page)


def _catalogue_changed(sim: Simulator, state: RegionState, component: Component) -> None:
    """Devices resolve afresh: an AWS-provided component is every account's in the Region."""
    shared = component.owner == PUBLIC_OWNER
    for each in sim.world.states() if shared else (state,):
        if each.region == state.region:
            each.installer.changed()


async def add_component(sim: Simulator, request: web.Request) -> Any:
    data = await json_body(request)
    state = region_state(sim, data)
    name, version = required_text(data, "componentName"), required_text(data, "componentVersion")
    public = bool(data.get("public", False))
    owner = "aws" if public else state.account
    pool = state.public if public else state.private
    if name in pool and version in pool[name].versions:
        raise BadRequest(f"{name} {version} exists already", status=409)
    if not versions.is_version(version):
        raise BadRequest(f"componentVersion {version!r} is not a semantic version such as 1.2.0")
    guidance = data.get("vendorGuidance", "ACTIVE")
    if guidance not in GUIDANCE:
        raise BadRequest(f"vendorGuidance must be one of {', '.join(GUIDANCE)}")
    if not public and guidance != "ACTIVE" and not sim.knobs.readings.private_guidance:
        raise BadRequest(f"no AWS API marks a private version {guidance}; private_guidance is off")
    record = ComponentVersion(
        name=name,
        version=version,
        arn=f"{component_arn(state.region, owner, name)}:versions:{version}",
        created=sim.clock(),
        publisher="AWS" if public else str(data.get("publisher", "simulated")),
        description=str(data.get("description", f"{name} {version}")),
        vendor_guidance=guidance,
    )
    if "recipe" in data:
        _give_recipe(record, data["recipe"])
    if public:
        arn = component_arn(state.region, owner, name)
        component = pool.setdefault(name, Component(name, arn, owner))
        component.add(record)
        _catalogue_changed(sim, state, component)
    else:
        state.add_private_version(record)
    return {"arn": record.arn}


def _give_recipe(record: ComponentVersion, given: Any) -> None:
    """A published version's recipe: `{"ComponentDependencies": ..., "Manifests": ...,
    "ComponentType": ...}`, read as CreateComponentVersion reads an uploaded one."""
    if not isinstance(given, dict):
        raise BadRequest('recipe must be an object such as {"ComponentDependencies": {...}}')
    doc = {
        **given,
        "RecipeFormatVersion": RECIPE_FORMAT,
        "ComponentName": record.name,
        "ComponentVersion": record.version,
    }
    try:
        facts = read_recipe(doc)
    except RecipeError as exc:
        raise BadRequest(f"recipe: {exc}") from None
    record.requirements = facts.requirements
    record.component_type = facts.component_type
    if facts.platforms:
        record.platforms = facts.platforms


async def add_device(sim: Simulator, request: web.Request) -> Any:
    data = await json_body(request)
    state = region_state(sim, data)
    thing = required_text(data, "thingName")
    if thing in state.devices:
        raise BadRequest(f"core device {thing} exists already", status=409)
    groups = data.get("thingGroups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise BadRequest("thingGroups must be a list of thing group names")
    status = data.get("status", "HEALTHY")
    if status not in ("HEALTHY", "UNHEALTHY"):
        raise BadRequest("status must be HEALTHY or UNHEALTHY")
    platform = data.get("platform", "linux/amd64")
    os, _, arch = platform.partition("/") if isinstance(platform, str) else ("", "", "")
    if not os or not arch:
        raise BadRequest("platform must be OS/ARCHITECTURE, such as linux/aarch64")
    now = sim.clock()
    device = CoreDevice(thing, status, now, tuple(groups), os, arch)
    nucleus = data.get("nucleusVersion")
    if isinstance(nucleus, str) and nucleus:
        device.provision(nucleus, now)
    state.add_device(device)
    for target in state.targets_of(device):
        # Cancelled, failed and deleted deployments no longer reach devices that join later.
        latest = state.installer.deliverable(target)
        if latest is not None:
            state.apply(latest, [device])
    return {"thingName": thing, "installed": sorted(device.installed)}


async def set_installed(sim: Simulator, request: web.Request) -> Any:
    data = await json_body(request)
    state = region_state(sim, data)
    device = path_device(state, request)
    thing = device.thing_name
    name = required_text(data, "componentName")
    now = sim.clock()
    version = data.get("componentVersion")
    if version is None:
        # No event: AWS publishes none when a component is removed from a device.
        device.installed.pop(name, None)
    elif not isinstance(version, str) or not version:
        raise BadRequest("componentVersion must be a non-empty string or null (to remove)")
    else:
        state_name = data.get("lifecycleState", "RUNNING")
        if state_name not in LIFECYCLE:
            raise BadRequest(f"lifecycleState must be one of {', '.join(LIFECYCLE)}")
        record = device.installed[name] = Installed(
            name,
            version,
            bool(data.get("isRoot", True)),
            str(data.get("source", "LOCAL")),
            now,
            now,
            state_name,
        )
        # Every set is a status report from the device, so each one emits an event.
        status = events.ComponentStatus(name, version, record.is_root, state_name)
        sim.events.put(
            events.installed_component_change(state.account, state.region, thing, [status], now=now)
        )
    device.last_update = now
    return {"thingName": thing, "lastStatusUpdateTimestamp": now}


async def add_deployment(sim: Simulator, request: web.Request) -> Any:
    data = await json_body(request)
    state = region_state(sim, data)
    params = {k: v for k, v in data.items() if k not in ("account", "region")}
    try:
        sim.model.validate(sim.model.shapes["CreateDeploymentRequest"], params, "")
    except InputError as exc:
        raise BadRequest(str(exc)) from None
    return create_deployment(Call(state, params, sim.knobs, sim.quotas, sim.pager))
