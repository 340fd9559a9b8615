"""A plan's CreateDeployment input, made from its base revision's GetDeployment answer.

Everything the base says is kept (target, name, components with their configuration updates
and runWith, deployment policies, IoT job configuration, parent target, tags); only the
flagged versions move. The client token is derived from the base revision and the moves, so a
retried `apply` of the same plan cannot create a second deployment.
"""

from __future__ import annotations

import copy
import uuid
from collections.abc import Mapping
from typing import Any

from ggwatch.aws.requests import input_members, problems
from ggwatch.errors import PlanError
from ggwatch.findings import Plan

OPERATION = "CreateDeployment"
# A fixed namespace: the same plan gives the same token on every machine.
TOKEN_NAMESPACE = uuid.UUID("6f1d8a4e-2b35-4c61-9a57-0e3c2d7b9f10")


def client_token(plan: Plan) -> str:
    seed = f"{plan.deployment_id}:{plan.revision_id}:{sorted(plan.moves)}"
    return str(uuid.uuid5(TOKEN_NAMESPACE, seed))


def revision_request(base: Mapping[str, Any], plan: Plan) -> dict[str, Any]:
    """The CreateDeployment input for the plan; PlanError if the base does not match it."""
    if base.get("deploymentId") != plan.deployment_id:
        raise PlanError(f"{plan.deployment_id}: the base revision is another deployment")
    request: dict[str, Any] = {}
    for member in input_members(OPERATION):
        value = base.get(member)
        # An empty map says nothing, and CreateDeployment refuses empty tags.
        if value is not None and value != {}:
            request[member] = copy.deepcopy(value)
    components: dict[str, Any] = request.get("components") or {}
    for name, version in plan.moves:
        spec = components.get(name)
        if not isinstance(spec, dict):
            raise PlanError(f"{plan.deployment_id}: the base revision does not name {name}")
        spec["componentVersion"] = version
    request["clientToken"] = client_token(plan)
    found = problems(OPERATION, request)
    if found is not None:
        raise PlanError(f"{plan.deployment_id}: not a valid CreateDeployment input: {found}")
    return request
