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


def test_console_logs_escape_terminal_controls() -> None:
    stream = io.StringIO()
    logs.configure("info", "console", stream)
    hostile = "App\x1b[2J\x1b]0;title\x07\x9b\u202e"
    structlog.get_logger().warning("component.\x1bodd", component_name=hostile, names=[hostile])
    logging.getLogger("aiohttp.server").error("bad request line %r", "\x1b[5m")
    text = stream.getvalue()
    assert not any(ord(c) < 0x20 and c != "\n" for c in text), repr(text)
    assert "\x9b" not in text
    assert "\u202e" not in text
    assert "App\\x1b[2J\\x1b]0;title\\x07\\x9b\\u202e" in text
    assert "component.\\x1bodd" in text


def test_json_logs_escape_controls_themselves() -> None:
    stream = io.StringIO()
    logs.configure("info", "json", stream)
    structlog.get_logger().info("x", name="a\x1b[2Jb")
    line = stream.getvalue()
    assert "\x1b" not in line
    assert json.loads(line)["name"] == "a\x1b[2Jb"  # the value itself is kept exactly
