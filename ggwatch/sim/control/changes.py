"""The control API under /_sim/: change the fleet while a client watches, read the call log.

Not an AWS API, so no SigV4, quota or faults: tests and the demo use it to flip a version's
vendor guidance, add components, devices and deployments, change what a device runs, and tune
the realism knobs at run time.

    GET  /_sim/health                       liveness
    GET  /_sim/fleet                        counts per account and Region
    GET  /_sim/knobs    PATCH /_sim/knobs   realism knobs (partial update)
    GET  /_sim/calls?since=N                calls received after sequence N, and totals
    DELETE /_sim/calls                      forget the log and totals
    POST /_sim/guidance                     set a version's vendorGuidance and message
    POST /_sim/components                   add a component version
    POST /_sim/devices                      add a core device (installs its groups' deployments)
    POST /_sim/devices/{thing}/installed    change one installed component on a device
    POST /_sim/deployments                  create a deployment as CreateDeployment would
    GET  /_sim/events                       the EventBridge events emitted (the last 1000 by
                                            default) and the sent/dropped/failed counts
    PUT  /_sim/events                       {"queue_url": URL | null}: the SQS queue to deliver
                                            them to, as an EventBridge rule's target (null: none)

Changes made here and by CreateDeployment emit the events AWS would: a device that processes
a deployment sends an Effective Deployment Status Change and, when its components changed, an
Installed Component Status Change; setting an installed component sends the latter; a version
becoming DISCONTINUED or DELETED sends an AWS Health event to each account with devices
running it.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ggwatch.sim import events
from ggwatch.sim.model import InputError
from ggwatch.sim.operations import Call, create_deployment
from ggwatch.sim.store import (
    PUBLIC_OWNER,
    Component,
    ComponentVersion,
    CoreDevice,
    Installed,
    RegionState,
    SimError,
    component_arn,
)

if TYPE_CHECKING:
    from ggwatch.sim.server import Simulator

GUIDANCE = ("ACTIVE", "DISCONTINUED", "DELETED")
LIFECYCLE = ("NEW", "INSTALLED", "STARTING", "RUNNING", "STOPPING", "ERRORED", "BROKEN", "FINISHED")
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class BadRequest(Exception):
    """A control request that cannot be carried out; answered 400 (404 for unknown things)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def add_routes(app: web.Application, sim: Simulator) -> None:
    routes: list[tuple[str, str, Callable[[Simulator, web.Request], Awaitable[Any]]]] = [
        ("GET", "/_sim/health", _health),
        ("GET", "/_sim/fleet", _fleet),
        ("GET", "/_sim/knobs", _get_knobs),
        ("PATCH", "/_sim/knobs", _patch_knobs),
        ("GET", "/_sim/calls", _get_calls),
        ("DELETE", "/_sim/calls", _reset_calls),
        ("POST", "/_sim/guidance", _set_guidance),
        ("POST", "/_sim/components", _add_component),
        ("POST", "/_sim/devices", _add_device),
        ("POST", "/_sim/devices/{thing}/installed", _set_installed),
        ("POST", "/_sim/deployments", _add_deployment),
        ("GET", "/_sim/events", _get_events),
        ("PUT", "/_sim/events", _set_events),
    ]
    for method, path, func in routes:
        app.router.add_route(method, path, _wrap(sim, func))


def _wrap(sim: Simulator, func: Callable[[Simulator, web.Request], Awaitable[Any]]) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        try:
            result = await func(sim, request)
        except BadRequest as exc:
            return web.json_response({"error": str(exc)}, status=exc.status)
        except SimError as exc:
            status = sim.model.error_status(exc.code)
            return web.json_response({"error": exc.message, "code": exc.code}, status=status)
        return web.json_response(result)

    return handler


async def _body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def _text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is required and must be a non-empty string")
    return value


def _state(sim: Simulator, data: dict[str, Any]) -> RegionState:
    account = _text(data, "account", sim.world.default_account)
    region = _text(data, "region", sim.world.default_region)
    return sim.world.region(account, region)


async def _health(sim: Simulator, request: web.Request) -> Any:
    return {"ok": True}


async def _fleet(sim: Simulator, request: web.Request) -> Any:
    return sim.world.summary()


async def _get_knobs(sim: Simulator, request: web.Request) -> Any:
    return sim.knobs.public()


async def _patch_knobs(sim: Simulator, request: web.Request) -> Any:
    try:
        sim.knobs.update(await _body(request), operations=sim.model.operations)
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    return sim.knobs.public()


async def _get_calls(sim: Simulator, request: web.Request) -> Any:
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise BadRequest("since must be an integer") from None
    calls = [r.public() for r in sim.calls.records if r.seq > since]
    counts: dict[str, dict[str, int]] = {}
    for (operation, outcome), count in sorted(sim.calls.counts.items()):
        counts.setdefault(operation, {})[outcome] = count
    return {"calls": calls, "last": sim.calls.seq, "counts": counts}


