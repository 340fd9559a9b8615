"""The daemon's HTTP face: a status page, the open findings and remediation plans, metrics,
liveness and readiness.

    /          status page (HTML)             /metrics   the app's CollectorRegistry
    /findings  open findings, scan JSON       /healthz   200 while scan attempts keep finishing
    /plans     remediation plans, plan JSON   /readyz    200 once every target scanned complete

Every handler reads `holder.view` (or the registry, whose collectors read the same view) in
memory: none calls AWS, so a probe stays fast and honest while AWS is slow or down, and none
echoes what the request sent. Only GET and HEAD are routed, and POST /alertmanager when a
webhook token is configured (ggwatch.web.webhook); aiohttp answers 405 and 404 itself.
(Below the app, aiohttp's parser answers a malformed request with a text/plain 400 that quotes
the bad line; no browser sends such a request, and text/plain is not run as a page.)

The plans are proposals only: no handler creates a deployment (`ggwatch apply` is a reviewed,
human step). What a client may hold (connections, time, memory) is bounded by
ggwatch.web.guard; the big documents are rendered once per view and streamed from the shared
bytes.
"""

from __future__ import annotations

import functools
import json
import os
import socket
from collections.abc import Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass

import anyio
from aiohttp import web
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ggwatch.errors import ServeError
from ggwatch.report import plans_json, view_json
from ggwatch.state import DaemonView, StateHolder
from ggwatch.web import statuspage
from ggwatch.web.guard import REPORT_SECONDS, ConnectionGuard
from ggwatch.web.limits import DEFAULT_LIMITS, HttpLimits
from ggwatch.web.rendering import Coalesced, PerView
from ggwatch.web.webhook import AlertmanagerWebhook

__all__ = ["HttpLimits", "build_app", "serve_http"]

# Liveness fails after this many poll intervals (and at least STALLED_AFTER_MIN_SECONDS)
# without progress: a call completing or a pass finishing. A long scan makes progress all the
# time; only a loop that stopped calling and stopped finishing is stalled.
STALLED_AFTER_INTERVALS = 3
STALLED_AFTER_MIN_SECONDS = 120.0
# Awaited cleanup gets this long, shielded, when the server is cancelled...
CLEANUP_SECONDS = 5.0
# ...and requests still in flight get less than that, so aiohttp finishes its own shutdown.
SHUTDOWN_TIMEOUT_SECONDS = 3.0
# The page is served by us and needs no script, frame or remote resource: forbid them all,
# so that even a value that escaped escaping could not run.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


GUARD = web.AppKey("ggwatch.web.app.guard", ConnectionGuard)


def _findings_bytes(view: DaemonView) -> bytes:
    return json.dumps(view_json(view), indent=2).encode("utf-8")


def _plans_bytes(view: DaemonView) -> bytes:
    """The view's plans in the schema of `ggwatch plan --format json`."""
    return plans_json(view.plans, view.as_of).encode("utf-8")


def _page_bytes(view: DaemonView) -> bytes:
    return statuspage.render(view).encode("utf-8")


@dataclass(frozen=True, slots=True)
class _Endpoints:
    holder: StateHolder
    registry: CollectorRegistry
    clock: Callable[[], float]
    stalled_after: float  # seconds
    started: float  # clock() when the app was built: liveness before the first attempt
    guard: ConnectionGuard
    page_body: PerView
    findings_body: PerView
    plans_body: PerView
    metrics_body: Coalesced

    # Each reads the view once, so one response shows one view.

    async def page(self, request: web.Request) -> web.StreamResponse:
        body = await self.page_body.body(self.holder.view)
        response = web.StreamResponse(headers={"Content-Security-Policy": PAGE_CSP})
        response.content_type = "text/html"
        response.charset = "utf-8"
        return await self.guard.send(request, response, body)

    async def findings(self, request: web.Request) -> web.StreamResponse:
        return await self._json(request, self.findings_body)

    async def plans(self, request: web.Request) -> web.StreamResponse:
        return await self._json(request, self.plans_body)

    async def _json(self, request: web.Request, rendered: PerView) -> web.StreamResponse:
        body = await rendered.body(self.holder.view)
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.charset = "utf-8"
        return await self.guard.send(request, response, body)

    async def metrics(self, request: web.Request) -> web.StreamResponse:
        body = await self.metrics_body.body()
        response = web.StreamResponse(headers={"Content-Type": CONTENT_TYPE_LATEST})
        return await self.guard.send(request, response, body)

    async def healthz(self, _request: web.Request) -> web.Response:
        # Answering at all shows the loop is alive; the age shows the poll loop is too.
        last = self.holder.last_progress_monotonic
        age = self.clock() - (self.started if last is None else last)
        since = "last progress (a call or a pass)" if last is not None else "started, no call yet,"
        alive = age <= self.stalled_after
        body = {
            "status": "ok" if alive else "stalled",
            "reason": f"{since} {age:.0f} s ago (limit {self.stalled_after:.0f} s)",
        }
        return web.json_response(body, status=200 if alive else 503)

    async def readyz(self, _request: web.Request) -> web.Response:
        view = self.holder.view
        waiting = [t.target.label(t.account) for t in view.targets if t.last_success is None]
        body = {
            "status": "ready" if view.ready else "not ready",
            "reason": "every target had a complete scan" if view.ready else "no complete scan yet",
            "waiting_for": waiting,
        }
        return web.json_response(body, status=200 if view.ready else 503)


