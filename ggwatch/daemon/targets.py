"""Targets that can change while the daemon runs: found in AWS Organizations, or Regions
found with `regions: all`. Asked again every organization.refresh_seconds; a different set
stops the stages, and ggwatch.daemon.run starts them again over it."""

from __future__ import annotations

import anyio
import structlog

from ggwatch.aws.clients import Session, Target
from ggwatch.aws.organization import Discovery, discover
from ggwatch.errors import GGWatchError
from ggwatch.names import ALL_REGIONS
from ggwatch.settings import Settings


def announce(found: Discovery) -> tuple[Target, ...]:
    """The targets found, each problem met on the way logged once."""
    log = structlog.get_logger("ggwatch.targets")
    for problem in found.problems:
        log.warning("targets.incomplete", reason=problem)
    return found.targets


def dynamic(settings: Settings) -> bool:
    """Whether the targets can change while running: found in Organizations or Regions."""
    every = (ALL_REGIONS,)
    return (
        settings.targets_from == "organization"
        or settings.regions == every
        or any(t.regions == every for t in settings.targets)
    )


async def rediscover(
    settings: Settings,
    session: Session,
    watched: tuple[Target, ...],
    found: list[tuple[Target, ...]],
    scope: anyio.CancelScope,
    stopping: anyio.Event,
) -> None:
    """Ask again every refresh_seconds; on a different set, keep it in `found` and stop the
    stages so that run() starts them over. A failed refresh keeps the targets as they are."""
    log = structlog.get_logger("ggwatch.targets")
    # The SDK's own account, once known, so that a refresh need not ask STS again.
    own = (t.account_id for t in watched if t.config is None or t.config.role_arn is None)
    account = next(own, None)
    while True:
        await anyio.sleep(settings.organization.refresh_seconds)
        try:
            discovery = await discover(settings, session, account)
        except GGWatchError as exc:
            log.warning("targets.refresh_failed", error=str(exc), kept=len(watched))
            continue
        kept = tuple(t for t in watched if t.id.alias in discovery.unsettled)
        new = (*discovery.targets, *kept)
        if set(new) == set(watched):
            continue
        before, after = {t.id for t in watched}, {t.id for t in new}
        log.info(
            "targets.changed",
            added=sorted(map(str, after - before)),
            removed=sorted(map(str, before - after)),
            targets=len(new),
        )
        found.append(new)
        stopping.set()  # as on SIGTERM: an in-flight delete is bounded, then all stops
        scope.cancel()
        return
