"""The fresh GetDeployment before a delete: nothing is deleted on what a scan saw alone.

The adapter parses the answer once (ggwatch.aws.greengrass.read_deployment); the re-check
decides on the parsed deployment, and the raw document is kept only for the archive.
"""

from __future__ import annotations

import anyio

from ggwatch.aws.api import DeploymentAdmin, read_deployment
from ggwatch.aws.shapes import DeploymentRead
from ggwatch.cleanup.outcomes import Outcome, Tally
from ggwatch.cleanup.policy import Fresh, Skip
from ggwatch.errors import AWSError, MalformedResponse, NotFound
from ggwatch.model import TargetId


def fresh_of(read: DeploymentRead) -> Fresh:
    """What the policy's re-check needs of a fresh read."""
    deployment = read.deployment
    return Fresh(
        deployment_id=deployment.deployment_id,
        target_arn=deployment.target_arn,
        name=deployment.name,
        status=deployment.status,
        is_latest=deployment.is_latest,
        created=deployment.created,
        tags=dict(read.detail.tags),
    )


async def reread(
    admin: DeploymentAdmin,
    tally: Tally,
    where: TargetId,
    deployment_id: str,
    within: float | None,
) -> DeploymentRead | Outcome:
    """The deployment as GetDeployment says now, within `within` seconds (None: no bound);
    else the outcome that ends its turn: gone, an AWS error, or the deadline."""
    with anyio.move_on_after(within if within is not None else float("inf")):
        try:
            return await read_deployment(admin, deployment_id)
        except NotFound:
            return tally.skip(where, deployment_id, Skip.NOT_FOUND)
        except MalformedResponse as exc:
            return tally.skip(where, deployment_id, Skip.AWS_ERROR, f"malformed: {exc.message}")
        except AWSError as exc:
            return tally.skip(where, deployment_id, Skip.AWS_ERROR, str(exc))
    return tally.answer(where, deployment_id, Skip.DEADLINE)
