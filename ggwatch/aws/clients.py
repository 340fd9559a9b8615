"""aiobotocore clients, created once per Region from the standard AWS configuration.

The session honours the usual chain (environment, profiles, SSO, container and instance
credentials) and AWS_ENDPOINT_URL_GREENGRASSV2. botocore's own retries are off: the adapter
retries itself so that it can honour Retry-After and count every attempt.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any, TypeAlias

from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from ggwatch.errors import ConfigError

SERVICE = "greengrassv2"
# aiobotocore ships no type hints; callers outside ggwatch.aws name the session by this alias.
Session: TypeAlias = Any


def new_session() -> Session:
    """A session over the standard AWS configuration chain."""
    return get_session()


def default_region(session: Session) -> str:
    # botocore reads AWS_DEFAULT_REGION and profiles; other SDKs (and Lambda, ECS) set
    # AWS_REGION, which users expect to work too.
    region = session.get_config_variable("region") or os.environ.get("AWS_REGION")
    if not region:
        raise ConfigError("no AWS Region: set GGWATCH_REGIONS (or AWS_REGION / AWS_DEFAULT_REGION)")
    return str(region)


def regions_to_watch(configured: Sequence[str], session: Session) -> tuple[str, ...]:
    return tuple(configured) if configured else (default_region(session),)


@asynccontextmanager
async def greengrass_clients(
    regions: Sequence[str],
    *,
    connect_timeout: float,
    read_timeout: float,
    pool_size: int,
    session: Session | None = None,
) -> AsyncIterator[dict[str, Any]]:
    """One client per Region, closed when the block exits."""
    session = session or get_session()
    config = AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},  # one attempt: ours retry
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        max_pool_connections=pool_size,
    )
    async with AsyncExitStack() as stack:
        clients = {}
        for region in regions:
            client = session.create_client(SERVICE, region_name=region, config=config)
            clients[region] = await stack.enter_async_context(client)
        yield clients
