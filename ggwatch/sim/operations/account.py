"""The AWS Account Management API's Region operations (botocore's `account` model), which
ggwatch's `regions: all` asks and moto does not serve: ListRegions and GetRegionOptStatus.

Every Region of the `aws` partition is listed, sorted by name, with its RegionOptStatus
(`ggwatch.sim.regions`): ENABLED_BY_DEFAULT for the Regions launched before 2019-03-20,
ENABLED for the opt-in Regions the simulator was told are enabled, DISABLED for the other
opt-in Regions. `RegionOptStatusContains` keeps the Regions with one of the statuses it names
(an empty list keeps all); pages are the simulator's keyset pages (MaxResults 1-50, 50 when
not given, the `page_cap` knob applies; the token is bound to the filter).

The Account API is global (one endpoint, signed for us-east-1 whatever Region an answer is
about), so these handlers take the caller's account and the world's setting instead of an
account-and-Region state: no Region comes into being for the call. `AccountId` naming another
account answers AccessDeniedException, since that needs the organization's management account
(or a delegated administrator) with trusted access for Account Management, which the
simulator does not model; naming the caller's own account is answered as if it were left
out (AWS refuses that to a management account; the simulator reads the caller as a standalone
account that may name itself).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ggwatch.sim import regions
from ggwatch.sim.operations.call import Output, Params
from ggwatch.sim.pagination import Pager
from ggwatch.sim.store import SimError


@dataclass(frozen=True, slots=True)
class AccountCall:
    """Everything an Account API operation may touch."""

    account: str  # the caller's, from its access key
    enabled: frozenset[str]  # the opt-in Regions enabled (World.enabled_regions)
    params: Params
    pager: Pager


def list_regions(call: AccountCall) -> Output:
    _check_account(call, "ListRegions")
    statuses = frozenset(call.params.get("RegionOptStatusContains") or ())
    entries = [(r, (r, regions.opt_status(r, call.enabled))) for r in regions.partition_regions()]
    # The Pager reads Greengrass V2's member names; the filter and account are in the
    # fingerprint, so a token serves only the listing it came from.
    paging = {
        "nextToken": call.params.get("NextToken") or None,
        "maxResults": call.params.get("MaxResults"),
        "RegionOptStatusContains": sorted(statuses),
        "AccountId": call.account,
    }
    items, token = call.pager.page(
        "ListRegions", paging, entries, (lambda item: item[1] in statuses) if statuses else None
    )
    listed = [{"RegionName": name, "RegionOptStatus": status} for name, status in items]
    return {"Regions": listed, "NextToken": token}


def get_region_opt_status(call: AccountCall) -> Output:
    _check_account(call, "GetRegionOptStatus")
    name = call.params["RegionName"]
    if name not in regions.partition_regions():
        message = f"{name} is not a Region of the {regions.PARTITION} partition"
        raise SimError(
            "ValidationException",
            f"1 validation error detected: RegionName {message}",
            reason="FIELD_VALIDATION_FAILED",
            fields=[{"name": "RegionName", "message": message}],
        )
    return {"RegionName": name, "RegionOptStatus": regions.opt_status(name, call.enabled)}


def _check_account(call: AccountCall, operation: str) -> None:
    named = call.params.get("AccountId")
    if named is not None and named != call.account:
        raise SimError(
            "AccessDeniedException",
            f"User is not authorized to perform: account:{operation} on account {named}: "
            "another account's Regions need the organization's management account or a "
            "delegated administrator, with trusted access for AWS Account Management "
            f"(simulated: the caller is the standalone account {call.account}).",
        )


def error_members(code: str, members: Mapping[str, Any]) -> dict[str, Any]:
    """The Account API's members for an error raised in Greengrass V2's shape (as the shared
    checks raise them): its ValidationException has a camel-case `reason` from a smaller enum
    and calls the field list `fieldList`; a reason it has no value for is left out."""
    if code != "ValidationException":
        return dict(members)
    out: dict[str, Any] = {}
    if members.get("reason") == "FIELD_VALIDATION_FAILED":
        out["reason"] = "fieldValidationFailed"
    if members.get("fields"):
        out["fieldList"] = members["fields"]
    return out
