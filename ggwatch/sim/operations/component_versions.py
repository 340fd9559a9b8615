"""CreateComponentVersion from an inline recipe (JSON or YAML), as AWS takes one.

In the order AWS's documentation gives: the operation's own quota (1 request/second per
account and Region, on top of the shared budget), the client token (the same token and request
within 8 hours answers the first response again), exactly one source (`lambdaFunction` is not
simulated), a recipe of at most 16 KB that parses and names a new semantic version, then the
version is registered: REQUESTED in the answer, DEPLOYABLE when next read.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import yaml

from ggwatch.sim.faults import retry_after
from ggwatch.sim.operations.call import Call, Output
from ggwatch.sim.store import (
    ComponentVersion,
    RecipeError,
    RecipeFacts,
    SimError,
    component_arn,
    pin,
    read_recipe,
)

MAX_RECIPE_BYTES = 16 * 1024  # "recipe size: 16 KB" in AWS's quotas
TOKEN_SECONDS = (
    8 * 3600.0
)  # "caches successful responses for idempotent requests for up to 8 hours"


def create_component_version(call: Call) -> Output:
    state, params = call.state, call.params
    wait = call.quotas.admit_component_version(state.account, state.region)
    if wait:
        raise SimError(
            "ThrottlingException",
            "Rate exceeded for CreateComponentVersion (1 request per second).",
            quotaCode="L-GREENGRASS-V2-CREATE-COMPONENT-VERSION",
            serviceCode="greengrass",
            retry_after=retry_after(wait),
        )
    now = state.clock()
    token = params.get("clientToken")
    request = _fingerprint(params)
    if token is not None:
        for old in [
            t for t, (_, _, at) in state.component_tokens.items() if now - at > TOKEN_SECONDS
        ]:
            del state.component_tokens[old]
        seen = state.component_tokens.get(token)
        if seen is not None:
            if seen[0] != request:
                raise SimError(
                    "ConflictException",
                    "The client token was already used with a different request.",
                    resourceId=token,
                    resourceType="clientToken",
                )
            return dict(seen[1])
    facts, recipe = _recipe(params)
    arn = f"{component_arn(state.region, state.account, facts.name)}:versions:{facts.version}"
    existing = state.private.get(facts.name)
    if existing is not None and facts.version in existing.versions:
        raise SimError(
            "ConflictException",
            f"Component {facts.name} version {facts.version} already exists.",
            resourceId=arn,
            resourceType="componentVersion",
        )
    record = ComponentVersion(
        name=facts.name,
        version=facts.version,
        arn=arn,
        created=now,
        publisher=facts.publisher,
        description=facts.description,
        state="REQUESTED",
        platforms=facts.platforms,
        requirements=facts.requirements,
        component_type=facts.component_type,
        recipe=recipe,
    )
    pin(record, state.component)
    state.add_private_version(record)
    if params.get("tags"):
        state.resource_tags[arn] = dict(params["tags"])
    answer: Output = {
        "arn": arn,
        "componentName": facts.name,
        "componentVersion": facts.version,
        "creationTimestamp": now,
        # A new version of the caller's own is ACTIVE: only AWS sets other guidance.
        "status": {
            "componentState": "REQUESTED",
            "message": "NONE",
            "errors": {},
            "vendorGuidance": "ACTIVE",
        },
    }
    if token is not None:
        state.component_tokens[token] = (request, answer, now)
    return dict(answer)


def _fingerprint(params: dict[str, Any]) -> str:
    text = json.dumps({k: v for k, v in params.items() if k != "clientToken"}, sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()


def _invalid(message: str, member: str) -> SimError:
    return SimError(
        "ValidationException",
        message,
        reason="FIELD_VALIDATION_FAILED",
        fields=[{"name": member, "message": message}],
    )


def _recipe(params: dict[str, Any]) -> tuple[RecipeFacts, dict[str, Any]]:
    if params.get("lambdaFunction") is not None:
        raise _invalid("lambdaFunction is not supported by the simulator.", "lambdaFunction")
    inline = params.get("inlineRecipe")
    if inline is None:
        raise _invalid("You must specify either inlineRecipe or lambdaFunction.", "inlineRecipe")
    raw = base64.b64decode(inline)
    if len(raw) > MAX_RECIPE_BYTES:
        raise _invalid(
            f"The recipe is {len(raw)} bytes; a recipe can be at most {MAX_RECIPE_BYTES}.",
            "inlineRecipe",
        )
    try:
        text = raw.decode("utf-8")
        doc = json.loads(text) if text.lstrip().startswith("{") else yaml.safe_load(text)
    except (UnicodeDecodeError, json.JSONDecodeError, yaml.YAMLError):
        raise _invalid("The recipe is neither valid JSON nor valid YAML.", "inlineRecipe") from None
    try:
        facts = read_recipe(doc)
    except RecipeError as exc:
        raise _invalid(f"Invalid recipe: {exc}.", "inlineRecipe") from None
    return facts, doc
