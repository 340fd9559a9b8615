"""Recommendations that resolve: the upgrade policy, versions skipped because they would not
resolve (alone on a platform, or on a member with its other deployments), why none
qualifies, the newest ACTIVE version regardless, and devices' advice."""

from __future__ import annotations

import pytest

from ggwatch.findings import Finding, Rule
from ggwatch.model import Guidance
from ggwatch.rules import RulesConfig, Scope
from ggwatch.rules.recommend import Policy, within
from tests.unit.builders import TargetBuilder, evaluated, v

APP = "com.example.App"
LIB = "com.example.Lib"
NUCLEUS = "aws.greengrass.Nucleus"
NUCLEUS_TYPE = "aws.greengrass.nucleus"
NO_VERSION = "No local or cloud component version satisfies the requirements."


def scan(t: TargetBuilder, policy: Policy = "minor") -> tuple[list[Finding], Scope]:
    return evaluated(t, RulesConfig(upgrade_policy=policy))


def advice(
    t: TargetBuilder, rule: Rule, resource: str, policy: Policy = "minor"
) -> tuple[str | None, str | None, str | None]:
    """(recommended, latest, note) of the one finding of `rule` on `resource`."""
    findings, _ = scan(t, policy)
    (finding,) = (f for f in findings if f.rule is rule and f.resource_id == resource)
    d = finding.details
    return d.recommended_version, d.latest_version, d.recommendation_note


# --- the policy --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("policy", "current", "candidate", "allowed"),
    [
        ("patch", "1.2.3", "1.2.9", True),
        ("patch", "1.2.3", "1.2.0", True),  # the policy bounds the distance, not the direction
        ("patch", "1.2.3", "1.3.0", False),
        ("minor", "1.2.3", "1.9.0", True),
        ("minor", "1.2.3", "2.0.0", False),
        ("major", "1.2.3", "7.0.0", True),
        # Pre-releases are compared by MAJOR.MINOR like any version.
        ("patch", "1.2.3", "1.2.4-rc.1", True),
        ("patch", "1.2.3-rc.1", "1.2.3", True),
        ("minor", "2.0.0-rc.1", "2.1.0", True),
        ("minor", "1.9.0", "2.0.0-rc.1", False),
        ("patch", "1.2.3", "1.3.0-beta", False),
        # Build metadata does not count.
        ("patch", "1.2.3+b1", "1.2.4+b2", True),
        # Not semantic versions: only `major` lets them move.
        ("minor", "1.2", "1.3.0", False),
        ("patch", "1.2.3", "latest", False),
        ("major", "1.2", "1.3.0", True),
    ],
)
def test_within(policy: Policy, current: str, candidate: str, allowed: bool) -> None:
    assert within(policy, current, candidate) is allowed


@pytest.fixture
def upgrade() -> TargetBuilder:
    """d-1 names APP 1.0.0 (DELETED); every other version needs LIB ^1.0.0 and resolves.
    The newest ACTIVE version, 2.0.0, is another major version."""
    t = TargetBuilder()
    t.recipe(LIB, "1.0.0")
    for version in ("1.0.0", "1.0.1", "1.1.0", "1.2.0", "2.0.0"):
        t.recipe(APP, version, (LIB, "^1.0.0"))
    t.version(APP, "1.0.0", Guidance.DELETED, "Broken.")
    t.recommend(APP, "2.0.0")
    t.deploy("d-1", v(APP, "1.0.0"))
    t.device("core-1", v(APP, "1.0.0"), v(LIB, "1.0.0"))
    t.member("core-1", "fleet")
    return t


@pytest.mark.parametrize(
    ("policy", "recommended"), [("patch", "1.0.1"), ("minor", "1.2.0"), ("major", "2.0.0")]
)
def test_the_newest_active_version_within_the_policy(
    upgrade: TargetBuilder, policy: Policy, recommended: str
) -> None:
    assert advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1", policy) == (recommended, "2.0.0", None)


def test_no_version_within_the_policy_says_so(upgrade: TargetBuilder) -> None:
    del upgrade.recipes[v(APP, "1.0.1")]
    del upgrade.versions[v(APP, "1.0.1")]

    findings, _ = scan(upgrade, "patch")

    (finding,) = (f for f in findings if f.rule is Rule.DEPLOYMENT_DELETED)
    note = f"No ACTIVE version of {APP} within the same minor version is known."
    assert (finding.details.recommended_version, finding.details.recommendation_note) == (
        None,
        note,
    )
    assert finding.message.endswith(f"Broken. {note}")


