"""The one decision path every cleanup trigger takes.

The daemon's cycle after a complete scan (`cycle`) and an Alertmanager webhook naming
deployments (`request`) both ask `policy.select` over the target's latest complete scan, one
decision at a time (a lock), sharing what is left of the per-cycle cap until the next scan. A
request's work is bounded by that cap and by its deadline; what is not done is answered as
held back. What is selected is handed, one deployment at a time, to the executor's guarded
delete sequence (`remediate`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable, Collection, Sequence
from dataclasses import dataclass

import anyio

from ggwatch.archive.record import Archive
from ggwatch.cleanup.outcomes import Outcome, Tally
from ggwatch.cleanup.policy import Candidate, Policy, Selection, Skip, select
from ggwatch.errors import ArchiveError
from ggwatch.model import TargetId, TargetSnapshot
from ggwatch.tracker import OpenFinding

# Re-check, archive and delete one deployment: (target, deployment id, reason, re-check within)
Remediate = Callable[[TargetId, str, str, float | None], Awaitable[Outcome]]


@dataclass(frozen=True, slots=True)
class CleanupJob:
    """After a complete scan of a target: its snapshot and the open findings then."""

    snapshot: TargetSnapshot
    open_findings: tuple[OpenFinding, ...]


@dataclass
class _Latest:
    """The target's latest complete scan, and the per-cycle cap used since it (deletions and
    would-be deletions, by every trigger)."""

    job: CleanupJob
    used: int = 0


class Decisions:
    """Which deployments to act on, when: the latest complete scan and cap per target."""

    def __init__(
        self,
        policy: Policy,
        targets: Collection[TargetId],
        archive: Archive | None,
        clock: Callable[[], dt.datetime],
        tally: Tally,
        remediate: Remediate,
    ) -> None:
        self.mode = policy.mode
        self.policy = policy
        self.targets = targets
        self.archive = archive
        self.clock = clock
        self.tally = tally
        self.remediate = remediate
        self.on_scan = policy.on_scan
        self._latest: dict[TargetId, _Latest] = {}
        # One decision and one deployment at a time: the caps, the rate limit and the
        # service's ceiling of 10 deletions in progress stay simple to reason about.
        self._lock = anyio.Lock()

    async def cycle(
        self, target: TargetSnapshot, open_findings: Sequence[OpenFinding]
    ) -> list[Outcome]:
        """After a complete scan of one target: remember it, and act on what the policy
        selects (unless only requests trigger deletions)."""
        if self.mode == "off":
            return []
        async with self._lock:
            if target.complete:
                self._latest[target.target] = _Latest(CleanupJob(target, tuple(open_findings)))
            if not self.on_scan:
                return []
            selection = select(
                target, open_findings, self.policy, self.clock(), allowance=self._left(target)
            )
            if selection.blocked is not None:
                return [self.tally.blocked(target.target, selection.blocked)]
            ready = list(selection.candidates)
            # Archived before a crash (or a restart reset the grace period): finish those now.
            if self.archive is not None and self.mode == "enforce":
                room = self._left(target) - len(ready)
                for waiting in selection.waiting:
                    if room <= 0:
                        break
                    if await self._archived(waiting):
                        ready.append(waiting)
                        room -= 1
            reason = "stale-deployment past its grace period"
            return [await self._act_on(c.target, c.deployment_id, reason) for c in ready]

    def _left(self, target: TargetSnapshot) -> int:
        latest = self._latest.get(target.target)
        used = latest.used if latest is not None and latest.job.snapshot is target else 0
        return max(0, self.policy.max_per_cycle - used)

    async def request(
        self, where: TargetId, deployment_ids: Sequence[str], reason: str, deadline: float
    ) -> dict[str, Outcome]:
        """A trigger naming deployments (the webhook): the same decision as the cycle's over the
        target's latest complete scan; at most the cap's remainder is acted on, within
        `deadline` seconds. Every id gets an outcome."""
        ids = list(dict.fromkeys(deployment_ids))
        if self.mode == "off":
            return {i: self.tally.answer(where, i, Skip.INVALID, "cleanup is off") for i in ids}
        if where not in self.targets:
            return {
                i: self.tally.answer(where, i, Skip.INVALID, "not a watched target") for i in ids
            }
        answers: dict[str, Outcome] = {}
        with anyio.move_on_after(deadline) as waited:
            await self._lock.acquire()
        if waited.cancelled_caught:
            answers = {i: self.tally.answer(where, i, Skip.DEADLINE) for i in ids}
            self.tally.summary(where, answers)
            return answers
        try:
            ends = anyio.current_time() + max(0.0, deadline)
            latest = self._latest.get(where)
            if latest is None:
                why = "no complete scan of the target yet"
                answers = {i: self.tally.answer(where, i, Skip.INCOMPLETE_SCAN, why) for i in ids}
                return answers
            job = latest.job
            selection = select(
                job.snapshot,
                job.open_findings,
                self.policy,
                self.clock(),
                requested=ids,
                allowance=self._left(job.snapshot),
            )
            answers = await self._requested(where, selection, reason, ends)
            return answers
        finally:
            self._lock.release()
            self.tally.summary(where, answers)

    async def _requested(
        self, where: TargetId, selection: Selection, reason: str, ends: float
    ) -> dict[str, Outcome]:
        answers: dict[str, Outcome] = {}
        for deployment_id, why in selection.skipped:
            answers[deployment_id] = self.tally.answer(
                where, deployment_id, why, selection.blocked or ""
            )
        if selection.blocked is not None:
            self.tally.blocked(where, selection.blocked)
        for candidate in selection.candidates:
            left = ends - anyio.current_time()
            if left <= 0:
                answers[candidate.deployment_id] = self.tally.answer(
                    where, candidate.deployment_id, Skip.DEADLINE
                )
                continue
            answers[candidate.deployment_id] = await self._act_on(
                where, candidate.deployment_id, reason, recheck_within=left
            )
        return answers

    async def _archived(self, candidate: Candidate) -> bool:
        assert self.archive is not None
        try:
            return await self.archive.exists(
                candidate.target.region, candidate.account, candidate.deployment_id
            )
        except ArchiveError:
            return False

    async def _act_on(
        self,
        where: TargetId,
        deployment_id: str,
        reason: str,
        recheck_within: float | None = None,
    ) -> Outcome:
        """One deployment through the delete sequence; what it deletes uses up the cap."""
        outcome = await self.remediate(where, deployment_id, reason, recheck_within)
        if outcome.action in ("deleted", "would_delete"):
            latest = self._latest.get(where)
            if latest is not None:
                latest.used += 1
        return outcome
