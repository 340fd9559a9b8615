"""serve_http under hostile clients over loopback: the connection cap, timeouts, abandoned sends.

The server and these clients share one event loop, so every client here is a non-blocking
socket driven by the loop; the limits are a fraction of a second to keep the tests short.
"""

from __future__ import annotations

import asyncio
import functools
import json
import socket
from collections.abc import Callable
from typing import Any

import anyio
import pytest
from prometheus_client import CollectorRegistry

from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.report import view_json
from ggwatch.state import DaemonView, TargetStatus
from ggwatch.web.app import HttpLimits, build_app, serve_http
from ggwatch.web.webhook import AlertmanagerWebhook
from tests.unit.views import STARTED, fleet_view, holder, with_findings

# Measures time or memory: run alone, never beside other tests (see the Makefile).
pytestmark = pytest.mark.serial

TOKEN = "a-token-of-at-least-16-characters"
QUICK = HttpLimits(
    max_connections=16,
    idle_timeout_seconds=0.5,
    send_timeout_seconds=0.5,
    body_timeout_seconds=0.5,
)
# A probe that reads only the view: these tests are about connections, not about liveness.
PROBE = b"GET /readyz HTTP/1.1\r\nHost: ggwatch\r\n\r\n"
FINDINGS = b"GET /findings HTTP/1.1\r\nHost: ggwatch\r\n\r\n"


def big_view() -> DaemonView:
    """A view whose /findings is a few MB: far more than socket buffers hold."""
    view = fleet_view()
    return with_findings(view, tuple(view.findings) * 1000)


def view_json_bytes(view: DaemonView) -> bytes:
    return json.dumps(view_json(view), indent=2).encode()


def serve(limits: HttpLimits, view: DaemonView | None = None, **kwargs: Any) -> Callable[..., Any]:
    app = build_app(
        holder(view or fleet_view(ready=True)),
        CollectorRegistry(),
        poll_interval_seconds=300.0,
        clock=anyio.current_time,
        limits=limits,
        **kwargs,
    )
    return functools.partial(serve_http, app, "127.0.0.1", 0)


async def connect(port: int, rcvbuf: int | None = None) -> socket.socket:
    sock = socket.socket()
    sock.settimeout(0.0)  # non-blocking
    if rcvbuf is not None:  # before connect, so the window is small from the start
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", port))
    return sock


async def send(sock: socket.socket, data: bytes) -> None:
    await asyncio.get_running_loop().sock_sendall(sock, data)


async def read_until_closed(sock: socket.socket, within: float) -> tuple[bool, bytes]:
    """Everything the server sends; (closed, data). closed is False if it stayed open."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    with anyio.move_on_after(within):
        while True:
            try:
                data = await loop.sock_recv(sock, 65536)
            except ConnectionResetError:
                return True, bytes(received)
            if not data:
                return True, bytes(received)
            received += data
    return False, bytes(received)


async def closed_within(sock: socket.socket, seconds: float) -> bool:
    return (await read_until_closed(sock, seconds))[0]


async def answer(sock: socket.socket) -> bytes:
    """One response to a request already sent (headers and body; the probes are small)."""
    loop = asyncio.get_running_loop()
    received = bytearray()
    with anyio.fail_after(5):
        while b"\r\n\r\n" not in received:
            data = await loop.sock_recv(sock, 65536)
            assert data, f"closed without an answer: {bytes(received)!r}"
            received += data
        head, _, body = bytes(received).partition(b"\r\n\r\n")
        length = int(
            next(h for h in head.split(b"\r\n") if h.lower().startswith(b"content-length")).split(
                b":"
            )[1]
        )
        while len(body) < length:
            body += await loop.sock_recv(sock, 65536)
    return head + b"\r\n\r\n" + body


# --- idle and header timeouts ----------------------------------------------------------------


async def test_a_connection_that_sends_nothing_is_closed_after_the_idle_timeout() -> None:
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(QUICK))
        with await connect(port) as sock:
            started = anyio.current_time()
            assert await closed_within(sock, 3.0)
            assert 0.4 <= anyio.current_time() - started < 2.0
        tg.cancel_scope.cancel()


async def test_headers_trickled_in_are_cut_off_at_the_idle_timeout() -> None:
    """The idle timer runs from the connection's start; bytes that arrive do not reset it."""
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(QUICK))
        with await connect(port) as sock:
            started = anyio.current_time()
            await send(sock, b"GET /readyz HTTP/1.1\r\n")
            closed = False
            for n in range(30):  # a header line every 0.1 s for up to 3 s
                try:
                    await send(sock, f"X-Trickle-{n}: y\r\n".encode())
                except (BrokenPipeError, ConnectionResetError):
                    closed = True
                    break
                if await closed_within(sock, 0.1):
                    closed = True
                    break
            assert closed, "a client trickling headers kept its connection"
            assert anyio.current_time() - started < 1.5
        tg.cancel_scope.cancel()


