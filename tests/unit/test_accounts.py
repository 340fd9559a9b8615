"""Which organisation accounts are watched: state, ids, OUs at any depth, tags; excludes win."""

from __future__ import annotations

import pytest

from ggwatch.accounts import (
    AccountFilter,
    OrgAccount,
    check_parent_ids,
    check_role_template,
    check_tags,
    role_arn,
    select,
)

ROOT, PROD, EU = "r-ab12", "ou-ab12-11111111", "ou-ab12-22222222"
ACCOUNTS = (
    OrgAccount("111111111111", "eu", "ACTIVE", parents=(ROOT, PROD, EU)),
    OrgAccount("222222222222", "lab", "ACTIVE", parents=(ROOT,), tags=frozenset({("gg", "yes")})),
    OrgAccount("333333333333", "gone", "SUSPENDED", parents=(ROOT, PROD)),
    OrgAccount("444444444444", "closing", "PENDING_CLOSURE", parents=(ROOT,)),
)


def ids(filters: AccountFilter) -> list[str]:
    return [a.id for a in select(ACCOUNTS, filters)]


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        (AccountFilter(), ["111111111111", "222222222222"]),
        (AccountFilter(include_ous=frozenset({PROD})), ["111111111111"]),
        (AccountFilter(include_ous=frozenset({ROOT})), ["111111111111", "222222222222"]),
        (AccountFilter(exclude_ous=frozenset({EU})), ["222222222222"]),
        (AccountFilter(include_tags=("gg=yes",)), ["222222222222"]),
        (AccountFilter(include_tags=("gg",)), ["222222222222"]),
        (AccountFilter(include_tags=("gg=no",)), []),
        (AccountFilter(exclude_tags=("gg",)), ["111111111111"]),
        (AccountFilter(include_accounts=frozenset({"333333333333"})), []),  # not ACTIVE
        (
            AccountFilter(
                include_ous=frozenset({ROOT}), exclude_accounts=frozenset({"111111111111"})
            ),
            ["222222222222"],
        ),
    ],
)
def test_filters(filters: AccountFilter, expected: list[str]) -> None:
    assert ids(filters) == expected


def test_only_the_filters_that_need_reads_ask_for_them() -> None:
    assert not AccountFilter().needs_tree
    assert not AccountFilter().needs_tags
    assert AccountFilter(exclude_ous=frozenset({PROD})).needs_tree
    assert AccountFilter(include_tags=("gg",)).needs_tags


def test_role_arn_takes_the_partition_of_the_organisation() -> None:
    account = OrgAccount(
        "111111111111", "eu", "ACTIVE", arn="arn:aws-cn:organizations::1:account/o/1"
    )
    assert role_arn("ggwatch-{account_name}", account) == (
        "arn:aws-cn:iam::111111111111:role/ggwatch-eu"
    )
    assert OrgAccount("1", "n", "ACTIVE").partition == "aws"


@pytest.mark.parametrize("template", ["{account}", "{0}", "has space", "x" * 65, "{account_id"])
def test_a_template_that_makes_no_role_name_is_refused(template: str) -> None:
    with pytest.raises(ValueError, match="role"):
        check_role_template(template)


def test_parent_ids_and_tags_are_checked() -> None:
    assert check_parent_ids([ROOT, PROD]) == (ROOT, PROD)
    with pytest.raises(ValueError, match="not an OU id"):
        check_parent_ids(["prod"])
    with pytest.raises(ValueError, match="not a tag filter"):
        check_tags(["=yes"])
