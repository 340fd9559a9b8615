"""The Greengrass V2 service model, read from botocore's data, drives routing and validation.

The simulator reads the same model that AWS publishes for its SDKs, so paths, query names,
members, enums and status codes cannot drift from what a real client sends and expects. Only
the data file is used: none of botocore's client-side serialisers or parsers, which would
make the simulator agree with the client on the client's own bugs.
"""

from __future__ import annotations

import base64
import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any
from urllib.parse import unquote

from botocore.loaders import Loader

from ggwatch.sim.wire import InputError, Shape, check_length, sent_values, validate_scalar

SERVICE = "greengrassv2"
API_VERSION = "2020-11-30"
IOT_SERVICE = "iot"
ACCOUNT_SERVICE = "account"

__all__ = [
    "InputError",
    "Route",
    "ServiceModel",
    "Shape",
    "load_account_model",
    "load_iot_model",
    "load_model",
]


@dataclass(frozen=True, slots=True)
class Route:
    """One operation's HTTP binding: method and the path template split into segments."""

    operation: str
    method: str
    segments: tuple[str, ...]
    status: int

    def match(self, method: str, raw_segments: list[str]) -> dict[str, str] | None:
        if method != self.method or len(raw_segments) != len(self.segments):
            return None
        labels: dict[str, str] = {}
        for template, raw in zip(self.segments, raw_segments, strict=True):
            if template.startswith("{") and template.endswith("}"):
                if not raw:
                    return None
                labels[template[1:-1].rstrip("+")] = unquote(raw)
            elif template != raw:
                return None
        return labels


