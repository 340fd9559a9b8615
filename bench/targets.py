"""Many targets: one daemon scans 20 account-regions in about the time of its slowest one.

Four `ggwatch sim` processes stand for four accounts, each with five Regions of 500 core
devices, 50 ms latency and the real quota model: one budget per account and Region (the real
30 req/s, or `--budget`). Every target signs with the SDK's one set of credentials, as targets
without a role do, so each process is started with `--default-account i`: it answers any
access key as its own account (a distinct id, fleet and set of budgets), and each target's
`endpoint_url` picks the account. ggwatch uses the whole budget (quota_share 1.0): a target
cannot finish faster than its own calls / budget, whatever the others do.

Measured in one run, each target scanned from a cold cache:

- `scan_once` over all 20 targets (every one at once, each paced by its own bucket);
- `scan_once` over one target, for the `--singles` targets that needed the most calls there;
- `ggwatch run` (its own process) with GGWATCH_TARGETS for the 20 targets, until /readyz says
  every target had a complete scan: its peak RSS (VmHWM) and its first scan's wall time.

Figures, each against its target:

- all-targets wall / slowest single-target wall              <= 1.5 (the sum would be ~20)
- the daemon's first-scan wall / slowest single-target wall  <= 1.5
- daemon peak RSS MB after its first complete scan           <= 250
- incomplete targets, in scan_once and in the daemon          0

The daemon's first-scan wall is its slowest target's first scan as it logged it
(`scan.completed`); the time from `daemon.started` to /readyz, which also waits for every
outcome to be evaluated, is printed beside it. Also printed: the calls the simulators answered
(and those ggwatch counted), the sum of the single-target times (the measured ones' seconds per
call times every target's calls), and the CPU share of the scanning process and of the
simulators during each scan, so that a run bound by a small machine's CPU shows as one.

It exits 1 when a target is missed. `--small` (2 accounts x 2 Regions of 100 devices, budget
60) is the scaled-down variant tests/integration/test_bench_targets_small.py runs.

    .venv/bin/python -m bench.targets [--budget 30] [--small] [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import queue
import subprocess
import sys
import threading
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import anyio

from bench.scan import call_totals, control, judge
from ggwatch.model import TargetSnapshot
from ggwatch.scan import ScanState, scan_once
from ggwatch.settings import Settings, TargetConfig

REGIONS = ("us-west-2", "us-east-1", "eu-west-1", "eu-central-1", "ap-northeast-1")
# Not one of the simulator's own keys (access_key(i) would select account i in every
# process): unknown keys are answered as the process's --default-account.
ACCESS_KEY = "AKIABENCHTARGETS0000"
TARGETS = {
    "all wall / slowest single": 1.5,
    "daemon first scan / slowest single": 1.5,
    "daemon ready / slowest single": 1.5,
    "daemon peak RSS MB": 250.0,
    "incomplete targets, scan_once": 0.0,
    "incomplete targets, daemon": 0.0,
}


@dataclass(frozen=True, slots=True)
class Account:
    alias: str
    endpoint: str
    process: subprocess.Popen[str]


def start_accounts(args: argparse.Namespace) -> list[Account]:
    """One simulator per account, all generated from the same seed: process i serves account i
    of the same world, so the accounts differ as a 4-account simulator's would."""
    regions = ",".join(REGIONS[: args.regions])
    started: list[Account] = []
    ready: list[Account] = []
    try:
        for index in range(args.accounts):
            command = [
                *(sys.executable, "-m", "ggwatch", "sim", "--port", "0"),
                *("--seed", str(args.seed), "--accounts", str(args.accounts)),
                *("--default-account", str(index), "--regions", regions),
                *("--devices", str(args.devices), "--components", str(args.components)),
                *("--versions", str(args.versions), "--latency-ms", str(args.latency_ms)),
                *("--rate-limit", str(args.budget)),
            ]
            process = subprocess.Popen(
                command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
            )
            started.append(Account(f"acct-{index}", "", process))
        # Started together, so the fleets generate in parallel; then each banner in turn.
        for account in started:
            assert account.process.stdout is not None
            endpoint = next(
                (
                    line.rsplit(" ", 1)[-1].strip()
                    for line in account.process.stdout
                    if "listening on" in line
                ),
                None,
            )
            if endpoint is None:
                raise RuntimeError(f"the simulator for {account.alias} did not start")
            ready.append(Account(account.alias, endpoint, account.process))
    finally:
        if len(ready) < len(started):  # one did not start: none is left running
            stop_all(a.process for a in started)
    return ready


