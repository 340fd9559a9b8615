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
from ggwatch.settings import CleanupSection, Settings


def cleanup_policy(section: CleanupSection) -> Policy:
    return Policy(
        stale_after_days=section.stale_after_days,
        grace_seconds=section.grace_seconds,
        max_percent=section.max_percent,
        max_per_cycle=section.max_per_cycle,
        exclude_target_arns=section.exclude_target_arns,
        exclude_deployment_names=section.exclude_deployment_names,
        mode=section.mode,
        on_scan=section.on_scan,
        rate_per_second=section.rate_per_second,
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
    config, client = settings.cleanup, settings.client
    if config.mode == "off":
        return None, {}
    archive = None
    if config.archive_uri is not None:
        archive = await stack.enter_async_context(
            archive_from_uri(
                config.archive_uri,
                session,
                connect_timeout=client.connect_timeout_seconds,
                read_timeout=client.read_timeout_seconds,
            )
        )
        await probe_archive(archive, config.mode)
    counters = {where: CallCounter() for where in clients}
    policy = RetryPolicy(max_attempts=client.max_attempts)
    admins = {
        where: AioGreengrass(client, where.region, state.bucket(where), counters[where], policy)
        for where, client in clients.items()
    }
    cleaner = Cleaner(cleanup_policy(config), admins, archive, clock, stopping=stopping)
    verb = "WILL DELETE" if config.mode == "enforce" else "would delete (dry run)"
    structlog.get_logger("ggwatch.cleanup").warning(
        "cleanup.enabled",
        banner=f"*** CLEANUP {config.mode.upper()}: ggwatch {verb} stale deployments ***",
        mode=config.mode,
        archive=config.archive_uri,
        grace_seconds=config.grace_seconds,
        stale_after_days=config.stale_after_days,
        max_percent=config.max_percent,
        max_per_cycle=config.max_per_cycle,
        rate_per_second=config.rate_per_second,
        on_scan=config.on_scan,
        exclude_target_arns=list(config.exclude_target_arns),
        exclude_deployment_names=list(config.exclude_deployment_names),
        retain_tag="ggwatch:retain=true",
    )
    return cleaner, counters
