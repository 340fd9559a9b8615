"""The simulator's HTTP face: Greengrass V2, AWS IoT and the AWS Account API's REST-JSON on the
AWS paths, a control API on /_sim/, and a data-plane listener for core devices (dataplane.py).

Per AWS call, in the order a real front door works: SigV4 credential scope (who, which Region
and which service: `greengrass`, `iot` or `account`, each with its own model), access denied (with
ResolveComponentCandidates, which AWS serves only on the data plane: see
`Readings.candidates_for_iam`), the service's request quota, injected faults, input
validation against the model, then the operation. Every call is logged (bounded) for tests
and the demo, the data plane's too.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import time
from collections import Counter, deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from ggwatch.sim import control
from ggwatch.sim.dataplane import DataPlane
from ggwatch.sim.emitter import Emitter
from ggwatch.sim.faults import Knobs, Quotas, jitter
from ggwatch.sim.model import InputError, ServiceModel, load_iot_model, load_model
from ggwatch.sim.operations import AccountCall, Call
from ggwatch.sim.operations import candidates as data_plane_only
from ggwatch.sim.pagination import Pager
from ggwatch.sim.services import GREENGRASS, Service, services
from ggwatch.sim.store import SimError, World
from ggwatch.sim.wire import error_response, json_body, query_lists, request_id

log = logging.getLogger("ggwatch.sim")

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/\d{8}/([^/,\s]+)/([^/,\s]+)/aws4_request")


@dataclass(slots=True)
class CallRecord:
    seq: int
    time: float
    account: str
    region: str
    operation: str
    status: int
    error: str | None
    params: dict[str, Any]

    def public(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "time": self.time,
            "account": self.account,
            "region": self.region,
            "operation": self.operation,
            "status": self.status,
            "error": self.error,
            "params": self.params,
        }


@dataclass(slots=True)
class CallLog:
    """The last `size` AWS calls, and totals by operation and outcome since the last reset."""

    size: int = 100_000
    records: deque[CallRecord] = field(default_factory=deque)
    counts: Counter[tuple[str, str]] = field(default_factory=Counter)
    seq: int = 0

    def add(self, record: CallRecord) -> None:
        self.records.append(record)
        if len(self.records) > self.size:
            self.records.popleft()
        self.counts[(record.operation, record.error or "ok")] += 1

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def reset(self) -> None:
        self.records.clear()
        self.counts.clear()


class Simulator:
    """The running service: world, knobs, quotas, call log, randomness, EventBridge events.

    `events_queue_url`: the SQS queue that receives the events an EventBridge rule would
    deliver (None: events are only recorded, for GET /_sim/events); `events_outbox`: how many
    events may wait to be sent before new ones are dropped; `events_kept`: how many recent
    events GET /_sim/events shows.
    """

    def __init__(
        self,
        world: World,
        knobs: Knobs | None = None,
        *,
        seed: int | None = None,
        clock: Callable[[], float] = time.time,
        model: ServiceModel | None = None,
        events_queue_url: str | None = None,
        events_outbox: int = 10_000,
        events_kept: int = 1000,
    ) -> None:
        self.world = world
        self.knobs = knobs or Knobs(readings=world.readings)
        # The store and the knobs must share one Readings object so a switch acts at once.
        world.readings = self.knobs.readings
        for state in world.regions.values():
            state.readings = self.knobs.readings
        self.model = model or load_model()
        self.iot_model = load_iot_model()
        self.quotas = Quotas(self.knobs, time.monotonic)
        self.services = services(self.model, self.iot_model, self.quotas)
        # Every operation a knob may name: access_denied reaches every service's calls.
        self.operations = frozenset(o for s in self.services.values() for o in s.model.operations)
        self.knobs.check(self.operations)  # ValueError: a knob out of range
        self.clock = clock
        self.pager = Pager(lambda: self.knobs.page_cap)
        self.rng = random.Random(seed)
        self.calls = CallLog()
        self.events = Emitter(events_queue_url, outbox_size=events_outbox, keep=events_kept)
        world.set_outbox(self.events)

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.cleanup_ctx.append(self.events.sender)
        control.add_routes(app, self)
        app.router.add_route("*", "/{tail:.*}", self.handle)
        return app

    async def handle(self, request: web.Request) -> web.StreamResponse:
        scope = _CREDENTIAL.search(request.headers.get("Authorization", ""))
        service = self.services.get(scope.group(3)) if scope else None
        if scope is None or service is None:
            return _refused("Missing or malformed SigV4 Authorization header.")
        method, path = request.method, request.rel_url.raw_path
        matched = service.model.route(method, path)
        if matched is None:
            if any(s.model.route(method, path) for s in self.services.values() if s is not service):
                return _refused(f"Credential should be scoped to the service of {path}.")
            return error_response(
                404,
                "UnknownOperationException",
                f"No operation at {method} {request.rel_url.path}.",
                {},
                None,
            )
        route, labels = matched
        operation = route.operation
        access_key, region = scope.group(1), scope.group(2)
        account = self.world.account_for(access_key)
        delay = jitter(self.knobs, self.rng)
        if delay:
            await asyncio.sleep(delay)
        record = self.record(account, region, operation)
        try:
            body = await self._answer(request, service, operation, labels, record)
        except SimError as exc:
            record.status, code, members = service.error(exc)
            record.error = code
            self.calls.add(record)
            return error_response(record.status, code, exc.message, members, exc.retry_after)
        record.status = route.status
        self.calls.add(record)
        if route.status == 204:
            return web.Response(status=204, headers=request_id())
        return web.Response(
            status=route.status,
            body=json.dumps(body),
            content_type="application/json",
            headers=request_id(),
        )

    async def _answer(
        self,
        request: web.Request,
        service: Service,
        operation: str,
        labels: dict[str, str],
        record: CallRecord,
    ) -> Any:
        account, region, model = record.account, record.region, service.model
        self.check_access(service.signing_name, operation)
        if (
            service.signing_name == GREENGRASS
            and operation == data_plane_only.OPERATION
            and self.knobs.readings.candidates_for_iam != "served"
        ):
            raise SimError("AccessDeniedException", data_plane_only.IAM_REFUSAL)
        wait = service.admit(account, region)
        if wait:
            raise service.throttled(wait)
        self.inject_fault()
        params = await self.read_params(request, model, operation, labels)
        record.params = {k: v for k, v in params.items() if isinstance(v, str | int | bool)}
        handler, answer = service.handlers.get(operation), service.account_handlers.get(operation)
        if answer is not None:  # a global service's: no Region state comes into being
            output = answer(AccountCall(account, self.world.enabled_regions, params, self.pager))
        elif handler is None:
            raise SimError(
                "ValidationException",
                f"The simulator does not implement {operation}.",
                reason="UNKNOWN_OPERATION",
            )
        else:
            state = self.world.region(account, region)
            output = handler(Call(state, params, self.knobs, self.quotas, self.pager))
        shape = model.output_shape(operation)
        return model.serialize(shape, output) if shape else {}

    # -- the steps both listeners take (dataplane.py) -------------------------------------------

    def record(self, account: str, region: str, operation: str) -> CallRecord:
        """A new call's log record (status 200 until it is answered otherwise)."""
        return CallRecord(
            self.calls.next_seq(), self.clock(), account, region, operation, 200, None, {}
        )

    def check_access(self, signing_name: str, operation: str) -> None:
        """AccessDeniedException for the operations the `access_denied` knob names."""
        if self.knobs.denies(operation):
            raise SimError(
                "AccessDeniedException",
                f"User is not authorized to perform: {signing_name}:{operation} (simulated).",
            )

    def inject_fault(self) -> None:
        """InternalServerException for the `error_rate` knob's share of calls."""
        if self.knobs.error_rate and self.rng.random() < self.knobs.error_rate:
            raise SimError(
                "InternalServerException",
                "Internal failure (simulated).",
                retry_after=self.knobs.retry_after_seconds,
            )

    async def read_params(
        self, request: web.Request, model: ServiceModel, operation: str, labels: dict[str, str]
    ) -> dict[str, Any]:
        """The request's members, checked against the operation's input shape."""
        body = json_body(await request.read())
        try:
            return model.parse_request(
                operation, labels, query_lists(request), body, request.headers
            )
        except InputError as exc:
            raise SimError(
                "ValidationException",
                f"1 validation error detected: {exc.name} {exc.message}",
                reason="FIELD_VALIDATION_FAILED",
                fields=[{"name": exc.name, "message": exc.message}],
            ) from None


