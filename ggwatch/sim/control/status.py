"""The control API's reads and tuning: health, fleet counts, knobs, the call log, events."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from ggwatch.sim.control.common import BadRequest, json_body

if TYPE_CHECKING:
    from ggwatch.sim.server import Simulator


async def health(_sim: Simulator, _request: web.Request) -> Any:
    return {"ok": True}


async def fleet(sim: Simulator, _request: web.Request) -> Any:
    return sim.world.summary()


async def get_knobs(sim: Simulator, _request: web.Request) -> Any:
    return sim.knobs.public()


async def patch_knobs(sim: Simulator, request: web.Request) -> Any:
    try:
        sim.knobs.update(await json_body(request), operations=sim.operations)
    except (TypeError, ValueError) as exc:
        raise BadRequest(str(exc)) from None
    return sim.knobs.public()


async def get_calls(sim: Simulator, request: web.Request) -> Any:
    try:
        since = int(request.query.get("since", "0"))
    except ValueError:
        raise BadRequest("since must be an integer") from None
    calls = [r.public() for r in sim.calls.records if r.seq > since]
    counts: dict[str, dict[str, int]] = {}
    for (operation, outcome), count in sorted(sim.calls.counts.items()):
        counts.setdefault(operation, {})[outcome] = count
    return {"calls": calls, "last": sim.calls.seq, "counts": counts}


async def reset_calls(sim: Simulator, _request: web.Request) -> Any:
    sim.calls.reset()
    return {"last": sim.calls.seq}


async def get_events(sim: Simulator, _request: web.Request) -> Any:
    return sim.events.public()


async def set_events(sim: Simulator, request: web.Request) -> Any:
    data = await json_body(request)
    if "queue_url" not in data:
        raise BadRequest("queue_url is required: an SQS queue URL, or null to stop sending")
    url = data["queue_url"]
    if url is not None and not isinstance(url, str):
        raise BadRequest("queue_url must be a string or null")
    try:
        sim.events.set_queue(url)
    except ValueError as exc:
        raise BadRequest(str(exc)) from None
    answer = sim.events.public()
    del answer["events"]
    return answer
