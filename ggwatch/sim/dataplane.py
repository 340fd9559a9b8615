"""The data-plane listener: ResolveComponentCandidates for core devices, on a port of its own.

AWS serves ResolveComponentCandidates only on the Greengrass data-plane endpoint
(greengrass-ats.iot.REGION.amazonaws.com:8443) to core devices that authenticate with their
AWS IoT device certificate (mutual TLS; the device's IoT policy authorises the call, not
IAM). The simulator has no TLS: the calling core device names itself in the
`x-amzn-iot-thingname` header, standing for what its certificate proves, and the call runs in
that device's account and Region. When a thing name is a core device in more than one
account or Region, `x-sim-account` and `x-sim-region` say which (they may also be sent
alone, to narrow the search). A request without the header, or for a thing that is no core
device there, is refused: 403 AccessDeniedException. Any SigV4 Authorization header is
ignored, as a certificate makes it needless.

Served at the model's path (POST /greengrass/v2/resolveComponentCandidates) and nothing else
(404 UnknownOperationException). The call meets the same knobs as on the control plane:
latency, `access_denied` (standing for an IoT policy without
greengrass:ResolveComponentCandidates), `error_rate`; not the control plane's request quota,
which the data plane does not draw on (its own quota is not in our facts). The model checks
the input, operations/candidates.py answers, and the call is logged with the others
(GET /_sim/calls).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from aiohttp import web

from ggwatch.sim.faults import jitter
from ggwatch.sim.operations import Call
from ggwatch.sim.operations.candidates import OPERATION, resolve_component_candidates
from ggwatch.sim.services import GREENGRASS
from ggwatch.sim.store import RegionState, SimError
from ggwatch.sim.wire import error_response, request_id

if TYPE_CHECKING:
    from ggwatch.sim.server import Simulator

THING_HEADER = "x-amzn-iot-thingname"
ACCOUNT_HEADER = "x-sim-account"
REGION_HEADER = "x-sim-region"


class DataPlane:
    """The data-plane face of a running `Simulator` (the same world, knobs and call log)."""

    def __init__(self, simulator: Simulator) -> None:
        self.simulator = simulator

    def app(self) -> web.Application:
        app = web.Application(client_max_size=1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        sim = self.simulator
        matched = sim.model.route(request.method, request.rel_url.raw_path)
        if matched is None or matched[0].operation != OPERATION:
            what = (
                matched[0].operation
                if matched
                else f"No operation at {request.method} {request.rel_url.path}"
            )
            return error_response(
                404,
                "UnknownOperationException",
                f"{what}: the data-plane endpoint serves only {OPERATION} (POST "
                f"{sim.model.operations[OPERATION]['http']['requestUri']}).",
                {},
                None,
            )
        try:
            state = self.device_state(request.headers)
        except SimError as exc:
            return error_response(403, exc.code, exc.message, {}, None)
        delay = jitter(sim.knobs, sim.rng)
        if delay:
            await asyncio.sleep(delay)
        record = sim.record(state.account, state.region, OPERATION)
        service = sim.services[GREENGRASS]
        try:
            sim.check_access(GREENGRASS, OPERATION)
            sim.inject_fault()
            params = await sim.read_params(request, sim.model, OPERATION, matched[1])
            output = resolve_component_candidates(
                Call(state, params, sim.knobs, sim.quotas, sim.pager)
            )
        except SimError as exc:
            record.status, code, members = service.error(exc)
            record.error = code
            sim.calls.add(record)
            return error_response(record.status, code, exc.message, members, exc.retry_after)
        sim.calls.add(record)
        shape = sim.model.output_shape(OPERATION)
        assert shape is not None
        return web.Response(
            body=json.dumps(sim.model.serialize(shape, output)),
            content_type="application/json",
            headers=request_id(),
        )

    def device_state(self, headers: Mapping[str, str]) -> RegionState:
        """The account and Region of the core device the request names; AccessDeniedException
        when it names none, or one that is not a core device (or is one in several places)."""
        thing = headers.get(THING_HEADER, "")
        if not thing:
            raise _refused(
                f"No device identity: the simulator's data plane takes the calling core "
                f"device's thing name from the {THING_HEADER} header, as AWS takes it from "
                "the device's certificate."
            )
        account, region = headers.get(ACCOUNT_HEADER), headers.get(REGION_HEADER)
        found = [
            state
            for state in self.simulator.world.states()
            if thing in state.devices
            and account in (None, state.account)
            and region in (None, state.region)
        ]
        if not found:
            where = ""
            if account:
                where += f" in account {account}"
            if region:
                where += f" in {region}"
            raise _refused(f"{thing} is not a core device{where}.")
        if len(found) > 1:
            places = ", ".join(f"{s.account}/{s.region}" for s in found)
            raise _refused(
                f"{thing} is a core device in {places}: say which with the {ACCOUNT_HEADER} "
                f"and {REGION_HEADER} headers."
            )
        return found[0]


def _refused(message: str) -> SimError:
    return SimError("AccessDeniedException", message)
