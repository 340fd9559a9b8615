"""Which accounts of an AWS Organization to watch: a pure choice over what Organizations said.

An account is watched when its `State` is ACTIVE (Organizations retired `Status`; SUSPENDED,
PENDING_CLOSURE and CLOSED accounts cannot be called into), it passes every include filter
that is set (account id, an OU anywhere above it, a tag) and no exclude filter. Excludes win.
ggwatch.aws.organization reads the accounts; this module only decides.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

ACTIVE = "ACTIVE"
# The placeholders a role name template may use.
PLACEHOLDERS = ("account_id", "account_name")
ROLE_NAME = re.compile(r"(?:[\w+=,.@-]+/)*[\w+=,.@-]{1,64}", re.ASCII)
PARENT_ID = re.compile(r"r-[0-9a-z]{4,32}|ou-[0-9a-z]{4,32}-[a-z0-9]{8,32}", re.ASCII)


@dataclass(frozen=True, slots=True)
class OrgAccount:
    """One member account, as Organizations listed it."""

    id: str
    name: str
    state: str
    arn: str = ""
    # Root first, the account's own OU last; empty when the tree was not read (no OU filter).
    parents: tuple[str, ...] = ()
    tags: frozenset[tuple[str, str]] = frozenset()

    @property
    def partition(self) -> str:
        # arn:PARTITION:organizations::...; the management account's partition is every member's.
        parts = self.arn.split(":")
        return parts[1] if len(parts) > 2 and parts[1] else "aws"


@dataclass(frozen=True, slots=True)
class AccountFilter:
    """The include and exclude filters; an empty include filter lets every account through."""

    include_accounts: frozenset[str] = frozenset()
    exclude_accounts: frozenset[str] = frozenset()
    include_ous: frozenset[str] = frozenset()
    exclude_ous: frozenset[str] = frozenset()
    include_tags: tuple[str, ...] = ()  # "key=value", or "key" for any value
    exclude_tags: tuple[str, ...] = ()

    @property
    def needs_tree(self) -> bool:
        return bool(self.include_ous or self.exclude_ous)

    @property
    def needs_tags(self) -> bool:
        return bool(self.include_tags or self.exclude_tags)

    def admits_by_id_and_ou(self, account: OrgAccount) -> bool:
        """The filters that need no tags: tags cost a call per account, so they come last."""
        if account.state != ACTIVE or account.id in self.exclude_accounts:
            return False
        if self.include_accounts and account.id not in self.include_accounts:
            return False
        above = set(account.parents)
        if above & self.exclude_ous:
            return False
        return not self.include_ous or bool(above & self.include_ous)

    def admits(self, account: OrgAccount) -> bool:
        if not self.admits_by_id_and_ou(account):
            return False
        if any(_tag_matches(t, account.tags) for t in self.exclude_tags):
            return False
        return not self.include_tags or any(
            _tag_matches(t, account.tags) for t in self.include_tags
        )


def select(accounts: Iterable[OrgAccount], filters: AccountFilter) -> tuple[OrgAccount, ...]:
    """The accounts to watch, ordered by id so that every replica lists them alike."""
    return tuple(sorted((a for a in accounts if filters.admits(a)), key=lambda a: a.id))


def _tag_matches(wanted: str, tags: frozenset[tuple[str, str]]) -> bool:
    key, sep, value = wanted.partition("=")
    return any(k == key and (not sep or v == value) for k, v in tags)


def role_name(template: str, account: OrgAccount) -> str:
    return template.format(account_id=account.id, account_name=account.name)


def role_arn(template: str, account: OrgAccount) -> str:
    return f"arn:{account.partition}:iam::{account.id}:role/{role_name(template, account)}"


def check_role_template(template: str) -> str:
    """The template must name a role for any account: only known placeholders, a valid name."""
    try:
        sample = template.format(account_id="123456789012", account_name="name")
    except (KeyError, IndexError, ValueError) as exc:
        raise ValueError(
            f"role name template {template!r}: use only {{account_id}} and {{account_name}}"
        ) from exc
    if not ROLE_NAME.fullmatch(sample):
        raise ValueError(f"{template!r} does not make an IAM role name (path/NAME, <= 64)")
    return template


def check_parent_ids(ids: Iterable[str]) -> tuple[str, ...]:
    value = tuple(ids)
    for parent in value:
        if not PARENT_ID.fullmatch(parent):
            raise ValueError(f"{parent!r} is not an OU id (ou-...) or root id (r-...)")
    return value


def check_tags(tags: Iterable[str]) -> tuple[str, ...]:
    value = tuple(tags)
    for tag in value:
        if not tag.partition("=")[0]:
            raise ValueError(f"{tag!r} is not a tag filter: key=value, or key for any value")
    return value
