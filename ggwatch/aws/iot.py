"""The AWS IoT adapter: thing-group membership (ListThingsInThingGroup, ListThingGroupsForThing).

The same machinery as Greengrass V2's (ggwatch.aws.paced): its own token bucket, since AWS IoT
has a request budget of its own, and the same call counter, so its calls show in the scan's
call counts and in ggwatch_aws_requests_total. A group or thing that no longer exists has no
members or groups: NotFound is an empty answer, not an error.
"""

from __future__ import annotations

from typing import ClassVar

from ggwatch import errors
from ggwatch.aws import shapes
from ggwatch.aws.api import IOT_OPERATIONS, IOT_PAGE_SIZE
from ggwatch.aws.paced import PacedClient
from ggwatch.aws.shapes import parsed

__all__ = ["AioIot"]


class AioIot(PacedClient):
    """IotAPI over one aiobotocore `iot` client (one account and Region)."""

    service: ClassVar[str] = "AWS IoT"
    operations: ClassVar[frozenset[str]] = IOT_OPERATIONS
    page_size: ClassVar[int] = IOT_PAGE_SIZE

    async def things_in_group(self, name: str, recursive: bool) -> tuple[str, ...]:
        operation = "ListThingsInThingGroup"
        try:
            items = await self._all(operation, "things", thingGroupName=name, recursive=recursive)
        except errors.NotFound:
            return ()  # the group is gone: nobody is in it
        return parsed(operation, lambda: shapes.thing_names(items))

    async def groups_of_thing(self, name: str) -> tuple[str, ...]:
        operation = "ListThingGroupsForThing"
        try:
            items = await self._all(operation, "thingGroups", thingName=name)
        except errors.NotFound:
            return ()  # the thing is gone: it is in no group
        return parsed(operation, lambda: shapes.group_names(items))