def _refused(message: str) -> web.Response:
    return error_response(403, "MissingAuthenticationTokenException", message, {}, None)


@dataclass(frozen=True, slots=True)
class Running:
    simulator: Simulator
    endpoint: str
    port: int
    # The data-plane listener (dataplane.py): ResolveComponentCandidates for core devices.
    data_plane_endpoint: str = ""
    data_plane_port: int = 0


class DataPlaneListenError(OSError):
    """The data-plane listener could not start (its port is taken, say)."""


@asynccontextmanager
async def serve(
    simulator: Simulator, host: str = "127.0.0.1", port: int = 0, *, data_plane_port: int = 0
) -> AsyncIterator[Running]:
    """Serve until the block exits: the AWS APIs and the control API on `port`, the data plane
    on `data_plane_port` (0 picks a free one: see `Running.port`, `Running.data_plane_port`).
    OSError when `port` cannot be listened on, DataPlaneListenError for `data_plane_port`."""
    shown = f"[{host}]" if ":" in host else host
    runner = web.AppRunner(simulator.app(), access_log=None, handle_signals=False)
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port, reuse_address=True)
        await site.start()
        bound = runner.addresses[0][1]
        log.info("simulator listening on http://%s:%d", shown, bound)
        plane = web.AppRunner(DataPlane(simulator).app(), access_log=None, handle_signals=False)
        await plane.setup()
        try:
            try:
                await web.TCPSite(plane, host, data_plane_port, reuse_address=True).start()
            except OSError as exc:
                raise DataPlaneListenError(exc.errno, exc.strerror or str(exc)) from exc
            plane_port = plane.addresses[0][1]
            log.info("simulator data plane (core devices) on http://%s:%d", shown, plane_port)
            yield Running(
                simulator,
                f"http://{shown}:{bound}",
                bound,
                f"http://{shown}:{plane_port}",
                plane_port,
            )
        finally:
            await plane.cleanup()
    finally:
        await runner.cleanup()
