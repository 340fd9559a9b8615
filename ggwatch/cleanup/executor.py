"""The cleanup executor: decide, re-check, archive, delete, one deployment at a time.

Every trigger takes the same path: the daemon's cycle after a complete scan (`cycle`) and an
Alertmanager webhook naming deployments (`request`) both ask `policy.select` over the target's
latest complete scan, one decision at a time (a lock), sharing what is left of the per-cycle
cap until the next scan. A request's work is bounded by that cap and by its deadline; what is
not done is answered as held back. The dry-run branch lives in exactly one place (`_act`).

Every step is a structlog event (`cleanup.would_delete`, `cleanup.archived`, `cleanup.deleted`,
`cleanup.skipped`, `cleanup.blocked`, `cleanup.request`) and a count by (account alias, Region,
mode, action, outcome). Nothing is deleted unless it came from a complete scan, passed a fresh
GetDeployment re-check, and its full definition was archived first by this process: the
archive is create-only, so of two replicas acting on one fleet only the one that created the
record deletes (`held_by_other` for the other), unless the record's writer is gone (a crash
between archive and delete, see `abandoned`). A delete under way finishes: it is never cut
short, except that once the daemon is told to stop it gets DELETE_GRACE_ON_STOP seconds, and
its end is then re-checked before it is counted.
"""

from __future__ import annotations

import datetime as dt
import os
import socket
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import structlog
from anyio.abc import ObjectReceiveStream

from ggwatch import __version__
from ggwatch.archive.record import Archive, ArchiveRecord
from ggwatch.aws.greengrass import DeploymentAdmin
from ggwatch.aws.quota import TokenBucket
from ggwatch.cleanup.policy import (
    HELD_BACK,
    Candidate,
    Fresh,
    Policy,
    Selection,
    Skip,
    recheck,
    select,
)
from ggwatch.errors import ArchiveError, ArchiveHeld, AWSError, Conflict, NotFound
from ggwatch.model import TargetId, TargetSnapshot
from ggwatch.tracker import OpenFinding

DELETE_GRACE_ON_STOP = 30.0  # seconds a started delete may take after SIGTERM
RECHECK_ON_STOP = 5.0  # seconds to learn whether a delete cut short by a stop went through
# A record archived by a process on another host is taken as abandoned (its writer crashed
# between archive and delete) once this old: far longer than a re-check, archive and delete.
ARCHIVE_LEASE_SECONDS = 600.0
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


def fresh_from(document: Mapping[str, Any]) -> Fresh:
    created = document["creationTimestamp"]
    if isinstance(created, int | float):
        created = dt.datetime.fromtimestamp(created, dt.UTC)
    return Fresh(
        deployment_id=document["deploymentId"],
        target_arn=document["targetArn"],
        name=document.get("deploymentName"),
        status=document.get("deploymentStatus", "UNKNOWN"),
        is_latest=bool(document.get("isLatestForTarget")),
        created=created.astimezone(dt.UTC),
        tags=dict(document.get("tags") or {}),
    )


