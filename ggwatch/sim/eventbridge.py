"""The EventBridge events AWS publishes for the changes the simulator makes: pure builders.

Arguments in, one envelope (or a list of pages) out, in the shape AWS publishes to the default
event bus (the Greengrass V2 developer guide's "Get deployment and component health status
notifications"; the AWS Health user guide's "EventBridge schema"); and the rule's target, an
SQS queue URL and its Region. No I/O: the store and the control API hand what these build to
the emitter (ggwatch.sim.emitter), which delivers it.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import re
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

Event = dict[str, Any]

INSTALLED_COMPONENT_CHANGE = "Greengrass V2 Installed Component Status Change"
EFFECTIVE_DEPLOYMENT_CHANGE = "Greengrass V2 Effective Deployment Status Change"
HEALTH_EVENT = "AWS Health Event"
GREENGRASS_SOURCE = "aws.greengrass"
HEALTH_SOURCE = "aws.health"
HEALTH_EVENT_TYPE = "AWS_GREENGRASS_OPERATIONAL_NOTIFICATION"
# AWS Health splits a long list of affected resources into pages of one event each
# (detail.page / detail.totalPages); this many devices per page keeps a page far below
# SQS's message size limit.
HEALTH_PAGE_SIZE = 100
# What the nucleus reports when a deployment names a version it cannot resolve, which is what
# a DELETED version is to a device (the developer guide's "Detailed deployment error codes").
NO_VERSION_STACK = (
    "DEPLOYMENT_FAILURE",
    "NO_AVAILABLE_COMPONENT_VERSION",
    "COMPONENT_VERSION_REQUIREMENTS_NOT_MET",
)
NO_VERSION_TYPES = ("REQUEST_ERROR",)


def new_id() -> str:
    return str(uuid.uuid4())


def core_device_arn(region: str, account: str, thing: str) -> str:
    return f"arn:aws:greengrass:{region}:{account}:coreDevices:{thing}"


def event_time(epoch: float) -> str:
    """EventBridge's `time`: whole seconds, UTC, `YYYY-MM-DDTHH:MM:SSZ`."""
    return dt.datetime.fromtimestamp(int(epoch), dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def health_time(epoch: float) -> str:
    """AWS Health's own times in its detail are RFC 1123: `Fri, 10 Jun 2022 05:01:10 GMT`."""
    return email.utils.formatdate(int(epoch), usegmt=True)


def envelope(
    detail_type: str,
    source: str,
    account: str,
    region: str,
    resources: Sequence[str],
    detail: dict[str, Any],
    *,
    now: float,
    event_id: str,
) -> Event:
    return {
        "version": "0",
        "id": event_id,
        "detail-type": detail_type,
        "source": source,
        "account": account,
        "time": event_time(now),
        "region": region,
        "resources": list(resources),
        "detail": detail,
    }


@dataclass(frozen=True, slots=True)
class ComponentStatus:
    """One installed component as the device reports it."""

    name: str
    version: str
    root: bool
    lifecycle_state: str


def _device_event(
    detail_type: str,
    account: str,
    region: str,
    thing: str,
    detail: dict[str, Any],
    now: float,
    ids: Callable[[], str],
) -> Event:
    """A Greengrass V2 event about one core device: its ARN is the event's only resource."""
    resources = [core_device_arn(region, account, thing)]
    return envelope(
        detail_type, GREENGRASS_SOURCE, account, region, resources, detail, now=now, event_id=ids()
    )


def installed_component_change(
    account: str,
    region: str,
    thing: str,
    components: Iterable[ComponentStatus],
    *,
    now: float,
    ids: Callable[[], str] = new_id,
) -> Event:
    detail = {
        "components": [
            {
                "componentName": c.name,
                "componentVersion": c.version,
                "root": c.root,
                "lifecycleState": c.lifecycle_state,
                # The simulator models no failure codes or details for a component.
                "lifecycleStatusCodes": [],
                "lifecycleStateDetails": "",
            }
            for c in components
        ]
    }
    return _device_event(INSTALLED_COMPONENT_CHANGE, account, region, thing, detail, now, ids)


def effective_deployment_change(
    account: str,
    region: str,
    thing: str,
    deployment_id: str,
    status: str,
    *,
    now: float,
    reason: str = "SUCCESSFUL",
    error_stack: Sequence[str] = (),
    error_types: Sequence[str] = (),
    ids: Callable[[], str] = new_id,
) -> Event:
    """`status` is the device-side outcome, as ListEffectiveDeployments reports it."""
    detail = {
        "deploymentId": deployment_id,
        "coreDeviceExecutionStatus": status,
        "statusDetails": {"errorStack": list(error_stack), "errorTypes": list(error_types)},
        "reason": reason,
    }
    return _device_event(EFFECTIVE_DEPLOYMENT_CHANGE, account, region, thing, detail, now, ids)


def deployment_failed(
    account: str,
    region: str,
    thing: str,
    deployment_id: str,
    why: str,
    *,
    now: float,
    ids: Callable[[], str] = new_id,
) -> Event:
    """A deployment the device could not install because it names an unavailable version."""
    return effective_deployment_change(
        account,
        region,
        thing,
        deployment_id,
        "FAILED",
        now=now,
        # The nucleus's reason reads "<most specific code>: <deployment outcome>: <message>".
        reason=f"{NO_VERSION_STACK[-1]}: FAILED_NO_STATE_CHANGE: {why}",
        error_stack=NO_VERSION_STACK,
        error_types=NO_VERSION_TYPES,
        ids=ids,
    )


def health_notification(
    account: str,
    region: str,
    things: Sequence[str],
    description: str,
    *,
    now: float,
    page_size: int = HEALTH_PAGE_SIZE,
    ids: Callable[[], str] = new_id,
) -> list[Event]:
    """One account-specific AWS Health event about `things`, as pages of `page_size` devices.

    Every page carries the same eventArn and startTime; communicationId is the event's plus
    "-<page>", as AWS Health numbers the pages of one communication.
    """
    if page_size < 1:
        raise ValueError("page_size must be at least 1")
    arns = [core_device_arn(region, account, thing) for thing in things]
    pages = [arns[i : i + page_size] for i in range(0, len(arns), page_size)] or [[]]
    health_id = ids().replace("-", "")
    arn = (
        f"arn:aws:health:{region}::event/GREENGRASS/{HEALTH_EVENT_TYPE}/"
        f"{HEALTH_EVENT_TYPE}_{health_id}"
    )
    out = []
    for number, page in enumerate(pages, start=1):
        detail = {
            "eventArn": arn,
            "service": "GREENGRASS",
            "eventTypeCode": HEALTH_EVENT_TYPE,
            "eventTypeCategory": "accountNotification",
            "eventScopeCode": "ACCOUNT_SPECIFIC",
            "communicationId": f"{health_id}-{number}",
            "startTime": health_time(now),
            "lastUpdatedTime": health_time(now),
            "statusCode": "open",
            "eventRegion": region,
            "eventDescription": [{"language": "en_US", "latestDescription": description}],
            "affectedEntities": [{"entityValue": device} for device in page],
            "page": str(number),
            "totalPages": str(len(pages)),
            "backupEvent": "false",
            "affectedAccount": account,
            "personas": ["OPERATIONS"],
        }
        out.append(
            envelope(
                HEALTH_EVENT, HEALTH_SOURCE, account, region, page, detail, now=now, event_id=ids()
            )
        )
    return out


# -- the rule's target: an SQS queue, and the Region it is in ---------------------------------

# https://sqs.REGION.amazonaws.com/ACCOUNT/NAME (also sqs-fips., .amazonaws.com.cn, and the
# legacy https://REGION.queue.amazonaws.com/ACCOUNT/NAME).
_AWS_QUEUE = re.compile(
    r"^https://(?:sqs(?:-fips)?\.(?P<sqs>[a-z0-9-]+)|(?P<legacy>[a-z0-9-]+)\.queue)"
    r"\.amazonaws\.com(?:\.cn)?/\d{12}/[\w-]+(?:\.fifo)?$"
)
DEFAULT_REGION = "us-east-1"


def queue_region(queue_url: str, environ: Mapping[str, str]) -> str:
    """The Region of an AWS queue URL; otherwise AWS_REGION, AWS_DEFAULT_REGION, us-east-1."""
    found = _AWS_QUEUE.match(queue_url)
    if found:
        return found.group("sqs") or found.group("legacy")
    return environ.get("AWS_REGION") or environ.get("AWS_DEFAULT_REGION") or DEFAULT_REGION


def check_queue_url(queue_url: str) -> str:
    if not queue_url.startswith(("https://", "http://")) or queue_url.count("/") < 4:
        raise ValueError(f"not an SQS queue URL: {queue_url!r}")
    return queue_url
