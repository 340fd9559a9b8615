"""`ggwatch apply DIR [--confirm]`: create the reviewed `ok` revisions, one at a time.

Before each create, the target is re-checked: the base revision must still be the latest for
its target (else the fleet moved since the plan and the plan is refused), every version the
plan moves to must still exist and be ACTIVE, and the request must still be the plan's (the
same target and versions, valid for CreateDeployment). Without `--confirm` nothing is created:
each plan says what would be. Every step is logged and counted.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import structlog

from ggwatch.aws.clients import Session, new_session
from ggwatch.aws.greengrass import AioGreengrass
from ggwatch.aws.requests import problems
from ggwatch.errors import NotFound
from ggwatch.model import Guidance, TargetId, VersionRef
from ggwatch.names import partition
from ggwatch.remediate.apis import admin_apis
from ggwatch.remediate.files import Entry
from ggwatch.settings import Settings

MOVED = "the fleet moved since the plan"


class Action(StrEnum):
    CREATED = "created"
    WOULD_CREATE = "would-create"  # without --confirm
    REFUSED = "refused"  # the re-check failed
    SKIPPED = "skipped"  # a blocked plan


@dataclass(frozen=True, slots=True)
class Outcome:
    deployment_id: str
    target_arn: str
    action: Action
    detail: str
    new_deployment_id: str | None = None


def target_of(entry: Entry) -> TargetId:
    return TargetId(str(entry.plan["account_alias"]), str(entry.plan["region"]))


async def apply_plans(
    settings: Settings,
    entries: Sequence[Entry],
    *,
    confirm: bool,
    session: Session | None = None,
) -> list[Outcome]:
    session = session or new_session()
    log = structlog.get_logger("ggwatch.apply")
    outcomes: list[Outcome] = []
    wanted = {target_of(e) for e in entries if e.verdict == "ok"}
    async with admin_apis(settings, session, wanted) as apis:
        for entry in entries:
            outcome = await _one(apis, entry, confirm)
            outcomes.append(outcome)
            log.info(
                f"plan.{outcome.action.value}",
                deployment_id=outcome.deployment_id,
                target_arn=outcome.target_arn,
                detail=outcome.detail,
                new_deployment_id=outcome.new_deployment_id,
                confirmed=confirm,
            )
    counts = Counter(o.action.value for o in outcomes)
    log.info(
        "apply.finished", confirmed=confirm, **{k.replace("-", "_"): n for k, n in counts.items()}
    )
    return outcomes


async def _one(apis: Mapping[TargetId, AioGreengrass], entry: Entry, confirm: bool) -> Outcome:
    plan = entry.plan
    target_arn = str(plan.get("target_arn"))

    def outcome(action: Action, detail: str, new: str | None = None) -> Outcome:
        return Outcome(entry.deployment_id, target_arn, action, detail, new)

    if entry.verdict != "ok":
        return outcome(Action.SKIPPED, f"blocked: {plan.get('reason')}")
    if entry.request is None:
        return outcome(Action.REFUSED, "the plan has no request file")
    api = apis[target_of(entry)]
    why = _request_mismatch(entry)
    if why is None:
        why = await _stale(api, entry)
    if why is None:
        why = await _inactive(api, entry)
    if why is not None:
        return outcome(Action.REFUSED, why)
    moves = ", ".join(
        f"{c['component_name']} {c['from_version']} -> {c['to_version']}" for c in _changes(entry)
    )
    if not confirm:
        return outcome(Action.WOULD_CREATE, f"would create a revision for {target_arn}: {moves}")
    created = await api.create_deployment(entry.request)
    return outcome(Action.CREATED, f"created a revision for {target_arn}: {moves}", created)


def _changes(entry: Entry) -> list[Mapping[str, Any]]:
    changes = entry.plan.get("changes")
    return [c for c in changes if isinstance(c, Mapping)] if isinstance(changes, list) else []


def _request_mismatch(entry: Entry) -> str | None:
    """Why the request file is no longer the plan (edited by hand?); None if it is: a valid
    CreateDeployment input for the plan's target that names the base revision's components at
    the base's versions, but for the plan's moves (what the plan re-resolved, and nothing else).
    """
    request = entry.request or {}
    found = problems("CreateDeployment", request)
    if found is not None:  # first: what follows reads the request's shape
        return f"the request is not a valid CreateDeployment input: {found}"
    if request.get("targetArn") != entry.plan.get("target_arn"):
        return "the request's targetArn is not the plan's"
    named = _versions(request)
    moves = {str(c.get("component_name")): c.get("to_version") for c in _changes(entry)}
    for name, version in moves.items():
        if named.get(name) != version:
            return f"the request does not move {name} to {version}"
    if entry.base is None:
        return "the plan has no base file to check the request against"
    expected = {**_versions(entry.base), **moves}
    for name in sorted(set(named) | set(expected)):
        if name not in expected:
            return f"the request adds {name}, which the plan does not"
        if name not in named:
            return f"the request drops {name}"
        if named[name] != expected[name]:
            return f"the request names {name} {named[name]}, not {expected[name]} as planned"
    return None


def _versions(document: Mapping[str, Any]) -> dict[str, Any]:
    components = document.get("components")
    if not isinstance(components, Mapping):
        return {}
    return {
        str(name): spec.get("componentVersion") if isinstance(spec, Mapping) else None
        for name, spec in components.items()
    }


async def _stale(api: AioGreengrass, entry: Entry) -> str | None:
    try:
        base = await api.get_deployment_document(entry.deployment_id)
    except NotFound:
        return "its base deployment no longer exists"
    if base.get("isLatestForTarget") is False:
        return f"its base deployment is no longer the latest for its target ({MOVED})"
    revision = entry.plan.get("revision_id")
    if revision is not None and base.get("revisionId") != revision:
        now = base.get("revisionId")
        return f"its target's revision is now {now}, not {revision} ({MOVED})"
    return None


async def _inactive(api: AioGreengrass, entry: Entry) -> str | None:
    region, account = str(entry.plan["region"]), entry.plan.get("account")
    for change in _changes(entry):
        ref = VersionRef(str(change["component_name"]), str(change["to_version"]))
        status = None
        # A private component lives in the account, a public one in AWS's.
        for owner in (str(account), "aws") if account else ("aws",):
            arn = (
                f"arn:{partition(region)}:greengrass:{region}:{owner}:components:"
                f"{ref.name}:versions:{ref.version}"
            )
            status = await api.describe_component(ref, arn)
            if status.exists:
                break
        if status is None or not status.exists:
            return f"{ref.name} {ref.version} no longer exists"
        if status.guidance is not Guidance.ACTIVE:
            return f"{ref.name} {ref.version} is now {status.guidance.value}"
    return None
