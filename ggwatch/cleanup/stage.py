"""The daemon's cleanup wiring: the cleaner for the configured mode, its archive (probed at
start), its own call counters and the policy from the settings."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from contextlib import AsyncExitStack
from typing import Any

import anyio
import structlog

from ggwatch.archive.open import archive_from_uri
from ggwatch.archive.record import Archive
from ggwatch.aws.callguard import CallCounter, RetryPolicy
from ggwatch.aws.clients import (
    Session,
)
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.cleanup.executor import Cleaner
from ggwatch.cleanup.policy import Policy
from ggwatch.errors import ArchiveError, ConfigError
from ggwatch.model import TargetId
from ggwatch.scan import ScanState
from ggwatch.settings import Settings


def cleanup_policy(settings: Settings) -> Policy:
    return Policy(
        stale_after_days=settings.stale_after_days,
        grace_seconds=settings.cleanup_grace_seconds,
        max_percent=settings.cleanup_max_percent,
        max_per_cycle=settings.cleanup_max_per_cycle,
        exclude_target_arns=settings.cleanup_exclude_target_arns,
        exclude_deployment_names=settings.cleanup_exclude_deployment_names,
    )


async def probe_archive(archive: Archive, mode: str) -> None:
    """Refuse enforce with an archive that cannot take records, rather than warn every cycle."""
    try:
        where = await archive.probe()
    except ArchiveError as exc:
        if mode == "enforce":
            raise ConfigError(
                f"cleanup_mode enforce: the archive cannot take records: {exc}"
            ) from None
        structlog.get_logger("ggwatch.cleanup").warning(
            "cleanup.archive_unusable", reason=str(exc), mode=mode
        )
        return
    structlog.get_logger("ggwatch.cleanup").info("cleanup.archive_ready", archive=where)


async def cleaner_for(
    settings: Settings,
    clients: Mapping[TargetId, Any],
    state: ScanState,
    session: Session,
    stack: AsyncExitStack,
    clock: Callable[[], dt.datetime],
    stopping: anyio.Event,
) -> tuple[Cleaner | None, dict[TargetId, CallCounter]]:
    """The cleaner when cleanup is on, with its own call counters and the shared budgets."""
    if settings.cleanup_mode == "off":
        return None, {}
    archive = None
    if settings.archive_uri is not None:
        archive = await stack.enter_async_context(
            archive_from_uri(
                settings.archive_uri,
                session,
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
            )
        )
        await probe_archive(archive, settings.cleanup_mode)
    counters = {where: CallCounter() for where in clients}
    policy = RetryPolicy(max_attempts=settings.max_attempts)
    admins = {
        where: AioGreengrass(
            client, where.region, state.bucket(where, settings), counters[where], policy
        )
        for where, client in clients.items()
    }
    cleaner = Cleaner(
        settings.cleanup_mode,
        cleanup_policy(settings),
        admins,
        archive,
        settings.cleanup_rate_per_second,
        clock,
        on_scan=settings.cleanup_on_scan,
        stopping=stopping,
    )
    verb = "WILL DELETE" if settings.cleanup_mode == "enforce" else "would delete (dry run)"
    structlog.get_logger("ggwatch.cleanup").warning(
        "cleanup.enabled",
        banner=f"*** CLEANUP {settings.cleanup_mode.upper()}: ggwatch {verb} stale deployments ***",
        mode=settings.cleanup_mode,
        archive=settings.archive_uri,
        grace_seconds=settings.cleanup_grace_seconds,
        stale_after_days=settings.stale_after_days,
        max_percent=settings.cleanup_max_percent,
        max_per_cycle=settings.cleanup_max_per_cycle,
        rate_per_second=settings.cleanup_rate_per_second,
        on_scan=settings.cleanup_on_scan,
        exclude_target_arns=list(settings.cleanup_exclude_target_arns),
        exclude_deployment_names=list(settings.cleanup_exclude_deployment_names),
        retain_tag="ggwatch:retain=true",
    )
    return cleaner, counters
