"""Signals: which stop the daemon gracefully, which are logged and ignored."""

from __future__ import annotations

import signal

import anyio
import structlog

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT)
# Their default is to end the process at once; nothing here uses them, so they are logged.
IGNORED_SIGNALS = (signal.SIGUSR1, signal.SIGUSR2)


async def watch_signals(scope: anyio.CancelScope, stopping: anyio.Event) -> None:
    """Stop gracefully on STOP_SIGNALS: `stopping` bounds an in-flight delete, then the task
    group is cancelled."""
    log = structlog.get_logger("ggwatch.daemon")
    with anyio.open_signal_receiver(*STOP_SIGNALS, *IGNORED_SIGNALS) as signals:
        async for signum in signals:
            name = signal.Signals(signum).name
            if signum in IGNORED_SIGNALS:
                log.info("daemon.signal_ignored", signal=name)
                continue
            log.info("daemon.stopping", signal=name)
            stopping.set()
            scope.cancel()
            return
