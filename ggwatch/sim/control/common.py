"""What the control API's handlers share: reading a request body, and its errors."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from aiohttp import web

from ggwatch.sim.store import CoreDevice, RegionState

if TYPE_CHECKING:
    from ggwatch.sim.server import Simulator

GUIDANCE = ("ACTIVE", "DISCONTINUED", "DELETED")
LIFECYCLE = ("NEW", "INSTALLED", "STARTING", "RUNNING", "STOPPING", "ERRORED", "BROKEN", "FINISHED")


class BadRequest(Exception):
    """A control request that cannot be carried out; answered 400 (404 for unknown things)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


async def json_body(request: web.Request) -> dict[str, Any]:
    try:
        data = await request.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise BadRequest("the body must be a JSON object") from None
    if not isinstance(data, dict):
        raise BadRequest("the body must be a JSON object")
    return data


def required_text(data: dict[str, Any], key: str, default: str | None = None) -> str:
    value = data.get(key, default)
    if not isinstance(value, str) or not value:
        raise BadRequest(f"{key} is required and must be a non-empty string")
    return value


def region_state(sim: Simulator, data: dict[str, Any]) -> RegionState:
    account = required_text(data, "account", sim.world.default_account)
    region = required_text(data, "region", sim.world.default_region)
    return sim.world.region(account, region)


def path_device(state: RegionState, request: web.Request) -> CoreDevice:
    """The core device the path's {thing} names; 404 if the Region has none."""
    thing = request.match_info["thing"]
    device = state.devices.get(thing)
    if device is None:
        raise BadRequest(f"no core device {thing}", status=404)
    return device
