"""Whose a component version is, when ListComponents no longer lists the component.

DeleteComponent on a private component's last version takes the component out of
ListComponents (PRIVATE) while devices still run it and deployments still name it. It stays
the account's own: the inventory gauge counts its versions as private, not as AWS's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import aiohttp
from prometheus_client import CollectorRegistry

from ggwatch.scan import scan_once
from ggwatch.settings import Settings
from ggwatch.sim.server import Running
from ggwatch.sinks.metrics import register_collector
from ggwatch.state import DaemonView, StateHolder, TargetStatus

MODBUS = "com.example.ModbusAdapter"
ACCOUNT = "123456789012"


async def test_a_gone_private_component_is_still_counted_as_private(
    sim: Running, settings: Settings, gg: Any, control: aiohttp.ClientSession
) -> None:
    response = await control.patch("/_sim/knobs", json={"rate_limit": settings.service_rate})
    assert response.status == 200
    # The sample fleet deleted ModbusAdapter 0.9.0; 1.0.0, which the Berlin line runs, goes too.
    arn = f"arn:aws:greengrass:us-west-2:{ACCOUNT}:components:{MODBUS}:versions:1.0.0"
    await gg.delete_component(arn=arn)

    result = await scan_once(settings.model_copy(update={"regions": ("us-west-2",)}))

    (west,) = result.snapshot.targets
    assert west.complete, west.errors
    assert MODBUS in west.private_components
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
