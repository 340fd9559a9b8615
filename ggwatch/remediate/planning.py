"""`ggwatch plan`: scan, propose, and make each plan's CreateDeployment input from a fresh read
of its base revision.

Nothing is planned from a partial view: an incomplete scan gives no plans (the CLI reports it
as `scan` does). A base revision read again that is no longer the latest for its target, or no
longer names the flagged versions, blocks its plan: the fleet moved since the scan. Only `ok`
plans get a request file; a blocked plan keeps its base for review.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ggwatch.aws.clients import Session, new_session
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.errors import NotFound, PlanError
from ggwatch.findings import Plan, Verdict
from ggwatch.remediate.apis import admin_apis
from ggwatch.remediate.files import Written
from ggwatch.remediate.request import revision_request
from ggwatch.report import ScanResult
from ggwatch.scan import scan_once, utcnow
from ggwatch.settings import Settings


@dataclass(frozen=True, slots=True)
class PlanRun:
    result: ScanResult
    plans: tuple[Written, ...]


async def plan_fleet(
    settings: Settings,
    *,
    session: Session | None = None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> PlanRun:
    session = session or new_session()
    result = await scan_once(settings, session=session, clock=clock)
    if not result.snapshot.complete or not result.plans:
        return PlanRun(result, ())
    written = []
    async with admin_apis(settings, session, {p.target for p in result.plans}) as apis:
        # One at a time: a handful of reads, paced by the target's bucket anyway.
        for plan in result.plans:
            written.append(await _with_base(apis[plan.target], plan))
    return PlanRun(result, tuple(written))


async def _with_base(api: AioGreengrass, plan: Plan) -> Written:
    try:
        base = await api.get_deployment_document(plan.deployment_id)
    except NotFound:
        return Written(_blocked(plan, "The deployment no longer exists."), None, None)
    moved = _moved_since(base, plan)
    if moved is not None:
        return Written(_blocked(plan, f"The fleet moved since the scan: {moved}"), None, base)
    if plan.verdict is not Verdict.OK:
        return Written(plan, None, base)
    try:
        request = revision_request(base, plan)
    except PlanError as exc:
        return Written(_blocked(plan, str(exc)), None, base)
    return Written(plan, request, base)


def _moved_since(base: Mapping[str, Any], plan: Plan) -> str | None:
    """Why the base read now is not the revision the plan was made from; None if it is."""
    if base.get("isLatestForTarget") is False:
        return "the deployment is no longer the latest for its target."
    if plan.revision_id is not None and base.get("revisionId") != plan.revision_id:
        return f"its revision is now {base.get('revisionId')}, not {plan.revision_id}."
    components = base.get("components") or {}
    for change in plan.changes:
        spec = components.get(change.component_name)
        version = spec.get("componentVersion") if isinstance(spec, dict) else None
        if version != change.from_version:
            return f"it names {change.component_name} {version}, not {change.from_version}."
    return None


def _blocked(plan: Plan, reason: str) -> Plan:
    return replace(plan, verdict=Verdict.BLOCKED, reason=reason)
