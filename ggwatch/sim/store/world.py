"""Every account and Region the simulator serves, and who is calling."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from ggwatch.sim.store.records import Component, Outbox, Readings
from ggwatch.sim.store.region import RegionState


class World:
    """Every account and Region the simulator serves, and who is calling."""

    def __init__(self, clock: Callable[[], float], readings: Readings | None = None) -> None:
        self.clock = clock
        self.readings = readings or Readings()
        self.outbox: Outbox | None = None
        self.public: dict[str, dict[str, Component]] = {}
        self.regions: dict[tuple[str, str], RegionState] = {}
        self.access_keys: dict[str, str] = {}
        self.default_account = "123456789012"
        self.default_region = "us-west-2"
        # The opt-in Regions every account has enabled (the Account API's ListRegions; see
        # ggwatch/sim/regions.py); the Regions enabled by default need no entry.
        self.enabled_regions: frozenset[str] = frozenset()

    def public_catalog(self, region: str) -> dict[str, Component]:
        return self.public.setdefault(region, {})

    def set_clock(self, clock: Callable[[], float]) -> None:
        """Change the clock of the world and of every account and Region already in it."""
        self.clock = clock
        for state in self.regions.values():
            state.clock = clock

    def set_outbox(self, outbox: Outbox | None) -> None:
        """Report the changes of every account and Region, now and created later, to `outbox`."""
        self.outbox = outbox
        for state in self.regions.values():
            state.outbox = outbox

    def region(self, account: str, region: str) -> RegionState:
        """The state of one account and Region, created empty on first use as AWS would."""
        key = (account, region)
        state = self.regions.get(key)
        if state is None:
            state = RegionState(
                account,
                region,
                self.public_catalog(region),
                self.clock,
                self.readings,
                self.outbox,
            )
            self.regions[key] = state
        return state

    def account_for(self, access_key: str) -> str:
        return self.access_keys.get(access_key, self.default_account)

    def states(self) -> Iterable[RegionState]:
        return (self.regions[key] for key in sorted(self.regions))

    def summary(self) -> dict[str, Any]:
        # The account unknown access keys are answered as: what a client without a role
        # should take as its own (GetCallerIdentity is not the simulator's to answer).
        out: dict[str, Any] = {
            "default_account": self.default_account,
            "enabled_regions": sorted(self.enabled_regions),
            "accounts": {},
        }
        for state in self.states():
            guidance: dict[str, int] = {}
            pools = (state.private.values(), state.public.values())
            for pool in pools:
                for component in pool:
                    for version in component.versions.values():
                        key = version.vendor_guidance or "ACTIVE"
                        guidance[key] = guidance.get(key, 0) + 1
            out["accounts"].setdefault(state.account, {})[state.region] = {
                "private_components": len(state.private),
                "public_components": len(state.public),
                "component_versions_by_guidance": guidance,
                "deployments": len(state.deployments),
                "latest_deployments": len(state.deployments.latest),
                "core_devices": len(state.devices),
                "thing_groups": len(state.groups),
            }
        return out
