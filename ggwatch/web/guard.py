"""The connection guard: what one HTTP client may hold of the daemon, enforced per listener.

The limits and why they are what they are: ggwatch.web.limits. Admission and eviction (the
connection cap), the listener and its log are here; a request's body deadline and its chunked
send are ggwatch.web.sending.
"""

from __future__ import annotations

import asyncio
import errno
import functools
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import structlog
from aiohttp import web
from aiohttp.typedefs import Handler

from ggwatch.web.limits import (
    BACKLOG,
    HttpLimits,
    connection_cap,
    raise_descriptor_limit,
)
from ggwatch.web.sending import BodyTimeout, body_deadline, body_timed_out, send_within

__all__ = ["REPORT_SECONDS", "ConnectionGuard"]

# Connections shed and failed accepts are logged at most this often, as counts.
REPORT_SECONDS = 10.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


class _Connection(asyncio.Protocol):
    """One client connection as the guard sees it, in front of aiohttp's protocol.

    Admission is decided before aiohttp's protocol exists, so a refused connection costs no
    more than its socket.
    """

    __slots__ = ("_guard", "_make", "handler", "requests", "stall", "transport")

    def __init__(self, guard: ConnectionGuard, make: Callable[[], asyncio.Protocol]) -> None:
        self._guard = guard
        self._make = make
        self.handler: asyncio.Protocol | None = None
        self.transport: asyncio.Transport | None = None
        self.requests = 0  # in the app's handlers now
        self.stall: asyncio.TimerHandle | None = None  # armed while the socket does not drain

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport
        if not self._guard._admit(self):
            transport.abort()
            return
        self.handler = self._make()
        self.handler.connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self._guard._forget(self)
        if self.handler is not None:
            self.handler.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self.handler is not None:
            self.handler.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self.handler is None else self.handler.eof_received()

    def pause_writing(self) -> None:
        self._guard._stalled(self)
        if self.handler is not None:
            self.handler.pause_writing()

    def resume_writing(self) -> None:
        self._guard._drained(self)
        if self.handler is not None:
            self.handler.resume_writing()


