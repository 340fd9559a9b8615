"""GetComponent's recipe and ListCoreDevices' platform, parsed into domain values: what the
resolver reads, and a clear MalformedResponse for what it cannot."""

from __future__ import annotations

import json
from typing import Any

import pytest

from ggwatch import errors
from ggwatch.aws import shapes
from ggwatch.aws.shapes import parsed
from ggwatch.model import Recipe, RecipeDependency, VersionRef

REF = VersionRef("com.example.App", "1.2.0")


def answer(doc: Any) -> dict[str, Any]:
    """A GetComponent answer as botocore hands it over: the blob already decoded to bytes."""
    return {"recipe": json.dumps(doc).encode(), "recipeOutputFormat": "JSON"}


def test_dependencies_keep_the_recipes_order_and_platforms_their_attributes() -> None:
    doc = {
        "RecipeFormatVersion": "2020-01-25",
        "ComponentName": REF.name,
        "ComponentVersion": REF.version,
        "ComponentType": "aws.greengrass.generic",
        "ComponentDependencies": {
            "aws.greengrass.TokenExchangeService": {"VersionRequirement": "^2.0.0"},
            "aws.greengrass.Nucleus": {
                "VersionRequirement": " >=2.0.0 <2.16.0 ",
                "DependencyType": "SOFT",
            },
        },
        "Manifests": [
            {"Platform": {"os": "linux", "architecture": "aarch64"}, "Lifecycle": {}},
            {"Platform": {"os": "windows"}},
            {"Lifecycle": {}},
        ],
    }
    assert shapes.recipe(REF, answer(doc)) == Recipe(
        REF,
        "aws.greengrass.generic",
        (
            RecipeDependency("aws.greengrass.TokenExchangeService", "^2.0.0", "HARD"),
            RecipeDependency("aws.greengrass.Nucleus", ">=2.0.0 <2.16.0", "SOFT"),
        ),
        ((("architecture", "aarch64"), ("os", "linux")), (("os", "windows"),), ()),
    )


def test_a_recipe_with_neither_names_no_dependency_and_no_platform() -> None:
    recipe = shapes.recipe(REF, answer({"ComponentName": REF.name}))
    assert (recipe.component_type, recipe.dependencies, recipe.platforms) == (None, (), ())


@pytest.mark.parametrize(
    "response",
    [
        {},
        {"recipe": b"not json"},
        answer(["a", "list"]),
        answer({"ComponentDependencies": {"x": "^1.0.0"}}),
        answer({"Manifests": [{"Platform": "linux"}]}),
    ],
)
def test_a_recipe_it_cannot_read_is_a_malformed_response(response: dict[str, Any]) -> None:
    with pytest.raises(errors.MalformedResponse, match="GetComponent"):
        parsed("GetComponent", lambda: shapes.recipe(REF, response))


def test_core_devices_carry_their_platform_when_listed() -> None:
    item = {"coreDeviceThingName": "gg-1", "status": "HEALTHY", "platform": "linux"}
    device = shapes.core_device({**item, "architecture": "armv7l"})
    assert (device.platform, device.architecture) == ("linux", "armv7l")
    assert shapes.core_device({"coreDeviceThingName": "gg-2"}).platform is None
    with pytest.raises(errors.MalformedResponse):
        parsed("ListCoreDevices", lambda: shapes.core_device({**item, "platform": 7}))
