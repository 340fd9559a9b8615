"""What one target's pass costs the daemon's evaluator, alone and among many targets.

The simulator serves the bench fleet of bench.scale (2,000 devices by default); ggwatch scans it
once. Its snapshot then stands for every target of a replica: copies under other aliases. In
this process, one target's fold (its rules, diff, order, view and events) is timed:

- baseline: an evaluator that watches that target alone;
- many: an evaluator that watches `--targets` of them, each with its findings open.

The figure to hold: many / baseline <= 1.5 — a pass costs what its own target's findings cost,
not what every target's do (before, each pass re-diffed and re-sorted all of them). The rules'
share of a fold is printed beside it: it is the same in both.

    .venv/bin/python -m bench.evaluator [--devices 2000] [--targets 40]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
from typing import Any

import anyio

from bench.scan import bench_fleet
from ggwatch.daemon.evaluator import Evaluator
from ggwatch.daemon.poller import ScanOutcome
from ggwatch.model import Snapshot, TargetId, TargetSnapshot
from ggwatch.rules import assess
from ggwatch.scan import scan_once
from ggwatch.settings import Settings
from ggwatch.state import DaemonView, StateHolder, TargetStatus
from ggwatch.tracker import FindingEvent

TARGET = 1.5


async def fold_seconds(
    settings: Settings, snapshots: list[TargetSnapshot], repeat: int
) -> tuple[float, int]:
    """Median seconds of the first target's fold once every target has been folded once."""
    statuses = tuple(TargetStatus(s.target) for s in snapshots)
    holder = StateHolder(DaemonView(started_at=snapshots[0].started, targets=statuses))
    send, receive = anyio.create_memory_object_stream[FindingEvent](1_000_000)
    evaluator = Evaluator(settings, holder, (send,), lambda: snapshots[0].finished)
    for snapshot in snapshots:
        await evaluator.fold(ScanOutcome(snapshot.target, snapshot, 1.0))
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        await evaluator.fold(ScanOutcome(snapshots[0].target, snapshots[0], 1.0))
        times.append(time.perf_counter() - started)
    send.close()
    receive.close()
    return statistics.median(times), len(holder.view.findings)


async def measure(settings: Settings, targets: int, repeat: int) -> dict[str, float]:
    result = await scan_once(settings)
    (one,) = result.snapshot.targets
    if not one.complete:
        raise SystemExit(f"the scan was incomplete: {one.errors}")
    copies = [
        dataclasses.replace(one, target=TargetId(f"account-{i:02d}", one.target.region))
        for i in range(targets)
    ]
    started = time.perf_counter()
    for _ in range(repeat):
        assess(Snapshot((one,)), settings.rules_config, one.finished)
    rules = (time.perf_counter() - started) / repeat
    alone, _ = await fold_seconds(settings, copies[:1], repeat)
    many, findings = await fold_seconds(settings, copies, repeat)
    return {
        "findings per target": float(len(result.findings)),
        "open findings, all targets": float(findings),
        "rules seconds (each fold)": rules,
        "fold seconds, alone": alone,
        "fold seconds, among many": many,
        "many / alone": many / alone,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=2_000)
    parser.add_argument("--targets", type=int, default=40)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    with bench_fleet(args) as settings:
        figures: Any = anyio.run(measure, settings, args.targets, args.repeat)
    print(f"fleet: {args.devices} devices per target, {args.targets} targets")
    for name, value in figures.items():
        print(f"{name:>28}  {value:12.4f}")
    ok = figures["many / alone"] <= TARGET
    print(f"{'many / alone':>28}  target <= {TARGET:g}  {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
