"""Deployments: List, Get, Create, Cancel and DeleteDeployment."""

from __future__ import annotations

import json

from ggwatch.sim.operations.call import Call, Output, check_own_arn
from ggwatch.sim.store import Deployment, SimError, not_found
from ggwatch.sim.store.records import default_deployment_policies


def deployment_item(dep: Deployment) -> Output:
    return {
        "targetArn": dep.target_arn,
        "revisionId": dep.revision_id,
        "deploymentId": dep.deployment_id,
        "deploymentName": dep.name,
        "creationTimestamp": dep.created,
        "deploymentStatus": dep.status,
        "isLatestForTarget": dep.is_latest,
        "parentTargetArn": dep.parent_target_arn,
    }


def list_deployments(call: Call) -> Output:
    index = call.state.deployments
    params = call.params
    target = params.get("targetArn")
    entries = index.by_target.get(target, []) if target else index.all
    latest_only = params.get("historyFilter", "LATEST_ONLY") == "LATEST_ONLY"
    parent = params.get("parentTargetArn")

    def keep(dep: Deployment) -> bool:
        if latest_only and not dep.is_latest:
            return False
        return parent is None or dep.parent_target_arn == parent

    filtered = keep if (latest_only or parent) else None
    items, token = call.page("ListDeployments", entries, filtered)
    return {"deployments": [deployment_item(d) for d in items], "nextToken": token}


def _deployment(call: Call) -> Deployment:
    deployment_id = call.params["deploymentId"]
    dep = call.state.deployments.by_id.get(deployment_id)
    if dep is None:
        raise not_found("deployment", deployment_id)
    return dep


def get_deployment(call: Call) -> Output:
    dep = _deployment(call)
    out = deployment_item(dep)
    out.update(
        {
            "iotJobId": dep.iot_job_id,
            "iotJobArn": dep.iot_job_arn,
            "components": dep.components,
            "deploymentPolicies": dep.policies,
            "iotJobConfiguration": dep.iot_job_configuration,
            "tags": dep.tags,
        }
    )
    return out


def create_deployment(call: Call) -> Output:
    state, params = call.state, call.params
    target = params["targetArn"]
    check_own_arn(state, target, "targetArn")
    parent = params.get("parentTargetArn")
    if parent is not None:
        check_own_arn(state, parent, "parentTargetArn")
    token = params.get("clientToken")
    request = json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True)
    if token is not None and token in state.idempotency:
        seen_request, seen_id = state.idempotency[token]
        if seen_request != request:
            raise SimError(
                "ConflictException",
                "The client token was already used with a different request.",
                resourceId=token,
                resourceType="clientToken",
            )
        return _created(state.deployments.by_id[seen_id])
    components = params.get("components", {})
    for name, spec in sorted(components.items()):
        component = state.component(name)
        if component is None or spec["componentVersion"] not in component.versions:
            raise not_found("component version", f"{name}:{spec['componentVersion']}")
    previous = state.deployments.latest.get(target)
    # Policies as given; a deployment created without any gets AWS's defaults.
    policies = params.get("deploymentPolicies")
    dep = Deployment(
        deployment_id=state.new_deployment_id(),
        revision_id=str(int(previous.revision_id) + 1) if previous else "1",
        target_arn=target,
        name=params.get("deploymentName") or f"Deployment for {target.rpartition('/')[2]}",
        created=max(state.clock(), previous.created + 0.001 if previous else 0.0),
        status="ACTIVE",
        components=components,
        account=state.account,
        region=state.region,
        parent_target_arn=parent,
        policies=default_deployment_policies() if policies is None else policies,
        iot_job_configuration=params.get("iotJobConfiguration"),
        tags=dict(params.get("tags", {})),
    )
    state.add_deployment(dep)
    if token is not None:
        state.idempotency[token] = (request, dep.deployment_id)
    return _created(dep)


def _created(dep: Deployment) -> Output:
    return {
        "deploymentId": dep.deployment_id,
        "iotJobId": dep.iot_job_id,
        "iotJobArn": dep.iot_job_arn,
    }


def cancel_deployment(call: Call) -> Output:
    dep = _deployment(call)
    if dep.status != "ACTIVE":
        raise SimError(
            "ConflictException",
            f"Deployment {dep.deployment_id} is {dep.status} and cannot be canceled.",
            resourceId=dep.deployment_id,
            resourceType="deployment",
        )
    dep.status = "CANCELED"
    return {"message": f"Canceled deployment {dep.deployment_id}."}


def delete_deployment(call: Call) -> Output:
    dep = _deployment(call)
    if dep.status == "ACTIVE":
        message = "To delete an active deployment, you must first cancel it."
        if call.knobs.readings.delete_active_error == "validation":
            raise SimError("ValidationException", message, reason="OTHER")
        raise SimError(
            "ConflictException", message, resourceId=dep.deployment_id, resourceType="deployment"
        )
    if not call.quotas.start_deletion(call.state.account):
        raise SimError(
            "ThrottlingException",
            "Too many deployment deletions are in progress; try again later.",
            quotaCode="L-DELETE-DEPLOYMENT-JOBS",
            serviceCode="greengrass",
            retry_after=1,
        )
    call.state.deployments.remove(dep)
    return {}
