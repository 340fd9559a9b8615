"""The many-targets benchmark's scaled-down variant: the same ratios must hold on 4 targets.

No absolute timing is asserted: the figures are the all-targets scan against the slowest single
target, both measured in one run (bench/targets.py), the daemon's peak RSS and completeness.
The full-size run (20 account-regions of 500 devices) is `make bench`.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from bench.targets import TARGETS
from tests.cli.conftest import ROOT

# Measures time or memory: run alone, never beside other tests (see the Makefile).
pytestmark = pytest.mark.serial


def test_small_many_targets_scan_together_in_about_the_time_of_one() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "bench.targets", "--small", "--json"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=110,  # inside pytest's per-test timeout (120 s)
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    figures = json.loads(done.stdout.strip().splitlines()[-1])
    assert set(TARGETS) <= set(figures)
    for name, target in TARGETS.items():
        assert figures[name] <= target, (name, figures[name], done.stdout)
    # Concurrent, not serial: the four targets take far less than one after another.
    assert figures["all wall / sum of singles"] < 0.5, done.stdout
