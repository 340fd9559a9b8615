"""Targets found rather than listed: the accounts of an AWS Organization, and `regions: all`.

Organizations is read with the SDK's own credentials (the management account or a delegated
administrator): ListAccounts, and only when a filter needs them the OU tree (ListRoots,
ListOrganizationalUnitsForParent, ListAccountsForParent) and each candidate's tags
(ListTagsForResource). ggwatch.accounts decides which accounts to watch. `regions: all` is
read in each account with its own credentials (account:ListRegions, no AccountId, so no
trusted access is needed) and intersected with where botocore offers Greengrass V2.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

import anyio
import structlog
from aiobotocore.config import AioConfig
from botocore.exceptions import BotoCoreError, ClientError
from pydantic import ValidationError

from ggwatch import accounts, names
from ggwatch.accounts import OrgAccount
from ggwatch.aws.clients import assumed_session, caller_account
from ggwatch.aws.failures import translate
from ggwatch.aws.targets import Session, Target, greengrass_regions, targets_to_watch
from ggwatch.errors import AWSError, RuntimeFailure
from ggwatch.model import DEFAULT_ALIAS
from ggwatch.settings import Settings, TargetConfig

ENABLED = ("ENABLED", "ENABLED_BY_DEFAULT")
# Accounts whose Regions are read at once; each read is an AssumeRole and a ListRegions.
REGION_READS = 8


@dataclass(frozen=True, slots=True)
class Discovery:
    """The targets to watch now, and what could not be settled this time."""

    targets: tuple[Target, ...]
    # Aliases whose Regions could not be read: a daemon keeps their targets as they were.
    unsettled: frozenset[str] = frozenset()
    problems: tuple[str, ...] = ()

    def strict(self) -> tuple[Target, ...]:
        """For a one-shot command, which cannot wait for the next refresh: any gap fails."""
        if self.problems:
            raise RuntimeFailure(self.problems[0])
        return self.targets


def _config(settings: Settings) -> AioConfig:
    # Organizations throttles hard (TooManyRequestsException) and is read rarely: botocore's
    # standard retries, with their backoff, suit it.
    return AioConfig(
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
        retries={"total_max_attempts": 5, "mode": "standard"},
    )


def api_region(settings: Settings, session: Session) -> str:
    """The Region the account-level APIs are called in: it picks the partition."""
    named = [r for r in settings.regions if r != names.ALL_REGIONS]
    if named:
        return named[0]
    region = session.get_config_variable("region")
    return str(region) if region else "us-east-1"


async def discover(settings: Settings, session: Session, caller: str | None = None) -> Discovery:
    """The targets the settings name now. `caller`: the SDK's own account, when known.

    An Organizations failure raises (there is nothing to watch without it); one account's
    Regions failing only leaves that account unsettled.
    """
    region = api_region(settings, session)
    if settings.targets_from == "organization":
        caller = caller or settings.account_id or await _caller(session, region, settings)
        configs, problems = await organization_targets(settings, session, region, caller)
        if not configs:  # an empty organisation watches nothing, not the SDK's own account
            return Discovery((), frozenset(), problems)
        settings = settings.model_copy(update={"targets": configs, "account_id": caller})
    else:
        problems = ()
    enabled, unsettled, failed = await _enabled_regions(settings, session, region)
    targets = targets_to_watch(settings, session, enabled)
    return Discovery(targets, unsettled, (*problems, *failed))


async def _caller(session: Session, region: str, settings: Settings) -> str:
    return await caller_account(
        session,
        region,
        connect_timeout=settings.connect_timeout_seconds,
        read_timeout=settings.read_timeout_seconds,
    )


async def organization_targets(
    settings: Settings, session: Session, region: str, caller: str
) -> tuple[tuple[TargetConfig, ...], tuple[str, ...]]:
    """One target per admitted account: its id is its alias, so metrics never change name
    with the account's; the caller's own account needs no role."""
    org = settings.organization
    chosen = await read_accounts(session, region, org.filters, _config(settings))
    configs: list[TargetConfig] = []
    problems: list[str] = []
    for account in chosen:
        own = account.id == caller
        try:
            configs.append(
                TargetConfig(
                    account=account.id,
                    account_id=account.id,
                    role_arn=None if own else accounts.role_arn(org.role_name, account),
                    external_id=None if own else org.external_id,
                    session_name=org.session_name,
                    duration_seconds=org.duration_seconds,
                )
            )
        except ValidationError:
            problems.append(
                f"account {account.id}: role name template {org.role_name!r} makes no "
                f"valid role ARN for account name {account.name!r}"
            )
    for problem in problems:
        structlog.get_logger("ggwatch.targets").warning("targets.account_skipped", reason=problem)
    return tuple(configs), tuple(problems)


async def read_accounts(
    session: Session, region: str, filters: accounts.AccountFilter, config: AioConfig
) -> tuple[OrgAccount, ...]:
    """The accounts the filters admit, read with as few calls as they allow."""
    async with session.create_client("organizations", region_name=region, config=config) as org:
        parents = await _tree(org) if filters.needs_tree else {}
        found = [
            OrgAccount(
                id=a["Id"],
                name=a.get("Name", ""),
                # `State` replaced the retired `Status`; an older endpoint may send only that.
                state=a.get("State") or a.get("Status", ""),
                arn=a.get("Arn", ""),
                parents=parents.get(a["Id"], ()),
            )
            async for a in _items(org, "ListAccounts", "Accounts")
        ]
        candidates = [a for a in found if filters.admits_by_id_and_ou(a)]
        if filters.needs_tags:
            # One call per candidate, in turn: Organizations allows only a few per second.
            candidates = [replace(a, tags=await _tags(org, a.id)) for a in candidates]
    return accounts.select(candidates, filters)


async def _tree(org: Any) -> dict[str, tuple[str, ...]]:
    """Each account's parents, root first."""
    out: dict[str, tuple[str, ...]] = {}
    pending: list[tuple[str, tuple[str, ...]]] = [
        (root["Id"], (root["Id"],)) async for root in _items(org, "ListRoots", "Roots")
    ]
    while pending:
        parent, path = pending.pop()
        async for account in _items(org, "ListAccountsForParent", "Accounts", ParentId=parent):
            out[account["Id"]] = path
        async for unit in _items(
            org, "ListOrganizationalUnitsForParent", "OrganizationalUnits", ParentId=parent
        ):
            pending.append((unit["Id"], (*path, unit["Id"])))
    return out


