"""Scan integration: the sample fleet in the simulator, ggwatch's real client against it."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from ggwatch.settings import Settings
from ggwatch.sim.fleet import load
from ggwatch.sim.store import World

SAMPLE = Path(__file__).parents[2] / "config" / "sample-fleet.yaml"


@pytest.fixture
def world() -> World:
    return load(SAMPLE, now=time.time() - 60.0)


@pytest.fixture
def settings() -> Settings:
    # The simulator's quota is a knob here; ggwatch's own pacing must not slow the suite.
    return Settings(
        regions=("us-west-2", "eu-central-1"),
        service_rate=1000.0,
        quota_share=1.0,
        max_attempts=10,
    )
