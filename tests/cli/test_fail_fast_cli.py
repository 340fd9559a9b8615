"""`ggwatch scan` exits 3 soon after its endpoint vanishes, not after every call's retries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import ROOT, ServeCli


@pytest.mark.slow
def test_scan_exits_3_within_30_s_of_the_endpoint_vanishing(serve_cli: ServeCli) -> None:
    fleet = serve_cli("sim", "--devices", "200", "--latency-ms", "100", "--port", "0")
    env = {
        **os.environ,
        "AWS_ENDPOINT_URL_GREENGRASSV2": fleet.endpoint,
        "AWS_ENDPOINT_URL_IOT": fleet.endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "GGWATCH_REGIONS": "us-west-2",
    }
    scan = subprocess.Popen(
        [sys.executable, "-m", "ggwatch", "scan", "--format", "json"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        time.sleep(4.0)
        assert scan.poll() is None, "the scan ended before the endpoint vanished"
        fleet.process.send_signal(signal.SIGKILL)
        fleet.process.wait(timeout=10)
        gone = time.monotonic()
        code = scan.wait(timeout=60)
        took = time.monotonic() - gone
        assert scan.stderr is not None
        stderr = scan.stderr.read()
    finally:
        if scan.poll() is None:
            scan.kill()
            scan.wait(timeout=10)
        if scan.stderr is not None:
            scan.stderr.close()
    assert code == 3
    assert took < 30.0
    lines = stderr.strip().splitlines()
    assert lines[-1].startswith("ggwatch: error: scan incomplete: 123456789012/us-west-2: ")
    assert "Unreachable" in lines[-1]
    assert "Traceback" not in stderr
