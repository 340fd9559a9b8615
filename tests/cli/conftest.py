"""Run the real `ggwatch` command in a subprocess and talk to what it starts."""

from __future__ import annotations

import json
import os
import queue
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import pytest

from ggwatch.sim.fleet import access_key

ROOT = Path(__file__).parents[2]
ENDPOINT = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


class RunCli(Protocol):
    """The `ggwatch` fixture: run the command to completion."""

    def __call__(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = 60
    ) -> Result: ...


@pytest.fixture
def ggwatch(sts_endpoint: str) -> RunCli:
    """Run `python -m ggwatch ARGS` to completion (bounded) in the repository root."""

    def run(*args: str, env: dict[str, str] | None = None, timeout: float = 60) -> Result:
        done = subprocess.run(
            [sys.executable, "-m", "ggwatch", *args],
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        return Result(done.returncode, done.stdout, done.stderr)

    return run


@dataclass
class Served:
    process: subprocess.Popen[str]
    endpoint: str
    banner: list[str]

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 10) -> tuple[int, float]:
        started = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout)
        return code, time.monotonic() - started


class ServeCli(Protocol):
    """The `serve_cli` fixture: start a long-running subcommand."""

    def __call__(self, *args: str, timeout: float = 30) -> Served: ...


@pytest.fixture
def serve_cli(sts_endpoint: str) -> Iterator[ServeCli]:
    """Start a long-running `ggwatch` subcommand; wait for its endpoint line; kill it after."""
    started: list[subprocess.Popen[str]] = []

    def start(*args: str, timeout: float = 30) -> Served:
        process = subprocess.Popen(
            [sys.executable, "-m", "ggwatch", *args],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
        )
        started.append(process)
        deadline = time.monotonic() + timeout
        lines: list[str] = []
        assert process.stdout is not None
        while time.monotonic() < deadline:
            line = process.stdout.readline()
            if not line:
                break
            lines.append(line.rstrip("\n"))
            if line.startswith("Stop with"):
                match = next(m for m in map(ENDPOINT.search, lines) if m)
                return Served(process, match.group(1), lines)
        pytest.fail(f"no banner from ggwatch {' '.join(args)}: {lines}")

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()


@dataclass
class LogReader:
    """JSON log lines of a child process, read on a thread so waits can time out."""

    process: subprocess.Popen[str]
    lines: queue.Queue[dict[str, Any]]
    seen: list[dict[str, Any]]
    thread: threading.Thread

    @classmethod
    def start(cls, process: subprocess.Popen[str]) -> LogReader:
        lines: queue.Queue[dict[str, Any]] = queue.Queue()

        def pump() -> None:
            assert process.stderr is not None
            for line in process.stderr:
                try:
                    lines.put(json.loads(line))
                except json.JSONDecodeError:
                    lines.put({"event": "unparsed", "line": line.rstrip()})

        thread = threading.Thread(target=pump, daemon=True)
        thread.start()
        return cls(process, lines, [], thread)

    def close(self) -> None:
        """After the process ended: the reader reaches end of file; then close the pipe."""
        self.thread.join(timeout=10)
        if self.process.stderr is not None:
            self.process.stderr.close()

    def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        for line in self.seen:
            if predicate(line):
                return line
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                break
            self.seen.append(line)
            if predicate(line):
                return line
        pytest.fail(f"no matching log line within {timeout} s; last lines: {self.seen[-5:]}")

    def drain(self, seconds: float) -> list[dict[str, Any]]:
        """Everything logged in the next `seconds`."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            try:
                self.seen.append(self.lines.get(timeout=left))
            except queue.Empty:
                break
        return self.seen


class StartDaemon(Protocol):
    """The `start_daemon` fixture: start `ggwatch run`; the process, its logs, its HTTP port."""

    def __call__(
        self, env: dict[str, str], nofile: int | None = None
    ) -> tuple[subprocess.Popen[str], LogReader, int]: ...


@pytest.fixture
def start_daemon(tmp_path: Path, sts_endpoint: str) -> Iterator[StartDaemon]:
    """Start `ggwatch run` with JSON logs; learn its HTTP port from `daemon.started`."""
    started: list[LogReader] = []

    def start(
        env: dict[str, str], nofile: int | None = None
    ) -> tuple[subprocess.Popen[str], LogReader, int]:
        """`nofile`: run the daemon under that descriptor limit (soft = hard)."""

        def limit() -> None:  # runs in the child between fork and exec
            if nofile is not None:
                resource.setrlimit(resource.RLIMIT_NOFILE, (nofile, nofile))

        process = subprocess.Popen(
            [sys.executable, "-m", "ggwatch", "run"],
            cwd=ROOT,
            env={
                **os.environ,
                "GGWATCH_LOG_FORMAT": "json",
                "GGWATCH_HTTP_HOST": "127.0.0.1",
                "GGWATCH_HTTP_PORT": "0",
                **env,
            },
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            preexec_fn=limit,  # the child has no threads yet between fork and exec
        )
        logs = LogReader.start(process)
        started.append(logs)
        line = logs.wait_for(lambda e: e.get("event") == "daemon.started", timeout=30)
        return process, logs, int(line["http"].rsplit(":", 1)[1])

    yield start
    for logs in started:
        if logs.process.poll() is None:
            logs.process.kill()
            logs.process.wait(timeout=10)
        logs.close()


INTERVAL = 1.0  # the daemon's poll interval in these tests, seconds
SAMPLE_FLEET = ("--fleet", "config/sample-fleet.yaml")
# `ggwatch sim` arguments: no quota (Greengrass V2 or AWS IoT), any free port.
UNMETERED = ("--rate-limit", "0", "--iot-rate", "0", "--port", "0")


@pytest.fixture
def fleet(serve_cli: ServeCli) -> Served:
    """The sample fleet in `ggwatch sim`, on a free port, unmetered: these tests are about what
    the daemon does, and the daemon here does not pace itself (GGWATCH_SERVICE_RATE below), so
    at the real quotas a scan that reads recipes would wait out Retry-After and outlast the
    interval the tests count in. Pacing has its own tests and benchmarks."""
    return serve_cli("sim", *SAMPLE_FLEET, *UNMETERED)


@pytest.fixture
def daemon_env(fleet: Served) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_GREENGRASSV2": fleet.endpoint,
        "AWS_ENDPOINT_URL_IOT": fleet.endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "AWS_DEFAULT_REGION": "us-west-2",
        "GGWATCH_REGIONS": "us-west-2,eu-central-1",
        "GGWATCH_POLL_INTERVAL_SECONDS": str(INTERVAL),
        "GGWATCH_SERVICE_RATE": "1000",
        # Guidance flips must show within an interval here, not after the default 15 minutes.
        "GGWATCH_DESCRIBE_REFRESH_SECONDS": "0",
    }
