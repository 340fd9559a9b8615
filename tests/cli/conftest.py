"""Run the real `ggwatch` command in a subprocess and talk to what it starts."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
ENDPOINT = re.compile(r"listening on (http://127\.0\.0\.1:\d+)")


@dataclass
class Result:
    code: int
    stdout: str
    stderr: str


@pytest.fixture
def ggwatch():
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


@pytest.fixture
def serve_cli() -> Iterator:
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
