"""Sharded replicas: N `ggwatch run` processes share the targets, each in about the time of one.

The fleet of bench.targets (one `ggwatch sim` process per account, every Region with its own
budget, latency, the real quota model), more accounts: 8 accounts x 5 Regions = 40 targets by
default. Measured in one run, from cold caches:

- the slowest single target alone (`scan_once` over the targets that needed the most calls);
- `--shards` replicas of `ggwatch run` started together, each with GGWATCH_SHARD=i and
  GGWATCH_TOTAL_SHARDS, until each one's /readyz says every target it owns had a complete scan;
  with `--one-at-a-time`, one after another, each alone on the machine (what a replica takes
  with a core of its own, which a 2-core machine cannot give four replicas at once).

Figures, each against its target:

- slowest shard's first scan / slowest single target      <= 1.2
- targets owned: union = all targets, overlap 0             exact
- incomplete targets                                         0

Also printed: each shard's targets, first-scan wall and peak RSS. On a 2-core machine the
simulators and replicas share the CPU; the CPU shares show when a run is bound by it.
`--small` (4 accounts x 2 Regions of 100 devices, 2 shards) is the scaled-down variant.

    .venv/bin/python -m bench.shards [--small] [--shards 4] [--budget 30] [--one-at-a-time]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import queue
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.targets import (
    ACCESS_KEY,
    Account,
    Timed,
    cpu_seconds,
    daemon_env,
    json_lines,
    quiet,
    reset_calls,
    settings_for,
    start_accounts,
    stop_all,
    target_configs,
    timed_scan,
)
from ggwatch.model import TargetSnapshot
from ggwatch.settings import TargetConfig

TARGET = 1.2


@dataclass(frozen=True, slots=True)
class Replica:
    shard: int
    owned: frozenset[str]
    first_scan_wall: float  # its slowest target's first scan, as it logged it
    ready_after: float
    peak_rss_mb: float
    incomplete: int
    cpu_seconds: float


def start_replica(shard: int, total: int, env: dict[str, str]) -> tuple[Any, queue.Queue[Any]]:
    process = subprocess.Popen(
        [sys.executable, "-m", "ggwatch", "run"],
        env={**env, "GGWATCH_SHARD": str(shard), "GGWATCH_TOTAL_SHARDS": str(total)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    threading.Thread(target=json_lines, args=(process.stderr, lines), daemon=True).start()
    return process, lines


def watch(
    shard: int, process: Any, lines: queue.Queue[Any], started: float, timeout: float
) -> Replica:
    """Read the replica's log until every target it owns had its first scan; `started`: when
    the replicas were started (ready_after counts from then)."""
    seen: list[dict[str, Any]] = []
    owned: frozenset[str] | None = None
    first: dict[str, dict[str, Any]] = {}
    while time.monotonic() - started < timeout:
        with contextlib.suppress(queue.Empty):
            seen.append(lines.get(timeout=1))
            event = seen[-1]
            if event.get("event") == "daemon.started":
                owned = frozenset(event["targets"])
            elif event.get("event") == "scan.completed":
                first.setdefault(f"{event['account_alias']}/{event['aws_region']}", event)
        if owned is not None and owned <= set(first):
            break
    if owned is None:
        raise RuntimeError(f"shard {shard} did not start: {seen[-5:]}")
    status = Path(f"/proc/{process.pid}/status").read_text()
    peak = next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmHWM:")
    mine = [first[t] for t in owned if t in first]
    return Replica(
        shard=shard,
        owned=owned,
        first_scan_wall=max((e["duration_seconds"] for e in mine), default=0.0),
        ready_after=time.monotonic() - started,
        peak_rss_mb=peak / 1024,
        incomplete=len(owned) - sum(bool(e.get("complete")) for e in mine),
        cpu_seconds=cpu_seconds(process.pid),
    )


def run_replicas(
    args: argparse.Namespace, targets: list[TargetConfig], timeout: float
) -> list[Replica]:
    env = daemon_env(args, targets)
    if args.one_at_a_time:
        # Each replica with the machine to itself, as on nodes with a core per replica; the
        # others' targets are idle meanwhile, and no target is shared, so none is warmed.
        alone = []
        for i in range(args.shards):
            at = time.monotonic()
            process, lines = start_replica(i, args.shards, env)
            try:
                alone.append(watch(i, process, lines, at, timeout))
            finally:
                stop_all([process])
        return alone
    at = time.monotonic()
    started = [start_replica(i, args.shards, env) for i in range(args.shards)]
    try:
        return [watch(i, p, lines, at, timeout) for i, (p, lines) in enumerate(started)]
    finally:
        stop_all(p for p, _ in started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget", type=float, help="requests/second per account and Region")
    parser.add_argument("--small", action="store_true", help="the scaled-down variant")
    parser.add_argument("--shards", type=int, help="replicas (4; small 2)")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--singles", type=int, default=2, help="single-target scans")
    parser.add_argument("--timeout", type=float, default=900.0, help="seconds to the first scans")
    parser.add_argument(
        "--one-at-a-time",
        action="store_true",
        help="start the replicas one after another, each alone on the machine",
    )
    args = parser.parse_args()
    args.accounts, args.regions, args.devices, args.components, args.versions = (
        (4, 2, 100, 8, 6) if args.small else (8, 5, 500, 20, 10)
    )
    args.budget = args.budget or (60.0 if args.small else 30.0)
    args.shards = args.shards or (2 if args.small else 4)
    accounts: list[Account] = start_accounts(args)
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY="simulated")
    for name in ("AWS_ENDPOINT_URL_GREENGRASSV2", "AWS_ENDPOINT_URL_IOT", "AWS_ENDPOINT_URL"):
        os.environ.pop(name, None)  # each target names its own simulator
    try:
        configs = target_configs(args, accounts)
        everything = {f"{c.account}/{r}" for c in configs for r in c.regions}
        # The heaviest targets alone: their calls from a quick scan of one Region of each of
        # the first accounts (every account's fleet has the same size).
        singles: list[tuple[TargetSnapshot, Timed]] = []
        for config in configs[: args.singles]:
            quiet()
            one = config.model_copy(update={"regions": (config.regions[0],)})
            timed = timed_scan(settings_for(args, [one]), accounts)
            singles.append((timed.targets[0], timed))
        reset_calls(accounts)
        quiet()
        sims_before = sum(cpu_seconds(a.process.pid) for a in accounts)
        at = time.monotonic()
        replicas = run_replicas(args, configs, args.timeout)
        window = time.monotonic() - at
        sims = sum(cpu_seconds(a.process.pid) for a in accounts) - sims_before
    finally:
        stop_all(a.process for a in accounts)
    slowest = max(t.wall for _, t in singles)
    owned = [r.owned for r in replicas]
    union = frozenset().union(*owned)
    overlap = sum(map(len, owned)) - len(union)
    ratio = max(r.first_scan_wall for r in replicas) / slowest
    print(
        f"fleet: {args.accounts} accounts x {args.regions} Regions = {len(everything)} targets "
        f"of {args.devices} devices; {args.latency_ms:.0f} ms latency; budget {args.budget:g} "
        f"req/s per account and Region; {args.shards} replicas"
        f"{' one at a time' if args.one_at_a_time else ''}; {os.cpu_count()} CPUs"
    )
    print(f"slowest single target alone: {slowest:.1f} s")
    for r in replicas:
        print(
            f"shard {r.shard}: {len(r.owned):3d} targets, first scan {r.first_scan_wall:6.1f} s, "
            f"ready after {r.ready_after:6.1f} s, peak RSS {r.peak_rss_mb:6.1f} MB, "
            f"incomplete {r.incomplete}"
        )
    checks = {
        "slowest shard / slowest single": (ratio, ratio <= TARGET, f"<= {TARGET:g}"),
        "union = all targets": (float(union == everything), union == everything, "exact"),
        "overlap": (float(overlap), overlap == 0, "0"),
        "incomplete targets": (
            float(sum(r.incomplete for r in replicas)),
            not any(r.incomplete for r in replicas),
            "0",
        ),
    }
    busy = (sims + sum(r.cpu_seconds for r in replicas)) / (window * (os.cpu_count() or 1))
    print(
        f"CPU: simulators {sims / window:.2f} cores, replicas "
        f"{sum(r.cpu_seconds for r in replicas) / window:.2f} cores; machine busy {busy:.0%} "
        "(near 100%: the run is bound by this machine's CPU, not by the budget)"
    )
    for name, (value, ok, target) in checks.items():
        print(f"{name:>32}  {value:8.3f}  target {target:>6}  {'ok' if ok else 'MISSED'}")
    return 0 if all(ok for _, ok, _ in checks.values()) else 1


if __name__ == "__main__":
    raise SystemExit(main())
