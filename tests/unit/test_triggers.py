"""Queue message bodies to refresh triggers (ggwatch.events.triggers): pure, no queue involved."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ggwatch.events.triggers import Kind, Malformed, Trigger, parse

ACCOUNT = "123456789012"
REGION = "eu-west-1"
DEVICE_ARN = f"arn:aws:greengrass:{REGION}:{ACCOUNT}:coreDevices:core-7"


def envelope(**changes: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "version": "0",
        "id": "6a7e8feb-b491-4cf7-a9f1-bf3703467718",
        "detail-type": "Greengrass V2 Installed Component Status Change",
        "source": "aws.greengrass",
        "account": ACCOUNT,
        "time": "2026-11-24T06:00:00Z",
        "region": REGION,
        "resources": [DEVICE_ARN],
        "detail": {
            "components": [
                {
                    "componentName": "com.example.App",
                    "componentVersion": "1.0.0",
                    "root": True,
                    "lifecycleState": "ERRORED",
                    "lifecycleStatusCodes": [],
                    "lifecycleStateDetails": "",
                }
            ]
        },
    }
    event.update(changes)
    return event


def body(event: Any) -> str:
    return json.dumps(event)


def test_installed_component_change_refreshes_the_device() -> None:
    trigger = parse(body(envelope()))

    assert trigger == Trigger(
        Kind.DEVICE,
        ACCOUNT,
        REGION,
        thing="core-7",
        event_id="6a7e8feb-b491-4cf7-a9f1-bf3703467718",
    )


@pytest.mark.parametrize("key", ["deploymentId", "deployment-id"])
def test_effective_deployment_change_names_device_and_deployment(key: str) -> None:
    event = envelope(
        **{"detail-type": "Greengrass V2 Effective Deployment Status Change"},
        detail={key: "d-42", "coreDeviceExecutionStatus": "SUCCEEDED", "reason": "SUCCESSFUL"},
    )

    trigger = parse(body(event))

    assert trigger is not None
    assert (trigger.kind, trigger.thing, trigger.deployment_id) == (Kind.DEVICE, "core-7", "d-42")


def test_health_event_for_greengrass_refreshes_guidance() -> None:
    event = envelope(
        source="aws.health",
        resources=[],
        detail={
            "service": "GREENGRASS",
            "eventTypeCode": "AWS_GREENGRASS_OPERATIONAL_NOTIFICATION",
        },
        **{"detail-type": "AWS Health Event"},
    )

    assert parse(body(event)) == Trigger(Kind.GUIDANCE, ACCOUNT, REGION, event_id=event["id"])


@pytest.mark.parametrize(
    "changes",
    [
        {"source": "aws.health", "detail": {"service": "EC2"}},
        {"source": "aws.iot", "detail-type": "IoT Job Status Change"},
        {"detail-type": "Greengrass V2 Something Else"},
    ],
)
def test_other_events_are_not_ours(changes: dict[str, Any]) -> None:
    assert parse(body(envelope(**changes))) is None


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("not json", "not JSON"),
        ("[1, 2]", "not a JSON object"),
        (body({"detail-type": "x"}), "source is missing"),
        (body(envelope(account="12345")), "account"),
        (body(envelope(region="Mars")), "region"),
        (body(envelope(detail="text")), "detail"),
        (body(envelope(resources=[])), "resources[0]"),
        (
            body(envelope(resources=["arn:aws:iot:eu-west-1:123456789012:thing/core-7"])),
            "core device ARN",
        ),
        (
            body(envelope(resources=[DEVICE_ARN.replace(REGION, "us-east-1")])),
            "another account or Region",
        ),
    ],
)
def test_malformed_bodies_say_why(text: str, reason: str) -> None:
    with pytest.raises(Malformed) as caught:
        parse(text)

    assert reason in str(caught.value)
    assert "\n" not in str(caught.value)
