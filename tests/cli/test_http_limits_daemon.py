"""`ggwatch run` in a subprocess under hostile HTTP clients: slow readers and a descriptor limit.

Figures are measured on the daemon process itself (VmRSS from /proc/<pid>/status, its stderr),
against the simulator in another process, over loopback only.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import ServeCli, StartDaemon

# Measures time or memory: run alone, never beside other tests (see the Makefile).
pytestmark = pytest.mark.serial

# Enough devices that /findings is over 2 MB (about 2.5 MB with the simulator's shares).
DEVICES = 2000
SLOW_READERS = 150
# The descriptor limit the daemon runs under in the exhaustion test, and how many
# connections the test opens against it.
FD_LIMIT = 512
FLOOD = FD_LIMIT + 200


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text(encoding="ascii").splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmRSS for {pid}")


def get(url: str, timeout: float = 10) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def sim_env(endpoint: str) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_GREENGRASSV2": endpoint,
        "AWS_ENDPOINT_URL_IOT": endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "AWS_DEFAULT_REGION": "us-west-2",
        "GGWATCH_REGIONS": "us-west-2",
        # One scan, then quiet: the figures are about HTTP, not a second scan's garbage.
        "GGWATCH_POLL_INTERVAL_SECONDS": "600",
        "GGWATCH_SERVICE_RATE": "100000",
        "GGWATCH_QUOTA_SHARE": "1",
    }


def healthz(base: str, timeout: float = 5) -> int | str:
    """/healthz's status, or the name of the error when there was no answer in time."""
    try:
        return get(f"{base}/healthz", timeout=timeout)[0]
    except OSError as exc:
        return type(exc).__name__


def slow_reader(port: int, path: str) -> socket.socket:
    """Sends one GET and never reads; a tiny receive buffer keeps the server's bytes with it."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    sock.settimeout(5)
    sock.connect(("127.0.0.1", port))
    sock.sendall(f"GET {path} HTTP/1.1\r\nHost: ggwatch\r\n\r\n".encode())
    return sock


@pytest.mark.slow
def test_rss_under_slow_readers_of_findings_stays_within_twice_idle(
    serve_cli: ServeCli, start_daemon: StartDaemon
) -> None:
    fleet = serve_cli(
        "sim", "--devices", str(DEVICES), "--rate-limit", "100000", "--port", "0", timeout=60
    )
    process, logs, port = start_daemon(sim_env(fleet.endpoint))
    base = f"http://127.0.0.1:{port}"
    logs.wait_for(lambda e: e.get("event") == "scan.completed", timeout=40)
    time.sleep(1.0)
    idle = rss_bytes(process.pid)
    status, body = get(f"{base}/findings")
    assert status == 200
    assert len(body) > 2_000_000, len(body)
    assert len(json.loads(body)["findings"]) > 1000
    size = len(body)
    del body
    served_once = rss_bytes(process.pid)

    readers = [slow_reader(port, "/findings") for _ in range(SLOW_READERS)]
    try:
        peak = 0
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            peak = max(peak, rss_bytes(process.pid))
            time.sleep(0.2)
        probe = healthz(base)
        # SIGTERM while they still hold their connections: the daemon stops all the same.
        stopping = time.monotonic()
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=20)
        stopped = time.monotonic() - stopping
    finally:
        for reader in readers:
            reader.close()

    mib = 1024 * 1024
    figures = (
        f"/findings {size} bytes; idle RSS {idle / mib:.0f} MiB, after one /findings "
        f"{served_once / mib:.0f} MiB, peak under {SLOW_READERS} slow readers "
        f"{peak / mib:.0f} MiB; /healthz then: {probe}; exit {code} {stopped:.1f} s after SIGTERM"
    )
    print(figures)
    assert probe == 200, figures  # /healthz still answers
    assert peak <= 2 * idle, figures
    assert code == 0, figures
    assert stopped < 3.0, figures  # not the whole shutdown grace of every stuck response


def open_flood(port: int, count: int) -> list[socket.socket]:
    """Up to `count` connections that send nothing; stops when the server stops accepting."""
    opened: list[socket.socket] = []
    refused = 0
    while len(opened) < count and refused < 3:
        sock = socket.socket()
        sock.settimeout(0.5)
        try:
            sock.connect(("127.0.0.1", port))
        except OSError:  # the listen backlog is full: the server no longer accepts
            sock.close()
            refused += 1
            continue
        opened.append(sock)
    return opened


@pytest.mark.slow
def test_under_descriptor_exhaustion_healthz_answers_and_the_log_stays_quiet(
    serve_cli: ServeCli, start_daemon: StartDaemon
) -> None:
    fleet = serve_cli("sim", "--fleet", "config/sample-fleet.yaml", "--port", "0")
    process, logs, port = start_daemon(sim_env(fleet.endpoint), nofile=FD_LIMIT)
    logs.wait_for(lambda e: e.get("event") == "scan.completed", timeout=30)
    before = len(logs.drain(0.5))

    flood = open_flood(port, FLOOD)
    try:
        started = time.monotonic()
        status = healthz(f"http://127.0.0.1:{port}", timeout=3)
        answered = time.monotonic() - started
        lines = logs.drain(10.0 - answered)[before:]
        descriptors = len(os.listdir(f"/proc/{process.pid}/fd"))
    finally:
        for sock in flood:
            sock.close()

    events: dict[str, int] = {}
    for line in lines:
        events[line.get("event", "?")[:60]] = events.get(line.get("event", "?")[:60], 0) + 1
    figures = (
        f"{len(flood)} connections opened under RLIMIT_NOFILE {FD_LIMIT}; /healthz {status} "
        f"after {answered:.2f} s; {len(lines)} log lines in 10 s ({events}); "
        f"{descriptors} descriptors open"
    )
    print(figures)
    assert status == 200, figures
    assert answered < 2.0, figures
    assert len(lines) <= 5, figures
