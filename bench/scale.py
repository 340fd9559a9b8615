"""Scale: a full scan near the rate-limit floor, steady-state scans nearly free, a flat daemon.

The simulator runs as its own process with 50 ms latency and the real quota model: one budget
per account and Region shared by every operation (the real 30 req/s, or `--budget` to keep a
run short: the ratios are what count). Figures, each against its target:

- full-scan calls / minimal calls the fleet needs (computed from the fleet itself) <= 1.1
- full-scan wall time / rate-limit floor (minimal calls / budget; AWS IoT's
  membership calls at IoT's own budget, spent alongside, when they take longer)     <= 1.25
- throttled calls / total calls, alone in the account                               <= 2 %
- with a second client using half the budget: wall / floor of the remaining budget <= 1.5,
  throttled / total                                                                 <= 5 %
- steady-state scan (nothing changed) calls / full-scan calls                       <= 5 %
- time from a vendor guidance flip to `finding.opened` / describe-refresh interval   <= 1.0
- peak RSS of `ggwatch run` over its first scans                                    <= 250 MB
- CPU of the idle daemon between scans                                              <= 1 % of a core

The daemon polls every `--poll-seconds` and refreshes guidance every `--refresh-seconds`
(scaled down from the defaults of 5 and 15 minutes; 1:3 at full size, 1:2 in the small run).
The flip has AWS turn an ACTIVE version of its own in use DISCONTINUED at an arbitrary moment
after the idle window (only AWS sets vendor guidance).

It prints its table and exits 1 when a target is missed. `--small` is the scaled-down variant
that tests/integration/test_bench_small.py runs.

    .venv/bin/python -m bench.scale [--budget 300] [--small]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

import anyio
from aiobotocore.config import AioConfig
from aiobotocore.session import get_session

from bench.scan import (
    IOT_RATE,
    REGION,
    SIM_ACCOUNT,
    call_totals,
    control,
    floor_seconds,
    judge,
    minimal_calls,
    start_simulator,
)
from ggwatch.model import DEFAULT_ALIAS, Guidance, TargetId, VersionRef
from ggwatch.scan import ScanState, scan_once
from ggwatch.settings import Settings
from ggwatch.sim.fleet import access_key

PUBLIC_OWNER = "aws"  # the account field of an AWS-provided component's ARN

TARGETS = {
    "full calls / minimal": 1.1,
    "full wall / floor": 1.25,
    "throttled share alone": 0.02,
    "shared wall / floor": 1.5,
    "throttled share shared": 0.05,
    "steady calls / full": 0.05,
    "guidance flip latency / refresh": 1.0,
    "daemon peak RSS MB": 250.0,
    "idle daemon CPU share": 0.01,
}


def settings_for(args: argparse.Namespace) -> Settings:
    # Enough calls in flight to hide the latency at this budget, and no more.
    in_flight = max(2, math.ceil(args.budget * args.latency_ms / 1000 * 1.5))
    return Settings(
        regions=(REGION,),
        quota_share=1.0,
        service_rate=args.budget,
        iot_rate=IOT_RATE,
        max_in_flight=min(64, in_flight),
        account_id=SIM_ACCOUNT,
    )


async def timed_scan(settings: Settings, state: ScanState) -> tuple[float, int]:
    started = time.perf_counter()
    result = await scan_once(settings, state)
    assert result.snapshot.complete, [t.errors for t in result.snapshot.targets]
    return time.perf_counter() - started, result.snapshot.targets[0].api_calls


async def competitor(endpoint: str, rate: float, stop: anyio.Event) -> None:
    """Another tenant of the account: `rate` calls a second, sharing the same budget."""
    config = AioConfig(retries={"total_max_attempts": 1}, max_pool_connections=64)
    async with (
        get_session().create_client("greengrassv2", endpoint_url=endpoint, config=config) as client,
        anyio.create_task_group() as group,
    ):

        async def one() -> None:
            # Throttled or not, the other tenant just carries on.
            with contextlib.suppress(Exception):
                await client.list_components(maxResults=1)

        started, sent = anyio.current_time(), 0
        while not stop.is_set():
            # Calls start on a fixed schedule whatever the latency, as a busy pipeline's would.
            sent += 1
            group.start_soon(one)
            await anyio.sleep(max(0.0, started + sent / rate - anyio.current_time()))


async def shared_scan(settings: Settings, endpoint: str, rate: float) -> tuple[float, int, int]:
    stop = anyio.Event()
    control(endpoint, "/_sim/calls", "DELETE")
    async with anyio.create_task_group() as group:
        group.start_soon(competitor, endpoint, rate, stop)
        await anyio.sleep(1.0)
        wall, _ = await timed_scan(settings, ScanState.new(settings))
        stop.set()
    counts = control(endpoint, "/_sim/calls?since=999999999")["counts"]
    ours = sum(
        n for op, outcomes in counts.items() if op != "ListComponents" for n in outcomes.values()
    )
    throttled = sum(
        o.get("ThrottlingException", 0) for op, o in counts.items() if op != "ListComponents"
    )
    return wall, ours, throttled


def in_use_active(state: ScanState) -> VersionRef:
    """An AWS-provided version the scans found in use and ACTIVE: flipping it opens new
    findings. Only AWS sets vendor guidance, on its own components (the simulator refuses a
    flip of a private version), so the flip is AWS's."""
    cache = state.caches[TargetId(DEFAULT_ALIAS, REGION)]
    return min(
        ref
        for ref, (status, _) in cache.versions.items()
        if status.guidance is Guidance.ACTIVE and status.arn.split(":")[4] == PUBLIC_OWNER
    )