async def _reset_calls(sim: Simulator, request: web.Request) -> Any:
    sim.calls.reset()
    return {"last": sim.calls.seq}


async def _set_guidance(sim: Simulator, request: web.Request) -> Any:
    data = await _body(request)
    state = _state(sim, data)
    name, version = _text(data, "componentName"), _text(data, "componentVersion")
    guidance = _text(data, "vendorGuidance")
    if guidance not in GUIDANCE:
        raise BadRequest(f"vendorGuidance must be one of {', '.join(GUIDANCE)}")
    component = state.component(name)
    if component is None or version not in component.versions:
        raise BadRequest(f"no component version {name} {version}", status=404)
    record = component.versions[version]
    previous = record.vendor_guidance or "ACTIVE"
    record.vendor_guidance = guidance
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


async def _add_component(sim: Simulator, request: web.Request) -> Any:
    data = await _body(request)
    state = _state(sim, data)
    name, version = _text(data, "componentName"), _text(data, "componentVersion")
    public = bool(data.get("public", False))
    owner = "aws" if public else state.account
    pool = state.public if public else state.private
    if name in pool and version in pool[name].versions:
        raise BadRequest(f"{name} {version} exists already", status=409)
    guidance = data.get("vendorGuidance", "ACTIVE")
    if guidance not in GUIDANCE:
        raise BadRequest(f"vendorGuidance must be one of {', '.join(GUIDANCE)}")
    record = ComponentVersion(
        name=name,
        version=version,
        arn=f"{component_arn(state.region, owner, name)}:versions:{version}",
        created=sim.clock(),
        publisher="AWS" if public else str(data.get("publisher", "simulated")),
        description=str(data.get("description", f"{name} {version}")),
        vendor_guidance=guidance,
    )
    if public:
        arn = component_arn(state.region, owner, name)
        pool.setdefault(name, Component(name, arn, owner)).add(record)
    else:
        state.add_private_version(record)
    return {"arn": record.arn}


async def _add_device(sim: Simulator, request: web.Request) -> Any:
    data = await _body(request)
    state = _state(sim, data)
    thing = _text(data, "thingName")
    if thing in state.devices:
        raise BadRequest(f"core device {thing} exists already", status=409)
    groups = data.get("thingGroups", [])
    if not isinstance(groups, list) or not all(isinstance(g, str) and g for g in groups):
        raise BadRequest("thingGroups must be a list of thing group names")
    status = data.get("status", "HEALTHY")
    if status not in ("HEALTHY", "UNHEALTHY"):
        raise BadRequest("status must be HEALTHY or UNHEALTHY")
    now = sim.clock()
    device = CoreDevice(thing, status, now, tuple(groups))
    nucleus = data.get("nucleusVersion")
    if isinstance(nucleus, str) and nucleus:
        device.installed["aws.greengrass.Nucleus"] = Installed(
            "aws.greengrass.Nucleus", nucleus, False, "LOCAL", now, now
        )
    state.add_device(device)
    for target in state.targets_of(device):
        latest = state.deployments.latest.get(target)
        # Cancelled, failed and deleted deployments no longer reach devices that join later.
        if (
            latest is not None
            and latest.status in ("ACTIVE", "COMPLETED")
            and latest.deployment_id in state.deployments.by_id
        ):
            state.apply(latest, [device])
    return {"thingName": thing, "installed": sorted(device.installed)}


async def _set_installed(sim: Simulator, request: web.Request) -> Any:
    data = await _body(request)
    state = _state(sim, data)
    thing = request.match_info["thing"]
    device = state.devices.get(thing)
    if device is None:
        raise BadRequest(f"no core device {thing}", status=404)
    name = _text(data, "componentName")
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


async def _add_deployment(sim: Simulator, request: web.Request) -> Any:
    data = await _body(request)
    state = _state(sim, data)
    params = {k: v for k, v in data.items() if k not in ("account", "region")}
    try:
        sim.model.validate(sim.model.shapes["CreateDeploymentRequest"], params, "")
    except InputError as exc:
        raise BadRequest(str(exc)) from None
    return create_deployment(Call(state, params, sim.knobs, sim.quotas, sim.pager))


async def _get_events(sim: Simulator, request: web.Request) -> Any:
    return sim.events.public()


async def _set_events(sim: Simulator, request: web.Request) -> Any:
    data = await _body(request)
    if "queue_url" not in data:
        raise BadRequest("queue_url is required: an SQS queue URL, or null to stop sending")
    url = data["queue_url"]
    if url is not None and not isinstance(url, str):
        raise BadRequest("queue_url must be a string or null")
    try:
        sim.events.set_queue(url)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    answer = sim.events.public()
    del answer["events"]
    return answer
