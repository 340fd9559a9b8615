"""What dependency resolution costs next to the scan it follows, on the 10,000-device fleet.

The simulator (its own process, no latency, a budget high enough not to matter) serves the
bench fleet of bench.scale; ggwatch scans it once for a complete snapshot. Then, in this
process, on that snapshot:

- baseline: the rules without the resolution families (`evaluate` over the rest of RULES);
- full: every rule, plus the remediation plans (`assess`);
- resolution = full - baseline, the evaluation time resolution adds, and the device classes
  it resolved (distinct resolutions: devices with the same deployments, platform and installed
  versions resolve once).

The figure to hold: resolution / the scan's rate-limit floor at the real budget (minimal calls
/ 30 req/s, the least wall time a full scan of this fleet can take) <= 0.05. The floor is the
scan's wall time at best, so the ratio is conservative.

    .venv/bin/python -m bench.resolution [--devices 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import anyio

from bench.scan import bench_fleet
from ggwatch.model import Snapshot
from ggwatch.rules import RULES, Scope, assess, evaluate, resolvable
from ggwatch.scan import scan_once
from ggwatch.settings import Settings

TARGET = 0.05
REAL_BUDGET = 30.0  # requests/second: the account's Greengrass V2 quota


def measure(snapshot: Snapshot, settings: Settings, repeat: int) -> dict[str, float]:
    now = snapshot.targets[0].finished
    config = settings.rules_config
    without = tuple(
        f
        for f in RULES
        if f
        not in (resolvable.deployment_resolution_findings, resolvable.device_resolution_findings)
    )
    baseline, full = [], []
    for _ in range(repeat):
        started = time.perf_counter()
        evaluate(snapshot, config, now, without)
        baseline.append(time.perf_counter() - started)
        started = time.perf_counter()
        assessment = assess(snapshot, config, now)
        full.append(time.perf_counter() - started)
    scope = Scope(snapshot.targets[0], config, now)
    for device in scope.target.devices:
        scope.fleet.device(device)
    return {
        "baseline seconds": statistics.median(baseline),
        "full seconds": statistics.median(full),
        "resolution seconds": max(0.0, statistics.median(full) - statistics.median(baseline)),
        "device classes": float(scope.fleet.classes),
        "findings": float(len(assessment.findings)),
        "plans": float(len(assessment.plans)),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    with bench_fleet(args) as settings:
        result: Any = anyio.run(scan_once, settings)
    snapshot = result.snapshot
    if not snapshot.complete:
        print("the scan was incomplete:", [t.errors for t in snapshot.targets])
        return 1
    figures = measure(snapshot, settings, args.repeat)
    floor = snapshot.targets[0].minimal_calls / REAL_BUDGET
    figures["scan floor seconds at 30 req/s"] = floor
    figures["resolution / scan floor"] = figures["resolution seconds"] / floor
    print(
        f"fleet: {args.devices} devices, {args.deployments} deployments; "
        f"{int(figures['device classes'])} device classes; minimal calls "
        f"{snapshot.targets[0].minimal_calls}, floor {floor:.1f} s at {REAL_BUDGET:g} req/s"
    )
    for name, value in figures.items():
        print(f"{name:>34}  {value:10.3f}")
    ok = figures["resolution / scan floor"] <= TARGET
    print(f"{'resolution / scan floor':>34}  target <= {TARGET:g}  {'ok' if ok else 'MISSED'}")
    if args.json:
        print(json.dumps(figures))
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
