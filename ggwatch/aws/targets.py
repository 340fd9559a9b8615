"""Which accounts and Regions to watch: the configured targets, one per Region, checked
against the Regions where botocore's endpoint data offers Greengrass V2.

A Region with no Greengrass V2 endpoint is a ConfigError, unless the target has an endpoint of
its own (a simulator, a new Region): then a warning. ggwatch.aws.clients opens the sessions
and clients for them.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeAlias

import botocore.session
import structlog

from ggwatch.errors import ConfigError
from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.names import ALL_REGIONS
from ggwatch.settings import Settings, TargetConfig

SERVICE = "greengrassv2"
# aiobotocore ships no type hints; callers outside ggwatch.aws name the session by this alias.
Session: TypeAlias = Any


def default_region(session: Session) -> str:
    # botocore reads AWS_DEFAULT_REGION and profiles; other SDKs (and Lambda, ECS) set
    # AWS_REGION, which users expect to work too.
    region = session.get_config_variable("region") or os.environ.get("AWS_REGION")
    if not region:
        raise ConfigError("no AWS Region: set GGWATCH_REGIONS (or AWS_REGION / AWS_DEFAULT_REGION)")
    return str(region)


def regions_to_watch(
    configured: Sequence[str], session: Session, enabled: Sequence[str] | None = None
) -> tuple[str, ...]:
    """The Regions named, the SDK's default when none are, or for `all` the ones `enabled`
    (offered and enabled in the account; None: not known, so none this time)."""
    if tuple(configured) == (ALL_REGIONS,):
        return tuple(enabled or ())
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


def targets_to_watch(
    settings: Settings, session: Session, enabled: Mapping[str, Sequence[str]] | None = None
) -> tuple[Target, ...]:
    """The configured targets, one per Region, or the SDK's account in `regions`. `enabled`:
    for each alias whose regions are `all`, the Regions that expands to
    (ggwatch.aws.organization reads them).

    A Region where botocore knows no Greengrass V2 endpoint is a ConfigError, unless the
    target has an endpoint of its own (a simulator, a new Region): then a warning.
    """
    enabled = enabled or {}
    if not settings.targets:
        regions = regions_to_watch(settings.regions, session, enabled.get(DEFAULT_ALIAS))
        found = [Target(TargetId(DEFAULT_ALIAS, r), None, settings.account_id) for r in regions]
    else:
        found = list(_configured(settings, session, enabled))
    offered = greengrass_regions(session)
    for target in found:
        _check_region(target, offered)
    return tuple(found)


def _configured(
    settings: Settings, session: Session, enabled: Mapping[str, Sequence[str]]
) -> Iterator[Target]:
    seen: dict[tuple[str, str], str] = {}
    for config in settings.targets:
        regions = regions_to_watch(
            config.regions or settings.regions, session, enabled.get(config.account)
        )
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