class Openings:
    """Reads the daemon's JSON log lines and notes when a finding on one version opens."""

    def __init__(self, stream: Any) -> None:
        self.watch: VersionRef | None = None
        self.seen = threading.Event()
        self.at = 0.0
        self.thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self.thread.start()

    def _read(self, stream: Any) -> None:
        # Drained to the end, or the daemon would block on a full pipe.
        for line in stream:
            if self.watch is None or self.seen.is_set() or "finding.opened" not in line:
                continue
            with contextlib.suppress(ValueError):
                event = json.loads(line)
                if (event.get("component_name"), event.get("component_version")) == (
                    self.watch.name,
                    self.watch.version,
                ):
                    self.at = time.monotonic()
                    self.seen.set()


def flip_latency(
    args: argparse.Namespace, endpoint: str, ref: VersionRef, reader: Openings
) -> float:
    """Seconds from a guidance flip in the simulator to the daemon's finding.opened on it."""
    reader.watch = ref
    body = {"componentName": ref.name, "componentVersion": ref.version}
    control(endpoint, "/_sim/guidance", "POST", {**body, "vendorGuidance": "DISCONTINUED"})
    flipped = time.monotonic()
    reader.seen.wait(timeout=args.refresh_seconds + args.poll_seconds * 2 + 120)
    latency = reader.at - flipped if reader.seen.is_set() else math.inf
    control(endpoint, "/_sim/guidance", "POST", {**body, "vendorGuidance": "ACTIVE"})
    return latency


