"""What the first scan after a restart costs with `state_path`, against a full scan.

The simulator (its own process, no latency, a budget high enough not to matter) serves the
bench fleet of bench.scale. In the same run:

- full: a scan with empty caches, what every start cost before `state_path`;
- its caches are saved in a real state file (ggwatch.inventory.statefile, SQLite in a
  temporary directory), the process's scan state is thrown away, and a new one is restored
  from the file, as a restarted daemon's is;
- restarted: the first scan of the restored state (guidance read seconds ago is still fresh,
  as it is after a rollout that takes less than describe_refresh_seconds).

The figure to hold: restarted calls / full calls <= 0.05.

    .venv/bin/python -m bench.restart [--devices 10000]
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path
from typing import Any

import anyio

from bench.scan import SIM_ACCOUNT, bench_fleet
from ggwatch.inventory.statefile import Saved, StateFile
from ggwatch.scan import ScanState, scan_once
from ggwatch.settings import Settings

TARGET = 0.05


async def measure(settings: Settings, path: Path) -> dict[str, float]:
    state = ScanState.new(settings)
    started = time.perf_counter()
    full = await scan_once(settings, state)
    full_seconds = time.perf_counter() - started
    (target,) = full.snapshot.targets
    if not target.complete:
        raise SystemExit(f"the full scan was incomplete: {target.errors}")
    file = await StateFile.open(path)
    started = time.perf_counter()
    await file.save(
        target.target, SIM_ACCOUNT, Saved.of(state.cache(target.target)), full.generated_at
    )
    save_seconds = time.perf_counter() - started
    file.close()

    restarted_state = ScanState.new(settings)
    file = await StateFile.open(path)
    started = time.perf_counter()
    restarted_state.restored.update(await file.load())
    load_seconds = time.perf_counter() - started
    file.close()
    started = time.perf_counter()
    again = await scan_once(settings, restarted_state)
    again_seconds = time.perf_counter() - started
    (after,) = again.snapshot.targets
    if not after.complete:
        raise SystemExit(f"the restarted scan was incomplete: {after.errors}")
    if {f.key for f in again.findings} != {f.key for f in full.findings}:
        raise SystemExit("the restarted scan found something else than the full one")
    return {
        "full scan calls": float(target.api_calls),
        "restarted scan calls": float(after.api_calls),
        "restarted / full calls": after.api_calls / target.api_calls,
        "full scan seconds": full_seconds,
        "restarted scan seconds": again_seconds,
        "state file bytes": float((await anyio.Path(path).stat()).st_size),
        "save seconds": save_seconds,
        "load seconds": load_seconds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--devices", type=int, default=10_000)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    with bench_fleet(args) as settings, tempfile.TemporaryDirectory() as directory:
        figures: Any = anyio.run(measure, settings, Path(directory) / "state.db")
    print(f"fleet: {args.devices} devices, {args.deployments} deployments ({dt.date.today()})")
    for name, value in figures.items():
        print(f"{name:>24}  {value:14.3f}")
    ok = figures["restarted / full calls"] <= TARGET
    print(f"{'restarted / full calls':>24}  target <= {TARGET:g}  {'ok' if ok else 'MISSED'}")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main())
