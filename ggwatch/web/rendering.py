"""Renderings shared by the HTTP responses that show the same thing: one per view, or one per
crowd of requests that arrive together. Each runs in a worker thread, off the event loop."""

from __future__ import annotations

from collections.abc import Callable

import anyio

from ggwatch.state import DaemonView


class PerView:
    """One rendering of each view, shared by every response that shows it.

    The evaluator never changes a view, it replaces `holder.view`, so the view's identity is
    the key. The entry holds the view, so its id cannot be reused by another while cached.
    Requests that arrive while the first rendering of a view runs wait for it rather than
    render the same view again: a crowd of clients costs one rendering, not one each.
    Renderings run in a worker thread: a big fleet's findings take long enough to stall the
    loop (and the scans on it). The view is immutable, so the thread reads it safely.
    """

    def __init__(self, render: Callable[[DaemonView], bytes]) -> None:
        self._render = render
        self._lock = anyio.Lock()
        self._view: DaemonView | None = None
        self._body = b""

    async def body(self, view: DaemonView) -> bytes:
        if self._view is view:
            return self._body
        async with self._lock:
            if self._view is not view:
                self._body = await anyio.to_thread.run_sync(self._render, view)
                self._view = view
            return self._body


class Coalesced:
    """A rendering shared by the requests that arrive while one runs, never reused after.

    The registry may hold collectors the view does not feed (a test's plain Gauge), so a
    rendering is not tied to a view. Each request gets one that started after it arrived, so
    it never sees an older state than a rendering of its own would: a crowd that arrives
    during a rendering shares the next one, two renderings at most.
    """

    def __init__(self, render: Callable[[], bytes]) -> None:
        self._render = render
        self._lock = anyio.Lock()
        self._started = 0  # renderings begun
        self._body = b""
        self._body_started = 0  # the number of the rendering that made _body

    async def body(self) -> bytes:
        arrived = self._started
        async with self._lock:
            if self._body_started <= arrived:  # begun before this request: may miss a change
                self._started += 1
                number = self._started
                self._body = await anyio.to_thread.run_sync(self._render)
                self._body_started = number
            return self._body
