"""`ggwatch run` RSS per 10,000 devices watched, against a tiny fleet in the same run.

Two fleets, one after the other, each the bench fleet of bench.scale (devices, twice as many
deployments, 100 components x 30 versions) in a `ggwatch sim` process of its own with no
latency and budgets high enough not to matter: `--devices` (10,000; `--small` 1,000) and a
baseline of 10 devices. Against each, `ggwatch run` (its own process, one target, the bench
fleet's settings) runs until its log says the first scan of its target was complete and
evaluated (`scan.completed` is logged after the assessment); then its VmRSS (resident now) and
VmHWM (its peak so far) are read from /proc.

What the interpreter, the libraries, the clients and the 100 components' catalogue cost is in
both; the difference is what the devices (and their deployments) cost. The figure is that
difference scaled to 10,000 devices: (RSS(N) - RSS(10)) / (N - 10) x 10,000, aim <= 100 MB,
judged on VmRSS (the peak's difference is printed beside it). It is a report, not a gate: the
exit code is 0 unless the run failed.

    .venv/bin/python -m bench.memory [--devices 10000] [--small]
"""

from __future__ import annotations

import argparse
import datetime as dt
import time
from dataclasses import dataclass

from bench.cost import unmetered_iot
from bench.scan import bench_fleet
from bench.shards import Replica, start_replica, watch
from bench.soak import rss_mb
from bench.targets import daemon_env, stop_all
from ggwatch.settings import TargetConfig

AIM_MB = 100.0
PER = 10_000
BASELINE_DEVICES = 10
SMALL_DEVICES = 1_000


@dataclass(frozen=True, slots=True)
class Watched:
    devices: int
    deployments: int
    rss_mb: float  # VmRSS once the first scan was evaluated
    daemon: Replica  # its peak RSS (VmHWM) then, first scan wall, completeness


def watch_fleet(devices: int, args: argparse.Namespace) -> Watched:
    fleet_args = argparse.Namespace(devices=devices, seed=args.seed)
    with bench_fleet(fleet_args) as fleet:
        endpoint = unmetered_iot(fleet)
        target = TargetConfig(
            account="bench",
            account_id=fleet.account_id,
            regions=fleet.regions,
            endpoint_url=endpoint,
            iot_endpoint_url=endpoint,
        )
        env = {
            **daemon_env(fleet_args, [target]),
            # bench_fleet's, not daemon_env's: with no latency that would leave 2 in flight.
            "GGWATCH_MAX_IN_FLIGHT": str(fleet.max_in_flight),
            "GGWATCH_IOT_RATE": str(fleet.iot_rate),
        }
        started = time.monotonic()
        process, lines = start_replica(0, 1, env)  # the only replica: it owns the target
        try:
            daemon = watch(0, process, lines, started, args.timeout)
            rss = rss_mb(process.pid)
        finally:
            stop_all([process])
    if daemon.incomplete:
        raise SystemExit(f"the daemon's first scan of {devices} devices was not complete")
    return Watched(devices, fleet_args.deployments, rss, daemon)


def per_devices(base: float, big: float, base_devices: int, big_devices: int) -> float:
    return (big - base) / (big_devices - base_devices) * PER


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=PER)
    parser.add_argument("--small", action="store_true", help=f"{SMALL_DEVICES} devices")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to a first scan")
    args = parser.parse_args()
    if args.small:
        args.devices = SMALL_DEVICES
    if args.devices <= BASELINE_DEVICES:
        parser.error(f"--devices must be more than the baseline's {BASELINE_DEVICES}")
    base, big = (watch_fleet(n, args) for n in (BASELINE_DEVICES, args.devices))
    print(
        f"fleets: {base.devices} and {big.devices} devices (twice as many deployments, 100 "
        f"components x 30 versions), one `ggwatch run` each to its first complete scan "
        f"({dt.date.today()})"
    )
    print(
        f"{'devices':>8} {'deployments':>11} {'first scan s':>12} {'VmRSS MB':>9} {'VmHWM MB':>9}"
    )
    for w in (base, big):
        print(
            f"{w.devices:>8} {w.deployments:>11} {w.daemon.first_scan_wall:>12.1f} "
            f"{w.rss_mb:>9.1f} {w.daemon.peak_rss_mb:>9.1f}"
        )
    rss = per_devices(base.rss_mb, big.rss_mb, base.devices, big.devices)
    peak = per_devices(base.daemon.peak_rss_mb, big.daemon.peak_rss_mb, base.devices, big.devices)
    print(f"per {PER:,} devices watched: RSS {rss:.1f} MB (peak {peak:.1f} MB)")
    print(f"aim <= {AIM_MB:g} MB per {PER:,} devices: {'met' if rss <= AIM_MB else 'missed'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
