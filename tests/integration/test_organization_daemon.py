"""`ggwatch run` follows the organisation without a restart: an account that joins becomes a
target, a suspended one stops being one. Organizations and STS: moto's server; Greengrass V2
and AWS IoT: the simulator (every account moto's STS hands out keys for reads its fleet)."""

from __future__ import annotations

import re
from functools import partial

import aiohttp
import anyio
import pytest

from ggwatch.daemon import run
from ggwatch.settings import Settings
from ggwatch.sim.server import Running
from tests.integration.conftest import Org

REGION = "us-west-2"
OWNED = re.compile(r'^ggwatch_scans_total\{[^}]*account_alias="(\d{12})"', re.MULTILINE)


async def aliases(http: aiohttp.ClientSession, port: int) -> set[str] | None:
    """The account aliases the metrics show; None while the stages restart with new targets
    (the listener is closed for that moment)."""
    try:
        async with http.get(f"http://127.0.0.1:{port}/metrics") as answer:
            return set(OWNED.findall(await answer.text()))
    except aiohttp.ClientConnectorError:
        return None


async def wait_for(http: aiohttp.ClientSession, port: int, wanted: set[str]) -> None:
    with anyio.fail_after(30):
        while await aliases(http, port) != wanted:  # noqa: ASYNC110 - polling the daemon over HTTP
            await anyio.sleep(0.2)


@pytest.mark.usefixtures("sim")
async def test_accounts_join_and_leave_while_it_runs(org: Org, sim: Running) -> None:
    settings = Settings(
        targets_from="organization",
        regions=(REGION,),
        organization={"include_ous": [org.ous["lab"]], "refresh_seconds": 1},
        http_host="127.0.0.1",
        http_port=0,
        service_rate=1000.0,
        iot_rate=1000.0,
        quota_share=1.0,
    )
    ports: list[int] = []
    async with aiohttp.ClientSession() as http, anyio.create_task_group() as group:
        group.start_soon(partial(run, settings, on_ready=ports.append))
        with anyio.fail_after(15):
            while not ports:  # noqa: ASYNC110 - on_ready is a plain callback
                await anyio.sleep(0.05)
        port = ports[0]
        await wait_for(http, port, {org.accounts["lab"]})
        joined = org.add("joined", "lab")
        org.client.close_account(AccountId=org.accounts["lab"])
        await wait_for(http, port, {joined})  # the same port: the process never restarted
        group.cancel_scope.cancel()
