"""What one HTTP client may hold of the daemon: connections, descriptors, time and memory.

The port answers without authentication (Prometheus, the kubelet's probes, people, Alertmanager),
so without limits any client can take the daemon past its memory limit or its descriptors, and
then /healthz stops answering and the pod is killed for it. The limits (`HttpLimits`):

- **Connections** (`max_connections`, 256). A connection that arrives at the cap makes room by
  closing the connection that has gone longest without delivering a complete request: idle
  between requests, or still trickling its headers in. Those cost the daemon nothing to drop and
  are the shape slow-client attacks take, so a probe is still answered while slow clients hold
  every other connection. Only when every connection is in a request is the newcomer closed.
- **Descriptors.** At start the soft RLIMIT_NOFILE is raised to the hard limit (Go's runtime
  does the same) and the cap lowered to what it leaves: `FD_RESERVE` for the AWS connection
  pools, files and the loop itself, and room for the connections asyncio accepts in one go
  before the guard sees any of them. Clients then cannot make the listener, or anything else in
  the process, run out of descriptors.
- **Idle and headers** (`idle_timeout_seconds`, 15). aiohttp's keep-alive timer, armed when a
  connection opens and again after each response, closes a connection that has not delivered a
  complete request by then. Bytes arriving do not restart it, so headers trickled in a byte at a
  time get the same 15 s as silence.
- **Body** (`body_timeout_seconds`, 10). A request's body must have arrived this long after its
  headers; a late one is answered 408 and the connection closed. A body the handler does not
  read is discarded for at most as long (aiohttp's lingering time).
- **Sending** (`send_timeout_seconds`, 30). A response must be taken by the client within this
  time, and no socket may stop draining for longer; else the response is abandoned and the
  connection aborted, dropping what was queued for it. A shutdown drops the connections stuck
  so at once rather than wait out its grace period for them.
- **Memory.** Big documents are rendered once and written from those shared bytes in `CHUNK`
  pieces, each after the socket has drained below asyncio's high-water mark (64 KiB), so a
  client that does not read holds about that much rather than a copy of the whole body (Python
  3.11's transport copies every byte it cannot send at once).
- **The log.** When accept() fails for lack of descriptors, asyncio logs every failure and
  retries a backlog's worth each loop iteration: thousands of lines a second. Such failures, and
  the connections shed above, are counted and reported once per `REPORT_SECONDS`.
"""

from __future__ import annotations

import asyncio
import errno
import functools
import resource
from collections import Counter
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import Any

import anyio
import structlog
from aiohttp import hdrs, web
from aiohttp.typedefs import Handler

# The listen backlog (aiohttp's default), which is also how many connections asyncio accepts
# in one loop iteration before any protocol sees them.
BACKLOG = 128
# Descriptors left to the rest of the daemon: AWS connection pools (2 x max_in_flight per
# target), the archive's files, the loop's own, stdio.
FD_RESERVE = 64
# A refused or evicted connection is closed a loop iteration after it was accepted, so about
# two backlogs' worth of accepted sockets can be open above the cap during a flood.
ACCEPT_OVERSHOOT = 2 * BACKLOG
# Bytes written before waiting for the socket to drain: aiohttp's own drain threshold.
CHUNK = 64 * 1024
# Connections shed and failed accepts are logged at most this often, as counts.
REPORT_SECONDS = 10.0
_OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})


@dataclass(frozen=True, slots=True)
class HttpLimits:
    """What one HTTP client may hold; each default is explained in the module docstring."""

    max_connections: int = 256
    idle_timeout_seconds: float = 15.0
    send_timeout_seconds: float = 30.0
    body_timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        for field in fields(self):
            if not getattr(self, field.name) > 0:
                raise ValueError(f"{field.name} must be positive, not {getattr(self, field.name)}")


DEFAULT_LIMITS = HttpLimits()


def raise_descriptor_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard one where allowed; the soft limit after."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        return 1 << 20
    if hard != resource.RLIM_INFINITY and soft < hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):  # a sandbox may forbid it: keep to what was given
            return soft
        return hard
    return soft


def connection_cap(max_connections: int, descriptors: int) -> int:
    """The connections allowed at once under a descriptor limit, at least one."""
    return max(1, min(max_connections, descriptors - FD_RESERVE - ACCEPT_OVERSHOOT))


class BodyTimeout(TimeoutError):
    """A request body did not arrive within the body timeout.

    A TimeoutError, so that aiohttp's lingering read of the rest, which expects one, ends
    quietly instead of logging an unhandled exception.
    """


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
        deadline = None
        if request.body_exists and not request.content.is_eof():
            deadline = asyncio.get_running_loop().call_later(
                self.limits.body_timeout_seconds, self._late, request
            )
        try:
            return await handler(request)
        except BodyTimeout:
            response = web.json_response(
                {"error": f"request body not received in {self.limits.body_timeout_seconds:g} s"},
                status=408,
            )
            response.force_close()
            return response
        finally:
            if deadline is not None:
                deadline.cancel()
            if connection is not None:
                connection.requests -= 1
                if not connection.requests and connection.transport in self._open:
                    self._idle[connection] = None

    def _late(self, request: web.Request) -> None:
        if not request.content.is_eof():
            self._shed["late_bodies"] += 1
            request.content.set_exception(BodyTimeout("request body not received in time"))

    async def send(
        self, request: web.Request, response: web.StreamResponse, body: bytes
    ) -> web.StreamResponse:
        """Write `body`, which may be shared with other responses, within the send timeout.

        The body is never copied whole: it goes out in CHUNK slices, each after the socket has
        drained. A client that has not taken it all by the deadline loses the connection.
        """
        response.content_length = len(body)
        with anyio.move_on_after(self.limits.send_timeout_seconds) as scope:
            try:
                await response.prepare(request)
                if request.method != hdrs.METH_HEAD:
                    whole = memoryview(body)
                    for start in range(0, len(body), CHUNK):
                        await response.write(whole[start : start + CHUNK])
                await response.write_eof()
            except ConnectionError:
                # The client went away: nobody is left to answer, and aiohttp ends the
                # connection as it does when a client leaves in the middle of any response.
                pass
        if scope.cancelled_caught:
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
