"""The simulator's in-memory world: accounts, regions, components, deployments, core devices.

Mutable by design (it is a fake service), but every change goes through the methods of
`RegionState`, so the invariants a real Greengrass V2 keeps hold after each one: one latest
deployment per target, devices resolve the deployments of their targets (store/devices.py),
and a device's lastStatusUpdateTimestamp moves when it processes a deployment. What a
device would report to EventBridge then goes to an outbox (a non-blocking put): the store does
no I/O.

    records   the resources (components, versions, deployments, core devices), ARNs, SimError
    index     deployments sorted newest first, overall and per target, for keyset pages
    region    RegionState: one account's resources in one Region, and the invariants
    world     World: every account and Region, the public catalogues, the access keys
    recipes   recipes built from a version's facts, or read from an uploaded one
    devices   Installer: devices resolving the deployments that reach them (resolution.py)
    groups    ThingGroups: AWS IoT thing groups (nesting, direct members), `move_device`
"""

from ggwatch.sim.store.devices import Installer
from ggwatch.sim.store.groups import ThingGroupError, ThingGroups, move_device
from ggwatch.sim.store.index import DeploymentIndex
from ggwatch.sim.store.recipes import (
    FORMAT_VERSION as RECIPE_FORMAT,
)
from ggwatch.sim.store.recipes import (
    RecipeError,
    RecipeFacts,
    pin,
    platform,
    read_dependencies,
    read_recipe,
    recipe_of,
)
from ggwatch.sim.store.records import (
    CANDIDATES_READINGS,
    CONFLICT_READINGS,
    NUCLEUS,
    PUBLIC_OWNER,
    SUPERSEDED_READINGS,
    Applied,
    Component,
    ComponentVersion,
    CoreDevice,
    Deployment,
    EffectiveDeployment,
    Installed,
    Outbox,
    Readings,
    SimError,
    component_arn,
    iot_job_id,
    not_found,
    thing_arn,
    thing_group_arn,
    version_key,
)
from ggwatch.sim.store.region import RegionState
from ggwatch.sim.store.world import World

__all__ = [
    "CANDIDATES_READINGS",
    "CONFLICT_READINGS",
    "NUCLEUS",
    "PUBLIC_OWNER",
    "RECIPE_FORMAT",
    "SUPERSEDED_READINGS",
    "Applied",
    "Component",
    "ComponentVersion",
    "CoreDevice",
    "Deployment",
    "DeploymentIndex",
    "EffectiveDeployment",
    "Installed",
    "Installer",
    "Outbox",
    "Readings",
    "RecipeError",
    "RecipeFacts",
    "RegionState",
    "SimError",
    "ThingGroupError",
    "ThingGroups",
    "World",
    "component_arn",
    "iot_job_id",
    "move_device",
    "not_found",
    "pin",
    "platform",
    "read_dependencies",
    "read_recipe",
    "recipe_of",
    "thing_arn",
    "thing_group_arn",
    "version_key",
]