def test_only_active_versions_are_recommended(upgrade: TargetBuilder) -> None:
    upgrade.version(APP, "1.2.0", Guidance.DISCONTINUED)
    upgrade.gone(APP, "1.1.0")

    assert advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1") == ("1.0.1", "2.0.0", None)


def test_an_older_active_version_when_no_newer_one_is(upgrade: TargetBuilder) -> None:
    upgrade.deployments.clear()
    upgrade.deploy("d-1", v(APP, "1.2.0"))
    upgrade.version(APP, "1.2.0", Guidance.DISCONTINUED)
    upgrade.recommend(APP, "1.1.0")

    assert advice(upgrade, Rule.DEPLOYMENT_DISCONTINUED, "d-1") == ("1.1.0", "1.1.0", None)


# --- versions that would not resolve are skipped ---------------------------------------------


def test_a_version_whose_range_only_deleted_versions_meet_is_skipped(
    upgrade: TargetBuilder,
) -> None:
    upgrade.recipe(APP, "1.2.0", (LIB, "^2.0.0"))
    upgrade.recipe(LIB, "2.0.0")
    upgrade.version(LIB, "2.0.0", Guidance.DELETED)

    assert advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1") == ("1.1.0", "2.0.0", None)


def test_a_version_that_conflicts_with_another_groups_pin_on_a_member_is_skipped(
    upgrade: TargetBuilder,
) -> None:
    for version in ("2.12.0", "2.13.0"):
        upgrade.recipe(NUCLEUS, version, component_type=NUCLEUS_TYPE)
    upgrade.recipe(APP, "1.2.0", (LIB, "^1.0.0"), (NUCLEUS, ">=2.13.0"))
    upgrade.deploy("d-pin", v(NUCLEUS, "2.12.0"), target=upgrade.group("pinned"))
    upgrade.member("core-1", "pinned")

    # Alone, 1.2.0 resolves (a new device gets 2.13.0); on core-1, with d-pin, it does not.
    assert advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1") == ("1.1.0", "2.0.0", None)


def test_a_version_without_a_build_for_a_members_platform_is_skipped(
    upgrade: TargetBuilder,
) -> None:
    upgrade.recipe(APP, "1.2.0", (LIB, "^1.0.0"), platforms=["linux/amd64"])
    upgrade.device("core-arm", architecture="armv7")
    upgrade.member("core-arm", "fleet")

    assert advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1") == ("1.1.0", "2.0.0", None)


def test_when_none_resolves_the_note_says_where_the_newest_fails(upgrade: TargetBuilder) -> None:
    # Every version needs LIB ^1.0.0, and only a DELETED version meets it; core-1 keeps it.
    upgrade.version(LIB, "1.0.0", Guidance.DELETED)

    recommended, latest, note = advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1")

    assert (recommended, latest) == (None, "2.0.0")
    assert note == (
        f"No ACTIVE version of {APP} within the same major version keeps the deployment "
        f"resolvable; the newest, 1.2.0 fails on a new device on linux/amd64: {NO_VERSION} "
        f"Component {LIB} version constraints: {APP} requires ^1.0.0."
    )


def test_the_latest_version_is_the_newest_active_regardless(upgrade: TargetBuilder) -> None:
    upgrade.recipe(APP, "2.0.0", (LIB, "^2.0.0"))  # would not resolve: no LIB 2.x

    for policy in ("minor", "major"):
        recommended, latest, _ = advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1", policy)
        assert (recommended, latest) == ("1.2.0", "2.0.0")


def test_a_version_whose_recipe_was_not_read_is_not_recommended(upgrade: TargetBuilder) -> None:
    # Described ACTIVE, but without its recipe nobody can say it resolves.
    upgrade.version(APP, "1.3.0")

    assert advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1")[0] == "1.2.0"


@pytest.mark.parametrize("partial", ["incomplete", "no-membership"])
def test_without_the_whole_picture_the_newest_active_version_within_the_policy(
    upgrade: TargetBuilder, partial: str
) -> None:
    upgrade.recipe(APP, "1.2.0", (LIB, "^2.0.0"))  # would not resolve
    upgrade.recommend(APP, "1.2.0")
    if partial == "incomplete":
        upgrade.error("GetComponent", "ThrottlingException", "Rate exceeded")
    else:
        upgrade.membership_read = False

    # Nothing can be resolved: the newest ACTIVE version, unchecked.
    assert advice(upgrade, Rule.DEPLOYMENT_DELETED, "d-1") == ("1.2.0", "1.2.0", None)


# --- devices ---------------------------------------------------------------------------------


