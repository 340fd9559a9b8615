"""aiobotocore sessions and clients: one client per watched account and Region.

The SDK's own session honours the usual chain (environment, profiles, SSO, container and
instance credentials) and the standard AWS_ENDPOINT_URL_<SERVICE> settings. A target with a
`role_arn` gets its own session whose credentials come from STS AssumeRole, called with the
SDK's credentials and refreshed by botocore before they expire. botocore's own retries are off
for Greengrass V2 and AWS IoT: the adapters retry themselves so that they can honour Retry-After
and count every attempt.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any, TypedDict

from aiobotocore.config import AioConfig
from aiobotocore.credentials import AioCredentialResolver, AnyioDeferredRefreshableCredentials
from aiobotocore.session import get_session
from botocore.credentials import CredentialProvider
from botocore.exceptions import BotoCoreError, ClientError

from ggwatch.aws.failures import translate
from ggwatch.aws.targets import SERVICE
from ggwatch.aws.targets import Session as Session
from ggwatch.aws.targets import Target as Target
from ggwatch.aws.targets import default_region as default_region
from ggwatch.aws.targets import greengrass_regions as greengrass_regions
from ggwatch.aws.targets import targets_to_watch as targets_to_watch
from ggwatch.errors import MalformedResponse
from ggwatch.model import TargetId
from ggwatch.names import is_account_id
from ggwatch.settings import Settings, TargetConfig

if TYPE_CHECKING:
    from typing_extensions import Unpack

IOT_SERVICE = "iot"


def new_session() -> Session:
    """A session over the standard AWS configuration chain."""
    return get_session()


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
