"""Request decoding helpers the service models and the server share: a member's raw values
from the query string or headers, scalar checks against a shape, the JSON body, and the error
answer's wire form (the x-amzn-ErrorType header and a JSON body)."""

from __future__ import annotations

import base64
import json
import math
import re
import uuid
from collections.abc import Mapping
from functools import cache
from typing import Any

from aiohttp import web

from ggwatch.sim.store import SimError

Shape = Mapping[str, Any]


class InputError(Exception):
    """A request member that does not fit its shape; answered as ValidationException."""

    def __init__(self, name: str, message: str) -> None:
        super().__init__(f"{name}: {message}")
        self.name = name
        self.message = message


def sent_values(
    location: str, wire: str, query: Mapping[str, list[str]], headers: Mapping[str, str]
) -> list[str] | None:
    """The raw values of a query string or header member (`headers`: lower-cased names)."""
    if location == "querystring":
        return query.get(wire)
    if location == "header":
        value = headers.get(wire.lower())
        return None if value is None else [value]
    return None  # "headers", a prefixed header map: no greengrassv2 input has one


def validate_scalar(kind: str, shape: Shape, value: Any, path: str) -> None:
    if kind == "string":
        validate_string(shape, value, path)
    elif kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(path, "expected an integer")
        check_range(shape, value, path)
    elif kind in ("double", "float"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise InputError(path, "expected a number")
        check_range(shape, value, path)
    elif kind == "boolean":
        if not isinstance(value, bool):
            raise InputError(path, "expected true or false")
    elif kind == "blob":
        if not isinstance(value, str):
            raise InputError(path, "expected base64 text")
        try:
            base64.b64decode(value, validate=True)
        except ValueError:
            raise InputError(path, "is not valid base64") from None
    elif kind == "timestamp" and not isinstance(value, int | float | str):
        raise InputError(path, "expected a timestamp")


def validate_string(shape: Shape, value: Any, path: str) -> None:
    if not isinstance(value, str):
        raise InputError(path, "expected a string")
    check_length(shape, len(value), path)
    if "enum" in shape and value not in shape["enum"]:
        raise InputError(path, f"must be one of {', '.join(shape['enum'])}")
    pattern = shape.get("pattern")
    if pattern and not compiled(pattern).fullmatch(value):
        raise InputError(path, f"does not match the pattern {pattern}")


def check_length(shape: Shape, length: int, path: str) -> None:
    if "min" in shape and length < shape["min"]:
        raise InputError(path, f"must have a length of at least {shape['min']}")
    if "max" in shape and length > shape["max"]:
        raise InputError(path, f"must have a length of at most {shape['max']}")


def check_range(shape: Shape, value: float, path: str) -> None:
    if isinstance(value, float) and not math.isfinite(value):
        raise InputError(path, "must be a finite number")
    if "min" in shape and value < shape["min"]:
        raise InputError(path, f"must be at least {shape['min']}")
    if "max" in shape and value > shape["max"]:
        raise InputError(path, f"must be at most {shape['max']}")


@cache
def compiled(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


def json_body(raw: bytes) -> Any:
    """The decoded request body (None when empty); ValidationException when it is not JSON."""
    try:
        return json.loads(raw) if raw else None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise SimError(
            "ValidationException", "The request body is not valid JSON.", reason="CANNOT_PARSE"
        ) from None


def query_lists(request: web.Request) -> dict[str, list[str]]:
    """Every query string value, per name, in the order sent."""
    query: dict[str, list[str]] = {}
    for key, value in request.rel_url.query.items():
        query.setdefault(key, []).append(value)
    return query


def request_id() -> dict[str, str]:
    return {"x-amzn-RequestId": str(uuid.uuid4())}


def error_response(
    status: int, code: str, message: str, members: Mapping[str, Any], retry_after_s: int | None
) -> web.Response:
    headers = request_id()
    headers["x-amzn-ErrorType"] = code
    if retry_after_s is not None:
        headers["Retry-After"] = str(retry_after_s)
    body = {"message": message, **{k: v for k, v in members.items() if v is not None}}
    return web.Response(
        status=status, body=json.dumps(body), content_type="application/json", headers=headers
    )
