"""The HTTP app over real loopback sockets: each endpoint, escaping, probes, 404/405, binding."""

from __future__ import annotations

import ast
import asyncio
import functools
import json
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Gauge

from ggwatch.errors import ServeError
from ggwatch.findings import Severity
from ggwatch.report import ScanResult, to_json, view_json
from ggwatch.rules import RulesConfig, evaluate
from ggwatch.state import DaemonView, StateHolder
from ggwatch.web import app as http
from ggwatch.web import statuspage
from ggwatch.web.app import build_app, serve_http
from tests.unit.builders import NOW, snapshot
from tests.unit.views import (
    HOSTILE,
    SCRIPT,
    STARTED,
    fleet_target,
    fleet_view,
    holder,
    read_tables,
    start_tags,
    unscanned_view,
    with_findings,
)

POLL = 300.0
PATHS = ("/", "/findings", "/metrics", "/healthz", "/readyz")


class FakeClock:
    """Monotonic seconds that move only when the test says so."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def registry_with_gauge(value: float = 42.0) -> CollectorRegistry:
    registry = CollectorRegistry()
    Gauge("ggwatch_test_value", "A value the test set.", registry=registry).set(value)
    return registry


Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]
MakeClient = Callable[..., Awaitable[Client]]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
async def client_for(clock: FakeClock) -> AsyncIterator[MakeClient]:
    """Start the app for a StateHolder (and registry) on 127.0.0.1:0; stopped after the test."""
    clients: list[Client] = []

    async def start(
        state: StateHolder,
        registry: CollectorRegistry | None = None,
        poll_interval_seconds: float = POLL,
    ) -> Client:
        app = build_app(
            state,
            registry or CollectorRegistry(),
            poll_interval_seconds=poll_interval_seconds,
            clock=clock,
        )
        client: Client = TestClient(TestServer(app))
        await client.start_server()
        clients.append(client)
        return client

    yield start
    for client in clients:
        await client.close()


async def get_page(client: Client) -> str:
    response = await client.get("/")
    assert response.status == 200
    return await response.text()


# --- / ---------------------------------------------------------------------------------------


async def test_page_is_utf8_html_that_may_run_no_script(client_for: MakeClient) -> None:
    client = await client_for(holder())

    response = await client.get("/")

    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'none'" in response.headers["Content-Security-Policy"]
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    page = await response.text()
    assert page.startswith("<!DOCTYPE html>")
    assert "script" not in start_tags(page)


async def test_page_lists_every_open_finding_worst_first(client_for: MakeClient) -> None:
    view = fleet_view()  # its findings are in reverse order: info first
    assert view.findings[0].severity is Severity.INFO

    rows = read_tables(await get_page(await client_for(holder(view))))["findings"]

    header, *body = rows
    assert header[:6] == ["Severity", "Rule", "Target", "Resource", "Component", "Version"]
    assert len(body) == len(view.findings) == 6
    ranks = [Severity(row[0]).rank for row in body]
    assert ranks == sorted(ranks, reverse=True)
    assert [row[0] for row in body] == ["critical"] * 2 + ["warning"] * 3 + ["info"]


async def test_page_row_has_rule_resource_component_guidance_and_recommendation(
    client_for: MakeClient,
) -> None:
    # Any upgrade allowed, so that 1.0.0 -> 3.0.0 is recommended (the default stays in 1.x).
    findings = evaluate(snapshot(fleet_target()), RulesConfig(upgrade_policy="major"), NOW)
    view = with_findings(fleet_view(), findings)
    rows = read_tables(await get_page(await client_for(holder(view))))["findings"]

    app_on_device = next(r for r in rows if r[1] == "device-runs-deleted-component")
    assert app_on_device == [
        "critical",
        "device-runs-deleted-component",
        "123456789012/us-west-2",
        "core-device core-1",
        "com.example.App",
        "1.0.0",
        "DELETED: Broken.",
        "3.0.0",
        "Core device core-1 runs com.example.App 1.0.0, which its publisher marked DELETED: "
        "Broken. Move to 3.0.0.",
    ]
    stale = next(r for r in rows if r[1] == "stale-deployment")
    assert stale[3] == "deployment d-0"
    assert stale[4:8] == ["\u2014"] * 4  # no component: not applicable, shown as a dash


async def test_page_row_without_a_recommendation_says_why(client_for: MakeClient) -> None:
    view = fleet_view(policy="minor")  # 1.0.0 -> 3.0.0 crosses a major version
    rows = read_tables(await get_page(await client_for(holder(view))))["findings"]

    app_on_device = next(r for r in rows if r[1] == "device-runs-deleted-component")
    assert app_on_device[7] == "\u2014"
    assert app_on_device[8].endswith(
        "Broken. No ACTIVE version of com.example.App within the same major version is known."
    )


async def test_page_escapes_publisher_text_and_names(client_for: MakeClient) -> None:
    page = await get_page(await client_for(holder()))

    assert SCRIPT not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert HOSTILE not in page
    assert "com.example.A&amp;&quot;&#x27;&lt;&gt;" in page
    assert "script" not in start_tags(page)
    # Read back as text, the values are exactly what the API and the publisher said.
    row = next(r for r in read_tables(page)["findings"] if r[4] == HOSTILE)
    assert row[6] == f"DISCONTINUED: {SCRIPT}"
    assert SCRIPT in row[8]
    assert "not <authorized>" in read_tables(page)["targets"][2][7]


async def test_page_shows_each_targets_last_scan(client_for: MakeClient) -> None:
    rows = read_tables(await get_page(await client_for(holder())))["targets"]

    assert rows[1:] == [
        [
            "123456789012/us-west-2",
            "2026-06-01 12:00:00 UTC",
            "complete",
            "4.2 s",
            "6 (1 throttled)",
            "3 (0 failed)",
            "2026-06-01 11:55:00 UTC",
            "none",
        ],
        [
            "123456789012/eu-west-1",
            "2026-06-01 12:00:00 UTC",
            "incomplete",
            "4.2 s",
            "0 (0 throttled)",
            "3 (1 failed)",
            "\u2014",
            "ListCoreDevices: AccessDeniedException: not <authorized>",
        ],
    ]


async def test_page_before_the_first_scan(client_for: MakeClient) -> None:
    page = await get_page(await client_for(holder(unscanned_view())))

    target = read_tables(page)["targets"][1]
    assert target[0] == "?/us-west-2"
    assert target[1:3] == ["\u2014", "not scanned yet"]
    assert "findings" not in read_tables(page)
    assert "No open findings." in page
    assert "0 open findings (0 critical, 0 warning, 0 info)" in page


async def test_page_links_the_other_endpoints(client_for: MakeClient) -> None:
    page = await get_page(await client_for(holder()))

    for path in ("findings", "metrics", "healthz", "readyz"):
        assert f'<a href="{path}">' in page


def test_page_caps_rows_and_points_at_findings() -> None:
    view = fleet_view()
    many = with_findings(view, tuple(view.findings) * 200)

    page = statuspage.render(many)

    assert len(read_tables(page)["findings"]) == 1 + statuspage.MAX_ROWS
    assert f"{len(many.findings) - statuspage.MAX_ROWS} more in" in page


def test_status_page_module_does_no_io() -> None:
    """The page is pure like the report: it may import no I/O or clock-bound library."""
    source = Path(statuspage.__file__).read_text(encoding="utf-8")
    imported = {
        alias.name if isinstance(node, ast.Import) else node.module or ""
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Import | ast.ImportFrom)
        for alias in node.names
    }
    io = {"aiohttp", "anyio", "asyncio", "prometheus_client", "structlog", "socket", "time"}
    assert not {name.split(".")[0] for name in imported} & io
    assert not {n for n in imported if n.startswith(("ggwatch.aws", "ggwatch.web.app"))}


# --- /findings -------------------------------------------------------------------------------


async def test_findings_are_the_scan_json_of_the_view(client_for: MakeClient) -> None:
    view = fleet_view()
    client = await client_for(holder(view))

    response = await client.get("/findings")

    assert response.status == 200
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    document = await response.json()
    assert document == view_json(view)
    assert set(document) == {"generated_at", "complete", "targets", "stats", "findings"}
    assert document["findings"] == [f.to_json() for f in view.findings]
    assert document["complete"] is False
    assert document["targets"][1]["errors"] == [
        {
            "operation": "ListCoreDevices",
            "code": "AccessDeniedException",
            "message": "not <authorized>",
        }
    ]


def test_view_json_agrees_with_the_scan_json_of_the_same_scan() -> None:
    west = fleet_target().build()
    findings = evaluate(snapshot(west), RulesConfig(), NOW)
    scan = json.loads(to_json(ScanResult(snapshot(west), findings, NOW, 4.25)))
    view = DaemonView(
        started_at=STARTED, targets=fleet_view(ready=True).targets[:1], findings=findings
    )

    assert view_json(view) == scan


def test_view_json_before_the_first_scan() -> None:
    document = view_json(unscanned_view())

    assert document["generated_at"] == "2026-06-01T11:00:00Z"  # the daemon's start
    assert document["complete"] is False
    assert document["targets"] == [
        {
            "region": "us-west-2",
            "account": None,
            "account_alias": "default",
            "complete": False,
            "errors": [],
        }
    ]
    assert document["stats"]["api_calls"] == 0
    assert document["stats"]["duration_seconds"] == 0.0
    assert document["findings"] == []


# --- one rendering per view, streamed ---------------------------------------------------------


async def raw_get(port: int, path: str, method: str = "GET") -> tuple[list[bytes], bytes]:
    """The header lines and the body exactly as they came off the wire."""
    stream = await anyio.connect_tcp("127.0.0.1", port)
    async with stream:
        await stream.send(
            f"{method} {path} HTTP/1.1\r\nHost: t\r\nConnection: close\r\n\r\n".encode()
        )
        received = bytearray()
        with anyio.fail_after(10):
            try:
                while True:
                    received += await stream.receive()
            except anyio.EndOfStream:
                pass
    head, _, body = bytes(received).partition(b"\r\n\r\n")
    return head.split(b"\r\n"), body


@pytest.mark.parametrize("path", ["/", "/findings"])
async def test_big_documents_are_the_rendered_bytes_exactly(
    client_for: MakeClient, path: str
) -> None:
    view = fleet_view()
    client = await client_for(holder(view))
    assert client.port is not None
    expected = (
        statuspage.render(view) if path == "/" else json.dumps(view_json(view), indent=2)
    ).encode("utf-8")

    (status, *headers), body = await raw_get(client.port, path)

    assert status == b"HTTP/1.1 200 OK"
    assert body == expected
    fields = {k.lower(): v for k, _, v in (line.partition(b": ") for line in headers)}
    assert fields[b"content-length"] == str(len(expected)).encode()
    assert b"transfer-encoding" not in fields
    assert fields[b"content-type"] == (
        b"text/html; charset=utf-8" if path == "/" else b"application/json; charset=utf-8"
    )
    assert fields[b"cache-control"] == b"no-store"
    assert fields[b"x-content-type-options"] == b"nosniff"
    head_status, *head_headers = (await raw_get(client.port, path, "HEAD"))[0]
    assert head_status == b"HTTP/1.1 200 OK"
    assert {k.lower(): v for k, _, v in (h.partition(b": ") for h in head_headers)}[
        b"content-length"
    ] == str(len(expected)).encode()


@pytest.mark.parametrize(("path", "renderer"), [("/", "statuspage"), ("/findings", "view_json")])
async def test_each_view_is_rendered_once_however_many_ask(
    client_for: MakeClient, monkeypatch: pytest.MonkeyPatch, path: str, renderer: str
) -> None:
    calls: list[DaemonView] = []
    if renderer == "statuspage":
        original = statuspage.render

        def counting(view: DaemonView) -> Any:
            calls.append(view)
            return original(view)

        monkeypatch.setattr(statuspage, "render", counting)
    else:
        original_json = view_json  # what ggwatch.web.app imported

        def counting(view: DaemonView) -> Any:
            calls.append(view)
            return original_json(view)

        monkeypatch.setattr(http, "view_json", counting)
    state = holder(fleet_view())
    client = await client_for(state)

    async def fetch() -> bytes:
        response = await client.get(path)
        assert response.status == 200
        return await response.read()

    first = await asyncio.gather(*(fetch() for _ in range(20)))  # concurrent first requests
    again = await fetch()
    assert len(calls) == 1
    assert len(set(first)) == 1
    assert again == first[0]

    state.update(lambda _: fleet_view(ready=True))  # the evaluator's next view
    await asyncio.gather(*(fetch() for _ in range(5)))
    assert calls == [calls[0], state.view]


async def test_a_reader_that_does_not_read_holds_about_a_chunk_not_the_body(
    client_for: MakeClient,
) -> None:
    view = fleet_view()
    big = with_findings(view, tuple(view.findings) * 1000)
    size = len(json.dumps(view_json(big), indent=2))
    assert size > 2_000_000
    client = await client_for(holder(big))
    assert client.server.runner is not None
    server = client.server.runner.server
    assert server is not None

    sock = socket.socket()
    sock.settimeout(0.0)  # non-blocking
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    loop = asyncio.get_running_loop()
    with sock:
        await loop.sock_connect(sock, ("127.0.0.1", client.port))
        await loop.sock_sendall(sock, b"GET /findings HTTP/1.1\r\nHost: t\r\n\r\n")
        held = 0
        for _ in range(30):  # until the server has written what it will write
            await asyncio.sleep(0.1)
            buffers = [
                h.transport.get_write_buffer_size() for h in server.connections if h.transport
            ]
            held = max([held, *buffers])

    assert held <= 256 * 1024, f"{held} bytes of a {size}-byte body queued for one client"


# --- /metrics --------------------------------------------------------------------------------


async def test_metrics_serve_what_the_registry_holds(client_for: MakeClient) -> None:
    client = await client_for(holder(), registry_with_gauge(42.0))

    response = await client.get("/metrics")

    assert response.status == 200
    assert response.headers["Content-Type"] == CONTENT_TYPE_LATEST
    text = await response.text()
    assert "# HELP ggwatch_test_value A value the test set." in text
    assert "ggwatch_test_value 42.0" in text.splitlines()


async def test_metrics_follow_the_registry_not_the_view(client_for: MakeClient) -> None:
    """The registry may hold collectors the view does not feed: each scrape reads it anew."""
    registry = CollectorRegistry()
    gauge = Gauge("ggwatch_test_value", "A value the test set.", registry=registry)
    client = await client_for(holder(), registry)

    for value in (1.0, 2.0):
        gauge.set(value)
        response = await client.get("/metrics")
        assert f"ggwatch_test_value {value}" in (await response.text()).splitlines()


# --- /healthz and /readyz --------------------------------------------------------------------


async def probe(client: Client, path: str) -> tuple[int, dict[str, Any]]:
    response = await client.get(path)
    assert response.headers["Content-Type"] == "application/json; charset=utf-8"
    body = await response.json()
    assert isinstance(body, dict)
    return response.status, body


async def test_liveness_before_the_first_attempt_counts_from_start(
    client_for: MakeClient, clock: FakeClock
) -> None:
    client = await client_for(holder(unscanned_view()))  # built at clock 1000

    clock.now = 1000.0 + 3 * POLL
    assert (await probe(client, "/healthz"))[0] == 200

    clock.now += 1
    status, body = await probe(client, "/healthz")
    assert status == 503
    assert body == {
        "status": "stalled",
        "reason": "started, no call yet, 901 s ago (limit 900 s)",
    }


async def test_liveness_follows_progress_not_finished_scans(
    client_for: MakeClient, clock: FakeClock
) -> None:
    state = holder()
    client = await client_for(state)
    clock.now = 5000.0
    assert (await probe(client, "/healthz"))[0] == 503

    state.last_progress_monotonic = 4990.0
    status, body = await probe(client, "/healthz")
    assert status == 200
    assert body == {
        "status": "ok",
        "reason": "last progress (a call or a pass) 10 s ago (limit 900 s)",
    }

    clock.now = 4990.0 + 3 * POLL + 0.5
    assert (await probe(client, "/healthz"))[0] == 503


async def test_liveness_allows_two_minutes_at_short_intervals(
    client_for: MakeClient, clock: FakeClock
) -> None:
    # A 5 s interval must not turn one slow call (a 60 s read timeout) into a restart.
    state = holder()
    client = await client_for(state, poll_interval_seconds=5.0)
    state.last_progress_monotonic = clock.now
    clock.now += 119.0
    assert (await probe(client, "/healthz"))[0] == 200
    clock.now += 2.0
    status, body = await probe(client, "/healthz")
    assert status == 503
    assert "(limit 120 s)" in body["reason"]


async def test_readiness_waits_for_a_complete_scan_of_every_target(
    client_for: MakeClient,
) -> None:
    state = holder(fleet_view())
    client = await client_for(state)

    status, body = await probe(client, "/readyz")
    assert status == 503
    assert body == {
        "status": "not ready",
        "reason": "no complete scan yet",
        "waiting_for": ["123456789012/eu-west-1"],
    }

    state.update(lambda _: fleet_view(ready=True))
    status, body = await probe(client, "/readyz")
    assert status == 200
    assert body["status"] == "ready"
    assert body["waiting_for"] == []


async def test_probes_never_block_on_the_view(client_for: MakeClient) -> None:
    """A fresh daemon is alive but not ready; neither probe needs a scan to answer."""
    client = await client_for(holder(unscanned_view()))

    assert (await probe(client, "/healthz"))[0] == 200
    assert (await probe(client, "/readyz"))[0] == 503


# --- routing ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "path", ["/nope", "/metrics/", "/findings.json", "/index.html", "/%3Cscript%3E", "/../etc"]
)
async def test_unknown_paths_are_404_without_echo(client_for: MakeClient, path: str) -> None:
    client = await client_for(holder())

    response = await client.get(path)

    assert response.status == 404
    text = await response.text()
    assert "script" not in text.lower()
    assert "nope" not in text


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
async def test_only_get_and_head_are_allowed(client_for: MakeClient, method: str) -> None:
    client = await client_for(holder())

    for path in PATHS:
        response = await client.request(method, path, data=SCRIPT)
        assert response.status == 405, path
        assert set(response.headers["Allow"].split(",")) == {"GET", "HEAD"}
        assert "script" not in (await response.text())


async def test_head_answers_without_a_body(client_for: MakeClient) -> None:
    client = await client_for(holder(fleet_view(ready=True)), registry_with_gauge())

    for path in PATHS:
        response = await client.head(path)
        assert response.status == 200, path
        assert await response.read() == b""


async def test_query_strings_are_ignored_not_echoed(client_for: MakeClient) -> None:
    client = await client_for(holder(unscanned_view()))

    for path in PATHS:
        response = await client.get(path, params={"q": SCRIPT, "x": "zzqq"})
        text = await response.text()
        assert "zzqq" not in text, path
        assert SCRIPT not in text, path


# --- serve_http ------------------------------------------------------------------------------


def serve(state: StateHolder, registry: CollectorRegistry) -> Callable[..., Any]:
    """serve_http as the daemon starts it: `port = await tg.start(serve(...), host, port)`."""
    app = build_app(state, registry, poll_interval_seconds=POLL, clock=anyio.current_time)
    return functools.partial(serve_http, app)


async def test_serve_http_reports_the_bound_port_and_stops_when_cancelled() -> None:
    state = holder(fleet_view(ready=True))

    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(state, registry_with_gauge()), "127.0.0.1", 0)
        assert isinstance(port, int)
        assert port > 0
        async with aiohttp.ClientSession(f"http://127.0.0.1:{port}") as session:
            for path in PATHS:
                async with session.get(path) as response:
                    assert response.status == 200, path
        tg.cancel_scope.cancel()
        cancelled = anyio.current_time()

    assert anyio.current_time() - cancelled < 1.0  # well inside the 5 s cleanup budget
    with pytest.raises(OSError, match="connection attempts failed") as refused:
        await anyio.connect_tcp("127.0.0.1", port)
    assert isinstance(refused.value.__cause__, ConnectionRefusedError)  # nothing listens


async def start_expecting_error(host: str, port: int) -> ServeError:
    async with anyio.create_task_group() as tg:
        with pytest.raises(ServeError) as caught:
            await tg.start(serve(holder(), CollectorRegistry()), host, port)
    return caught.value


async def test_a_port_in_use_is_a_serve_error_at_start() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]

        error = await start_expecting_error("127.0.0.1", port)

    assert str(error) == f"cannot listen on 127.0.0.1:{port}: Address already in use"
    assert error.exit_code == 2


async def test_an_address_not_on_this_host_is_a_serve_error_at_start() -> None:
    # 192.0.2.0/24 is TEST-NET-1: never assigned to a host, and binding sends no packet.
    error = await start_expecting_error("192.0.2.1", 0)

    assert str(error) == "cannot listen on 192.0.2.1:0: Cannot assign requested address"
    assert "\n" not in str(error)