class ServiceModel:
    """Typed access to the parts of the model the simulator needs."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = raw
        self.shapes: Mapping[str, Shape] = raw["shapes"]
        self.operations: Mapping[str, Shape] = raw["operations"]
        routes = []
        for name, op in self.operations.items():
            http = op["http"]
            path = http["requestUri"].split("?", 1)[0]
            routes.append(
                Route(
                    operation=name,
                    method=http["method"],
                    segments=tuple(path.strip("/").split("/")),
                    status=int(http.get("responseCode", 200)),
                )
            )
        # Literal segments before labels, so /deployments/{id}/cancel never loses to a label.
        self.routes = tuple(
            sorted(routes, key=lambda r: sum(s.startswith("{") for s in r.segments))
        )

    def route(self, method: str, raw_path: str) -> tuple[Route, dict[str, str]] | None:
        raw_segments = raw_path.strip("/").split("/")
        for route in self.routes:
            labels = route.match(method, raw_segments)
            if labels is not None:
                return route, labels
        return None

    def input_shape(self, operation: str) -> Shape | None:
        ref = self.operations[operation].get("input")
        return self.shapes[ref["shape"]] if ref else None

    def output_shape(self, operation: str) -> Shape | None:
        ref = self.operations[operation].get("output")
        return self.shapes[ref["shape"]] if ref else None

    def error_status(self, code: str) -> int:
        shape = self.shapes.get(code)
        if shape and "error" in shape:
            return int(shape["error"]["httpStatusCode"])
        return 400

    # -- request parsing and validation -----------------------------------------------------

    def parse_request(
        self,
        operation: str,
        labels: Mapping[str, str],
        query: Mapping[str, list[str]],
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> dict[str, Any]:
        """Gather members from path, query string, headers and JSON body, then validate them.

        Every member is read by its wire name (`locationName`, where the model gives one:
        AssociateServiceRoleToAccount's `roleArn` travels as `RoleArn`) and handed on by its
        member name, in nested structures too.
        """
        shape = self.input_shape(operation)
        if shape is None:
            return {}
        params: dict[str, Any] = {}
        body_members = body if isinstance(body, dict) else {}
        if body is not None and not isinstance(body, dict):
            raise InputError("body", "must be a JSON object")
        lowered = {key.lower(): value for key, value in (headers or {}).items()}
        known_body: set[str] = set()
        for name, ref in shape.get("members", {}).items():
            location = ref.get("location")
            wire = ref.get("locationName", name)
            member_shape = self.shapes[ref["shape"]]
            if location is None:
                known_body.add(wire)
                if wire in body_members:
                    params[name] = self.from_wire(member_shape, body_members[wire], name)
            elif location == "uri":
                if wire in labels:
                    params[name] = labels[wire]
            else:
                values = sent_values(location, wire, query, lowered)
                if values:
                    params[name] = self._from_query(name, member_shape, values)
        unknown = sorted(set(body_members) - known_body)
        if unknown:
            raise InputError(unknown[0], "is not a member of this operation's input")
        self.validate(shape, params, path=shape_name(self.operations[operation]["input"]))
        return params

    def from_wire(self, shape: Shape, value: Any, path: str) -> Any:
        """A decoded JSON body value with its structures' keys turned from wire names into
        member names; a key that is no member's wire name is an InputError (a member name
        that differs from its wire name included). Values of the wrong type are left as they
        are, for `validate` to reject."""
        kind = shape["type"]
        if kind == "structure" and isinstance(value, dict):
            members = shape.get("members", {})
            by_wire = {ref.get("locationName", name): name for name, ref in members.items()}
            out: dict[str, Any] = {}
            for key, item in value.items():
                if key not in by_wire:
                    raise InputError(f"{path}.{key}", "is not a known member")
                name = by_wire[key]
                out[name] = self.from_wire(self.shapes[members[name]["shape"]], item, key)
            return out
        if kind == "list" and isinstance(value, list):
            member_shape = self.shapes[shape["member"]["shape"]]
            return [self.from_wire(member_shape, item, path) for item in value]
        if kind == "map" and isinstance(value, dict):
            value_shape = self.shapes[shape["value"]["shape"]]
            return {
                key: self.from_wire(value_shape, item, f"{path}.{key}")
                for key, item in value.items()
            }
        return value

    def _from_query(self, name: str, shape: Shape, values: list[str]) -> Any:
        kind = shape["type"]
        if kind == "list":
            return list(values)
        value = values[-1]
        if kind in ("integer", "long"):
            try:
                return int(value)
            except ValueError:
                raise InputError(name, f"expected an integer, got {value!r}") from None
        if kind == "boolean":
            if value not in ("true", "false"):
                raise InputError(name, f"expected true or false, got {value!r}")
            return value == "true"
        return value

    def validate(self, shape: Shape, value: Any, path: str) -> None:
        """Check a decoded input value against its shape: type, required, enum, range, pattern."""
        kind = shape["type"]
        if kind == "structure":
            self._validate_structure(shape, value, path)
        elif kind == "list":
            if not isinstance(value, list):
                raise InputError(path, "expected a list")
            check_length(shape, len(value), path)
            member = self.shapes[shape["member"]["shape"]]
            for item in value:
                self.validate(member, item, path)
        elif kind == "map":
            self._validate_map(shape, value, path)
        else:
            validate_scalar(kind, shape, value, path)

    def _validate_structure(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise InputError(path, "expected an object")
        members = shape.get("members", {})
        for req in shape.get("required", []):
            if value.get(req) is None:
                raise InputError(f"{path}.{req}" if path else req, "is required")
        for key, item in value.items():
            if key not in members:
                raise InputError(f"{path}.{key}", "is not a known member")
            self.validate(self.shapes[members[key]["shape"]], item, key)

    def _validate_map(self, shape: Shape, value: Any, path: str) -> None:
        if not isinstance(value, dict):
            raise InputError(path, "expected an object")
        check_length(shape, len(value), path)
        key_shape = self.shapes[shape["key"]["shape"]]
        value_shape = self.shapes[shape["value"]["shape"]]
        for key, item in value.items():
            self.validate(key_shape, key, path)
            self.validate(value_shape, item, f"{path}.{key}")

    # -- response serialisation -------------------------------------------------------------

    def serialize(self, shape: Shape, value: Any) -> Any:
        """Turn a handler's result into JSON-ready data by wire names, leaving out None."""
        kind = shape["type"]
        if kind == "structure":
            out: dict[str, Any] = {}
            for name, ref in shape.get("members", {}).items():
                if ref.get("location") in ("header", "headers", "statusCode"):
                    continue
                item = value.get(name)
                if item is None:
                    continue
                # An empty map the handler returned goes out as {}: AWS answers "tags": {} for
                # an untagged deployment or core device though TagMap's min is 1 (the min binds
                # requests: TagResource), as the AWS CLI's own examples of get-deployment and
                # get-core-device show. A handler that means "absent" returns None.
                member_shape = self.shapes[ref["shape"]]
                out[ref.get("locationName", name)] = self.serialize(member_shape, item)
            return out
        if kind == "list":
            member = self.shapes[shape["member"]["shape"]]
            return [self.serialize(member, item) for item in value]
        if kind == "map":
            member = self.shapes[shape["value"]["shape"]]
            return {key: self.serialize(member, item) for key, item in value.items()}
        if kind == "timestamp":
            # rest-json sends body timestamps as epoch seconds unless a shape says otherwise;
            # AWS sends them to the millisecond (1732430400.123), and so does the simulator.
            seconds = value.timestamp() if isinstance(value, dt.datetime) else float(value)
            return round(seconds, 3)
        # A blob (GetComponent's recipe) travels as base64 text in a rest-json body.
        return base64.b64encode(value).decode("ascii") if kind == "blob" else value


def shape_name(ref: Mapping[str, Any]) -> str:
    return str(ref["shape"])


@cache
def load_model() -> ServiceModel:
    """The greengrassv2 model of the installed botocore (read once; it is immutable data)."""
    raw = Loader().load_service_model(SERVICE, "service-2", api_version=API_VERSION)
    return ServiceModel(raw)


@cache
def load_iot_model() -> ServiceModel:
    """AWS IoT's model (`iot`, the newest API version the installed botocore has), served
    on the same port for ListThingsInThingGroup and ListThingGroupsForThing."""
    return _newest(IOT_SERVICE)


@cache
def load_account_model() -> ServiceModel:
    """The AWS Account Management model (`account`, its newest API version), served on the
    same port for ListRegions and GetRegionOptStatus."""
    return _newest(ACCOUNT_SERVICE)


def _newest(service: str) -> ServiceModel:
    loader = Loader()
    version = sorted(loader.list_api_versions(service, "service-2"))[-1]
    return ServiceModel(loader.load_service_model(service, "service-2", api_version=version))
