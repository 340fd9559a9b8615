"""A target's poller answering refresh requests, over real HTTP against the simulator.

The poller runs as in the daemon; the test plays the events consumer (posting to the mailbox)
and the evaluator (reading outcomes and resolving their acks). The poll interval is an hour,
so every pass after the first is one the requests caused.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import aiohttp
import anyio
from anyio.streams.memory import MemoryObjectReceiveStream

from ggwatch.aws.clients import Target, greengrass_clients, iot_clients, new_session
from ggwatch.daemon.poller import Message, ScanOutcome, TargetPoller
from ggwatch.events.mailbox import Mailbox
from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.scan import ScanState, utcnow
from ggwatch.settings import Settings
from ggwatch.sim.server import Running
from ggwatch.sim.store import Installed
from tests.conftest import ACCOUNT, REGION

HERE = TargetId(DEFAULT_ALIAS, REGION)


@dataclass
class Poller:
    mailbox: Mailbox
    outcomes: MemoryObjectReceiveStream[Message]  # what the poller sends: outcomes, progress
    sim: Running

    async def next(self) -> ScanOutcome:
        with anyio.fail_after(30):
            outcome = await self.outcomes.receive()
            # A pass longer than PROGRESS_SECONDS (a loaded machine) also reports progress.
            while not isinstance(outcome, ScanOutcome):
                outcome = await self.outcomes.receive()
        outcome.batch.resolve(outcome.snapshot.complete)  # as the evaluator does
        return outcome

    def calls(self, operation: str) -> list[dict[str, Any]]:
        return [c.params for c in self.sim.simulator.calls.records if c.operation == operation]


@asynccontextmanager
async def polling(sim: Running) -> AsyncIterator[Poller]:
    """The poller of one target, after its first full scan; the call log starts empty.

    A context manager, not a fixture: its task group must open and close in one task."""
    settings = Settings(
        regions=(REGION,),
        service_rate=1000.0,
        iot_rate=1000.0,
        quota_share=1.0,
        poll_interval_seconds=3600.0,
        events_coalesce_seconds=0.3,
    )
    target = Target(HERE)
    mailbox = Mailbox()
    session = new_session()
    send, receive = anyio.create_memory_object_stream[Message](1)
    options = {"connect_timeout": 5, "read_timeout": 30, "pool_size": 8}
    state = ScanState.new(settings)
    async with (
        greengrass_clients([target], {HERE: session}, **options) as clients,
        iot_clients([target], {HERE: session}, **options) as iot,
        anyio.create_task_group() as group,
    ):
        state.iot_clients.update(iot)
        poller = TargetPoller(target, clients[HERE], session, settings, state, utcnow)
        group.start_soon(poller.run, mailbox, send)
        first = await Poller(mailbox, receive, sim).next()
        assert first.snapshot.complete
        assert not first.refresh
        sim.simulator.calls.reset()
        yield Poller(mailbox, receive, sim)
        group.cancel_scope.cancel()
    receive.close()


def a_device(sim: Running) -> str:
    return min(sim.simulator.world.region(ACCOUNT, REGION).devices)


async def test_a_thousand_requests_for_one_device_cause_one_refresh(sim: Running) -> None:
    async with polling(sim) as poller:
        await a_thousand_requests(poller, sim)


async def a_thousand_requests(poller: Poller, sim: Running) -> None:
    thing = a_device(sim)
    acks = []
    for _ in range(10):  # a burst, in waves closer together than the quiet period
        acks += [poller.mailbox.post([thing]) for _ in range(100)]
        await anyio.sleep(0.05)

    outcome = await poller.next()

    assert outcome.refresh
    assert outcome.snapshot.complete
    assert len(outcome.batch.acks) == 1000
    assert all([await ack.wait() for ack in acks])
    reads = poller.calls("ListInstalledComponents")
    assert [r["coreDeviceThingName"] for r in reads] == [thing]
    # Its thing groups too (the event may be a move), one call; nothing else of IoT's.
    assert [r["thingName"] for r in poller.calls("ListThingGroupsForThing")] == [thing]
    assert poller.calls("ListThingsInThingGroup") == []
    assert poller.calls("ListDeployments") == []  # no listing: not a scan


async def test_a_refresh_sees_what_the_device_now_runs(sim: Running) -> None:
    async with polling(sim) as poller:
        await device_changes(poller, sim)


async def device_changes(poller: Poller, sim: Running) -> None:
    thing = a_device(sim)
    device = sim.simulator.world.region(ACCOUNT, REGION).devices[thing]
    name = "com.example.Fresh"
    now = sim.simulator.clock()
    device.installed[name] = Installed(
        name, "9.9.9", is_root=True, source="LOCAL", changed=now, reported=now, state="RUNNING"
    )

    poller.mailbox.post([thing])
    outcome = await poller.next()

    (seen,) = [d for d in outcome.snapshot.devices if d.thing_name == thing]
    assert any(c.ref.name == name for c in seen.installed or ())
    # A version nobody described before: described at once, and found gone (never published).
    described = [c["arn"] for c in poller.calls("DescribeComponent")]
    assert any(arn.endswith(f"{name}:versions:9.9.9") for arn in described)


async def test_an_unknown_device_needs_a_full_scan(sim: Running) -> None:
    async with polling(sim) as poller:
        await unknown_device(poller)


async def unknown_device(poller: Poller) -> None:
    ack = poller.mailbox.post(["gg-never-listed"])

    outcome = await poller.next()

    assert not outcome.refresh  # a scan: only the device listing knows a new device
    assert poller.calls("ListCoreDevices")
    assert await ack.wait()


async def test_a_guidance_notice_re_describes_every_version_in_use(sim: Running) -> None:
    async with polling(sim) as poller:
        await guidance_notice(poller)


async def guidance_notice(poller: Poller) -> None:
    poller.mailbox.post(guidance=True)

    outcome = await poller.next()

    assert not outcome.refresh
    in_use = {c.ref for d in outcome.snapshot.devices for c in d.installed or ()}
    described = poller.calls("DescribeComponent")
    assert len(described) >= len(in_use) > 0  # the cache was dropped: all of them again


async def test_a_deployment_the_last_scan_did_not_list_needs_a_full_scan(sim: Running) -> None:
    async with polling(sim) as poller:
        known = sorted(sim.simulator.world.region(ACCOUNT, REGION).deployments.by_id)[0]
        poller.mailbox.post([a_device(sim)], deployments=[known])
        assert (await poller.next()).refresh  # a deployment the scan listed: a refresh

        poller.mailbox.post([a_device(sim)], deployments=["d-created-since"])
        outcome = await poller.next()

        assert not outcome.refresh
        assert poller.calls("ListDeployments")


async def test_a_refresh_sees_the_device_move_to_another_group(
    sim: Running, control: aiohttp.ClientSession
) -> None:
    async with polling(sim) as poller:
        await device_moves(poller, sim, control)


async def device_moves(poller: Poller, sim: Running, control: aiohttp.ClientSession) -> None:
    thing = "gg-berlin-00001"
    body = {"region": REGION, "add": ["osaka-line-01"], "remove": ["berlin-line-01"]}
    async with control.post(f"/_sim/devices/{thing}/groups", json=body) as response:
        assert response.status == 200, await response.text()

    poller.mailbox.post([thing])  # what the device's deployment event asks for
    outcome = await poller.next()

    assert outcome.refresh
    assert outcome.snapshot.complete
    membership = outcome.snapshot.membership
    assert membership is not None
    assert membership[thing] == ("osaka-line-01",)
    assert membership["gg-berlin-00002"] == ("berlin-line-01",)  # the rest is kept
    assert [r["thingName"] for r in poller.calls("ListThingGroupsForThing")] == [thing]
