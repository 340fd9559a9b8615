"""aiobotocore sessions and clients: one client per watched account and Region.

The SDK's own session honours the usual chain (environment, profiles, SSO, container and
instance credentials) and the standard AWS_ENDPOINT_URL_<SERVICE> settings. A target with a
`role_arn` gets its own session whose credentials come from STS AssumeRole, called with the
SDK's credentials and refreshed by botocore before they expire. botocore's own retries are off
for Greengrass V2 and AWS IoT: the adapters retry themselves so that they can honour Retry-After
and count every attempt.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Iterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeAlias, TypedDict

import botocore.session
import structlog
from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentialResolver, AnyioDeferredRefreshableCredentials
from aiobotocore.session import get_session
from botocore.credentials import CredentialProvider
from botocore.exceptions import BotoCoreError, ClientError

from ggwatch.aws.failures import translate
from ggwatch.errors import ConfigError, MalformedResponse
from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.names import is_account_id
from ggwatch.settings import Settings, TargetConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

SERVICE = "greengrassv2"
IOT_SERVICE = "iot"
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


@dataclass(frozen=True, slots=True)
class Target:
    """One account and Region to watch, and how to reach it."""

    id: TargetId
    config: TargetConfig | None = None  # None: the SDK's own credentials
    # Known from the configuration (an account id, or a role ARN's); else STS answers it
    # before the target's first scan, so findings never change identity with it.
    account_id: str | None = None

    @property
    def endpoint_url(self) -> str | None:
        return self.config.endpoint_url if self.config is not None else None

    @property
    def iot_endpoint_url(self) -> str | None:
        return self.config.iot_endpoint_url if self.config is not None else None


def targets_to_watch(settings: Settings, session: Session) -> tuple[Target, ...]:
    """The configured targets, one per Region, or the SDK's account in `regions`.

    A Region where botocore knows no Greengrass V2 endpoint is a ConfigError, unless the
    target has an endpoint of its own (a simulator, a new Region): then a warning.
    """
    if not settings.targets:
        regions = regions_to_watch(settings.regions, session)
        found = [Target(TargetId(DEFAULT_ALIAS, r), None, settings.account_id) for r in regions]
    else:
        found = list(_configured(settings, session))
    offered = greengrass_regions(session)
    for target in found:
        _check_region(target, offered)
    return tuple(found)


def _configured(settings: Settings, session: Session) -> Iterator[Target]:
    seen: dict[tuple[str, str], str] = {}
    for config in settings.targets:
        regions = config.regions or regions_to_watch(settings.regions, session)
        # The SDK's own credentials: the top-level account_id names their account.
        account = config.account_id
        if account is None and config.role_arn is None:
            account = settings.account_id
        for region in regions:
            # Two aliases of one account would each take quota_share of its one budget.
            if account is not None:
                other = seen.setdefault((account, region), config.account)
                if other != config.account:
                    raise ConfigError(
                        f"targets {other!r} and {config.account!r} both watch account "
                        f"{account} in {region}"
                    )
            yield Target(TargetId(config.account, region), config, account)


def greengrass_regions(session: Session) -> frozenset[str]:
    """Every Region of every partition where botocore's endpoint data offers Greengrass V2."""
    # aiobotocore's session answers these as coroutines; the data is the same static file,
    # so a plain botocore session over the same data path reads it synchronously.
    data = botocore.session.Session()
    data.set_config_variable("data_path", session.get_config_variable("data_path"))
    return frozenset(
        region
        for partition in data.get_available_partitions()
        for region in data.get_available_regions(SERVICE, partition_name=partition)
    )


def _custom_endpoint(target: Target) -> str | None:
    return (
        target.endpoint_url
        or os.environ.get("AWS_ENDPOINT_URL_GREENGRASSV2")
        or os.environ.get("AWS_ENDPOINT_URL")
    )


def _check_region(target: Target, offered: frozenset[str]) -> None:
    region = target.id.region
    if region in offered:
        return
    endpoint = _custom_endpoint(target)
    if endpoint is None:
        raise ConfigError(
            f"Region {region!r} (target {target.id.alias}): Greengrass V2 is not offered "
            "there, by botocore's endpoint data"
        )
    structlog.get_logger("ggwatch.settings").warning(
        "settings.unknown_region",
        aws_region=region,
        account_alias=target.id.alias,
        endpoint=endpoint,
        reason="botocore knows no Greengrass V2 endpoint in this Region; "
        "using the configured endpoint",
    )


async def caller_account(
    session: Session, region: str, *, connect_timeout: float, read_timeout: float
) -> str:
    """The account of the session's credentials, from STS GetCallerIdentity (which needs no
    permission). Every failure is a ggwatch AWSError naming the operation."""
    config = AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": 3, "mode": "standard"},
    )
    try:
        async with session.create_client("sts", region_name=region, config=config) as sts:
            response = await sts.get_caller_identity()
    except (ClientError, BotoCoreError) as exc:
        raise translate("GetCallerIdentity", exc) from exc
    account = str(response.get("Account") or "")
    if not is_account_id(account):
        raise MalformedResponse(
            "GetCallerIdentity", "MalformedResponse", f"not an account id: {account!r}"
        )
    return account


