"""Fleets for the simulator: a seeded generator, and a loader for readable YAML fleet files.

Both build the same `World`. Consistency holds by construction: devices' installed components
are computed from the latest deployments of their targets (the device itself and its thing
groups) by the store's own `recompute`, and vendor guidance is assigned after deployments were
made, as in life: a version is withdrawn while fleets still run it.

    base      what both share: FleetSpec, FleetError, access keys, the public catalogue
    generate  the seeded generator
    load      the YAML fleet file reader and its validation
"""

from ggwatch.sim.fleet.base import (
    DAY,
    DEFAULT_ACCOUNT,
    FleetError,
    FleetSpec,
    access_key,
    finish_public,
    install_latest,
    moving_from,
)
from ggwatch.sim.fleet.generate import account_ids, generate
from ggwatch.sim.fleet.load import build, load

__all__ = [
    "DAY",
    "DEFAULT_ACCOUNT",
    "FleetError",
    "FleetSpec",
    "access_key",
    "account_ids",
    "build",
    "finish_public",
    "generate",
    "install_latest",
    "load",
    "moving_from",
]
