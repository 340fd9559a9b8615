"""A private component removed with DeleteComponent, version by version, down to the last one.

AWS offers no other way to withdraw a private version: afterwards DescribeComponent answers
404 for it, and once its last version is gone the component itself is: ListComponents no
longer lists it and ListComponentVersions answers ResourceNotFoundException. Devices keep
running what they installed, and deployments still name it; the component stays the
account's own (the inventory gauge counts its versions as private, not as AWS's).
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
import pytest
from prometheus_client import CollectorRegistry

from ggwatch.findings import Rule
from ggwatch.scan import scan_once
from ggwatch.settings import Settings
from ggwatch.sim.server import Running
from ggwatch.sinks.metrics import register_collector
from ggwatch.state import DaemonView, StateHolder, TargetStatus

ACCOUNT = "123456789012"
NAME = "com.example.ModbusAdapter"
MODBUS = f"arn:aws:greengrass:us-west-2:{ACCOUNT}:components:{NAME}"


@pytest.fixture
async def modbus_gone(
    sim: Running, settings: Settings, gg: Any, control: aiohttp.ClientSession
) -> None:
    """The sample fleet deleted ModbusAdapter 0.9.0; the team now deletes 1.0.0 too, which the
    Berlin line runs and its deployment in force names. The service grants what the settings
    say: no throttled call above the minimum."""
    response = await control.patch("/_sim/knobs", json={"rate_limit": settings.service_rate})
    assert response.status == 200
    await gg.delete_component(arn=f"{MODBUS}:versions:1.0.0")


@pytest.mark.usefixtures("modbus_gone")
async def test_a_component_whose_last_version_was_deleted_is_still_read(
    settings: Settings, gg: Any
) -> None:
    private = await gg.list_components(scope="PRIVATE")
    assert "com.example.ModbusAdapter" not in {c["componentName"] for c in private["components"]}
    try:
        await gg.list_component_versions(arn=MODBUS)
    except gg.exceptions.ResourceNotFoundException:
        pass
    else:
        raise AssertionError("ListComponentVersions answered for a component with no version")

    result = await scan_once(settings)

    west = next(t for t in result.snapshot.targets if t.region == "us-west-2")
    assert west.complete, west.errors
    assert west.api_calls == west.minimal_calls
    names = {d.deployment_id: d.name for d in west.deployments}
    modbus = {
        (
            f.rule,
            names.get(f.resource_id, f.resource_id),
            f.details.component_version,
            f.details.recommended_version,
        )
        for f in result.findings
        if f.details.component_name == "com.example.ModbusAdapter"
    }
    # Deleted, with nowhere to move: the component has no version left.
    assert modbus == {
        (Rule.DEPLOYMENT_DELETED, "berlin nucleus upgrade", "1.0.0", None),
        (Rule.DEVICE_DELETED, "gg-berlin-00001", "1.0.0", None),
        (Rule.DEVICE_DELETED, "gg-berlin-00002", "1.0.0", None),
    }


@pytest.mark.usefixtures("modbus_gone")
async def test_a_gone_private_component_is_still_counted_as_private(settings: Settings) -> None:
    result = await scan_once(settings.model_copy(update={"regions": ("us-west-2",)}))

    (west,) = result.snapshot.targets
    assert west.complete, west.errors
    assert NAME in west.private_components
    # AWS's names are never taken for the account's.
    assert not {n for n in west.private_components if n.startswith("aws.")}
    now = dt.datetime.now(dt.UTC)
    status = TargetStatus(
        west.target,
        account=west.account,
        scans=1,
        last_attempt=now,
        last_success=now,
        complete=True,
        snapshot=west,
        complete_snapshot=west,
    )
    registry = CollectorRegistry(auto_describe=True)
    register_collector(registry, StateHolder(DaemonView(now, (status,))), 100, "0", "3")

    def versions(scope: str) -> float | None:
        labels = {
            "scope": scope,
            "vendor_guidance": "DELETED",
            "aws_account_id": ACCOUNT,
            "aws_region": "us-west-2",
            "account_alias": "default",
        }
        return registry.get_sample_value("ggwatch_component_versions", labels)

    assert versions("private") == 1  # ModbusAdapter 1.0.0, deleted with DeleteComponent
    assert versions("public") == 1  # Nucleus 2.14.0, which AWS marked DELETED
