"""What every operation handler gets (`Call`), and the checks they share."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ggwatch.sim.faults import Knobs, Quotas
from ggwatch.sim.pagination import Pager
from ggwatch.sim.store import RegionState, SimError

Params = dict[str, Any]
Output = dict[str, Any]


@dataclass(slots=True)
class Call:
    """Everything one operation may touch."""

    state: RegionState
    params: Params
    knobs: Knobs
    quotas: Quotas
    pager: Pager

    def page(self, operation: str, entries: Any, keep: Any = None) -> tuple[list[Any], str | None]:
        return self.pager.page(operation, self.params, entries, keep)


def check_own_arn(state: RegionState, arn: str, member: str) -> None:
    region, account = arn.split(":")[3:5]
    if region != state.region or account != state.account:
        raise SimError(
            "ValidationException",
            f"{member} must name a resource of account {state.account} in {state.region}.",
            reason="FIELD_VALIDATION_FAILED",
            fields=[{"name": member, "message": "wrong account or Region"}],
        )
