"""The time and memory one request may take: its body's deadline, and the chunked send.

See ggwatch.web.limits for why: a body must arrive within `body_timeout_seconds` of its
headers, and a response goes out in CHUNK slices of shared bytes, each after the socket has
drained, within `send_timeout_seconds`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import anyio
from aiohttp import hdrs, web

# Bytes written before waiting for the socket to drain: aiohttp's own drain threshold.
CHUNK = 64 * 1024


class BodyTimeout(TimeoutError):
    """A request body did not arrive within the body timeout.

    A TimeoutError, so that aiohttp's lingering read of the rest, which expects one, ends
    quietly instead of logging an unhandled exception.
    """


def body_deadline(
    request: web.Request, seconds: float, on_late: Callable[[], None]
) -> asyncio.TimerHandle | None:
    """When the request has a body still to come: a timer that, unless it has arrived
    `seconds` from now, tells `on_late` and fails its reading (BodyTimeout). The caller
    cancels it once the handler is done."""
    if request.body_exists and not request.content.is_eof():
        return asyncio.get_running_loop().call_later(seconds, _late, request, on_late)
    return None


def _late(request: web.Request, on_late: Callable[[], None]) -> None:
    if not request.content.is_eof():
        on_late()
        request.content.set_exception(BodyTimeout("request body not received in time"))


def body_timed_out(seconds: float) -> web.Response:
    """408, and the connection closed: what is left of the body is not worth reading."""
    response = web.json_response(
        {"error": f"request body not received in {seconds:g} s"}, status=408
    )
    response.force_close()
    return response


async def send_within(
    request: web.Request, response: web.StreamResponse, body: bytes, seconds: float
) -> bool:
    """Write `body`, which may be shared with other responses; False when the client had not
    taken it all within `seconds` (the caller then drops the connection).

    The body is never copied whole: it goes out in CHUNK slices, each after the socket has
    drained.
    """
    response.content_length = len(body)
    with anyio.move_on_after(seconds) as scope:
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
    return not scope.cancelled_caught