def stop_all(processes: Any) -> None:
    for process in processes:
        if process.poll() is None:
            process.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def target_configs(args: argparse.Namespace, accounts: list[Account]) -> list[TargetConfig]:
    return [
        TargetConfig(
            account=a.alias,
            # Known, so no STS: each simulator answers the benchmark's key as its own account.
            account_id=control(a.endpoint, "/_sim/fleet")["default_account"],
            regions=REGIONS[: args.regions],
            endpoint_url=a.endpoint,
            iot_endpoint_url=a.endpoint,  # the same simulator serves its AWS IoT calls
        )
        for a in accounts
    ]


def in_flight(args: argparse.Namespace) -> int:
    # Enough calls in flight per target to hide the latency at this budget, and no more.
    budget: float = args.budget
    latency: float = args.latency_ms / 1000
    return min(64, max(2, math.ceil(budget * latency * 1.5)))


def settings_for(args: argparse.Namespace, targets: list[TargetConfig]) -> Settings:
    return Settings(
        targets=tuple(targets),
        quota_share=1.0,
        service_rate=args.budget,
        max_in_flight=in_flight(args),
    )


def cpu_seconds(pid: int) -> float:
    """User and system CPU of a process so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True, slots=True)
class Timed:
    wall: float
    targets: tuple[TargetSnapshot, ...]
    cpu_share: float  # of one core, this process (one event loop: 1.0 is all it can get)
    sims_cpu_share: float  # of one core, all simulators together


def timed_scan(settings: Settings, accounts: list[Account]) -> Timed:
    sims_before = sum(cpu_seconds(a.process.pid) for a in accounts)
    cpu_before, started = time.process_time(), time.perf_counter()
    result = anyio.run(scan_once, settings, ScanState.new(settings))
    wall = time.perf_counter() - started
    cpu = time.process_time() - cpu_before
    sims = sum(cpu_seconds(a.process.pid) for a in accounts) - sims_before
    return Timed(wall, result.snapshot.targets, cpu / wall, sims / wall)


def floor(snapshot: TargetSnapshot, budget: float) -> float:
    """The fastest this target's scan could be at its budget: the calls it needed / budget."""
    return (snapshot.api_calls - snapshot.throttled_calls) / budget


def served(accounts: list[Account]) -> tuple[int, int]:
    """Calls and throttled calls the simulators answered since their logs were reset: counted
    by the other side, not by ggwatch."""
    totals = [call_totals(a.endpoint) for a in accounts]
    return sum(t for t, _ in totals), sum(n for _, n in totals)


def reset_calls(accounts: list[Account]) -> None:
    for account in accounts:
        control(account.endpoint, "/_sim/calls", "DELETE")


def quiet(seconds: float = 1.5) -> None:
    # Every account and Region's bucket in the simulators refills (a second's worth) before
    # the next measurement, so no scan starts on a budget another one spent.
    time.sleep(seconds)


@dataclass(frozen=True, slots=True)
class DaemonRun:
    peak_rss_mb: float
    first_scan_wall: float  # the slowest target's first scan, as the daemon logged it
    started_after: float  # from the process's start to `daemon.started`: imports, clients
    scanned_after: float  # from the process's start to the last first scan's log line
    ready_after: float  # from the process's start to /readyz 200
    cpu_share: float
    sims_cpu_share: float
    calls: int
    incomplete: int


def json_lines(stream: Any, into: queue.Queue[dict[str, Any]]) -> None:
    """Each JSON log line, with the moment it was read (`_at`, monotonic)."""
    # Drained to the end, or the daemon would block on a full pipe.
    for line in stream:
        with contextlib.suppress(ValueError):
            into.put({**json.loads(line), "_at": time.monotonic()})


def daemon_env(args: argparse.Namespace, targets: list[TargetConfig]) -> dict[str, str]:
    """The environment of a `ggwatch run` over these targets at the bench's budget."""
    return {
        **os.environ,
        "GGWATCH_TARGETS": json.dumps([t.model_dump(mode="json") for t in targets]),
        "GGWATCH_SERVICE_RATE": str(args.budget),
        "GGWATCH_QUOTA_SHARE": "1",
        "GGWATCH_MAX_IN_FLIGHT": str(in_flight(args)),
        # One scan is measured: the next must not start while it is.
        "GGWATCH_POLL_INTERVAL_SECONDS": "3600",
        "GGWATCH_HTTP_HOST": "127.0.0.1",
        "GGWATCH_HTTP_PORT": "0",
        "GGWATCH_LOG_LEVEL": "info",
        "GGWATCH_LOG_FORMAT": "json",
    }


