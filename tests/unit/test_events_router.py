"""The router from an event's trigger to the targets it names, and to other replicas'."""

from __future__ import annotations

import datetime as dt

from ggwatch.aws.clients import Target
from ggwatch.events.consumer import ELSEWHERE
from ggwatch.events.mailbox import Mailbox
from ggwatch.events.stage import router
from ggwatch.events.triggers import Kind, Trigger
from ggwatch.model import TargetId
from ggwatch.state import DaemonView, StateHolder, TargetStatus

ACCOUNT = "123456789012"
OTHER_ACCOUNT = "210987654321"
WEST = Target(TargetId("prod", "us-west-2"), account_id=ACCOUNT)
EAST = Target(TargetId("prod", "us-east-1"), account_id=ACCOUNT)  # another replica's
STAGING = Target(TargetId("staging", "us-west-2"), account_id=OTHER_ACCOUNT)  # another's


def device_event(region: str, account: str = ACCOUNT) -> Trigger:
    return Trigger(Kind.DEVICE, account, region, thing="core-1")


def routed(trigger: Trigger) -> tuple[object, Mailbox]:
    mine = Mailbox()
    holder = StateHolder(
        DaemonView(dt.datetime(2026, 1, 1, tzinfo=dt.UTC), (TargetStatus(WEST.id),))
    )
    route = router((WEST,), {WEST.id: mine}, holder, (EAST, STAGING))
    return route(trigger), mine


async def test_a_trigger_for_an_owned_target_posts_to_its_mailbox() -> None:
    answer, mine = routed(device_event("us-west-2"))
    assert isinstance(answer, list)
    assert len(answer) == 1
    assert mine.things == {"core-1"}


async def test_a_trigger_only_another_replica_owns_is_left_for_it() -> None:
    assert routed(device_event("us-east-1"))[0] is ELSEWHERE
    assert routed(device_event("us-west-2", OTHER_ACCOUNT))[0] is ELSEWHERE


async def test_a_trigger_no_replica_watches_is_nobodys() -> None:
    answer, mine = routed(device_event("eu-west-1"))
    assert answer == []
    assert not mine.things
