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
from ggwatch.events.consumer import Router
from ggwatch.events.mailbox import Ack, Mailbox
from ggwatch.events.triggers import Kind, Trigger
from ggwatch.model import TargetId
from ggwatch.settings import Settings
from ggwatch.state import StateHolder


def router(
    targets: tuple[Target, ...], mailboxes: Mapping[TargetId, Mailbox], holder: StateHolder
) -> Router:
    """Post a trigger to the targets it names: its Region, and its account when that is known
    (the SDK's own account is known from the first scan on)."""

    def route(trigger: Trigger) -> list[Ack]:
        acks = []
        for target in targets:
            if target.id.region != trigger.region:
                continue
            account = holder.view.target(target.id).account or target.account_id
            if account is not None and account != trigger.account:
                continue
            things = (trigger.thing,) if trigger.thing is not None else ()
            deployments = (trigger.deployment_id,) if trigger.deployment_id is not None else ()
            mailbox = mailboxes[target.id]
            acks.append(
                mailbox.post(
                    things, deployments=deployments, guidance=trigger.kind is Kind.GUIDANCE
                )
            )
        return acks

    return route


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
