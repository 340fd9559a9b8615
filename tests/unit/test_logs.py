"""Logging: JSON lines off a terminal, and library records in the same shape."""

from __future__ import annotations

import io
import json
import logging

import structlog

from ggwatch import logs


def test_json_lines_for_structlog_and_stdlib() -> None:
    stream = io.StringIO()
    logs.configure("info", "auto", stream)  # a StringIO is not a terminal: JSON
    structlog.get_logger().info("scan.completed", findings=3)
    logging.getLogger("ggwatch.sim").warning("listening on %s", "x")
    structlog.get_logger().debug("not.shown")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert [line["event"] for line in lines] == ["scan.completed", "listening on x"]
    assert lines[0]["findings"] == 3
    assert lines[0]["level"] == "info"
    assert lines[1]["logger"] == "ggwatch.sim"
    assert all("timestamp" in line for line in lines)


def test_console_format_is_not_json() -> None:
    stream = io.StringIO()
    logs.configure("debug", "console", stream)
    structlog.get_logger().debug("hello", who="you")
    text = stream.getvalue()
    assert "hello" in text
    assert "who" in text
    assert not text.lstrip().startswith("{")
