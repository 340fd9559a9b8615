"""The daemon's events wiring: one SQS client per configured queue, and the router from a
trigger to the mailboxes of the targets it names."""

from __future__ import annotations

from collections.abc import Mapping
from contextlib import AsyncExitStack
from typing import Any

from ggwatch.aws.clients import (
    Session,
    Target,
    default_region,
)
from ggwatch.aws.sqs import sqs_client, sqs_config
from ggwatch.errors import ConfigError
from ggwatch.events.consumer import ELSEWHERE, Elsewhere, Router
from ggwatch.events.mailbox import Ack, Mailbox
from ggwatch.events.triggers import Kind, Trigger
from ggwatch.model import TargetId
from ggwatch.settings import Settings
from ggwatch.state import StateHolder


def router(
    targets: tuple[Target, ...],
    mailboxes: Mapping[TargetId, Mailbox],
    holder: StateHolder,
    elsewhere: tuple[Target, ...] = (),
) -> Router:
    """Post a trigger to the targets it names: its Region, and its account when that is known
    (the SDK's own account is known from the first scan on). `elsewhere`: the targets other
    replicas own; a trigger that names only those is ELSEWHERE, left for them."""

    def route(trigger: Trigger) -> list[Ack] | Elsewhere:
        acks = []
        for target in targets:
            account = holder.view.target(target.id).account or target.account_id
            if not _names(trigger, target, account):
                continue
            things = (trigger.thing,) if trigger.thing is not None else ()
            deployments = (trigger.deployment_id,) if trigger.deployment_id is not None else ()
            mailbox = mailboxes[target.id]
            acks.append(
                mailbox.post(
                    things, deployments=deployments, guidance=trigger.kind is Kind.GUIDANCE
                )
            )
        if not acks and any(_names(trigger, t, t.account_id) for t in elsewhere):
            return ELSEWHERE
        return acks

    return route


def _names(trigger: Trigger, target: Target, account: str | None) -> bool:
    if target.id.region != trigger.region:
        return False
    return account is None or account == trigger.account


async def open_queues(
    settings: Settings, session: Session, targets: tuple[Target, ...], stack: AsyncExitStack
) -> dict[str, Any]:
    """An SQS client per events queue, with the SDK's own credentials (the queue is the
    monitoring account's); the Region comes from the queue's URL."""
    if not settings.events_queue_url:
        return {}
    try:
        fallback = default_region(session)
    except ConfigError:
        fallback = targets[0].id.region
    config = sqs_config(settings.connect_timeout_seconds, settings.events_wait_seconds)
    return {
        url: await stack.enter_async_context(sqs_client(session, url, fallback, config))
        for url in settings.events_queue_url
    }


# SIGHUP too: a daemon has no configuration to reload (settings are built once), and a closed
# terminal or a supervisor's hang-up means stop, gracefully. SIGQUIT's default (a core dump,
# at once) would cut an in-flight delete short.
