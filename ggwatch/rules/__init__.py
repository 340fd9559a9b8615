"""The rules engine: pure functions from a snapshot to findings, in a deterministic order.

    evaluate(snapshot, config, now) -> tuple[Finding, ...]

No I/O and no clock reads: `now` is passed in, so the same inputs always give the same output.
One module per family of rules.
"""

from __future__ import annotations

import datetime as dt

from ggwatch.findings import Finding
from ggwatch.model import Snapshot
from ggwatch.rules import components, stale
from ggwatch.rules.config import Exclusions, RuleOverride, RulesConfig

__all__ = ["Exclusions", "RuleOverride", "RulesConfig", "evaluate"]


def evaluate(snapshot: Snapshot, config: RulesConfig, now: dt.datetime) -> tuple[Finding, ...]:
    found: list[Finding] = []
    for target in snapshot.targets:
        found.extend(components.deployment_findings(target, config))
        found.extend(components.device_findings(target, config))
        found.extend(stale.stale_findings(target, config, now))
    # One finding per key even if a device lists a component twice across pages.
    unique = {f.key: f for f in found}
    return tuple(sorted(unique.values(), key=lambda f: f.sort_key))
