"""The daemon's HTTP face: a status page, the open findings, metrics, liveness and readiness.

    /          status page (HTML)             /metrics   the app's CollectorRegistry
    /findings  open findings, scan JSON       /healthz   200 while scan attempts keep finishing
                                              /readyz    200 once every target scanned complete

Every handler reads `holder.view` (or the registry, whose collectors read the same view) in
memory: none calls AWS, so a probe stays fast and honest while AWS is slow or down, and none
echoes what the request sent. Only GET and HEAD are routed, and POST /alertmanager when a
webhook token is configured (ggwatch.webhook); aiohttp answers 405 and 404 itself.
(Below the app, aiohttp's parser answers a malformed request with a text/plain 400 that quotes
the bad line; no browser sends such a request, and text/plain is not run as a page.)
"""

from __future__ import annotations

import json
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass

import anyio
from aiohttp import web
from anyio.abc import TaskStatus
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ggwatch import statuspage
from ggwatch.errors import ServeError
from ggwatch.report import view_json
from ggwatch.state import DaemonView, StateHolder
from ggwatch.webhook import AlertmanagerWebhook

# Liveness fails after this many poll intervals without a finished scan attempt: one slow or
# retried scan is normal, three intervals of silence mean the poll loop is stuck.
STALLED_AFTER_INTERVALS = 3
# Awaited cleanup gets this long, shielded, when the server is cancelled...
CLEANUP_SECONDS = 5.0
# ...and requests still in flight get less than that, so aiohttp finishes its own shutdown.
SHUTDOWN_TIMEOUT_SECONDS = 3.0
# The page is served by us and needs no script, frame or remote resource: forbid them all,
# so that even a value that escaped escaping could not run.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def _findings_text(view: DaemonView) -> str:
    return json.dumps(view_json(view), indent=2)


@dataclass(frozen=True, slots=True)
class _Endpoints:
    holder: StateHolder
    registry: CollectorRegistry
    clock: Callable[[], float]
    stalled_after: float  # seconds
    started: float  # clock() when the app was built: liveness before the first attempt

    # Pages and documents are built in a worker thread: a big fleet's findings or metrics
    # take long enough to stall the loop (and the scans on it). The view is immutable, so
    # the thread reads it safely; it is read once, here, so one response sees one view.

    async def page(self, request: web.Request) -> web.Response:
        text = await anyio.to_thread.run_sync(statuspage.render, self.holder.view)
        return web.Response(
            text=text,
            content_type="text/html",
            charset="utf-8",
            headers={"Content-Security-Policy": PAGE_CSP},
        )

    async def findings(self, request: web.Request) -> web.Response:
        text = await anyio.to_thread.run_sync(_findings_text, self.holder.view)
        return web.Response(text=text, content_type="application/json")

    async def metrics(self, request: web.Request) -> web.Response:
        body = await anyio.to_thread.run_sync(generate_latest, self.registry)
        return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})

    async def healthz(self, request: web.Request) -> web.Response:
        # Answering at all shows the loop is alive; the age shows the poll loop is too.
        last = self.holder.last_attempt_monotonic
        age = self.clock() - (self.started if last is None else last)
        since = "the last scan attempt finished" if last is not None else "started, no scan yet,"
        alive = age <= self.stalled_after
        body = {
            "status": "ok" if alive else "stalled",
            "reason": f"{since} {age:.0f} s ago (limit {self.stalled_after:.0f} s)",
        }
        return web.json_response(body, status=200 if alive else 503)

    async def readyz(self, request: web.Request) -> web.Response:
        view = self.holder.view
        waiting = [t.target.label(t.account) for t in view.targets if t.last_success is None]
        body = {
            "status": "ready" if view.ready else "not ready",
            "reason": "every target had a complete scan" if view.ready else "no complete scan yet",
            "waiting_for": waiting,
        }
        return web.json_response(body, status=200 if view.ready else 503)


async def _common_headers(request: web.Request, response: web.StreamResponse) -> None:
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
) -> web.Application:
    """The application; `clock` reads the same monotonic seconds as `last_attempt_monotonic`.

    With `webhook`, POST /alertmanager is routed too (only when a token is configured).
    """
    endpoints = _Endpoints(
        holder=holder,
        registry=registry,
        clock=clock,
        stalled_after=STALLED_AFTER_INTERVALS * poll_interval_seconds,
        started=clock(),
    )
    app = web.Application()
    app.on_response_prepare.append(_common_headers)
    # add_get also answers HEAD; any other method on these paths is a 405.
    app.router.add_get("/", endpoints.page)
    app.router.add_get("/findings", endpoints.findings)
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
    holder: StateHolder,
    registry: CollectorRegistry,
    host: str,
    port: int,
    *,
    poll_interval_seconds: float,
    clock: Callable[[], float],
    webhook: AlertmanagerWebhook | None = None,
    task_status: TaskStatus[int] = anyio.TASK_STATUS_IGNORED,
) -> None:
    """Serve until cancelled; report the bound port (useful with port 0) once listening.

    Start it with `port = await tg.start(serve_http, ...)`: a port in use or an address that
    is not this host's then raises ServeError at start-up, not later in the task group.
    """
    app = build_app(
        holder, registry, poll_interval_seconds=poll_interval_seconds, clock=clock, webhook=webhook
    )
    runner = web.AppRunner(
        app,
        access_log=None,  # probes and scrapes every few seconds would drown the event log
        handle_signals=False,  # the daemon's signal watcher owns SIGTERM/SIGINT
        shutdown_timeout=SHUTDOWN_TIMEOUT_SECONDS,
    )
    await runner.setup()
    try:
        site = web.TCPSite(runner, host, port)
        try:
            await site.start()
        except OSError as exc:
            raise ServeError(f"cannot listen on {_address(host, port)}: {_reason(exc)}") from exc
        task_status.started(runner.addresses[0][1])
        await anyio.sleep_forever()
    finally:
        with anyio.move_on_after(CLEANUP_SECONDS, shield=True):
            await runner.cleanup()