def daemon_figures(
    args: argparse.Namespace, endpoint: str, state: ScanState
) -> tuple[float, float, float]:
    """Peak RSS over the first scans, CPU share while idle between scans, flip latency."""
    port = 18499
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_GREENGRASSV2": endpoint,
        "AWS_ENDPOINT_URL_IOT": endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "GGWATCH_REGIONS": REGION,
        "GGWATCH_ACCOUNT_ID": SIM_ACCOUNT,
        "GGWATCH_SERVICE_RATE": str(args.budget),
        "GGWATCH_IOT_RATE": str(IOT_RATE),
        "GGWATCH_QUOTA_SHARE": "1",
        "GGWATCH_MAX_IN_FLIGHT": str(settings_for(args).max_in_flight),
        "GGWATCH_POLL_INTERVAL_SECONDS": str(args.poll_seconds),
        "GGWATCH_DESCRIBE_REFRESH_SECONDS": str(args.refresh_seconds),
        "GGWATCH_HTTP_HOST": "127.0.0.1",
        "GGWATCH_HTTP_PORT": str(port),
        "GGWATCH_LOG_LEVEL": "info",
        "GGWATCH_LOG_FORMAT": "json",
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ggwatch", "run"],
        env=env,
        stderr=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    reader = Openings(daemon.stderr)
    try:
        deadline = time.monotonic() + 900
        while time.monotonic() < deadline:
            time.sleep(1.0)
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5):
                    break
            except OSError:
                continue
        # Let the first scan's aftermath (evaluation, the initial events) finish: idle is
        # what comes after it, until the next interval.
        time.sleep(args.settle_seconds)
        ticks = os.sysconf("SC_CLK_TCK")

        def cpu() -> float:
            fields = Path(f"/proc/{daemon.pid}/stat").read_text().rsplit(")", 1)[1].split()
            return (int(fields[11]) + int(fields[12])) / ticks

        before, started = cpu(), time.monotonic()
        time.sleep(args.idle_seconds)
        idle = (cpu() - before) / (time.monotonic() - started)
        status = Path(f"/proc/{daemon.pid}/status").read_text()
        peak = (
            next(int(line.split()[1]) for line in status.splitlines() if line.startswith("VmHWM:"))
            / 1024
        )
        latency = flip_latency(args, endpoint, in_use_active(state), reader)
    finally:
        daemon.terminate()
        daemon.wait(timeout=30)
    return peak, idle, latency / args.refresh_seconds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget", type=float, default=30.0, help="requests/second")
    parser.add_argument("--small", action="store_true", help="the scaled-down variant")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--idle-seconds", type=float, default=20.0)
    parser.add_argument("--settle-seconds", type=float, default=15.0)
    parser.add_argument("--poll-seconds", type=float, help="daemon poll interval (60; small 20)")
    parser.add_argument("--refresh-seconds", type=float, help="guidance refresh (180; small 40)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    args.devices, args.deployments, args.components, args.versions = (
        (300, 600, 20, 10) if args.small else (10_000, 20_000, 100, 30)
    )
    # The idle window (settle + idle) must end before the next poll; see daemon_figures.
    args.poll_seconds = args.poll_seconds or (20.0 if args.small else 60.0)
    args.refresh_seconds = args.refresh_seconds or (40.0 if args.small else 180.0)
    process, endpoint = start_simulator(args)
    os.environ.update(
        AWS_ENDPOINT_URL_GREENGRASSV2=endpoint,
        AWS_ENDPOINT_URL_IOT=endpoint,
        AWS_ACCESS_KEY_ID=access_key(0),
        AWS_SECRET_ACCESS_KEY="simulated",
        AWS_DEFAULT_REGION=REGION,
    )
    settings = settings_for(args)
    figures: dict[str, float] = {}
    try:
        minimal = minimal_calls(args)
        floor = floor_seconds(args)
        control(endpoint, "/_sim/calls", "DELETE")
        time.sleep(1.0)
        state = ScanState.new(settings)
        wall, _ = anyio.run(timed_scan, settings, state)
        total, throttled = call_totals(endpoint)
        control(endpoint, "/_sim/calls", "DELETE")
        _, steady = anyio.run(timed_scan, settings, state)
        figures["full calls / minimal"] = (total - throttled) / minimal
        figures["full wall / floor"] = wall / floor
        figures["throttled share alone"] = throttled / total
        figures["steady calls / full"] = steady / total
        time.sleep(1.0)
        shared_wall, ours, shared_throttled = anyio.run(
            shared_scan, settings, endpoint, args.budget / 2
        )
        figures["shared wall / floor"] = shared_wall / floor_seconds(args, args.budget / 2)
        figures["throttled share shared"] = shared_throttled / max(1, ours)
        (
            figures["daemon peak RSS MB"],
            figures["idle daemon CPU share"],
            figures["guidance flip latency / refresh"],
        ) = daemon_figures(args, endpoint, state)
    finally:
        process.terminate()
        process.wait(timeout=10)
    print(
        f"fleet: {args.devices} devices, {args.deployments} deployments, {args.components} "
        f"components x {args.versions} versions; {args.latency_ms:.0f} ms latency; "
        f"budget {args.budget:g} req/s; minimal calls {minimal}, floor {floor:.1f} s; "
        f"full scan {wall:.1f} s, {total} calls; daemon poll {args.poll_seconds:g} s, "
        f"guidance refresh {args.refresh_seconds:g} s"
    )
    missed = judge(figures, TARGETS, (32, 10, 8))
    if args.json:
        print(json.dumps(figures))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
