"""Events: how soon a device that starts running a flagged version raises `finding.opened`.

The simulator (`ggwatch sim --events-queue-url`) sends the events AWS would to an SQS queue in
moto's server on loopback; `ggwatch run` consumes it. Each sample changes one installed
component on one core device to a DELETED or DISCONTINUED version through the simulator's
control API and times the daemon's `finding.opened` for it. The baseline of the same run is the
same daemon without a queue, polling every `--poll-seconds`: it sees a change only at its next
scan. Figures, each against its target:

- median seconds from the change to finding.opened with events             <= 5
- that, divided by the polling-only median                                   <= 0.5

    .venv/bin/python -m bench.events [--samples 5] [--poll-seconds 20]
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import queue
import re
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3

from bench.scan import SIM_ACCOUNT, judge
from ggwatch.sim.fleet import access_key

ROOT = Path(__file__).resolve().parent.parent
TARGETS = {"event latency s": 5.0, "event / polling latency": 0.5}
# (core device, component, version): each flagged in config/sample-fleet.yaml (ModbusAdapter
# 0.9.0 deleted with DeleteComponent, the others withdrawn by AWS), none on the device before;
# cycled through for the samples.
CHANGES = (
    ("gg-osaka-00005", "com.example.ModbusAdapter", "0.9.0"),
    ("gg-berlin-00001", "aws.greengrass.SecureTunneling", "1.1.2"),
    ("gg-osaka-00005", "aws.greengrass.Nucleus", "2.14.0"),
    ("gg-austin-00004", "com.example.ModbusAdapter", "0.9.0"),
    ("gg-berlin-00002", "aws.greengrass.clientdevices.Auth", "2.3.0"),
)


@contextmanager
def moto_sqs() -> Iterator[str]:
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()


class Daemon:
    """`ggwatch run` with JSON logs read on a thread."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ggwatch", "run"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[tuple[float, dict[str, Any]]] = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            try:
                self.lines.put((time.monotonic(), json.loads(line)))
            except ValueError:
                continue

    def wait(self, predicate: Callable[[dict[str, Any]], bool], timeout: float) -> float:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                at, event = self.lines.get(timeout=left)
            except queue.Empty:
                break
            if predicate(event):
                return at
        raise SystemExit(f"no matching log line within {timeout} s")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def opened_on(thing: str, component: str) -> Callable[[dict[str, Any]], bool]:
    def match(event: dict[str, Any]) -> bool:
        return (
            event.get("event") == "finding.opened"
            and event.get("resource_id") == thing
            and event.get("component_name") == component
        )

    return match


def simulator(env: dict[str, str], queue_url: str | None) -> tuple[subprocess.Popen[str], str]:
    command = [sys.executable, "-m", "ggwatch", "sim", "--fleet", "config/sample-fleet.yaml"]
    command += ["--port", "0"] + (["--events-queue-url", queue_url] if queue_url else [])
    process = subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    assert process.stdout is not None
    endpoint = None
    for line in process.stdout:
        found = re.search(r"(http://127\.0\.0\.1:\d+)", line)
        endpoint = endpoint or (found.group(1) if found else None)
        if line.startswith("Stop with"):
            break
    assert endpoint is not None, "the simulator printed no endpoint"
    return process, endpoint


def latencies(args: argparse.Namespace, env: dict[str, str], queue_url: str | None) -> list[float]:
    """Seconds from each change to its finding.opened, with events (queue_url) or polling."""
    sim, endpoint = simulator(env, queue_url)
    daemon_env = {
        **env,
        "AWS_ENDPOINT_URL_GREENGRASSV2": endpoint,
        "AWS_ENDPOINT_URL_IOT": endpoint,
        "GGWATCH_REGIONS": "us-west-2",
        "GGWATCH_ACCOUNT_ID": SIM_ACCOUNT,
        "GGWATCH_LOG_FORMAT": "json",
        "GGWATCH_HTTP_HOST": "127.0.0.1",
        "GGWATCH_HTTP_PORT": "0",
        "GGWATCH_POLL_INTERVAL_SECONDS": "3600" if queue_url else str(args.poll_seconds),
    }
    if queue_url:
        daemon_env["GGWATCH_EVENTS_QUEUE_URL"] = queue_url
    daemon = Daemon(daemon_env)
    found: list[float] = []
    try:
        daemon.wait(lambda e: e.get("event") == "findings.summary", 60)
        for thing, component, version in CHANGES[: args.samples]:
            body = json.dumps({"componentName": component, "componentVersion": version})
            request = urllib.request.Request(
                f"{endpoint}/_sim/devices/{thing}/installed",
                data=body.encode(),
                headers={"Content-Type": "application/json"},
            )
            changed = time.monotonic()
            urllib.request.urlopen(request, timeout=10).close()
            opened = daemon.wait(opened_on(thing, component), args.poll_seconds * 3 + 60)
            found.append(opened - changed)
            # Changes land at arbitrary moments of the poll cycle, not in step with it.
            time.sleep(args.poll_seconds * 0.37)
    finally:
        daemon.stop()
        sim.terminate()
        sim.wait(timeout=10)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--samples", type=int, default=5, choices=range(1, len(CHANGES) + 1))
    parser.add_argument("--poll-seconds", type=float, default=20.0, help="polling-only baseline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    env = {
        **os.environ,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "AWS_DEFAULT_REGION": "us-west-2",
        "AWS_EC2_METADATA_DISABLED": "true",
    }
    with moto_sqs() as sqs_endpoint:
        env["AWS_ENDPOINT_URL_SQS"] = sqs_endpoint
        os.environ.update(env)
        sqs = boto3.client("sqs")
        queue_url = str(sqs.create_queue(QueueName="ggwatch-events")["QueueUrl"])
        with_events = latencies(args, env, queue_url)
    polling = latencies(args, env, None)
    figures = {
        "event latency s": statistics.median(with_events),
        "event / polling latency": statistics.median(with_events) / statistics.median(polling),
    }
    print(
        f"sample fleet, {args.samples} changes; with events (poll interval 3600 s): "
        f"{', '.join(f'{x:.2f}' for x in with_events)} s; polling only every "
        f"{args.poll_seconds:g} s: {', '.join(f'{x:.2f}' for x in polling)} s"
    )
    missed = judge(figures, TARGETS, (24, 8, 6))
    if args.json:
        print(json.dumps(figures))
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