async def _tags(org: Any, account_id: str) -> frozenset[tuple[str, str]]:
    listed = _items(org, "ListTagsForResource", "Tags", ResourceId=account_id)
    return frozenset([(t["Key"], t.get("Value", "")) async for t in listed])


async def _items(client: Any, operation: str, key: str, **params: Any) -> AsyncIterator[Any]:
    """Every item of a paginated listing; a failure is one AWSError naming the operation."""
    snake = "".join(f"_{c.lower()}" if c.isupper() else c for c in operation).lstrip("_")
    try:
        async for page in client.get_paginator(snake).paginate(**params):
            for item in page.get(key, ()):
                yield item
    except (ClientError, BotoCoreError) as exc:
        raise translate(operation, exc) from exc


async def _enabled_regions(
    settings: Settings, session: Session, region: str
) -> tuple[Mapping[str, tuple[str, ...]], frozenset[str], tuple[str, ...]]:
    """For each target whose regions are `all`: the offered Regions its account enabled."""
    wanted: dict[str, Session] = {}
    if not settings.targets and settings.regions == (names.ALL_REGIONS,):
        wanted[DEFAULT_ALIAS] = session
    for config in settings.targets:
        regions = config.regions or settings.regions
        if regions != (names.ALL_REGIONS,):
            continue
        wanted[config.account] = (
            session
            if config.role_arn is None
            else assumed_session(
                session,
                config,
                region,
                connect_timeout=settings.connect_timeout_seconds,
                read_timeout=settings.read_timeout_seconds,
            )
        )
    if not wanted:
        return {}, frozenset(), ()
    offered = greengrass_regions(session)
    enabled: dict[str, tuple[str, ...]] = {}
    failed: dict[str, str] = {}
    limiter = anyio.CapacityLimiter(REGION_READS)
    config = _config(settings)

    async def read(alias: str, where: Session) -> None:
        async with limiter:
            try:
                listed = await account_regions(where, region, config)
            except AWSError as exc:
                failed[alias] = f"target {alias}: cannot list its enabled Regions: {exc}"
                return
        enabled[alias] = tuple(sorted(listed & offered))

    async with anyio.create_task_group() as group:
        for alias, where in wanted.items():
            group.start_soon(read, alias, where)
    for problem in failed.values():
        structlog.get_logger("ggwatch.targets").warning("targets.regions_unknown", reason=problem)
    return enabled, frozenset(failed), tuple(failed.values())


async def account_regions(session: Session, region: str, config: AioConfig) -> frozenset[str]:
    """The Regions the session's account has enabled (opted in, or on by default)."""
    async with session.create_client("account", region_name=region, config=config) as account:
        listed = _items(account, "ListRegions", "Regions", RegionOptStatusContains=list(ENABLED))
        return frozenset([r["RegionName"] async for r in listed])
