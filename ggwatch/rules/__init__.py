"""The rules engine: pure functions from a snapshot to findings, in a deterministic order.

    evaluate(snapshot, config, now) -> tuple[Finding, ...]

No I/O and no clock reads: `now` is passed in, so the same inputs always give the same output.
One module per family of rules; each family is one function with the `RuleFamily` signature,
and `RULES` is the registry `evaluate` runs. Adding a family is a module and a line here.
Every family of one target shares one `Scope`, whose `fleet` memoises dependency resolution
(ggwatch.rules.fleet), so the families that resolve pay once per device class.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Protocol

from ggwatch.findings import Finding, Plan
from ggwatch.model import Snapshot
from ggwatch.rules import components, plans, resolvable, stale
from ggwatch.rules.base import Scope
from ggwatch.rules.config import Exclusions, RuleOverride, RulesConfig

__all__ = [
    "RULES",
    "Assessment",
    "Exclusions",
    "RuleFamily",
    "RuleOverride",
    "RulesConfig",
    "Scope",
    "assess",
    "evaluate",
]


class RuleFamily(Protocol):
    """One family of rules over one target. It checks `config.enabled` for its own rules."""

    def __call__(self, scope: Scope, /) -> Iterable[Finding]: ...


RULES: tuple[RuleFamily, ...] = (
    components.deployment_findings,
    components.device_findings,
    stale.stale_findings,
    resolvable.deployment_resolution_findings,
    resolvable.device_resolution_findings,
)


@dataclass(frozen=True, slots=True)
class Assessment:
    findings: tuple[Finding, ...]  # in report order
    plans: tuple[Plan, ...]  # by target, then deployment id


def assess(
    snapshot: Snapshot,
    config: RulesConfig,
    now: dt.datetime,
    rules: tuple[RuleFamily, ...] = RULES,
) -> Assessment:
    """The findings, and the remediation plans they lead to (sharing one resolution memo)."""
    scopes = [Scope(target, config, now) for target in snapshot.targets]
    findings = _findings(scopes, rules)
    proposed = tuple(plan for scope in scopes for plan in plans.propose(scope, findings))
    return Assessment(findings, proposed)


def evaluate(
    snapshot: Snapshot,
    config: RulesConfig,
    now: dt.datetime,
    rules: tuple[RuleFamily, ...] = RULES,
) -> tuple[Finding, ...]:
    return _findings([Scope(target, config, now) for target in snapshot.targets], rules)


def _findings(scopes: list[Scope], rules: tuple[RuleFamily, ...]) -> tuple[Finding, ...]:
    found = [f for scope in scopes for family in rules for f in family(scope)]
    # One finding per key even if a device lists a component twice across pages.
    unique = {f.key: f for f in found}
    return tuple(sorted(unique.values(), key=lambda f: f.sort_key))
