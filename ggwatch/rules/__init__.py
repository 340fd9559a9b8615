"""The rules engine: pure functions from a snapshot to findings, in a deterministic order.

    evaluate(snapshot, config, now) -> tuple[Finding, ...]

No I/O and no clock reads: `now` is passed in, so the same inputs always give the same output.
One module per family of rules; each family is one function with the `RuleFamily` signature,
and `RULES` is the registry `evaluate` runs. Adding a family is a module and a line here.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Protocol

from ggwatch.findings import Finding
from ggwatch.model import Snapshot, TargetSnapshot
from ggwatch.rules import components, stale
from ggwatch.rules.config import Exclusions, RuleOverride, RulesConfig

__all__ = ["RULES", "Exclusions", "RuleFamily", "RuleOverride", "RulesConfig", "evaluate"]


class RuleFamily(Protocol):
    """One family of rules over one target. It checks `config.enabled` for its own rules."""

    def __call__(
        self, target: TargetSnapshot, config: RulesConfig, now: dt.datetime, /
    ) -> Iterable[Finding]: ...


RULES: tuple[RuleFamily, ...] = (
    components.deployment_findings,
    components.device_findings,
    stale.stale_findings,
)


def evaluate(
    snapshot: Snapshot,
    config: RulesConfig,
    now: dt.datetime,
    rules: tuple[RuleFamily, ...] = RULES,
) -> tuple[Finding, ...]:
    found = [
        f for target in snapshot.targets for family in rules for f in family(target, config, now)
    ]
    # One finding per key even if a device lists a component twice across pages.
    unique = {f.key: f for f in found}
    return tuple(sorted(unique.values(), key=lambda f: f.sort_key))
