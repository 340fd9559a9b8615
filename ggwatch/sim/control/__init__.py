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
    POST /_sim/groups                       create a thing group, optionally under a parent
    POST /_sim/devices/{thing}/groups       {"add": [...], "remove": [...]}: move a device
                                            into or out of thing groups
    GET  /_sim/events                       the EventBridge events emitted (the last 1000 by
                                            default) and the sent/dropped/failed counts
    PUT  /_sim/events                       {"queue_url": URL | null}: the SQS queue to deliver
                                            them to, as an EventBridge rule's target (null: none)

Changes made here and by CreateDeployment emit the events AWS would: a device that processes
a deployment sends an Effective Deployment Status Change and, when its components changed, an
Installed Component Status Change; setting an installed component sends the latter; a version
becoming DISCONTINUED or DELETED sends an AWS Health event to each account with devices
running it.

The handlers: `status` (health, fleet, knobs, calls, events), `changes` (guidance, components,
devices, installed components, deployments), `groups` (thing groups, membership), `common`
(the body, BadRequest).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ggwatch.sim.control import changes, groups, status
from ggwatch.sim.control.common import BadRequest
from ggwatch.sim.store import SimError

if TYPE_CHECKING:
    from ggwatch.sim.server import Simulator

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def add_routes(app: web.Application, sim: Simulator) -> None:
    routes: list[tuple[str, str, Callable[[Simulator, web.Request], Awaitable[Any]]]] = [
        ("GET", "/_sim/health", status.health),
        ("GET", "/_sim/fleet", status.fleet),
        ("GET", "/_sim/knobs", status.get_knobs),
        ("PATCH", "/_sim/knobs", status.patch_knobs),
        ("GET", "/_sim/calls", status.get_calls),
        ("DELETE", "/_sim/calls", status.reset_calls),
        ("POST", "/_sim/guidance", changes.set_guidance),
        ("POST", "/_sim/components", changes.add_component),
        ("POST", "/_sim/devices", changes.add_device),
        ("POST", "/_sim/devices/{thing}/installed", changes.set_installed),
        ("POST", "/_sim/deployments", changes.add_deployment),
        ("POST", "/_sim/groups", groups.create_group),
        ("POST", "/_sim/devices/{thing}/groups", groups.set_groups),
        ("GET", "/_sim/events", status.get_events),
        ("PUT", "/_sim/events", status.set_events),
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
            http_status = sim.model.error_status(exc.code)
            return web.json_response({"error": exc.message, "code": exc.code}, status=http_status)
        return web.json_response(result)

    return handler
