"""Greengrass V2 adapters for the reviewed steps (plan's fresh reads, apply's writes): the same
targets, sessions, buckets and retries as a scan, without a scan's deadline."""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection
from contextlib import asynccontextmanager

from ggwatch.aws.callguard import CallCounter, RetryPolicy
from ggwatch.aws.clients import Session, greengrass_clients, target_sessions
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.aws.organization import discover
from ggwatch.errors import PlanError
from ggwatch.model import TargetId
from ggwatch.scan import ScanState
from ggwatch.settings import Settings


@asynccontextmanager
async def admin_apis(
    settings: Settings, session: Session, wanted: Collection[TargetId]
) -> AsyncIterator[dict[TargetId, AioGreengrass]]:
    """One adapter per wanted target; PlanError for a target the settings do not watch."""
    targets = [t for t in (await discover(settings, session)).strict() if t.id in wanted]
    missing = sorted(set(wanted) - {t.id for t in targets})
    if missing:
        raise PlanError(
            f"the plans name {', '.join(map(str, missing))}, which the settings do not watch"
        )
    sessions = target_sessions(targets, session, settings)
    state = ScanState.new(settings)
    policy = RetryPolicy(max_attempts=settings.max_attempts)
    async with greengrass_clients(
        targets,
        sessions,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        pool_size=2,
    ) as clients:
        yield {
            t.id: AioGreengrass(
                clients[t.id], t.id.region, state.bucket(t.id), CallCounter(), policy
            )
            for t in targets
        }
