"""How the simulator scales: generate, start, and page through a large fleet.

Each fleet runs in a fresh child process, so its peak memory is its own. The small fleet is the
baseline of the same run: generation should grow linearly with the fleet (ratio near the size
ratio) while one page of ListDeployments should cost the same at any size (keyset pagination),
so its ratio should stay near 1.

    .venv/bin/python -m bench.sim_scale            (or: make bench)
"""

from __future__ import annotations

import asyncio
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

FLEETS = ((1_000, 2_000), (10_000, 20_000))
PAGES = 40


async def _page_through(endpoint: str) -> tuple[float, int]:
    from aiobotocore.config import AioConfig
    from aiobotocore.session import get_session

    os.environ.update(
        AWS_ACCESS_KEY_ID="AKIASIM0000000000000",
        AWS_SECRET_ACCESS_KEY="simulated",
        AWS_DEFAULT_REGION="us-west-2",
        AWS_ENDPOINT_URL_GREENGRASSV2=endpoint,
        AWS_ENDPOINT_URL_IOT=endpoint,
    )
    config = AioConfig(retries={"total_max_attempts": 1})
    async with get_session().create_client("greengrassv2", config=config) as client:
        paginator = client.get_paginator("list_deployments")
        pages = 0
        items = 0
        started = time.perf_counter()
        async for page in paginator.paginate(
            historyFilter="ALL", PaginationConfig={"PageSize": 100}
        ):
            pages += 1
            items += len(page["deployments"])
            if pages == PAGES:
                break
        return (time.perf_counter() - started) / pages, items


async def _child(devices: int, deployments: int) -> dict[str, Any]:
    from ggwatch.sim.faults import Knobs
    from ggwatch.sim.fleet import FleetSpec, generate
    from ggwatch.sim.server import Simulator, serve

    started = time.perf_counter()
    world = generate(FleetSpec(devices=devices, deployments=deployments), now=time.time())
    generated = time.perf_counter()
    simulator = Simulator(world, Knobs(rate_limit=0))
    async with serve(simulator) as running:
        up = time.perf_counter()
        page_seconds, items = await _page_through(running.endpoint)
    state = next(iter(world.states()))
    return {
        "devices": len(state.devices),
        "deployments": len(state.deployments),
        "installed": sum(len(d.installed) for d in state.devices.values()),
        "generate_s": generated - started,
        "start_s": up - generated,
        "page_ms": page_seconds * 1000,
        "paged_items": items,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main() -> None:
    if len(sys.argv) == 4 and sys.argv[1] == "--child":
        result = asyncio.run(_child(int(sys.argv[2]), int(sys.argv[3])))
        print(json.dumps(result))
        return
    rows = []
    for devices, deployments in FLEETS:
        out = subprocess.run(
            [sys.executable, "-m", "bench.sim_scale", "--child", str(devices), str(deployments)],
            check=True,
            capture_output=True,
            text=True,
        )
        rows.append(json.loads(out.stdout.strip().splitlines()[-1]))
    print(
        f"{'devices':>8} {'deploys':>8} {'installed':>9} {'generate s':>10} {'start s':>8} "
        f"{'page ms':>8} {'peak RSS MB':>11}"
    )
    for r in rows:
        print(
            f"{r['devices']:>8} {r['deployments']:>8} {r['installed']:>9} "
            f"{r['generate_s']:>10.2f} {r['start_s']:>8.3f} {r['page_ms']:>8.2f} "
            f"{r['peak_rss_mb']:>11.0f}"
        )
    base, big = rows[0], rows[-1]
    size = big["devices"] / base["devices"]
    print(f"fleet size ratio: {size:.0f}x")
    print(
        f"generate time ratio: {big['generate_s'] / base['generate_s']:.1f}x (linear = {size:.0f}x)"
    )
    print(f"ListDeployments page time ratio: {big['page_ms'] / base['page_ms']:.2f}x (flat = 1)")
    print(f"peak RSS ratio: {big['peak_rss_mb'] / base['peak_rss_mb']:.1f}x")


if __name__ == "__main__":
    main()