def run_daemon(
    args: argparse.Namespace, accounts: list[Account], targets: list[TargetConfig]
) -> DaemonRun:
    count = len(targets) * args.regions
    env = daemon_env(args, targets)
    sims_before = sum(cpu_seconds(a.process.pid) for a in accounts)
    started = time.monotonic()
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ggwatch", "run"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    lines: queue.Queue[dict[str, Any]] = queue.Queue()
    reader = threading.Thread(target=json_lines, args=(daemon.stderr, lines), daemon=True)
    reader.start()
    seen: list[dict[str, Any]] = []

    def scans() -> list[dict[str, Any]]:
        return [e for e in seen if e.get("event") == "scan.completed"]

    def wait_for(done: Any, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not done() and (left := deadline - time.monotonic()) > 0:
            with contextlib.suppress(queue.Empty):
                seen.append(lines.get(timeout=left))

    try:
        wait_for(lambda: any(e.get("event") == "daemon.started" for e in seen), 60)
        http = next((e["http"] for e in seen if e.get("event") == "daemon.started"), None)
        if http is None:
            raise RuntimeError(f"the daemon did not start: {seen[-5:]}")
        readyz = f"http://{http}/readyz"
        deadline = started + args.daemon_timeout
        ready = False
        while not ready and time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(readyz, timeout=5):
                    ready = True
            except OSError:  # 503 until every target had a complete scan
                time.sleep(0.25)
        ready_after = time.monotonic() - started
        cpu = cpu_seconds(daemon.pid)
        sims = sum(cpu_seconds(a.process.pid) for a in accounts) - sims_before
        status = Path(f"/proc/{daemon.pid}/status").read_text()
        peak = next(int(line.split()[1]) for line in status.splitlines() if line[:6] == "VmHWM:")

        # /readyz can answer before the last target's log line is written.
        wait_for(lambda: len(scans()) >= count, 10)
    finally:
        daemon.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            daemon.wait(timeout=30)
        if daemon.poll() is None:
            daemon.kill()
            daemon.wait(timeout=10)
        reader.join(timeout=10)
        if daemon.stderr is not None:
            daemon.stderr.close()
    first = {(e["account_alias"], e["aws_region"]): e for e in reversed(scans())}
    complete = [e for e in first.values() if e.get("complete")]
    return DaemonRun(
        peak_rss_mb=peak / 1024,
        first_scan_wall=max((e["duration_seconds"] for e in first.values()), default=math.inf),
        started_after=next(e["_at"] for e in seen if e.get("event") == "daemon.started") - started,
        scanned_after=max((e["_at"] for e in first.values()), default=math.inf) - started,
        ready_after=ready_after,
        cpu_share=cpu / ready_after,
        sims_cpu_share=sims / ready_after,
        calls=sum(e["api_calls"] for e in first.values()),
        incomplete=count - len(complete) if ready else count,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--budget", type=float, help="requests/second per account and Region")
    parser.add_argument("--small", action="store_true", help="the scaled-down variant")
    parser.add_argument("--latency-ms", type=float, default=50.0)
    parser.add_argument("--seed", type=int, default=17)
    parser.add_argument("--singles", type=int, help="single-target scans (3; small 2)")
    parser.add_argument("--daemon-timeout", type=float, default=900.0, help="seconds to ready")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON too")
    args = parser.parse_args()
    # Per account and Region: devices, private components x versions (deployments: 2 x devices).
    args.accounts, args.regions, args.devices, args.components, args.versions = (
        (2, 2, 100, 8, 6) if args.small else (4, 5, 500, 20, 10)
    )
    args.budget = args.budget or (60.0 if args.small else 30.0)
    args.singles = args.singles or (2 if args.small else 3)
    accounts = start_accounts(args)
    os.environ.update(AWS_ACCESS_KEY_ID=ACCESS_KEY, AWS_SECRET_ACCESS_KEY="simulated")
    # Each target names its own endpoint; a process-wide one would override none of them but
    # could hide a target that lost its own.
    os.environ.pop("AWS_ENDPOINT_URL_GREENGRASSV2", None)
    os.environ.pop("AWS_ENDPOINT_URL_IOT", None)
    os.environ.pop("AWS_ENDPOINT_URL", None)
    try:
        configs = target_configs(args, accounts)
        reset_calls(accounts)
        quiet()
        every = timed_scan(settings_for(args, configs), accounts)
        all_calls, all_throttled = served(accounts)
        ids = {s.alias: s.account for s in every.targets}
        if len(set(ids.values())) != len(accounts):
            raise RuntimeError(f"the targets did not reach one account each: {ids}")
        # The targets that needed the most calls are the slowest alone: the fair comparison.
        heaviest = sorted(every.targets, key=lambda s: -s.api_calls)[: args.singles]
        singles: list[tuple[TargetSnapshot, Timed]] = []
        for snapshot in heaviest:
            quiet()
            config = next(c for c in configs if c.account == snapshot.alias)
            one = config.model_copy(update={"regions": (snapshot.region,)})
            singles.append((snapshot, timed_scan(settings_for(args, [one]), accounts)))
        reset_calls(accounts)
        quiet()
        daemon = run_daemon(args, accounts, configs)
        daemon_calls, _ = served(accounts)
    finally:
        stop_all(a.process for a in accounts)

    return report(args, every, (all_calls, all_throttled), singles, daemon, daemon_calls)


def report(
    args: argparse.Namespace,
    every: Timed,
    answered: tuple[int, int],
    singles: list[tuple[TargetSnapshot, Timed]],
    daemon: DaemonRun,
    daemon_calls: int,
) -> int:
    """Print the figures; 1 if a target is missed."""
    all_calls, all_throttled = answered
    figures: dict[str, float] = {}
    slowest = max(t.wall for _, t in singles)
    # What scanning the targets one after another would take: each measured single's
    # seconds per call, averaged, times every target's calls.
    per_call = sum(t.wall / t.targets[0].api_calls for _, t in singles) / len(singles)
    sum_estimate = per_call * sum(s.api_calls for s in every.targets)
    figures["all wall / slowest single"] = every.wall / slowest
    figures["daemon first scan / slowest single"] = daemon.first_scan_wall / slowest
    # Readiness also waits for the evaluation of every target's first outcome.
    figures["daemon ready / slowest single"] = (daemon.ready_after - daemon.started_after) / slowest
    figures["daemon peak RSS MB"] = daemon.peak_rss_mb
    figures["incomplete targets, scan_once"] = sum(not s.complete for s in every.targets)
    figures["incomplete targets, daemon"] = daemon.incomplete
    info = {
        "targets": len(every.targets),
        "all wall s": every.wall,
        "slowest single wall s": slowest,
        "sum of singles s (est.)": sum_estimate,
        "all wall / sum of singles": every.wall / sum_estimate,
        "all calls": all_calls,
        "all throttled": all_throttled,
        "all calls / s": all_calls / every.wall,
        "slowest floor s": max(floor(s, args.budget) for s in every.targets),
        "all CPU share": every.cpu_share,
        "all sims CPU share": every.sims_cpu_share,
        "daemon first scan s": daemon.first_scan_wall,
        "daemon started after s": daemon.started_after,
        "daemon scanned after s": daemon.scanned_after,
        "daemon ready after s": daemon.ready_after,
        "daemon calls": daemon_calls,
        "daemon CPU share": daemon.cpu_share,
        "daemon sims CPU share": daemon.sims_cpu_share,
    }
    print(
        f"fleet: {args.accounts} accounts x {args.regions} Regions = {len(every.targets)} "
        f"targets of {args.devices} devices, {2 * args.devices} deployments, {args.components} "
        f"components x {args.versions} versions; {args.latency_ms:.0f} ms latency; budget "
        f"{args.budget:g} req/s per account and Region; {in_flight(args)} calls in flight per "
        f"target; {os.cpu_count()} CPUs"
    )
    print(
        f"all {len(every.targets)} targets (scan_once): {every.wall:.1f} s, "
        f"{all_calls} calls answered ({all_throttled} throttled; ggwatch counted "
        f"{sum(s.api_calls for s in every.targets)}), {info['all calls / s']:.0f} calls/s of the "
        f"{args.budget * len(every.targets):g} the budgets allow; slowest target's floor "
        f"{info['slowest floor s']:.1f} s; CPU: this process {every.cpu_share:.2f} of a core, "
        f"the simulators {every.sims_cpu_share:.2f}"
    )
    for snapshot, timed in singles:
        alone = timed.targets[0]
        print(
            f"single {snapshot.target}: {timed.wall:.1f} s alone ({alone.api_calls} calls, "
            f"floor {floor(alone, args.budget):.1f} s), {snapshot.api_calls} calls among all; "
            f"CPU {timed.cpu_share:.2f}"
        )
    print(
        f"sum of {len(every.targets)} singles (est. from {len(singles)} measured): "
        f"{sum_estimate:.1f} s; all / sum {info['all wall / sum of singles']:.3f}"
    )
    print(
        f"daemon: first scan {daemon.first_scan_wall:.1f} s, {daemon_calls} calls answered "
        f"(it counted {daemon.calls}); from its "
        f"start: started {daemon.started_after:.1f} s, last first scan logged "
        f"{daemon.scanned_after:.1f} s, ready {daemon.ready_after:.1f} s (from started to "
        f"ready: {figures['daemon ready / slowest single']:.2f} x the slowest single); CPU: daemon "
        f"{daemon.cpu_share:.2f} of a core, the simulators {daemon.sims_cpu_share:.2f}"
    )
    missed = judge(figures, TARGETS, (36, 10, 8))
    if args.json:
        print(json.dumps({**figures, **info}))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
