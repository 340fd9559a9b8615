"""The cleanup executor: re-check, archive, delete, one deployment at a time.

The dry-run branch lives in exactly one place (`_act`). Every step is a structlog event
(`cleanup.would_delete`, `cleanup.archived`, `cleanup.deleted`, `cleanup.skipped`,
`cleanup.blocked`) and a count by (account alias, Region, mode, action, outcome). Nothing is
deleted unless it came from a complete scan (or an alert naming it), passed a fresh
GetDeployment re-check, and its full definition was archived first. A delete that is under way
when the daemon is told to stop is allowed to finish.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio
import structlog

from ggwatch import __version__
from ggwatch.aws.archive import Archive, ArchiveRecord
from ggwatch.aws.greengrass import DeploymentAdmin
from ggwatch.aws.quota import TokenBucket
from ggwatch.cleanup.policy import Candidate, Fresh, Policy, Skip, recheck, select
from ggwatch.errors import ArchiveError, AWSError, Conflict, NotFound
from ggwatch.model import TargetId, TargetSnapshot
from ggwatch.tracker import OpenFinding

DELETE_GRACE_ON_STOP = 30.0  # seconds a started delete may take after SIGTERM


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
    ) -> None:
        if mode == "enforce" and archive is None:
            raise ValueError("enforce needs an archive")
        self.mode = mode
        self.policy = policy
        self.admins = admins
        self.archive = archive
        self.rate = TokenBucket(rate_per_second)
        self.clock = clock
        self.counts: Counter[tuple[str, str, str, str, str]] = Counter()
        self.on_count = on_count  # told after every count, to publish them
        self.log = structlog.get_logger("ggwatch.cleanup").bind(mode=mode)
        # One deployment at a time: the rate limit and the service's ceiling of 10 deletions
        # in progress stay simple to reason about.
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
        return self._count(Outcome(deployment_id, where, "skipped", why.value, detail))

    async def cycle(
        self, target: TargetSnapshot, open_findings: Sequence[OpenFinding]
    ) -> list[Outcome]:
        """After a scan of one target: act on what the policy selects."""
        if self.mode == "off":
            return []
        selection = select(target, open_findings, self.policy, self.clock())
        outcomes: list[Outcome] = []
        if selection.blocked is not None:
            self.log.warning(
                "cleanup.blocked",
                account_alias=target.alias,
                aws_region=target.region,
                reason=Skip.BLAST_RADIUS.value,
                detail=selection.blocked,
            )
            outcome = Outcome(
                "*", target.target, "blocked", Skip.BLAST_RADIUS.value, selection.blocked
            )
            return [self._count(outcome)]
        ready = list(selection.candidates)
        # Archived before a crash (or a restart reset the grace period): finish those now.
        if self.archive is not None and self.mode == "enforce":
            room = self.policy.max_per_cycle - len(ready)
            for waiting in selection.waiting:
                if room <= 0:
                    break
                if await self._archived(waiting):
                    ready.append(waiting)
                    room -= 1
        for candidate in ready:
            outcomes.append(
                await self.remediate(
                    candidate.target,
                    candidate.deployment_id,
                    "stale-deployment past its grace period",
                )
            )
        return outcomes

    async def _archived(self, candidate: Candidate) -> bool:
        assert self.archive is not None
        try:
            return await self.archive.exists(
                candidate.target.region, candidate.account, candidate.deployment_id
            )
        except ArchiveError:
            return False

    async def remediate(self, where: TargetId, deployment_id: str, reason: str) -> Outcome:
        """Re-check, archive and delete one deployment (also the webhook's entry point)."""
        admin = self.admins.get(where)
        if admin is None:
            return self._skip(where, deployment_id, Skip.INVALID, "not a watched target")
        async with self._lock:
            try:
                document = await admin.get_deployment_document(deployment_id)
            except NotFound:
                return self._count(Outcome(deployment_id, where, "deleted", "already_deleted"))
            except AWSError as exc:
                return self._skip(where, deployment_id, Skip.AWS_ERROR, str(exc))
            try:
                fresh = fresh_from(document)
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                return self._skip(where, deployment_id, Skip.AWS_ERROR, f"malformed: {exc}")
            why = recheck(fresh, self.policy, self.clock())
            if why is not None:
                return self._skip(where, deployment_id, why)
            return await self._act(where, admin, document, fresh, reason)

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
        )
        try:
            location = await self.archive.write(record)
        except ArchiveError as exc:
            self.log.warning("cleanup.archive_failed", **fields, error=str(exc))
            self._count(Outcome(deployment_id, where, "archived", "failed", str(exc)))
            return self._skip(where, deployment_id, Skip.ARCHIVE_FAILED, str(exc))
        self.log.info("cleanup.archived", **fields, location=location)
        self._count(Outcome(deployment_id, where, "archived", "ok", location))
        # A delete under way finishes even if the daemon is told to stop meanwhile.
        with anyio.CancelScope(shield=True), anyio.move_on_after(DELETE_GRACE_ON_STOP):
            try:
                await admin.delete_deployment(deployment_id)
            except NotFound:
                self.log.info("cleanup.deleted", **fields, already=True)
                return self._count(Outcome(deployment_id, where, "deleted", "already_deleted"))
            except Conflict as exc:
                return self._skip(where, deployment_id, Skip.CONFLICT, exc.message)
            except AWSError as exc:
                return self._skip(where, deployment_id, Skip.AWS_ERROR, str(exc))
            self.log.info("cleanup.deleted", **fields, archive=location)
            return self._count(Outcome(deployment_id, where, "deleted", "ok", location))
        return self._skip(where, deployment_id, Skip.AWS_ERROR, "delete timed out while stopping")
