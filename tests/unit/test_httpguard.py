"""The connection guard's arithmetic and its log: descriptor budget, failed accepts as counts."""

from __future__ import annotations

import asyncio
import errno
import logging
import subprocess
import sys
from typing import Any

import pytest
from structlog.testing import capture_logs

from ggwatch.web.guard import ConnectionGuard
from ggwatch.web.limits import ACCEPT_OVERSHOOT, FD_RESERVE, HttpLimits, connection_cap


def test_the_cap_leaves_descriptors_for_the_rest_of_the_daemon() -> None:
    assert connection_cap(256, 1 << 20) == 256  # a container's usual limit: the setting rules
    assert connection_cap(256, 512) == 512 - FD_RESERVE - ACCEPT_OVERSHOOT == 192
    assert connection_cap(256, 100) == 1  # misconfigured, but the probe still gets through


def test_the_soft_descriptor_limit_is_raised_to_the_hard_one() -> None:
    script = (
        "import resource\n"
        "from ggwatch.web.guard import raise_descriptor_limit\n"
        "soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)\n"
        "resource.setrlimit(resource.RLIMIT_NOFILE, (256, hard))\n"
        "print(raise_descriptor_limit() == hard, resource.getrlimit(resource.RLIMIT_NOFILE) "
        "== (hard, hard))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=30, check=True
    )
    assert done.stdout.split() == ["True", "True"]


def out_of_descriptors() -> dict[str, Any]:
    """What asyncio's accept loop passes to the loop's exception handler on EMFILE."""
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(errno.EMFILE, "Too many open files"),
    }


async def test_failed_accepts_are_reported_once_as_a_count(
    caplog: pytest.LogCaptureFixture,
) -> None:
    loop = asyncio.get_running_loop()
    others: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: others.append(context))
    guard = ConnectionGuard(HttpLimits())
    try:
        async with guard.listening(asyncio.Protocol, "127.0.0.1", 0):
            with caplog.at_level(logging.DEBUG), capture_logs() as logs:
                for _ in range(1000):
                    loop.call_exception_handler(out_of_descriptors())
                loop.call_exception_handler({"message": "something else"})
                guard.report()
                guard.report()  # nothing new: no line
        restored = loop.get_exception_handler()
    finally:
        loop.set_exception_handler(None)

    assert logs == [
        {
            "event": "http.connections_shed",
            "log_level": "warning",
            "accept_errors": 1000,
            "accept_error": "Too many open files",
            "open_connections": 0,
            "cap": 256,
            "interval_seconds": 10.0,
        }
    ]
    assert not caplog.records  # asyncio logged none of the thousand
    assert others == [{"message": "something else"}]  # the rest still reach the handler before
    assert restored is not None
    assert restored.__name__ == "<lambda>"
