"""The CPU-per-call and memory-per-device benchmarks' scaled-down variants run and report.

Both figures are reports with an aim, not targets (bench/cost.py, bench/memory.py): nothing is
asserted about their values, which are ratios and differences against a baseline measured in
the same run; only that each run succeeds and prints every figure as a positive number. The
full-size runs are in docs/benchmarks.md.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest

from tests.cli.conftest import ROOT

# Measures time or memory: run alone, never beside other tests (see the Makefile).
pytestmark = pytest.mark.serial

NUMBER = r"(\d+(?:\.\d+)?)"


def run_small(module: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", module, "--small"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,  # two of them inside pytest's per-test timeout (120 s)
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
    return done.stdout


def positive(pattern: str, output: str) -> list[float]:
    found = re.search(pattern, output, re.MULTILINE)
    assert found, (pattern, output)
    numbers = [float(n) for n in found.groups() if re.fullmatch(NUMBER, n)]
    assert numbers, (pattern, output)
    assert all(n > 0 for n in numbers), (pattern, output)
    return numbers


def test_small_cost_reports_cpu_per_1000_calls_of_each_client() -> None:
    output = run_small("bench.cost")
    counts: dict[str, float] = {}
    for client in ("ggwatch", "boto3", "aiobotocore"):
        # calls, Greengrass V2 calls, CPU s, CPU ms / 1,000 calls (IoT and throttled may be 0).
        row = rf"^\s*{client} +{NUMBER} +{NUMBER} +\d+ +\d+ +{NUMBER} +{NUMBER} +{NUMBER}$"
        counts[client] = positive(row, output)[0]
    # The baselines replay ggwatch's own calls: the same number, answered the same way.
    assert counts["boto3"] == counts["aiobotocore"] == counts["ggwatch"], output
    positive(rf"^ggwatch / boto3 CPU per 1,000 calls: {NUMBER}  aim <= 1\.0: (met|missed)$", output)
    positive(rf"^aiobotocore / boto3 CPU per 1,000 calls: {NUMBER} ", output)


def test_small_memory_reports_rss_per_10000_devices() -> None:
    output = run_small("bench.memory")
    for devices in (10, 1000):
        positive(rf"^\s*{devices} +{NUMBER} +{NUMBER} +{NUMBER} +{NUMBER}$", output)
    # A difference: a bigger fleet that took less memory would be a broken measurement.
    positive(rf"^per 10,000 devices watched: RSS {NUMBER} MB \(peak {NUMBER} MB\)$", output)
    assert re.search(r"^aim <= 100 MB per 10,000 devices: (met|missed)$", output, re.M), output
