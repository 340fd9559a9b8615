"""The one definition of the names ggwatch accepts: Regions, aliases, ids, ARNs, queue URLs.

Pure (stdlib only, no I/O). Settings, the webhook, the event parser and the AWS clients all ask
here, so a name one of them accepts is a name every other accepts too. The patterns are ASCII
only (`re.ASCII`): AWS names never hold other digits or letters, and a look-alike must not pass
here to fail later at the service. Match them whole (`fullmatch`), or use the functions.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

# Pattern text, for composing larger patterns (an ARN holds a Region and an account id).
REGION_PATTERN = r"[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d{1,2}"
ACCOUNT_ID_PATTERN = r"\d{12}"

# us-west-2, us-gov-west-1, cn-north-1, us-isob-east-1; a Region number has one or two digits.
REGION = re.compile(REGION_PATTERN, re.ASCII)
# A target's alias: names it in metrics (account_alias), logs, findings and alerts.
ALIAS = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}", re.ASCII)
# A Greengrass V2 deployment id (a UUID in practice).
DEPLOYMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9-]{0,127}", re.ASCII)
ACCOUNT_ID = re.compile(ACCOUNT_ID_PATTERN, re.ASCII)
# An IAM role ARN in the partitions ggwatch supports; the group `account` is its account id.
ROLE_ARN = re.compile(
    rf"arn:aws(?:-cn|-us-gov)?:iam::(?P<account>{ACCOUNT_ID_PATTERN}):role/[\w+=,.@/-]{{1,512}}",
    re.ASCII,
)
# STS RoleSessionName.
SESSION_NAME = re.compile(r"[\w+=,.@-]{2,64}", re.ASCII)
# An SQS queue URL: scheme and host (AWS's or a local endpoint's), account id, queue name.
QUEUE_URL = re.compile(
    rf"https?://[^/\s]+/{ACCOUNT_ID_PATTERN}/[A-Za-z0-9_-]{{1,80}}(?:\.fifo)?", re.ASCII
)
# The Region in an AWS queue URL's host: https://sqs.REGION.amazonaws.com/... (or the legacy
# https://REGION.queue.amazonaws.com/...).
_QUEUE_HOST = re.compile(rf"https://(?:sqs\.)?(?P<region>{REGION_PATTERN})\.", re.ASCII)


def is_region(name: str) -> bool:
    return REGION.fullmatch(name) is not None


def is_alias(name: str) -> bool:
    return ALIAS.fullmatch(name) is not None


def is_deployment_id(name: str) -> bool:
    return DEPLOYMENT_ID.fullmatch(name) is not None


def is_account_id(name: str) -> bool:
    return ACCOUNT_ID.fullmatch(name) is not None


def is_queue_url(url: str) -> bool:
    return QUEUE_URL.fullmatch(url) is not None


def role_account(arn: str) -> str | None:
    """The account id in an IAM role ARN; None when `arn` is not one."""
    match = ROLE_ARN.fullmatch(arn)
    return match["account"] if match else None


def arn_account(arn: str) -> str | None:
    """The account id in an ARN (arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE); None when `arn`
    is not an ARN or names no account id (an S3 bucket's is empty, AWS's public components'
    is `aws`)."""
    parts = arn.split(":", 5)
    if len(parts) < 6 or parts[0] != "arn" or not is_account_id(parts[4]):
        return None
    return parts[4]


def queue_url_region(url: str) -> str | None:
    """The Region in an AWS queue URL's host; None for another host (a local endpoint)."""
    match = _QUEUE_HOST.match(url)
    return match["region"] if match else None


def partition(region: str) -> str:
    """The AWS partition a Region is in, as ARNs spell it."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


# The checks raise ValueError with the one-line message the settings report.


ALL_REGIONS = "all"


def check_regions(regions: Iterable[str]) -> tuple[str, ...]:
    value = tuple(regions)
    if ALL_REGIONS in value:
        if len(value) > 1:
            raise ValueError("`all` stands alone: it is every enabled Region")
        return value
    for region in value:
        if not is_region(region):
            raise ValueError(f"{region!r} is not a Region name such as us-west-2")
    if len(set(value)) != len(value):
        raise ValueError("a Region is listed twice")
    return value


def check_alias(name: str) -> str:
    if not is_alias(name):
        raise ValueError(f"{name!r} is not an alias (letters, digits, '.', '_', '-'; <= 64)")
    return name


def check_account_id(name: str) -> str:
    if not is_account_id(name):
        raise ValueError(f"{name!r} is not a 12-digit account id")
    return name


def check_role_arn(arn: str) -> str:
    if role_account(arn) is None:
        raise ValueError(f"{arn!r} is not an IAM role ARN (arn:aws:iam::123456789012:role/x)")
    return arn


def check_session_name(name: str) -> str:
    if SESSION_NAME.fullmatch(name) is None:
        raise ValueError("must be 2-64 characters of letters, digits and +=,.@_-")
    return name


def check_queue_urls(urls: Iterable[str]) -> tuple[str, ...]:
    value = tuple(urls)
    for url in value:
        if not is_queue_url(url):
            raise ValueError(
                f"{url!r} is not an SQS queue URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)"
            )
    if len(set(value)) != len(value):
        raise ValueError("a queue is listed twice")
    return value