async def test_an_idle_keep_alive_connection_is_closed_after_the_idle_timeout() -> None:
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(QUICK))
        with await connect(port) as sock:
            await send(sock, PROBE)
            assert (await answer(sock)).startswith(b"HTTP/1.1 200 OK")
            answered = anyio.current_time()
            assert await closed_within(sock, 3.0)
            assert 0.4 <= anyio.current_time() - answered < 2.0
        tg.cancel_scope.cancel()


# --- body timeout ----------------------------------------------------------------------------


async def test_a_body_trickled_in_is_answered_408_after_the_body_timeout() -> None:
    webhook = AlertmanagerWebhook(TOKEN, None)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(QUICK, webhook=webhook))
        with await connect(port) as sock:
            await send(
                sock,
                b"POST /alertmanager HTTP/1.1\r\nHost: ggwatch\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                b'{"version": "4", ',
            )
            started = anyio.current_time()
            closed, data = await read_until_closed(sock, 3.0)
            assert data.startswith(b"HTTP/1.1 408 Request Timeout\r\n"), data[:200]
            assert b"Connection: close" in data
            assert closed
            assert 0.4 <= anyio.current_time() - started < 2.0
        tg.cancel_scope.cancel()


async def test_a_body_that_arrives_in_time_still_reaches_the_webhook() -> None:
    webhook = AlertmanagerWebhook(TOKEN, None)
    body = b'{"version": "4", "alerts": []}'
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(QUICK, webhook=webhook))
        with await connect(port) as sock:
            await send(
                sock,
                b"POST /alertmanager HTTP/1.1\r\nHost: ggwatch\r\n"
                b"Authorization: Bearer " + TOKEN.encode() + b"\r\n"
                b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body[:5],
            )
            await anyio.sleep(0.2)  # in parts, but complete well inside the body timeout
            await send(sock, body[5:])
            response = await answer(sock)
            assert response.startswith(b"HTTP/1.1 200 OK"), response[:200]
            assert b'"results"' in response
        tg.cancel_scope.cancel()


# --- send timeout ----------------------------------------------------------------------------


async def test_a_response_the_client_does_not_read_is_abandoned_after_the_send_timeout() -> None:
    view = big_view()
    size = len(view_json_bytes(view))
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(QUICK, view))
        with await connect(port, rcvbuf=1024) as sock:
            await send(sock, FINDINGS)
            await anyio.sleep(QUICK.send_timeout_seconds + 1.0)  # not reading meanwhile
            closed, data = await read_until_closed(sock, 5.0)
            assert closed
            assert data.startswith(b"HTTP/1.1 200 OK")
            assert len(data) < size, "the whole body was sent to a client that did not read"
        tg.cancel_scope.cancel()


async def test_answers_written_after_the_handler_are_abandoned_too() -> None:
    """aiohttp writes a handler's Response itself; a socket that stops draining still ends.

    /readyz names every target not yet scanned: with 20,000 of them each answer is ~300 kB,
    and 40 pipelined ones are more than the kernel's socket buffers hold.
    """
    targets = tuple(TargetStatus(TargetId(DEFAULT_ALIAS, f"xx-test-{n}")) for n in range(20_000))
    view = DaemonView(started_at=STARTED, targets=targets)
    requests = 40
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(QUICK, view))
        with await connect(port, rcvbuf=1024) as sock:
            await send(sock, b"GET /readyz HTTP/1.1\r\nHost: ggwatch\r\n\r\n" * requests)
            await anyio.sleep(QUICK.send_timeout_seconds + 1.5)  # not reading meanwhile
            closed, data = await read_until_closed(sock, 5.0)
            assert closed
            assert 0 < data.count(b"HTTP/1.1 503 Service Unavailable") < requests
        tg.cancel_scope.cancel()


