"""Soak: the daemon polls a steady fleet every second; its memory and open files must stay flat.

`ggwatch sim` serves the sample fleet; `ggwatch run` (its own process) scans it at a 1-second
interval. After a warm-up, the daemon's RSS and open file descriptors are read from /proc, and
again after N more scan cycles (counted by its ggwatch_scans_total). The warm-up figures are
the baseline of the same run.

    .venv/bin/python -m bench.soak [--cycles 1000]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from bench.scan import SIM_ACCOUNT
from ggwatch.sim.fleet import access_key

WARMUP_CYCLES = 20


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def scans(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        for line in response.read().decode().splitlines():
            if line.startswith("ggwatch_scans_total{"):
                return int(float(line.rsplit(" ", 1)[1]))
    return 0


def wait_cycles(port: int, target: int, process: subprocess.Popen[bytes]) -> None:
    while scans(port) < target:
        if process.poll() is not None:
            raise RuntimeError("the daemon exited")
        time.sleep(1.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--cycles", type=int, default=1000)
    parser.add_argument("--port", type=int, default=18419)
    args = parser.parse_args()

    sim = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "ggwatch",
            "sim",
            "--fleet",
            "config/sample-fleet.yaml",
            "--port",
            "0",
            "--latency-ms",
            "5",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert sim.stdout is not None
    endpoint = next(line.rsplit(" ", 1)[-1].strip() for line in sim.stdout if "listening" in line)
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_GREENGRASSV2": endpoint,
        "AWS_ENDPOINT_URL_IOT": endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "GGWATCH_REGIONS": "us-west-2",
        "GGWATCH_ACCOUNT_ID": SIM_ACCOUNT,
        "GGWATCH_POLL_INTERVAL_SECONDS": "1",
        "GGWATCH_POLL_JITTER": "0",
        "GGWATCH_HTTP_HOST": "127.0.0.1",
        "GGWATCH_HTTP_PORT": str(args.port),
        "GGWATCH_LOG_LEVEL": "warning",
    }
    daemon = subprocess.Popen(
        [sys.executable, "-m", "ggwatch", "run"], env=env, stderr=subprocess.DEVNULL
    )
    try:
        time.sleep(3.0)
        wait_cycles(args.port, WARMUP_CYCLES, daemon)
        start = (rss_mb(daemon.pid), open_fds(daemon.pid), time.monotonic())
        wait_cycles(args.port, WARMUP_CYCLES + args.cycles, daemon)
        end = (rss_mb(daemon.pid), open_fds(daemon.pid), time.monotonic())
    finally:
        daemon.terminate()
        daemon.wait(timeout=15)
        sim.terminate()
        sim.wait(timeout=15)
    print(f"cycles: {args.cycles} at a 1 s interval in {end[2] - start[2]:.0f} s")
    print(
        f"RSS MB: {start[0]:.1f} after {WARMUP_CYCLES} warm-up cycles -> {end[0]:.1f} "
        f"(ratio {end[0] / start[0]:.3f})"
    )
    print(f"open fds: {start[1]} -> {end[1]}")
    print(f"daemon exit code on SIGTERM: {daemon.returncode}")


if __name__ == "__main__":
    main()
