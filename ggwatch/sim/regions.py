"""The Regions of the `aws` partition and each one's opt-in status, as the AWS Account
Management API's ListRegions and GetRegionOptStatus answer them (operations/account.py).

The Regions are the `aws` partition's in botocore's endpoint data (`endpoints.json`), so the
list grows with the installed botocore as AWS's does. That data does not say which Regions
need opt-in; AWS's rule does: a Region launched before March 20, 2019 is enabled by default
and cannot be disabled, every later one is an opt-in Region, disabled until the account
enables it (AWS Account Management Reference Guide, "Enable or disable AWS Regions in your
account"). So the simulator keeps the fixed list of default Regions, which cannot grow, rather
than a list of opt-in ones, which would go stale: a Region botocore adds later is opt-in, as
every new Region is. The opt-in Regions an account has enabled are the simulator's setting
(fleet key `enabled_regions`, flag `--enabled-regions`), the same for every account it serves.
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import cache

from botocore.loaders import Loader

PARTITION = "aws"
# The 17 Regions launched before 2019-03-20 (ap-northeast-3 included: EC2 DescribeRegions
# answers "opt-in-not-required" for Osaka).
ENABLED_BY_DEFAULT = frozenset(
    {
        "ap-northeast-1",
        "ap-northeast-2",
        "ap-northeast-3",
        "ap-south-1",
        "ap-southeast-1",
        "ap-southeast-2",
        "ca-central-1",
        "eu-central-1",
        "eu-north-1",
        "eu-west-1",
        "eu-west-2",
        "eu-west-3",
        "sa-east-1",
        "us-east-1",
        "us-east-2",
        "us-west-1",
        "us-west-2",
    }
)
# RegionOptStatus values the simulator answers; ENABLING and DISABLING need EnableRegion or
# DisableRegion, which it does not serve, so a filter on them matches nothing.
DEFAULT, ENABLED, DISABLED = "ENABLED_BY_DEFAULT", "ENABLED", "DISABLED"


@cache
def partition_regions() -> tuple[str, ...]:
    """Every Region of the `aws` partition in the installed botocore, sorted by name."""
    for partition in Loader().load_data("endpoints")["partitions"]:
        if partition["partition"] == PARTITION:
            return tuple(sorted(partition["regions"]))
    raise LookupError(f"botocore's endpoint data has no {PARTITION!r} partition")


def opt_in_regions() -> tuple[str, ...]:
    return tuple(r for r in partition_regions() if r not in ENABLED_BY_DEFAULT)


def opt_status(region: str, enabled: frozenset[str]) -> str:
    """`region`'s RegionOptStatus when the opt-in Regions `enabled` are enabled."""
    if region in ENABLED_BY_DEFAULT:
        return DEFAULT
    return ENABLED if region in enabled else DISABLED


def check_enabled(names: Iterable[str]) -> frozenset[str]:
    """The opt-in Regions to enable; ValueError naming one that is not an opt-in Region of
    the partition (a default Region is always enabled, so naming one is a mistake)."""
    wanted = frozenset(names)
    for name in sorted(wanted):
        if name in ENABLED_BY_DEFAULT:
            raise ValueError(
                f"{name} is enabled by default (launched before 2019-03-20); name only opt-in "
                f"Regions: {', '.join(opt_in_regions())}"
            )
        if name not in partition_regions():
            raise ValueError(
                f"{name} is not a Region of the {PARTITION} partition (opt-in Regions: "
                f"{', '.join(opt_in_regions())})"
            )
    return wanted