async def test_stopping_does_not_wait_for_clients_that_do_not_read() -> None:
    limits = HttpLimits(send_timeout_seconds=30.0)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(limits, big_view()))
        readers = [await connect(port, rcvbuf=1024) for _ in range(3)]
        for reader in readers:
            await send(reader, FINDINGS)
        await anyio.sleep(0.5)  # each response is stuck on a socket that does not drain
        tg.cancel_scope.cancel()
        cancelled = anyio.current_time()
    assert anyio.current_time() - cancelled < 1.0  # not aiohttp's 3 s grace for each
    for reader in readers:
        assert await closed_within(reader, 5.0)
        reader.close()


# --- the connection cap ----------------------------------------------------------------------


async def test_at_the_cap_the_oldest_connection_without_a_request_makes_room() -> None:
    limits = HttpLimits(max_connections=3, idle_timeout_seconds=30.0)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(limits))
        trickling = await connect(port)
        await send(trickling, b"GET /readyz HTTP/1.1\r\nX-Slow: ")  # headers never finish
        await anyio.sleep(0.05)
        idle = await connect(port)
        await anyio.sleep(0.05)
        kept_alive = await connect(port)
        await send(kept_alive, PROBE)
        assert (await answer(kept_alive)).startswith(b"HTTP/1.1 200 OK")
        # Idle since: trickling (connected first), idle, then kept_alive (since its answer).

        first = await connect(port)
        await send(first, PROBE)
        assert (await answer(first)).startswith(b"HTTP/1.1 200 OK")
        assert await closed_within(trickling, 1.0)
        assert not await closed_within(idle, 0.2)

        second = await connect(port)
        await send(second, PROBE)
        assert (await answer(second)).startswith(b"HTTP/1.1 200 OK")
        assert await closed_within(idle, 1.0)
        assert not await closed_within(kept_alive, 0.2)
        for sock in (trickling, idle, kept_alive, first, second):
            sock.close()
        tg.cancel_scope.cancel()


async def test_at_the_cap_busy_connections_stay_and_the_newcomer_is_closed() -> None:
    limits = HttpLimits(max_connections=2, send_timeout_seconds=10.0)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(limits, big_view()))
        readers = [await connect(port, rcvbuf=1024) for _ in range(2)]
        for reader in readers:
            await send(reader, FINDINGS)
        await anyio.sleep(0.5)  # both are answering, stuck on readers that do not read

        with await connect(port) as newcomer:
            closed, data = await read_until_closed(newcomer, 1.0)
            assert closed
            assert data == b""
        for reader in readers:
            assert not await closed_within(reader, 0.1)
            reader.close()
        tg.cancel_scope.cancel()


async def test_slow_clients_at_the_cap_leave_probes_answered() -> None:
    limits = HttpLimits(max_connections=8, idle_timeout_seconds=30.0)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve(limits))
        hogs = [await connect(port) for _ in range(20)]
        for hog in hogs:
            await send(hog, b"GET / HTTP/1.1\r\n")  # and nothing more
        for _ in range(5):
            with await connect(port) as probe:
                await send(probe, PROBE)
                assert (await answer(probe)).startswith(b"HTTP/1.1 200 OK")
        for hog in hogs:
            hog.close()
        tg.cancel_scope.cancel()


# --- limits ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "field",
    ["max_connections", "idle_timeout_seconds", "send_timeout_seconds", "body_timeout_seconds"],
)
def test_limits_must_be_positive(field: str) -> None:
    with pytest.raises(ValueError, match=field):
        HttpLimits(**{field: 0})


def test_default_limits() -> None:
    assert HttpLimits() == HttpLimits(
        max_connections=256,
        idle_timeout_seconds=15.0,
        send_timeout_seconds=30.0,
        body_timeout_seconds=10.0,
    )
