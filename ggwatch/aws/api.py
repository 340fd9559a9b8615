"""The AWS calls ggwatch makes, in domain terms: the Greengrass V2 and AWS IoT operations it may
call (the IAM policies grant exactly these), and the protocols the stages above depend on. The
aiobotocore implementations are ggwatch.aws.greengrass.AioGreengrass and ggwatch.aws.iot.AioIot."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, Protocol

from ggwatch.aws import shapes
from ggwatch.aws.callguard import CallCounter
from ggwatch.aws.shapes import ComponentSummary, DeploymentRead, parsed
from ggwatch.model import (
    CoreDevice,
    Deployment,
    DeploymentDetail,
    InstalledComponent,
    Recipe,
    VersionRef,
    VersionStatus,
)

PAGE_SIZE = 100  # the model's maximum: fewest calls per listing
IOT_PAGE_SIZE = 250  # AWS IoT's registry listings allow more a page

# Every Greengrass V2 operation ggwatch may call; `AioGreengrass.call` refuses any other. The IAM
# policies in deploy/iam/ grant exactly these (tests/deploy/test_iam.py holds them to it).
READ_OPERATIONS: frozenset[str] = frozenset(
    {
        "ListComponents",
        "ListComponentVersions",
        "DescribeComponent",
        "GetComponent",
        "ListDeployments",
        "GetDeployment",
        "ListCoreDevices",
        "ListInstalledComponents",
    }
)
CLEANUP_OPERATIONS: frozenset[str] = frozenset({"DeleteDeployment"})  # and GetDeployment, a read
# `ggwatch apply` only, a reviewed human step (its own policy, deploy/iam/ggwatch-apply.json);
# it re-checks with GetDeployment and DescribeComponent, reads.
APPLY_OPERATIONS: frozenset[str] = frozenset({"CreateDeployment"})
OPERATIONS: frozenset[str] = READ_OPERATIONS | CLEANUP_OPERATIONS | APPLY_OPERATIONS
# Every AWS IoT operation ggwatch may call (thing-group membership, read only); `AioIot.call`
# refuses any other, and the IAM policies grant exactly these too.
IOT_OPERATIONS: frozenset[str] = frozenset({"ListThingsInThingGroup", "ListThingGroupsForThing"})


class GreengrassAPI(Protocol):
    """The Greengrass V2 calls ggwatch makes, in domain terms; `counter` counts the pass's
    attempts (those of the AWS IoT adapter that shares it too)."""

    region: str
    counter: CallCounter

    @property
    def budget(self) -> float:
        """Requests/second this client may make: its share of the account's budget."""
        ...

    def expect_calls(self, calls: int) -> None:
        """The pass needs at least `calls` calls: its automatic deadline makes room for them."""
        ...

    async def list_components(self, scope: str) -> tuple[ComponentSummary, ...]: ...
    async def list_deployments(self) -> tuple[Deployment, ...]: ...
    async def get_deployment(self, deployment_id: str) -> DeploymentDetail: ...
    async def describe_component(self, ref: VersionRef, arn: str) -> VersionStatus: ...
    async def get_recipe(self, ref: VersionRef, arn: str) -> Recipe | None: ...
    def component_versions(self, component_arn: str) -> AsyncIterator[tuple[str, str]]: ...
    async def list_core_devices(self) -> tuple[CoreDevice, ...]: ...
    async def list_installed_components(self, thing: str) -> tuple[InstalledComponent, ...]: ...


class IotAPI(Protocol):
    """The AWS IoT calls ggwatch makes: thing-group membership, in domain terms. A thing group
    or thing that no longer exists (ResourceNotFoundException) has no members or groups."""

    region: str

    @property
    def budget(self) -> float:
        """Requests/second this client may make: its share of the account's IoT budget."""
        ...

    def expect_calls(self, calls: int) -> None:
        """The pass needs at least `calls` IoT calls: its automatic deadline makes room."""
        ...

    async def things_in_group(self, name: str, recursive: bool) -> tuple[str, ...]:
        """The things in the group (recursive: those of its nested groups too), sorted."""
        ...

    async def groups_of_thing(self, name: str) -> tuple[str, ...]:
        """The thing groups the thing was added to directly (not their parents), sorted."""
        ...


class DeploymentAdmin(Protocol):
    """The calls the cleanup makes: a fresh read, and the delete."""

    region: str

    async def get_deployment_document(self, deployment_id: str) -> dict[str, Any]: ...
    async def delete_deployment(self, deployment_id: str) -> None: ...


async def read_deployment(admin: DeploymentAdmin, deployment_id: str) -> DeploymentRead:
    """A fresh GetDeployment, parsed once: what the cleanup decides on, and what it archives.

    Raises NotFound and the other ggwatch errors; a malformed answer is a MalformedResponse.
    """
    response = await admin.get_deployment_document(deployment_id)
    return parsed("GetDeployment", lambda: shapes.deployment_read(response))
