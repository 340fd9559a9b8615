"""The Greengrass V2 adapter: its registry of operations and its calls in domain terms.

Pacing, retries, call counting, the pass's guard and error translation are the shared
machinery of ggwatch.aws.paced. Callers see domain values (ggwatch.model, parsed in
ggwatch.aws.shapes) and ggwatch errors (ggwatch.aws.failures), never botocore dicts or
exceptions.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from functools import partial
from typing import Any, ClassVar

from ggwatch import errors
from ggwatch.aws import shapes
from ggwatch.aws.api import OPERATIONS, PAGE_SIZE
from ggwatch.aws.paced import PacedClient
from ggwatch.aws.shapes import ComponentSummary, parsed
from ggwatch.model import (
    CoreDevice,
    Deployment,
    DeploymentDetail,
    Guidance,
    InstalledComponent,
    Recipe,
    VersionRef,
    VersionStatus,
)

__all__ = ["AioGreengrass"]


class AioGreengrass(PacedClient):
    """GreengrassAPI over one aiobotocore client (one account and Region)."""

    service: ClassVar[str] = "Greengrass V2"
    operations: ClassVar[frozenset[str]] = OPERATIONS
    page_size: ClassVar[int] = PAGE_SIZE

    async def list_components(self, scope: str) -> tuple[ComponentSummary, ...]:
        items = await self._all("ListComponents", "components", scope=scope)
        return parsed("ListComponents", lambda: tuple(shapes.component_summary(i) for i in items))

    async def list_deployments(self) -> tuple[Deployment, ...]:
        items = await self._all("ListDeployments", "deployments", historyFilter="ALL")
        return parsed("ListDeployments", lambda: tuple(shapes.deployment(i) for i in items))

    async def get_deployment(self, deployment_id: str) -> DeploymentDetail:
        response = await self.call("GetDeployment", deploymentId=deployment_id)
        return parsed("GetDeployment", lambda: shapes.detail(deployment_id, response))

    async def get_deployment_document(self, deployment_id: str) -> dict[str, Any]:
        """GetDeployment's whole answer (what an archive keeps), without response metadata."""
        response = await self.call("GetDeployment", deploymentId=deployment_id)
        return shapes.document(response)

    async def delete_deployment(self, deployment_id: str) -> None:
        """DeleteDeployment. NotFound and Conflict reach the caller, who decides what they mean."""
        await self.call("DeleteDeployment", deploymentId=deployment_id)

    async def create_deployment(self, request: Mapping[str, Any]) -> str:
        """CreateDeployment with a plan's input; the new deployment's id. Its client token
        makes a retry after a lost answer return the same deployment, not a second one."""
        response = await self.call("CreateDeployment", **request)
        return parsed("CreateDeployment", lambda: str(response["deploymentId"]))

    async def describe_component(self, ref: VersionRef, arn: str) -> VersionStatus:
        try:
            response = await self.call("DescribeComponent", arn=arn)
        except errors.NotFound:
            return VersionStatus(ref, arn, Guidance.DELETED, None, exists=False)
        return parsed("DescribeComponent", lambda: shapes.version_status(ref, arn, response))

    async def get_recipe(self, ref: VersionRef, arn: str) -> Recipe | None:
        """GetComponent as JSON; None when the version is gone (DeleteComponent)."""
        try:
            response = await self.call("GetComponent", arn=arn, recipeOutputFormat="JSON")
        except errors.NotFound:
            return None
        return parsed("GetComponent", lambda: shapes.recipe(ref, response))

    async def component_versions(self, component_arn: str) -> AsyncIterator[tuple[str, str]]:
        """Newest first; none for a component whose last version was deleted (DeleteComponent):
        the component is gone with it, and ListComponentVersions answers NotFound."""
        pages = self.pages("ListComponentVersions", "componentVersions", arn=component_arn)
        try:
            async for page in pages:
                for version in parsed("ListComponentVersions", partial(shapes.versions, page)):
                    yield version
        except errors.NotFound:
            return

    async def list_core_devices(self) -> tuple[CoreDevice, ...]:
        items = await self._all("ListCoreDevices", "coreDevices")
        return parsed("ListCoreDevices", lambda: tuple(shapes.core_device(i) for i in items))

    async def list_installed_components(self, thing: str) -> tuple[InstalledComponent, ...]:
        items = await self._all(
            "ListInstalledComponents",
            "installedComponents",
            coreDeviceThingName=thing,
            topologyFilter="ALL",  # the default, ROOT, hides dependencies such as the nucleus
        )
        return parsed(
            "ListInstalledComponents", lambda: tuple(shapes.installed_component(i) for i in items)
        )