def writer_identity() -> str:
    """`host:pid:token`: which process archived a record, and whether it can still be alive."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:12]}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process, alive
    return True


def abandoned(
    writer: str | None,
    me: str,
    age_seconds: float | None,
    alive: Callable[[int], bool] = _alive,
) -> bool:
    """Whether an existing archive record's writer is gone, so this process may finish its
    delete. Same host: gone when its process is (or when its pid is ours, a restarted
    container). Another host, or a writer nobody can read: gone once the lease has passed."""
    host, pid, token = _parts(writer)
    my_host, my_pid, my_token = _parts(me)
    if host and host == my_host and pid.isdigit():
        return token == my_token or pid == my_pid or not alive(int(pid))
    return age_seconds is not None and age_seconds >= ARCHIVE_LEASE_SECONDS


def _parts(writer: str | None) -> tuple[str, str, str]:
    parts = (writer or "").split(":", 2)
    return (parts[0], parts[1], parts[2]) if len(parts) == 3 else ("", "", "")


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


class Cleaner:
    def __init__(
        self,
        mode: str,
        policy: Policy,
        admins: Mapping[TargetId, DeploymentAdmin],
        archive: Archive | None,
        rate_per_second: float,
        clock: Callable[[], dt.datetime],
        on_count: Callable[[], None] | None = None,
        *,
        on_scan: bool = True,
        stopping: anyio.Event | None = None,
        writer: str | None = None,
    ) -> None:
        if mode == "enforce" and archive is None:
            raise ValueError("enforce needs an archive")
        self.mode = mode
        self.policy = policy
        self.admins = admins
        self.archive = archive
        self.rate = TokenBucket(rate_per_second)
        self.clock = clock
        self.on_scan = on_scan  # False: only requests (the webhook) trigger deletions
        self.stopping = stopping or anyio.Event()  # set when the daemon is told to stop
        self.writer = writer or writer_identity()
        self.counts: Counter[tuple[str, str, str, str, str]] = Counter()
        self.on_count = on_count  # told after every count, to publish them
        self.log = structlog.get_logger("ggwatch.cleanup").bind(mode=mode)
        self._latest: dict[TargetId, _Latest] = {}
        # One decision and one deployment at a time: the caps, the rate limit and the
        # service's ceiling of 10 deletions in progress stay simple to reason about.
        self._lock = anyio.Lock()

    def _count(self, outcome: Outcome) -> Outcome:
        where = outcome.target
        self.counts[(where.alias, where.region, self.mode, outcome.action, outcome.outcome)] += 1
        if self.on_count is not None:
            self.on_count()
        return outcome

    def _skip(self, where: TargetId, deployment_id: str, why: Skip, detail: str = "") -> Outcome:
        self.log.info(
            "cleanup.skipped",
            account_alias=where.alias,
            aws_region=where.region,
            deployment_id=deployment_id,
            reason=why.value,
            detail=detail or None,
        )
        return self._answer(where, deployment_id, why, detail)

    def _answer(self, where: TargetId, deployment_id: str, why: Skip, detail: str = "") -> Outcome:
        """Counted, not logged one by one (a request's summary line names them)."""
        action = "held_back" if why in HELD_BACK else "skipped"
        return self._count(Outcome(deployment_id, where, action, why.value, detail))

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
                return [self._blocked(target.target, selection.blocked)]
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
            return [await self._remediate(c.target, c.deployment_id, reason) for c in ready]

    def _left(self, target: TargetSnapshot) -> int:
        latest = self._latest.get(target.target)
        used = latest.used if latest is not None and latest.job.snapshot is target else 0
        return max(0, self.policy.max_per_cycle - used)

    def _blocked(self, where: TargetId, why: str) -> Outcome:
        self.log.warning(
            "cleanup.blocked",
            account_alias=where.alias,
            aws_region=where.region,
            reason=Skip.BLAST_RADIUS.value,
            detail=why,
        )
        return self._count(Outcome("*", where, "blocked", Skip.BLAST_RADIUS.value, why))

    async def request(
        self, where: TargetId, deployment_ids: Sequence[str], reason: str, deadline: float
    ) -> dict[str, Outcome]:
        """A trigger naming deployments (the webhook): the same decision as the cycle's over the
        target's latest complete scan; at most the cap's remainder is acted on, within
        `deadline` seconds. Every id gets an outcome."""
        ids = list(dict.fromkeys(deployment_ids))
        if self.mode == "off":
            return {i: self._answer(where, i, Skip.INVALID, "cleanup is off") for i in ids}
        if where not in self.admins:
            return {i: self._answer(where, i, Skip.INVALID, "not a watched target") for i in ids}
        answers: dict[str, Outcome] = {}
        with anyio.move_on_after(deadline) as waited:
            await self._lock.acquire()
        if waited.cancelled_caught:
            answers = {i: self._answer(where, i, Skip.DEADLINE) for i in ids}
            self._summary(where, answers)
            return answers
        try:
            ends = anyio.current_time() + max(0.0, deadline)
            latest = self._latest.get(where)
            if latest is None:
                why = "no complete scan of the target yet"
                answers = {i: self._answer(where, i, Skip.INCOMPLETE_SCAN, why) for i in ids}
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
            self._summary(where, answers)

    async def _requested(
        self, where: TargetId, selection: Selection, reason: str, ends: float
    ) -> dict[str, Outcome]:
        answers: dict[str, Outcome] = {}
        for deployment_id, why in selection.skipped:
            answers[deployment_id] = self._answer(
                where, deployment_id, why, selection.blocked or ""
            )
        if selection.blocked is not None:
            self._blocked(where, selection.blocked)
        for candidate in selection.candidates:
            left = ends - anyio.current_time()
            if left <= 0:
                answers[candidate.deployment_id] = self._answer(
                    where, candidate.deployment_id, Skip.DEADLINE
                )
                continue
            answers[candidate.deployment_id] = await self._remediate(
                where, candidate.deployment_id, reason, recheck_within=left
            )
        return answers

    def _summary(self, where: TargetId, answers: Mapping[str, Outcome]) -> None:
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

    async def _archived(self, candidate: Candidate) -> bool:
        assert self.archive is not None
        try:
            return await self.archive.exists(
                candidate.target.region, candidate.account, candidate.deployment_id
            )
        except ArchiveError:
            return False

    async def _remediate(
        self,
        where: TargetId,
        deployment_id: str,
        reason: str,
        recheck_within: float | None = None,
    ) -> Outcome:
        """Re-check, archive and delete one deployment; the caller holds the lock."""
        admin = self.admins.get(where)
        if admin is None:
            return self._skip(where, deployment_id, Skip.INVALID, "not a watched target")
        document: dict[str, Any] | None = None
        with anyio.move_on_after(recheck_within if recheck_within is not None else float("inf")):
            try:
                document = await admin.get_deployment_document(deployment_id)
            except NotFound:
                return self._skip(where, deployment_id, Skip.NOT_FOUND)
            except AWSError as exc:
                return self._skip(where, deployment_id, Skip.AWS_ERROR, str(exc))
        if document is None:
            return self._answer(where, deployment_id, Skip.DEADLINE)
        try:
            fresh = fresh_from(document)
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            return self._skip(where, deployment_id, Skip.AWS_ERROR, f"malformed: {exc}")
        why = recheck(fresh, self.policy, self.clock())
        if why is not None:
            return self._skip(where, deployment_id, why)
        outcome = await self._act(where, admin, document, fresh, reason)
        if outcome.action in ("deleted", "would_delete"):
            self._use(where)
        return outcome

    def _use(self, where: TargetId) -> None:
        latest = self._latest.get(where)
        if latest is not None:
            latest.used += 1

    async def _act(
        self,
        where: TargetId,
        admin: DeploymentAdmin,
        document: dict[str, Any],
        fresh: Fresh,
        reason: str,
    ) -> Outcome:
        region, deployment_id = where.region, fresh.deployment_id
        fields = {
            "account_alias": where.alias,
            "aws_region": region,
            "deployment_id": deployment_id,
            "target_arn": fresh.target_arn,
            "deployment_status": fresh.status,
        }
        if self.mode != "enforce":
            self.log.info("cleanup.would_delete", **fields, reason=reason)
            return self._count(Outcome(deployment_id, where, "would_delete", "ok"))
        assert self.archive is not None
        await self.rate.acquire()
        account = fresh.target_arn.split(":")[4] or None
        record = ArchiveRecord(
            region=region,
            account=account,
            deployment_id=deployment_id,
            deployment=document,
            ggwatch_version=__version__,
            archived_at=self.clock(),
            reason=reason,
            writer=self.writer,
        )
        try:
            location = await self.archive.write(record)
        except ArchiveHeld as held:
            age = None
            if held.archived_at is not None:
                age = (self.clock() - held.archived_at).total_seconds()
            if not abandoned(held.writer, self.writer, age):
                self.log.info(
                    "cleanup.held_by_other", **fields, writer=held.writer, location=held.location
                )
                return self._skip(where, deployment_id, Skip.HELD_BY_OTHER, held.writer or "")
            location = held.location
            self.log.info("cleanup.archive_reused", **fields, writer=held.writer, location=location)
        except ArchiveError as exc:
            self.log.warning("cleanup.archive_failed", **fields, error=str(exc))
            self._count(Outcome(deployment_id, where, "archived", "failed", str(exc)))
            return self._skip(where, deployment_id, Skip.ARCHIVE_FAILED, str(exc))
        else:
            self.log.info("cleanup.archived", **fields, location=location)
            self._count(Outcome(deployment_id, where, "archived", "ok", location))
        return await self._delete(where, admin, deployment_id, fields, location)

    async def _delete(
        self,
        where: TargetId,
        admin: DeploymentAdmin,
        deployment_id: str,
        fields: Mapping[str, Any],
        location: str,
    ) -> Outcome:
        """DeleteDeployment, shielded: a delete under way finishes even if the daemon is told
        to stop meanwhile. It is bounded only by the adapter's own retries until the stop:
        from then on, DELETE_GRACE_ON_STOP seconds, and a fresh read says what it did."""
        error: AWSError | None = None
        finished = False
        confirmed: Outcome | None = None
        with anyio.CancelScope(shield=True):
            async with anyio.create_task_group() as group:

                async def bound_on_stop() -> None:
                    await self.stopping.wait()
                    group.cancel_scope.deadline = anyio.current_time() + DELETE_GRACE_ON_STOP

                group.start_soon(bound_on_stop)
                try:
                    await admin.delete_deployment(deployment_id)
                except AWSError as exc:
                    error = exc
                finished = True
                group.cancel_scope.cancel()
            if not finished:
                confirmed = await self._confirm(where, admin, deployment_id, fields, location)
        if confirmed is not None:
            return confirmed
        if isinstance(error, NotFound):
            self.log.info("cleanup.deleted", **fields, already=True)
            return self._count(Outcome(deployment_id, where, "deleted", "already_deleted"))
        if isinstance(error, Conflict):
            return self._skip(where, deployment_id, Skip.CONFLICT, error.message)
        if error is not None:
            return self._skip(where, deployment_id, Skip.AWS_ERROR, str(error))
        self.log.info("cleanup.deleted", **fields, archive=location)
        return self._count(Outcome(deployment_id, where, "deleted", "ok", location))

    async def _confirm(
        self,
        where: TargetId,
        admin: DeploymentAdmin,
        deployment_id: str,
        fields: Mapping[str, Any],
        location: str,
    ) -> Outcome:
        """A delete cut short by a stop: counted as what a fresh GetDeployment says it did."""
        gone = False
        with anyio.move_on_after(RECHECK_ON_STOP):
            try:
                await admin.get_deployment_document(deployment_id)
            except NotFound:
                gone = True
            except AWSError:
                pass
        if gone:
            self.log.info("cleanup.deleted", **fields, archive=location)
            return self._count(Outcome(deployment_id, where, "deleted", "ok", location))
        return self._skip(
            where, deployment_id, Skip.AWS_ERROR, "delete did not finish before the daemon stopped"
        )


async def clean(cleaner: Cleaner, jobs: ObjectReceiveStream[CleanupJob]) -> None:
    """The cleanup stage: run each job the evaluator sends, one after the other."""
    async with jobs:
        async for job in jobs:
            await cleaner.cycle(job.snapshot, job.open_findings)
