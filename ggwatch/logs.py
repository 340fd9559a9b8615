"""structlog configuration, called once by the CLI.

JSON lines when stderr is not a terminal (containers, CI, log shippers), readable console
output when a person is watching. Records from the standard library's logging (aiohttp, the
simulator, botocore warnings) go through the same renderer, so every line has one shape.
"""

from __future__ import annotations

import logging
import sys
from typing import Any, TextIO

import structlog

from ggwatch.terminal import printable

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def configure(level: str = "info", fmt: str = "auto", stream: TextIO | None = None) -> None:
    stream = stream or sys.stderr
    as_json = fmt == "json" or (fmt == "auto" and not stream.isatty())
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    if not as_json:  # JSON escapes control characters itself
        shared.append(_escape_controls)
    renderer: Any = (
        structlog.processors.JSONRenderer(sort_keys=False)
        if as_json
        else structlog.dev.ConsoleRenderer(colors=stream.isatty())
    )
    structlog.configure(
        processors=[
            *shared,
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info if as_json else _passthrough,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(stream),
        cache_logger_on_first_use=False,
    )
    handler = logging.StreamHandler(stream)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(LEVELS[level])
    # Libraries are chatty at debug; their warnings still come through.
    for noisy in ("botocore", "aiobotocore", "urllib3", "asyncio", "aiohttp.access"):
        logging.getLogger(noisy).setLevel(max(LEVELS[level], logging.WARNING))
    # botocore logs a failed credential refresh with its traceback; ggwatch reports the same
    # failure as one line (the target's AssumeRole error in scan.incomplete).
    logging.getLogger("aiobotocore.credentials").setLevel(logging.CRITICAL)


def _escape_controls(_logger: Any, _name: str, event: dict[str, Any]) -> dict[str, Any]:
    # Keys with a leading underscore are structlog's own (the stdlib record), exc_info is
    # rendered by the console renderer from the exception itself.
    return {
        key: value if key.startswith("_") or key == "exc_info" else _escaped(value)
        for key, value in event.items()
    }


def _escaped(value: Any) -> Any:
    if isinstance(value, str):
        return printable(value)
    if isinstance(value, list | tuple):
        return type(value)(_escaped(item) for item in value)
    if isinstance(value, dict):
        return {printable(str(k)): _escaped(v) for k, v in value.items()}
    if isinstance(value, BaseException | bool | int | float) or value is None:
        return value  # exc_info and numbers render themselves
    return printable(str(value))


def _passthrough(_logger: Any, _name: str, event: Any) -> Any:
    return event
