"""Requests ggwatch writes for others to send, checked against botocore's own input shapes."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

import botocore.session
from botocore.validate import ParamValidator

SERVICE = "greengrassv2"


@cache
def _input_shape(operation: str) -> Any:
    # The service model is static data shipped with botocore: read once per process.
    model = botocore.session.get_session().get_service_model(SERVICE)
    return model.operation_model(operation).input_shape


def input_members(operation: str) -> tuple[str, ...]:
    """The operation's input members, in the model's order."""
    return tuple(_input_shape(operation).members)


def problems(operation: str, params: Mapping[str, Any]) -> str | None:
    """What botocore's validator finds wrong with `params` for `operation`; None if nothing.

    The same validation the SDK and the AWS CLI (`--cli-input-json`) run before sending, plus
    the top-level maps' lengths, which they leave to the service.
    """
    shape = _input_shape(operation)
    report = ParamValidator().validate(dict(params), shape)
    # One line per error, with no heading (botocore's exception adds "Parameter validation
    # failed:" itself): every line is a fault worth naming.
    found = [line.strip() for line in report.generate_report().splitlines() if line.strip()]
    found += _map_lengths(params, shape)
    return "; ".join(found) if found else None


def _map_lengths(params: Mapping[str, Any], shape: Any) -> list[str]:
    """The lengths botocore's validator leaves to the service: a top-level map's min and max
    (CreateDeployment's `tags`: 1 to 200, so `{}` is refused by the service, not the SDK)."""
    out = []
    for name, member in shape.members.items():
        value = params.get(name)
        if member.type_name != "map" or not isinstance(value, Mapping):
            continue
        low, high = member.metadata.get("min", 0), member.metadata.get("max")
        if len(value) < low or (high is not None and len(value) > high):
            out.append(
                f"Invalid length for parameter {name}, value: {len(value)}, "
                f"valid range: {low}-{high if high is not None else 'any'}"
            )
    return out