async def _common_headers(_request: web.Request, response: web.StreamResponse) -> None:
    # Every answer is the state of this moment: a cache would show a fleet that no longer is.
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"


def build_app(
    holder: StateHolder,
    registry: CollectorRegistry,
    *,
    poll_interval_seconds: float,
    clock: Callable[[], float],
    webhook: AlertmanagerWebhook | None = None,
    limits: HttpLimits = DEFAULT_LIMITS,
) -> web.Application:
    """The application; `clock` reads the same monotonic seconds as `last_progress_monotonic`.

    With `webhook`, POST /alertmanager is routed too (only when a token is configured). The
    app's connection guard is `app[GUARD]`; its body and send timeouts apply wherever the app
    is served, its connection cap where serve_http serves it.
    """
    guard = ConnectionGuard(limits)
    endpoints = _Endpoints(
        holder=holder,
        registry=registry,
        clock=clock,
        stalled_after=max(
            STALLED_AFTER_INTERVALS * poll_interval_seconds, STALLED_AFTER_MIN_SECONDS
        ),
        started=clock(),
        guard=guard,
        page_body=PerView(_page_bytes),
        findings_body=PerView(_findings_bytes),
        plans_body=PerView(_plans_bytes),
        metrics_body=Coalesced(functools.partial(generate_latest, registry)),
    )
    app = web.Application(middlewares=[guard.middleware])
    app[GUARD] = guard
    app.on_response_prepare.append(_common_headers)
    # add_get also answers HEAD; any other method on these paths is a 405.
    app.router.add_get("/", endpoints.page)
    app.router.add_get("/findings", endpoints.findings)
    app.router.add_get("/plans", endpoints.plans)
    app.router.add_get("/metrics", endpoints.metrics)
    app.router.add_get("/healthz", endpoints.healthz)
    app.router.add_get("/readyz", endpoints.readyz)
    if webhook is not None:
        app.router.add_post("/alertmanager", webhook.handle)
    return app


def _address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _reason(exc: OSError) -> str:
    """The OS's words for a bind failure, without asyncio's wrapping around them."""
    if isinstance(exc, socket.gaierror) or exc.errno is None:
        text = exc.strerror or str(exc)
    else:
        text = os.strerror(exc.errno)
    return " ".join(text.split())


async def serve_http(
    app: web.Application,
    host: str,
    port: int,
    *,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve `build_app`'s application until cancelled; report the bound port (useful with
    port 0) once listening, under the limits the app was built with.

    Start it with `port = await tg.start(serve_http, app, host, port)`: a port in use or an
    address that is not this host's then raises ServeError at start-up, not later in the task
    group.
    """
    guard = app[GUARD]
    limits = guard.limits
    runner = web.AppRunner(
        app,
        access_log=None,  # probes and scrapes every few seconds would drown the event log
        handle_signals=False,  # the daemon's signal watcher owns SIGTERM/SIGINT
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
        # Armed when a connection opens, so it also ends headers that never finish.
        keepalive_timeout=limits.idle_timeout_seconds,
        # A body no handler reads is drained for no longer than a body may take to arrive.
        lingering_time=limits.body_timeout_seconds,
    )
    await runner.setup()
    try:
        assert runner.server is not None  # set up above
        async with AsyncExitStack() as stack:
            try:
                bound = await stack.enter_async_context(guard.listening(runner.server, host, port))
            except OSError as exc:
                raise ServeError(
                    f"cannot listen on {_address(host, port)}: {_reason(exc)}"
                ) from exc
            task_status.started(bound)
            try:
                while True:
                    await anyio.sleep(REPORT_SECONDS)
                    guard.report()
            finally:
                guard.drop_stalled()
                guard.report()  # what was shed since the last report, when stopping
    finally:
        with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
            await runner.cleanup()
