"""The refresh mailbox: requests coalesce into one batch; acks resolve when answered."""

from __future__ import annotations

import anyio
import pytest

from ggwatch.events.mailbox import COALESCE_CAP, Mailbox


async def test_a_burst_for_one_device_is_one_batch_with_every_ack() -> None:
    box = Mailbox()
    for _ in range(1000):
        box.post(["core-1"])
    box.post(["core-2"])

    batch = box.take()

    assert batch.things == {"core-1", "core-2"}
    assert not batch.guidance
    assert len(batch.acks) == 1001
    assert not box.take()  # nothing left


async def test_acks_resolve_with_the_outcome_of_the_pass_that_answered() -> None:
    box = Mailbox()
    first, second = box.post(["core-1"]), box.post(guidance=True)
    batch = box.take()
    assert batch.guidance

    batch.resolve(ok=False)
    batch.resolve(ok=True)  # the first answer stands

    assert [await first.wait(), await second.wait()] == [False, False]


async def test_wait_returns_once_something_is_posted() -> None:
    box = Mailbox()
    with anyio.move_on_after(0.05) as scope:
        await box.wait()
    assert scope.cancelled_caught  # nothing posted: still waiting

    box.post(["core-1"])
    with anyio.fail_after(1):
        await box.wait()


async def test_settle_waits_for_quiet_then_returns() -> None:
    box = Mailbox()
    box.post(["core-1"])
    started = anyio.current_time()

    async with anyio.create_task_group() as group:

        async def keep_posting() -> None:
            for _ in range(3):
                await anyio.sleep(0.05)
                box.post(["core-1"])

        group.start_soon(keep_posting)
        await box.settle(0.1)

    # Quiet for 0.1 s after the last post at about 0.15 s.
    assert anyio.current_time() - started >= 0.25


async def test_settle_gives_up_waiting_for_quiet_at_the_cap() -> None:
    box = Mailbox()
    box.post(["core-1"])
    quiet = 0.02
    started = anyio.current_time()

    async with anyio.create_task_group() as group:

        async def never_quiet() -> None:
            while True:
                await anyio.sleep(quiet / 4)
                box.post(["core-1"])

        group.start_soon(never_quiet)
        await box.settle(quiet)
        group.cancel_scope.cancel()

    assert anyio.current_time() - started == pytest.approx(quiet * COALESCE_CAP, abs=0.05)


async def test_put_back_keeps_requests_for_the_next_batch() -> None:
    box = Mailbox()
    ack = box.post(["core-1"], deployments=["d-1"], guidance=True)
    box.put_back(box.take())

    batch = box.take()

    assert (batch.things, batch.deployments, batch.guidance) == (
        frozenset({"core-1"}),
        frozenset({"d-1"}),
        True,
    )
    assert batch.acks == (ack,)
