"""A private component removed with DeleteComponent, version by version, down to the last one.

AWS offers no other way to withdraw a private version: afterwards DescribeComponent answers
404 for it, and once its last version is gone the component itself is: ListComponents no
longer lists it and ListComponentVersions answers ResourceNotFoundException. Devices keep
running what they installed, and deployments still name it.
"""

from __future__ import annotations

from typing import Any

import aiohttp

from ggwatch.findings import Rule
from ggwatch.scan import scan_once
from ggwatch.settings import Settings
from ggwatch.sim.server import Running

MODBUS = "arn:aws:greengrass:us-west-2:123456789012:components:com.example.ModbusAdapter"


async def test_a_component_whose_last_version_was_deleted_is_still_read(
    sim: Running, settings: Settings, gg: Any, control: aiohttp.ClientSession
) -> None:
    # The service grants what the settings say: no throttled call above the minimum.
    response = await control.patch("/_sim/knobs", json={"rate_limit": settings.service_rate})
    assert response.status == 200
    # The sample fleet deleted ModbusAdapter 0.9.0; the team now deletes 1.0.0 too, which the
    # Berlin line runs and its deployment in force names.
    await gg.delete_component(arn=f"{MODBUS}:versions:1.0.0")
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
