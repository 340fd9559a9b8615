"""The cleanup executor: re-check, archive, delete, one deployment at a time.

Every trigger (the daemon's cycle after a complete scan, `cycle`; an Alertmanager webhook,
`request`) takes the same decision path (ggwatch.cleanup.decisions), which hands what it
selects to the guarded delete sequence here (`_remediate`): a fresh GetDeployment re-check
(ggwatch.cleanup.recheck), the archive (ggwatch.cleanup.archiving), then the delete. The
dry-run branch lives in exactly one place (`_act`).

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
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import anyio
import structlog
from anyio.abc import ObjectReceiveStream

from ggwatch import __version__
from ggwatch.archive.record import Archive, ArchiveRecord
from ggwatch.aws.api import DeploymentAdmin
from ggwatch.aws.quota import TokenBucket
from ggwatch.aws.shapes import DeploymentRead
from ggwatch.cleanup.archiving import (
    archive_first,
    writer_identity,
)
from ggwatch.cleanup.decisions import CleanupJob, Decisions
from ggwatch.cleanup.outcomes import ActionKey, Outcome, Tally
from ggwatch.cleanup.policy import Fresh, Policy, Skip, recheck
from ggwatch.cleanup.recheck import fresh_of, reread
from ggwatch.errors import AWSError, Conflict, NotFound
from ggwatch.model import TargetId, TargetSnapshot
from ggwatch.names import arn_account
from ggwatch.tracker import OpenFinding

# CleanupJob and Outcome are what the daemon and the webhook exchange with the cleaner.
__all__ = ["DELETE_GRACE_ON_STOP", "RECHECK_ON_STOP", "Cleaner", "CleanupJob", "Outcome", "clean"]

DELETE_GRACE_ON_STOP = 30.0  # seconds a started delete may take after SIGTERM
RECHECK_ON_STOP = 5.0  # seconds to learn whether a delete cut short by a stop went through


class Cleaner:
    def __init__(
        self,
        policy: Policy,
        admins: Mapping[TargetId, DeploymentAdmin],
        archive: Archive | None,
        clock: Callable[[], dt.datetime],
        *,
        on_count: Callable[[], None] | None = None,
        stopping: anyio.Event | None = None,
        writer: str | None = None,
    ) -> None:
        mode = policy.mode
        if mode == "enforce" and archive is None:
            raise ValueError("enforce needs an archive")
        self.mode = mode
        self.policy = policy
        self.admins = admins
        self.archive = archive
        self.rate = TokenBucket(policy.rate_per_second)
        self.clock = clock
        self.stopping = stopping or anyio.Event()  # set when the daemon is told to stop
        self.writer = writer or writer_identity()
        self.log = structlog.get_logger("ggwatch.cleanup").bind(mode=mode)
        self.tally = Tally(mode, self.log, on_count)
        self.decisions = Decisions(
            policy, admins.keys(), archive, clock, self.tally, self._remediate
        )

    @property
    def counts(self) -> Counter[ActionKey]:
        """Outcomes by target, mode, action and outcome, since start."""
        return self.tally.counts

    @property
    def on_count(self) -> Callable[[], None] | None:
        """Told after every count, to publish them."""
        return self.tally.on_count

    @on_count.setter
    def on_count(self, told: Callable[[], None] | None) -> None:
        self.tally.on_count = told

    async def cycle(
        self, target: TargetSnapshot, open_findings: Sequence[OpenFinding]
    ) -> list[Outcome]:
        """After a complete scan of one target: remember it, and act on what the policy
        selects (unless only requests trigger deletions)."""
        return await self.decisions.cycle(target, open_findings)

    async def request(
        self, where: TargetId, deployment_ids: Sequence[str], reason: str, deadline: float
    ) -> dict[str, Outcome]:
        """A trigger naming deployments (the webhook): the same decision as the cycle's over the
        target's latest complete scan; at most the cap's remainder is acted on, within
        `deadline` seconds. Every id gets an outcome."""
        return await self.decisions.request(where, deployment_ids, reason, deadline)

    async def _remediate(
        self,
        where: TargetId,
        deployment_id: str,
        reason: str,
        recheck_within: float | None = None,
    ) -> Outcome:
        """Re-check, archive and delete one deployment; the caller holds the decisions' lock."""
        admin = self.admins.get(where)
        if admin is None:
            return self.tally.skip(where, deployment_id, Skip.INVALID, "not a watched target")
        read = await reread(admin, self.tally, where, deployment_id, recheck_within)
        if isinstance(read, Outcome):
            return read
        fresh = fresh_of(read)
        why = recheck(fresh, self.policy, self.clock())
        if why is not None:
            return self.tally.skip(where, deployment_id, why)
        return await self._act(where, admin, read, fresh, reason)

    async def _act(
        self,
        where: TargetId,
        admin: DeploymentAdmin,
        read: DeploymentRead,
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
            return self.tally.count(Outcome(deployment_id, where, "would_delete", "ok"))
        assert self.archive is not None
        await self.rate.acquire()
        account = arn_account(fresh.target_arn)
        record = ArchiveRecord(
            region=region,
            account=account,
            deployment_id=deployment_id,
            deployment=read.document,  # the raw answer: only the archive keeps it
            ggwatch_version=__version__,
            archived_at=self.clock(),
            reason=reason,
            writer=self.writer,
        )
        archived = await archive_first(self.archive, record, self.tally, where, fields, self.clock)
        if isinstance(archived, Outcome):
            return archived
        location = archived
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
            return self.tally.count(Outcome(deployment_id, where, "deleted", "already_deleted"))
        if isinstance(error, Conflict):
            return self.tally.skip(where, deployment_id, Skip.CONFLICT, error.message)
        if error is not None:
            return self.tally.skip(where, deployment_id, Skip.AWS_ERROR, str(error))
        self.log.info("cleanup.deleted", **fields, archive=location)
        return self.tally.count(Outcome(deployment_id, where, "deleted", "ok", location))

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
            return self.tally.count(Outcome(deployment_id, where, "deleted", "ok", location))
        return self.tally.skip(
            where, deployment_id, Skip.AWS_ERROR, "delete did not finish before the daemon stopped"
        )


async def clean(cleaner: Cleaner, jobs: ObjectReceiveStream[CleanupJob]) -> None:
    """The cleanup stage: run each job the evaluator sends, one after the other."""
    async with jobs:
        async for job in jobs:
            await cleaner.cycle(job.snapshot, job.open_findings)