class ConnectionGuard:
    """Admits, times and sheds the connections of one listener (see the module docstring).

    Connections accepted elsewhere (aiohttp's TestServer) are not counted or evicted; the body
    and send timeouts still apply to their requests.
    """

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.cap = limits.max_connections  # lowered to the descriptor limit by listening()
        self._open: dict[asyncio.BaseTransport, _Connection] = {}
        # Admitted connections not in a request, in the order they became so: oldest first.
        self._idle: dict[_Connection, None] = {}
        self._shed: Counter[str] = Counter()
        self._accept_error = ""

    @property
    def open_connections(self) -> int:
        return len(self._open)

    # -- admission and eviction ---------------------------------------------------------------

    def _admit(self, connection: _Connection) -> bool:
        assert connection.transport is not None
        if len(self._open) >= self.cap:
            if not self._idle:
                self._shed["refused"] += 1
                return False
            self._close(next(iter(self._idle)), "evicted")
        self._open[connection.transport] = connection
        self._idle[connection] = None
        return True

    def _close(self, connection: _Connection, why: str) -> None:
        self._forget(connection)
        self._shed[why] += 1
        if connection.transport is not None:
            # abort, not close: close would wait, without end, for a client that does not read
            # to take what is queued for it.
            connection.transport.abort()

    def _forget(self, connection: _Connection) -> None:
        if connection.transport is not None:
            self._open.pop(connection.transport, None)
        self._idle.pop(connection, None)
        if connection.stall is not None:
            connection.stall.cancel()
            connection.stall = None

    def _stalled(self, connection: _Connection) -> None:
        if connection.transport in self._open and connection.stall is None:
            connection.stall = asyncio.get_running_loop().call_later(
                self.limits.send_timeout_seconds, self._close, connection, "abandoned"
            )

    def _drained(self, connection: _Connection) -> None:
        if connection.stall is not None:
            connection.stall.cancel()
            connection.stall = None

    def drop_stalled(self) -> None:
        """Abort the connections whose sockets have stopped draining, before a shutdown.

        Their responses cannot finish within any grace period, so waiting for them would only
        hold the shutdown up for its whole timeout.
        """
        for connection in [c for c in self._open.values() if c.stall is not None]:
            self._close(connection, "abandoned")

    # -- requests -----------------------------------------------------------------------------

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        """Marks the connection busy while in a request, and holds its body to the deadline."""
        transport = request.transport
        connection = None if transport is None else self._open.get(transport)
        if connection is not None:
            connection.requests += 1
            self._idle.pop(connection, None)
        deadline = body_deadline(request, self.limits.body_timeout_seconds, self._late)
        try:
            return await handler(request)
        except BodyTimeout:
            return body_timed_out(self.limits.body_timeout_seconds)
        finally:
            if deadline is not None:
                deadline.cancel()
            if connection is not None:
                connection.requests -= 1
                if not connection.requests and connection.transport in self._open:
                    self._idle[connection] = None

    def _late(self) -> None:
        self._shed["late_bodies"] += 1

    async def send(
        self, request: web.Request, response: web.StreamResponse, body: bytes
    ) -> web.StreamResponse:
        """Write `body`, which may be shared with other responses, within the send timeout
        (ggwatch.web.sending); a client that has not taken it all by then loses the
        connection."""
        if not await send_within(request, response, body, self.limits.send_timeout_seconds):
            self._abandon(request)
        return response

    def _abandon(self, request: web.Request) -> None:
        transport = request.transport
        if transport is None:
            return
        connection = self._open.get(transport)
        if connection is not None:
            self._close(connection, "abandoned")
        else:
            transport.abort()

    # -- the listener and its log -------------------------------------------------------------

    @asynccontextmanager
    async def listening(
        self, server: Callable[[], asyncio.Protocol], host: str, port: int
    ) -> AsyncIterator[int]:
        """Listen on host:port for `server` (aiohttp's protocol factory); yield the bound port.

        Raises OSError when the address cannot be bound. While listening, failed accepts reach
        this guard's counts instead of the loop's log.
        """
        descriptors = raise_descriptor_limit()
        self.cap = connection_cap(self.limits.max_connections, descriptors)
        if self.cap < self.limits.max_connections:
            structlog.get_logger("ggwatch.http").warning(
                "http.connections_capped",
                max_connections=self.limits.max_connections,
                cap=self.cap,
                descriptor_limit=descriptors,
                reason="the descriptor limit leaves room for no more",
            )
        loop = asyncio.get_running_loop()
        previous = loop.get_exception_handler()
        loop.set_exception_handler(functools.partial(self._loop_error, previous))
        try:
            listener = await loop.create_server(
                functools.partial(_Connection, self, server), host, port, backlog=BACKLOG
            )
            try:
                yield listener.sockets[0].getsockname()[1]
            finally:
                # Stop accepting; the runner's cleanup then ends the connections gracefully.
                listener.close()
        finally:
            loop.set_exception_handler(previous)

    def _loop_error(
        self,
        previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None,
        loop: asyncio.AbstractEventLoop,
        context: dict[str, Any],
    ) -> None:
        exc = context.get("exception")
        if (
            isinstance(exc, OSError)
            and exc.errno in _OUT_OF_RESOURCES
            and str(context.get("message", "")).startswith("socket.accept()")
        ):
            self._shed["accept_errors"] += 1
            self._accept_error = exc.strerror or str(exc)
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    def report(self) -> None:
        """Log what was shed since the last report, in one line; nothing if nothing was."""
        if not self._shed:
            return
        counts = {name: self._shed[name] for name in sorted(self._shed)}
        extra = {"accept_error": self._accept_error} if self._shed["accept_errors"] else {}
        self._shed.clear()
        structlog.get_logger("ggwatch.http").warning(
            "http.connections_shed",
            **counts,
            **extra,
            open_connections=len(self._open),
            cap=self.cap,
            interval_seconds=REPORT_SECONDS,
        )