def test_a_device_follows_the_recommendation_of_the_deployment_that_names_it(
    upgrade: TargetBuilder,
) -> None:
    upgrade.recipe(APP, "1.2.0", (LIB, "^2.0.0"))  # skipped: no LIB 2.x

    findings, scope = scan(upgrade)

    component = {Rule.DEPLOYMENT_DELETED, Rule.DEVICE_DELETED}
    by_rule = {f.rule: f.details.recommended_version for f in findings if f.rule in component}
    assert by_rule == {Rule.DEPLOYMENT_DELETED: "1.1.0", Rule.DEVICE_DELETED: "1.1.0"}
    assert len(scope.fleet.advice) == 1  # asked once, for both


@pytest.fixture
def dependency() -> TargetBuilder:
    """core-1 runs LIB 1.0.0 (DISCONTINUED) because APP needs LIB ^1.0.0; no deployment
    names LIB."""
    t = TargetBuilder()
    t.recipe(APP, "1.0.0", (LIB, "^1.0.0"))
    for version in ("1.0.0", "1.3.0", "2.0.0"):
        t.recipe(LIB, version)
    t.version(LIB, "1.0.0", Guidance.DISCONTINUED)
    t.recommend(LIB, "2.0.0")
    t.deploy("d-1", v(APP, "1.0.0"))
    t.device("core-1", v(APP, "1.0.0"), v(LIB, "1.0.0"))
    t.member("core-1", "fleet")
    return t


def test_a_flagged_dependency_gets_what_the_devices_resolution_picks(
    dependency: TargetBuilder,
) -> None:
    # Without the flagged version to keep, the device picks the highest LIB ^1.0.0 allows.
    for policy in ("minor", "major"):
        assert advice(dependency, Rule.DEVICE_DISCONTINUED, "core-1", policy) == (
            "1.3.0",
            "2.0.0",
            None,
        )


def test_a_dependency_pick_outside_the_policy_is_not_recommended(
    dependency: TargetBuilder,
) -> None:
    assert advice(dependency, Rule.DEVICE_DISCONTINUED, "core-1", "patch") == (
        None,
        "2.0.0",
        f"No deployment names {LIB}; the requirements on it ({APP} requires ^1.0.0) admit no "
        "ACTIVE version within the same minor version: move the component that requires it.",
    )


def test_a_dependency_whose_range_admits_only_flagged_versions_names_the_range(
    dependency: TargetBuilder,
) -> None:
    dependency.version(LIB, "1.3.0", Guidance.DELETED)

    _, _, note = advice(dependency, Rule.DEVICE_DISCONTINUED, "core-1")

    # The DISCONTINUED 1.0.0 is all ^1.0.0 admits.
    assert note == (
        f"No deployment names {LIB}; the requirements on it ({APP} requires ^1.0.0) admit no "
        "ACTIVE version within the same major version: move the component that requires it."
    )


def test_a_dependency_nothing_else_satisfies_names_who_requires_it(
    dependency: TargetBuilder,
) -> None:
    # Only DELETED versions besides the one it runs: the resolution fails on LIB itself.
    dependency.version(LIB, "1.0.0", Guidance.DELETED)
    dependency.version(LIB, "1.3.0", Guidance.DELETED)

    _, _, note = advice(dependency, Rule.DEVICE_DELETED, "core-1")

    assert note is not None
    assert f"({APP} requires ^1.0.0)" in note


def test_a_dependency_whose_device_does_not_resolve_otherwise_says_why(
    dependency: TargetBuilder,
) -> None:
    dependency.recipe(APP, "1.0.0", (LIB, "^1.0.0"), platforms=["linux/aarch64"])
    dependency.devices.clear()
    dependency.device("core-1", v(LIB, "1.0.0"))  # runs no APP to keep

    _, _, note = advice(dependency, Rule.DEVICE_DISCONTINUED, "core-1")

    assert note is not None
    assert note.startswith(
        f"No deployment names {LIB}, and the deployments that reach the device do not "
        f"resolve: The latest version of Component {APP} doesn't claim platform"
    )


@pytest.mark.parametrize(("policy", "recommended"), [("minor", "1.3.0"), ("patch", None)])
def test_a_component_nothing_reaches_gets_the_newest_active_version_within_the_policy(
    dependency: TargetBuilder, policy: Policy, recommended: str | None
) -> None:
    # core-2 runs LIB without any deployment in force that reaches it (a group it left).
    dependency.device("core-2", v(LIB, "1.0.0"))
    dependency.member("core-2")
    dependency.recommend(LIB, "1.3.0")

    assert advice(dependency, Rule.DEVICE_DISCONTINUED, "core-2", policy)[:2] == (
        recommended,
        "1.3.0",
    )