class _AssumedRole(CredentialProvider):  # type: ignore[misc]
    """The only provider of a target's session: AssumeRole with the SDK's credentials."""

    METHOD = "ggwatch-assume-role"
    CANONICAL_NAME = "ggwatch-assume-role"

    def __init__(self, credentials: Any) -> None:
        super().__init__()
        self.credentials = credentials

    async def load(self) -> Any:
        return self.credentials


def assumed_session(
    base: Session, config: TargetConfig, region: str, *, connect_timeout: float, read_timeout: float
) -> Session:
    """A session whose credentials are the target role's, fetched on first use.

    botocore refreshes them 15 minutes before they expire (10 at the latest, when a refresh
    failure is no longer tolerated). A failure is one ggwatch AWSError naming the role, raised
    from the Greengrass V2 call that needed the credentials, so the target is reported
    incomplete with the cause and the others carry on.
    """
    role_arn = config.role_arn
    assert role_arn is not None
    sts_config = AioConfig(
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        retries={"total_max_attempts": 3, "mode": "standard"},
    )

    async def fetch() -> dict[str, Any]:
        params: dict[str, Any] = {
            "RoleArn": role_arn,
            "RoleSessionName": config.session_name,
            "DurationSeconds": config.duration_seconds,
        }
        if config.external_id is not None:
            params["ExternalId"] = config.external_id.get_secret_value()
        try:
            async with base.create_client("sts", region_name=region, config=sts_config) as sts:
                response = await sts.assume_role(**params)
        except (ClientError, BotoCoreError) as exc:
            error = translate("AssumeRole", exc)
            raise type(error)(
                "AssumeRole", error.code, f"cannot assume {role_arn}: {error.message}"
            ) from exc
        credentials = response["Credentials"]
        return {
            "access_key": credentials["AccessKeyId"],
            "secret_key": credentials["SecretAccessKey"],
            "token": credentials["SessionToken"],
            "expiry_time": credentials["Expiration"].isoformat(),
        }

    session = get_session()
    credentials = AnyioDeferredRefreshableCredentials(refresh_using=fetch, method="assume-role")
    session.register_component(
        "credential_provider", AioCredentialResolver([_AssumedRole(credentials)])
    )
    return session


def target_sessions(
    targets: Sequence[Target], base: Session, settings: Settings
) -> dict[TargetId, Session]:
    """One session per account: the SDK's own, or one per role (shared by its Regions)."""
    by_alias: dict[str, Session] = {}
    out: dict[TargetId, Session] = {}
    for target in targets:
        config = target.config
        if config is None or config.role_arn is None:
            out[target.id] = base
            continue
        if config.account not in by_alias:
            by_alias[config.account] = assumed_session(
                base,
                config,
                target.id.region,
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
            )
        out[target.id] = by_alias[config.account]
    return out


class ClientOptions(TypedDict):
    """How the shell opens a target's clients: HTTP timeouts (seconds) and connections."""

    connect_timeout: float
    read_timeout: float
    pool_size: int


def greengrass_clients(
    targets: Sequence[Target],
    sessions: Mapping[TargetId, Session],
    **options: Unpack[ClientOptions],
) -> AbstractAsyncContextManager[dict[TargetId, Any]]:
    """One Greengrass V2 client per target, closed when the block exits: at the target's
    `endpoint_url`, else where AWS_ENDPOINT_URL_GREENGRASSV2 (botocore) or AWS puts it."""
    return _clients(SERVICE, {t.id: t.endpoint_url for t in targets}, sessions, options)


def iot_clients(
    targets: Sequence[Target],
    sessions: Mapping[TargetId, Session],
    **options: Unpack[ClientOptions],
) -> AbstractAsyncContextManager[dict[TargetId, Any]]:
    """One AWS IoT client per target (thing-group membership), closed when the block exits: at
    the target's `iot_endpoint_url`, else where AWS_ENDPOINT_URL_IOT (botocore) or AWS puts it.
    A target's `endpoint_url` is Greengrass V2's alone: a VPC interface endpoint serves one
    service."""
    return _clients(IOT_SERVICE, {t.id: t.iot_endpoint_url for t in targets}, sessions, options)


@asynccontextmanager
async def _clients(
    service: str,
    endpoints: Mapping[TargetId, str | None],
    sessions: Mapping[TargetId, Session],
    options: ClientOptions,
) -> AsyncIterator[dict[TargetId, Any]]:
    """One client of `service` per target, closed when the block exits."""
    config = AioConfig(
        retries={"total_max_attempts": 1, "mode": "standard"},  # one attempt: ours retry
        connect_timeout=options["connect_timeout"],
        read_timeout=options["read_timeout"],
        max_pool_connections=options["pool_size"],
    )
    async with AsyncExitStack() as stack:
        clients: dict[TargetId, Any] = {}
        for where, endpoint in endpoints.items():
            extra: dict[str, Any] = {"region_name": where.region, "config": config}
            if endpoint is not None:
                extra["endpoint_url"] = endpoint
            client = sessions[where].create_client(service, **extra)
            clients[where] = await stack.enter_async_context(client)
        yield clients
