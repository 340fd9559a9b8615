"""What the cleanup did, deployment by deployment: an `Outcome` each, counted by (account alias,
Region, mode, action, outcome), and logged as structlog events of ggwatch.cleanup."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from ggwatch.cleanup.policy import HELD_BACK, Skip
from ggwatch.model import TargetId

SUMMARY_IDS = 20  # deployment ids named per reason in a request's summary log line


@dataclass(frozen=True, slots=True)
class Outcome:
    deployment_id: str
    target: TargetId
    action: str  # deleted | would_delete | skipped | archived | blocked
    outcome: str  # ok | already_deleted | a Skip value
    detail: str = ""

    def to_json(self) -> dict[str, str]:
        return {
            "deployment_id": self.deployment_id,
            "account_alias": self.target.alias,
            "region": self.target.region,
            "action": self.action,
            "outcome": self.outcome,
            "detail": self.detail,
        }


class ActionKey(NamedTuple):
    """What cleanup steps are counted by (the labels of ggwatch_cleanup_actions_total)."""

    account_alias: str
    aws_region: str
    mode: str
    action: str
    outcome: str


class Tally:
    """The counts of one cleaner, and its log; `on_count` is told after every count."""

    def __init__(self, mode: str, log: Any, on_count: Callable[[], None] | None = None) -> None:
        self.mode = mode
        self.log = log
        self.counts: Counter[ActionKey] = Counter()
        self.on_count = on_count

    def count(self, outcome: Outcome) -> Outcome:
        where = outcome.target
        self.counts[
            ActionKey(where.alias, where.region, self.mode, outcome.action, outcome.outcome)
        ] += 1
        if self.on_count is not None:
            self.on_count()
        return outcome

    def skip(self, where: TargetId, deployment_id: str, why: Skip, detail: str = "") -> Outcome:
        self.log.info(
            "cleanup.skipped",
            account_alias=where.alias,
            aws_region=where.region,
            deployment_id=deployment_id,
            reason=why.value,
            detail=detail or None,
        )
        return self.answer(where, deployment_id, why, detail)

    def answer(self, where: TargetId, deployment_id: str, why: Skip, detail: str = "") -> Outcome:
        """Counted, not logged one by one (a request's summary line names them)."""
        action = "held_back" if why in HELD_BACK else "skipped"
        return self.count(Outcome(deployment_id, where, action, why.value, detail))

    def blocked(self, where: TargetId, why: str) -> Outcome:
        self.log.warning(
            "cleanup.blocked",
            account_alias=where.alias,
            aws_region=where.region,
            reason=Skip.BLAST_RADIUS.value,
            detail=why,
        )
        return self.count(Outcome("*", where, "blocked", Skip.BLAST_RADIUS.value, why))

    def summary(self, where: TargetId, answers: Mapping[str, Outcome]) -> None:
        by_outcome: dict[str, list[str]] = {}
        for deployment_id, outcome in answers.items():
            by_outcome.setdefault(f"{outcome.action}/{outcome.outcome}", []).append(deployment_id)
        self.log.info(
            "cleanup.request",
            account_alias=where.alias,
            aws_region=where.region,
            deployments=len(answers),
            outcomes={k: len(v) for k, v in sorted(by_outcome.items())},
            held_back={
                k.split("/", 1)[1]: v[:SUMMARY_IDS]
                for k, v in sorted(by_outcome.items())
                if k.startswith("held_back/")
            },
        )
