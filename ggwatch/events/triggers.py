"""What a queue message asks for: a pure parse of EventBridge envelopes into refresh triggers.

EventBridge delivers Greengrass V2 events best-effort: lost, duplicated or out of order. They
are never trusted as state, only as a reason to re-read sooner:

- "Greengrass V2 Effective Deployment Status Change" and "... Installed Component Status
  Change" (source aws.greengrass; resources[0] is the core device's ARN): re-read that device.
- An AWS Health event for service GREENGRASS (no event announces a vendor guidance change;
  AWS Health tells owners of devices running a discontinued version): re-read the guidance of
  every version in use in that account and Region.

Anything else that is a well-formed EventBridge envelope is not ours and is ignored. A body
that is not one is malformed: the consumer leaves it for the queue's redrive policy.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from ggwatch.names import ACCOUNT_ID_PATTERN, is_account_id, is_region

GREENGRASS = "aws.greengrass"
HEALTH = "aws.health"
DEVICE_EVENTS = frozenset(
    {
        "Greengrass V2 Effective Deployment Status Change",
        "Greengrass V2 Installed Component Status Change",
    }
)
HEALTH_SERVICE = "GREENGRASS"
DEVICE_ARN = re.compile(
    rf"^arn:aws[a-z-]*:greengrass:(?P<region>[a-z0-9-]+):(?P<account>{ACCOUNT_ID_PATTERN}):"
    r"coreDevices:(?P<thing>[A-Za-z0-9:_-]{1,128})$",
    re.ASCII,
)


class Malformed(ValueError):
    """Not an EventBridge envelope, or one of ours without what it must carry."""


class Kind(StrEnum):
    DEVICE = "device"  # re-read one core device's installed components
    GUIDANCE = "guidance"  # re-read the vendor guidance of every version in use


@dataclass(frozen=True, slots=True)
class Trigger:
    kind: Kind
    account: str
    region: str
    thing: str | None = None  # for DEVICE
    deployment_id: str | None = None  # what the event named, for the logs
    event_id: str = ""


def parse(body: str) -> Trigger | None:
    """The trigger a message body carries; None for an event that is not ours."""
    try:
        event = json.loads(body)
    except ValueError:
        raise Malformed("body is not JSON") from None
    if not isinstance(event, dict):
        raise Malformed("body is not a JSON object")
    source = _text(event, "source")
    detail_type = _text(event, "detail-type")
    account = _text(event, "account")
    region = _text(event, "region")
    if not is_account_id(account):
        raise Malformed("account is not a 12-digit account id")
    if not is_region(region):
        raise Malformed("region is not a Region name")
    detail = event.get("detail")
    if not isinstance(detail, dict):
        raise Malformed("detail is not an object")
    event_id = str(event.get("id") or "")
    if source == GREENGRASS and detail_type in DEVICE_EVENTS:
        thing = _device(event, account, region)
        deployment = detail.get("deploymentId") or detail.get("deployment-id")
        return Trigger(
            Kind.DEVICE,
            account,
            region,
            thing=thing,
            deployment_id=deployment if isinstance(deployment, str) else None,
            event_id=event_id,
        )
    if source == HEALTH and detail.get("service") == HEALTH_SERVICE:
        return Trigger(Kind.GUIDANCE, account, region, event_id=event_id)
    return None


def _text(event: dict[str, Any], key: str) -> str:
    value = event.get(key)
    if not isinstance(value, str) or not value:
        raise Malformed(f"{key} is missing")
    return value


def _device(event: dict[str, Any], account: str, region: str) -> str:
    resources = event.get("resources")
    if not isinstance(resources, list) or not resources or not isinstance(resources[0], str):
        raise Malformed("resources[0] (the core device ARN) is missing")
    match = DEVICE_ARN.fullmatch(resources[0])
    if match is None:
        raise Malformed("resources[0] is not a core device ARN")
    if (match["account"], match["region"]) != (account, region):
        raise Malformed("resources[0] names another account or Region than the event")
    return match["thing"]
