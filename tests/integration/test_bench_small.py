"""The scale benchmark's scaled-down variant: the same ratios must hold on a small fleet.

No absolute timing is asserted: the figures are ratios against the rate-limit floor and the
minimal calls, measured in one run (bench/scale.py). The full-size run is `make bench`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.scale import TARGETS
from tests.cli.conftest import ROOT

# Measures time or memory: run alone, never beside other tests (see the Makefile).
pytestmark = pytest.mark.serial


def test_small_fleet_meets_the_scale_targets() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.scale",
            "--small",
            "--budget",
            "60",
            "--idle-seconds",
            "2",
            "--settle-seconds",
            "5",
            "--json",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(figures) == set(TARGETS)
    for name, target in TARGETS.items():
        assert figures[name] <= target, (name, figures[name], done.stdout)
