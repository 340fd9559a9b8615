"""The resolution rules on each case of ../shared/reference/dependency-resolution.md:
conflicting groups, a range only DELETED versions meet, no version for a platform, a
DISCONTINUED dependency, re-resolution, local versions kept; their exclusions, switches,
silence on a partial picture, the cost per device class, and their JSON."""

from __future__ import annotations

import dataclasses

import pytest

from ggwatch.findings import Finding, ResourceType, Rule, Severity
from ggwatch.model import Guidance
from ggwatch.rules import RulesConfig
from tests.unit.builders import ACCOUNT, REGION, TargetBuilder, evaluated, v

APP = "com.example.App"
LIB = "com.example.Lib"
TOOL = "com.example.Tool"
OTHER = "com.example.Other"
MID = "com.example.Mid"
HELPER = "com.example.Helper"
BRIDGE = "com.example.Bridge"
NUCLEUS = "aws.greengrass.Nucleus"
NUCLEUS_TYPE = "aws.greengrass.nucleus"
NO_VERSION = "No local or cloud component version satisfies the requirements."
RESOLUTION_RULES = (
    Rule.DEPLOYMENT_UNRESOLVABLE,
    Rule.DEVICE_UNRESOLVABLE,
    Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED,
)


def found(
    t: TargetBuilder, *only: Rule, config: RulesConfig | None = None
) -> list[tuple[Rule, str]]:
    """(rule, resource) of the resolution rules' findings (or of `only`), sorted."""
    findings, _ = evaluated(t, config)
    wanted = only or RESOLUTION_RULES
    return sorted((f.rule, f.resource_id) for f in findings if f.rule in wanted)


def one(t: TargetBuilder, rule: Rule, config: RulesConfig | None = None) -> Finding:
    findings, _ = evaluated(t, config)
    (finding,) = (f for f in findings if f.rule is rule)
    return finding


def config(**kwargs: object) -> RulesConfig:
    return RulesConfig.model_validate(kwargs)


def nucleus(t: TargetBuilder, *versions: str) -> None:
    for version in versions:
        t.recipe(NUCLEUS, version, component_type=NUCLEUS_TYPE)


# --- conflicting requirements across thing groups ----------------------------------------------


@pytest.fixture
def conflict() -> TargetBuilder:
    """Two groups pin different nucleus versions; core-1 is in both, core-2 in one."""
    t = TargetBuilder()
    nucleus(t, "2.12.0", "2.13.0")
    t.deploy("d-a", v(NUCLEUS, "2.12.0"), target=t.group("line-a"))
    t.deploy("d-b", v(NUCLEUS, "2.13.0"), target=t.group("line-b"))
    t.device("core-1", v(NUCLEUS, "2.12.0"))
    t.member("core-1", "line-a", "line-b")
    t.device("core-2", v(NUCLEUS, "2.12.0"))
    t.member("core-2", "line-a")
    return t


def test_a_device_in_two_groups_that_pin_different_versions_cannot_resolve(
    conflict: TargetBuilder,
) -> None:
    finding = one(conflict, Rule.DEVICE_UNRESOLVABLE)

    assert finding.severity is Severity.CRITICAL
    assert (finding.resource_type, finding.resource_id) == (ResourceType.CORE_DEVICE, "core-1")
    d = finding.details
    assert d.component_name == NUCLEUS
    assert d.requirements == (("thinggroup/line-a", "=2.12.0"), ("thinggroup/line-b", "=2.13.0"))
    assert d.platform == "linux/amd64"
    assert d.deployment_ids == ("d-a", "d-b")
    # The nucleus's own words, every requirement with its source.
    assert finding.message == (
        "Core device core-1 cannot resolve the deployments that reach it ('d-a' "
        "(thinggroup/line-a), 'd-b' (thinggroup/line-b)); its next deployment fails: "
        f"{NO_VERSION} Component {NUCLEUS} version constraints: thinggroup/line-a requires "
        "=2.12.0, thinggroup/line-b requires =2.13.0."
    )
    # Each deployment alone resolves: no deployment finding, and core-2 is fine.
    assert found(conflict) == [(Rule.DEVICE_UNRESOLVABLE, "core-1")]


def test_a_conflict_between_dependency_ranges_names_the_dependents() -> None:
    t = TargetBuilder()
    nucleus(t, "2.12.0", "2.13.0")
    t.recipe(APP, "1.0.0", (NUCLEUS, "~2.12.0"))
    t.recipe(TOOL, "1.0.0", (NUCLEUS, ">=2.13.0"))
    t.deploy("d-app", v(APP, "1.0.0"), target=t.group("apps"))
    t.deploy("d-tool", v(TOOL, "1.0.0"), target=t.thing("core-1"))
    t.device("core-1")
    t.member("core-1", "apps")

    finding = one(t, Rule.DEVICE_UNRESOLVABLE)

    # The thing's own deployment first, as the nucleus names it (thing/NAME).
    assert finding.details.deployment_ids == ("d-tool", "d-app")
    assert finding.details.requirements == ((TOOL, ">=2.13.0"), (APP, "~2.12.0"))
    assert "('d-tool' (thing/core-1), 'd-app' (thinggroup/apps))" in finding.message
    assert finding.message.endswith(
        f"Component {NUCLEUS} version constraints: {TOOL} requires >=2.13.0, "
        f"{APP} requires ~2.12.0."
    )


def test_a_device_that_left_a_group_is_not_reached_by_its_deployment(
    conflict: TargetBuilder,
) -> None:
    conflict.memberships["core-1"].discard("line-b")

    assert found(conflict) == []


def test_moving_the_nucleus_minor_version_without_naming_it_fails_on_the_device() -> None:
    t = TargetBuilder()
    nucleus(t, "2.12.0", "2.13.0")
    t.recipe(APP, "1.0.0", (NUCLEUS, ">=2.13.0"))
    t.deploy("d-1", v(APP, "1.0.0"))
    t.device("core-1", v(NUCLEUS, "2.12.0"))
    t.member("core-1", "fleet")

    finding = one(t, Rule.DEVICE_UNRESOLVABLE)

    assert "UNAUTHORIZED_NUCLEUS_MINOR_VERSION_UPDATE" in finding.message
    assert finding.details.component_name == NUCLEUS
    # A new device has no nucleus to move: the deployment alone resolves.
    assert found(t) == [(Rule.DEVICE_UNRESOLVABLE, "core-1")]


# --- a range that only DELETED versions satisfy ----------------------------------------------


@pytest.fixture(params=["deleted", "gone"])
def deleted_range(request: pytest.FixtureRequest) -> TargetBuilder:
    """APP needs LIB ~1.0.0, and LIB 1.0.0 is DELETED (or no longer exists); core-old runs
    it, core-new runs nothing yet."""
    t = TargetBuilder()
    t.recipe(APP, "1.0.0", (LIB, "~1.0.0"))
    t.recipe(LIB, "1.0.0")
    t.recipe(LIB, "1.1.0")
    if request.param == "deleted":
        t.version(LIB, "1.0.0", Guidance.DELETED, "Broken.")
    else:
        t.gone(LIB, "1.0.0")
    t.deploy("d-1", v(APP, "1.0.0"), name="rollout")
    t.device("core-old", v(APP, "1.0.0"), v(LIB, "1.0.0"))
    t.device("core-new")
    for thing in ("core-old", "core-new"):
        t.member(thing, "fleet")
    return t


def test_a_range_only_deleted_versions_meet_breaks_new_devices_not_old_ones(
    deleted_range: TargetBuilder,
) -> None:
    assert found(deleted_range) == [
        (Rule.DEPLOYMENT_UNRESOLVABLE, "d-1"),
        # core-old keeps the version it runs; the new device has none to keep.
        (Rule.DEVICE_UNRESOLVABLE, "core-new"),
    ]
    finding = one(deleted_range, Rule.DEPLOYMENT_UNRESOLVABLE)
    assert finding.severity is Severity.CRITICAL
    d = finding.details
    assert (d.component_name, d.requirements) == (LIB, ((APP, "~1.0.0"),))
    assert (d.platform, d.deployment_ids, d.devices_affected) == ("linux/amd64", ("d-1",), 2)
    assert (d.deployment_id, d.target_arn) == ("d-1", deleted_range.group("fleet"))
    assert finding.message == (
        f"Deployment 'rollout' for {deleted_range.group('fleet')} cannot be resolved on "
        "{os=linux, architecture=amd64} by a device that joins its target (2 member(s) on "
        f"this platform): {NO_VERSION} Component {LIB} version "
        f"constraints: {APP} requires ~1.0.0."
    )


def test_a_deployment_with_no_members_has_no_platform_to_fail_on(
    deleted_range: TargetBuilder,
) -> None:
    deleted_range.memberships.clear()
    deleted_range.membership_read = True

    assert found(deleted_range) == []


# --- no version for the device's platform ------------------------------------------------------


@pytest.fixture
def platforms() -> TargetBuilder:
    """LIB has versions for linux amd64 and aarch64 only; members on each, two on armv7."""
    t = TargetBuilder()
    t.recipe(APP, "1.0.0", (LIB, "^1.0.0"))
    t.recipe(LIB, "1.0.0", platforms=["linux/amd64", "linux/aarch64"])
    t.deploy("d-1", v(APP, "1.0.0"))
    for thing, arch in [
        ("amd-1", "amd64"),
        ("amd-2", "amd64"),
        ("arm64-1", "aarch64"),
        ("arm-1", "armv7"),
        ("arm-2", "armv7"),
    ]:
        t.device(thing, architecture=arch)
        t.member(thing, "fleet")
    t.device("arm-elsewhere", architecture="armv7")  # in no group the deployment targets
    t.member("arm-elsewhere", "lab")
    t.device("unknown", platform=None, architecture=None)  # ListCoreDevices did not say
    t.member("unknown", "fleet")
    return t


def test_only_the_platform_without_a_version_fails(platforms: TargetBuilder) -> None:
    assert found(platforms) == [
        (Rule.DEPLOYMENT_UNRESOLVABLE, "d-1"),
        (Rule.DEVICE_UNRESOLVABLE, "arm-1"),
        (Rule.DEVICE_UNRESOLVABLE, "arm-2"),
    ]
    finding = one(platforms, Rule.DEPLOYMENT_UNRESOLVABLE)
    assert finding.details.platform == "linux/armv7"
    assert finding.details.devices_affected == 2  # the members on armv7
    assert finding.key[-1] == "linux/armv7"
    assert (
        f"The latest version of Component {LIB} doesn't claim platform "
        "{os=linux, architecture=armv7} compatibility." in finding.message
    )


def test_one_deployment_finding_per_failing_platform(platforms: TargetBuilder) -> None:
    platforms.device("win-1", platform="windows", architecture="amd64")
    platforms.member("win-1", "fleet")

    findings, _ = evaluated(platforms)

    deployment = [f for f in findings if f.rule is Rule.DEPLOYMENT_UNRESOLVABLE]
    assert [(f.details.platform, f.details.devices_affected) for f in deployment] == [
        ("linux/armv7", 2),
        ("windows/amd64", 1),
    ]
    assert len({f.key for f in deployment}) == 2


def test_a_platform_claim_of_any_architecture_or_os_matches(platforms: TargetBuilder) -> None:
    platforms.recipe(LIB, "1.1.0", platforms=["linux/*"])

    assert found(platforms) == []


# --- a DISCONTINUED dependency -----------------------------------------------------------------


@pytest.fixture
def discontinued() -> TargetBuilder:
    """APP 1.0.0 needs LIB ^1.0.0, whose newest version is DISCONTINUED."""
    t = TargetBuilder()
    t.recipe(APP, "1.0.0", (LIB, "^1.0.0"))
    t.recipe(LIB, "1.0.0")
    t.recipe(LIB, "1.2.0")
    t.version(LIB, "1.2.0", Guidance.DISCONTINUED, "End of life.")
    t.recommend(LIB, "2.0.0")
    t.deploy("d-1", v(APP, "1.0.0"), name="rollout")
    for thing, arch in [("core-1", "amd64"), ("core-2", "aarch64"), ("core-3", "amd64")]:
        t.device(thing, architecture=arch)
        t.member(thing, "fleet")
    return t


def test_a_discontinued_dependency_is_a_warning_per_version(discontinued: TargetBuilder) -> None:
    finding = one(discontinued, Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED)

    assert finding.severity is Severity.WARNING
    assert (finding.resource_type, finding.resource_id) == (ResourceType.DEPLOYMENT, "d-1")
    d = finding.details
    assert (d.component_name, d.component_version) == (LIB, "1.2.0")
    assert (d.vendor_guidance, d.vendor_guidance_message) == ("DISCONTINUED", "End of life.")
    assert d.requirements == ((APP, "^1.0.0"),)
    # One finding for both platforms that pick it.
    assert (d.platform, d.devices_affected) == ("linux/aarch64, linux/amd64", 3)
    assert (d.recommended_version, d.latest_version) == (None, "2.0.0")
    assert finding.message == (
        f"Deployment 'rollout' for {discontinued.group('fleet')} pulls in {LIB} 1.2.0 as a "
        "dependency, which its publisher marked DISCONTINUED: End of life. Move the component "
        f"that requires it ({APP} requires ^1.0.0) to a version whose range admits an ACTIVE "
        "version."
    )
    assert found(discontinued) == [(Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED, "d-1")]


def test_a_discontinued_version_the_deployment_names_is_the_component_rules(
    discontinued: TargetBuilder,
) -> None:
    discontinued.deploy("d-2", v(APP, "1.0.0"), v(LIB, "1.2.0"), target=discontinued.group("b"))
    discontinued.device("core-b")
    discontinued.member("core-b", "b")

    findings, _ = evaluated(discontinued)

    assert sorted((f.rule, f.resource_id) for f in findings) == [
        (Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED, "d-1"),
        (Rule.DEPLOYMENT_DISCONTINUED, "d-2"),
    ]


def test_an_active_pick_is_no_warning(discontinued: TargetBuilder) -> None:
    discontinued.recipe(LIB, "1.3.0")

    assert found(discontinued) == []


def test_a_device_that_keeps_a_discontinued_dependency_is_resolvable(
    discontinued: TargetBuilder,
) -> None:
    discontinued.device("core-4", v(APP, "1.0.0"), v(LIB, "1.2.0"))
    discontinued.member("core-4", "fleet")

    assert Rule.DEVICE_UNRESOLVABLE not in {rule for rule, _ in found(discontinued)}


# --- re-resolution when a pick changes ---------------------------------------------------------


@pytest.fixture
def repick() -> TargetBuilder:
    """TOOL lets LIB be anything >=1.0.0; LIB 2.0.0 needs HELPER ^2.0.0, which only a DELETED
    version meets. OTHER needs LIB <2.0.0 two levels deeper (through MID and BRIDGE), so the
    walk picks LIB at 2.0.0 first and then moves it to 1.0.0, dropping its need for HELPER."""
    t = TargetBuilder()
    t.recipe(TOOL, "1.0.0", (LIB, ">=1.0.0"))
    t.recipe(OTHER, "1.0.0", (MID, "^1.0.0"))
    t.recipe(MID, "1.0.0", (BRIDGE, "^1.0.0"))
    t.recipe(BRIDGE, "1.0.0", (LIB, "<2.0.0"))
    t.recipe(LIB, "1.0.0")
    t.recipe(LIB, "2.0.0", (HELPER, "^2.0.0"))
    t.recipe(HELPER, "2.0.0")
    t.version(HELPER, "2.0.0", Guidance.DELETED)
    t.deploy("d-tool", v(TOOL, "1.0.0"), target=t.group("tools"))
    t.deploy("d-other", v(OTHER, "1.0.0"), target=t.group("others"))
    t.device("core-both")
    t.member("core-both", "others", "tools")
    t.device("core-tools")
    t.member("core-tools", "tools")
    return t


def test_a_changed_pick_drops_the_requirements_of_the_old_one(repick: TargetBuilder) -> None:
    assert found(repick) == [
        # Alone, and on a device with nothing else, TOOL's LIB 2.0.0 needs the DELETED HELPER;
        (Rule.DEPLOYMENT_UNRESOLVABLE, "d-tool"),
        (Rule.DEVICE_UNRESOLVABLE, "core-tools"),
        # together with OTHER, LIB moves to 1.0.0 and HELPER is no longer needed.
    ]
    findings, scope = evaluated(repick)
    (finding,) = (f for f in findings if f.rule is Rule.DEVICE_UNRESOLVABLE)
    assert (finding.details.component_name, finding.details.requirements) == (
        HELPER,
        ((LIB, "^2.0.0"),),
    )
    (both,) = (d for d in scope.target.devices if d.thing_name == "core-both")
    result = scope.fleet.device(both)
    assert result is not None
    assert result.as_dict() == {
        BRIDGE: "1.0.0",
        LIB: "1.0.0",
        MID: "1.0.0",
        OTHER: "1.0.0",
        TOOL: "1.0.0",
    }
    # LIB really was at 2.0.0 first: a walk that fails at once meets HELPER on core-both too.
    assert (Rule.DEVICE_UNRESOLVABLE, "core-both") in found(
        repick, config=config(conflict_reading="eager")
    )


@pytest.fixture
def deferral() -> TargetBuilder:
    """core-ab is in both groups: X meets S 1.1.0's <2.0.0 and T's =2.0.0 while S waits to be
    re-picked at T's =1.0.0, whose X >=2.0.0 lifts the conflict. Each group alone resolves."""
    t = TargetBuilder()
    t.recipe(APP, "1.0.0", (MID, "^1.0.0"))
    t.recipe(TOOL, "1.0.0", (OTHER, "=1.0.0"))
    t.recipe(MID, "1.1.0", (LIB, "<2.0.0"))
    t.recipe(MID, "1.0.0", (LIB, ">=2.0.0"))
    t.recipe(OTHER, "1.0.0", (MID, "=1.0.0"), (LIB, "=2.0.0"))
    t.recipe(LIB, "1.0.0")
    t.recipe(LIB, "2.0.0")
    t.deploy("d-a", v(APP, "1.0.0"), target=t.group("a"))
    t.deploy("d-b", v(TOOL, "1.0.0"), target=t.group("b"))
    t.device("core-ab")
    t.member("core-ab", "a", "b")
    return t


def test_a_conflict_a_queued_re_pick_lifts_resolves_under_the_default_reading(
    deferral: TargetBuilder,
) -> None:
    assert found(deferral) == []


def test_the_eager_conflict_reading_fails_before_the_pick_moves(deferral: TargetBuilder) -> None:
    """`conflict_reading: eager`: a nucleus that fails at the first visit finding no version."""
    findings, _ = evaluated(deferral, config(conflict_reading="eager"))
    (finding,) = (f for f in findings if f.rule in RESOLUTION_RULES)
    assert (finding.rule, finding.resource_id) == (Rule.DEVICE_UNRESOLVABLE, "core-ab")
    assert finding.details.component_name == LIB
    assert dict(finding.details.requirements or ()) == {MID: "<2.0.0", OTHER: "=2.0.0"}


# --- versions kept on the device ---------------------------------------------------------------


def test_a_device_keeps_a_satisfying_version_it_runs(platforms: TargetBuilder) -> None:
    # An armv7 member that already runs LIB 1.0.0 keeps it: no version to negotiate.
    platforms.device("arm-3", v(APP, "1.0.0"), v(LIB, "1.0.0"), architecture="armv7")
    platforms.member("arm-3", "fleet")

    devices = [thing for rule, thing in found(platforms) if rule is Rule.DEVICE_UNRESOLVABLE]

    assert devices == ["arm-1", "arm-2"]
    assert one(platforms, Rule.DEPLOYMENT_UNRESOLVABLE).details.devices_affected == 3


@pytest.mark.parametrize(
    ("requirement", "picks"),
    [
        # A newer LIB exists, but the one the device runs satisfies the range: kept.
        ("^1.0.0", {APP: "1.0.0", LIB: "1.0.0"}),
        # The range rejects what it runs: it moves to the highest that satisfies it.
        ("~1.1.0", {APP: "1.0.0", LIB: "1.1.0"}),
    ],
)
def test_a_device_keeps_what_it_runs_only_while_it_satisfies(
    requirement: str, picks: dict[str, str]
) -> None:
    t = TargetBuilder()
    t.recipe(APP, "1.0.0", (LIB, requirement))
    t.recipe(LIB, "1.0.0")
    t.recipe(LIB, "1.1.0")
    t.deploy("d-1", v(APP, "1.0.0"))
    t.device("core-1", v(APP, "1.0.0"), v(LIB, "1.0.0"))
    t.member("core-1", "fleet")

    findings, scope = evaluated(t)

    assert findings == []
    result = scope.fleet.device(scope.target.devices[0])
    assert result is not None
    assert result.as_dict() == picks


def test_a_device_whose_installed_components_were_not_read_is_not_judged(
    conflict: TargetBuilder,
) -> None:
    conflict.devices.clear()
    conflict.device("core-1", installed_read=False)

    assert found(conflict) == []


# --- exclusions, switches, a partial picture ---------------------------------------------------


@pytest.fixture
def every_case(deleted_range: TargetBuilder) -> TargetBuilder:
    """One finding of each resolution rule (on top of the DELETED range case): core-new
    cannot resolve d-1, which cannot be resolved alone, and d-dep pulls in a DISCONTINUED
    version."""
    t = deleted_range
    t.recipe(TOOL, "1.0.0", (OTHER, "^1.0.0"))
    t.recipe(OTHER, "1.0.0")
    t.version(OTHER, "1.0.0", Guidance.DISCONTINUED)
    t.deploy("d-dep", v(TOOL, "1.0.0"), target=t.group("tools"), tags={"team": "tools"})
    t.device("core-tools")
    t.member("core-tools", "tools")
    return t


def test_every_case_fires_each_rule_once(every_case: TargetBuilder) -> None:
    assert found(every_case) == [
        (Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED, "d-dep"),
        (Rule.DEPLOYMENT_UNRESOLVABLE, "d-1"),
        (Rule.DEVICE_UNRESOLVABLE, "core-new"),
    ]


@pytest.mark.parametrize(
    ("exclusions", "left"),
    [
        # The deployment's target: its findings and those of the devices it reaches.
        ({"target_arns": ["arn:aws:iot:*:*:thinggroup/fleet"]}, ["d-dep"]),
        # A device by its thing ARN, as for its component findings.
        ({"target_arns": ["arn:aws:iot:*:*:thing/core-new"]}, ["d-1", "d-dep"]),
        # The component that cannot be resolved, or that is DISCONTINUED.
        ({"component_names": ["com.example.Lib"]}, ["d-dep"]),
        ({"component_names": ["com.example.Oth*"]}, ["core-new", "d-1"]),
        # A deployment's tags.
        ({"deployment_tags": {"team": "*"}}, ["core-new", "d-1"]),
        ({"deployment_tags": {"team": "other"}}, ["core-new", "d-1", "d-dep"]),
    ],
)
def test_exclusions_silence_the_resolution_rules(
    every_case: TargetBuilder, exclusions: dict[str, object], left: list[str]
) -> None:
    resources = sorted(r for _, r in found(every_case, config=config(exclusions=exclusions)))

    assert resources == left


def test_a_device_reached_by_a_tag_excluded_deployment_is_silenced(
    conflict: TargetBuilder,
) -> None:
    detail = conflict.details["d-b"]
    conflict.details["d-b"] = dataclasses.replace(detail, tags={"ggwatch:ignore": "yes"})

    assert (
        found(conflict, config=config(exclusions={"deployment_tags": {"ggwatch:ignore": "*"}}))
        == []
    )


@pytest.mark.parametrize("rule", RESOLUTION_RULES)
def test_a_disabled_resolution_rule_gives_no_findings(
    every_case: TargetBuilder, rule: Rule
) -> None:
    cfg = config(rules={rule.value: {"enabled": False}})

    assert {r for r, _ in found(every_case, config=cfg)} == set(RESOLUTION_RULES) - {rule}


def test_a_severity_override_applies_to_a_resolution_rule(every_case: TargetBuilder) -> None:
    cfg = config(rules={"deployment-dependency-discontinued": {"severity": "critical"}})

    assert one(every_case, Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED, cfg).severity is (
        Severity.CRITICAL
    )


def test_silent_on_an_incomplete_snapshot(every_case: TargetBuilder) -> None:
    # A recipe that could not be read would look like a version nobody can pick.
    every_case.error("GetComponent", "ThrottlingException", "Rate exceeded")

    findings, scope = evaluated(every_case)

    assert [f for f in findings if f.rule in RESOLUTION_RULES] == []
    assert not scope.fleet.usable
    assert scope.fleet.classes == 0


def test_silent_without_membership(every_case: TargetBuilder) -> None:
    every_case.membership_read = False

    findings, scope = evaluated(every_case)

    assert [f for f in findings if f.rule in RESOLUTION_RULES] == []
    assert scope.target.membership is None
    assert scope.fleet.classes == 0


# --- cost: one resolution per device class ---------------------------------------------------


@pytest.mark.parametrize(("architectures", "classes"), [(("amd64",), 2), (("amd64", "armv7"), 4)])
def test_equal_devices_resolve_once(architectures: tuple[str, ...], classes: int) -> None:
    t = TargetBuilder()
    t.recipe(APP, "1.0.0", (LIB, "^1.0.0"))
    t.recipe(LIB, "1.0.0")
    t.deploy("d-1", v(APP, "1.0.0"))
    for i in range(100):
        t.device(
            f"core-{i:03}",
            v(APP, "1.0.0"),
            v(LIB, "1.0.0"),
            architecture=architectures[i % len(architectures)],
        )
        t.member(f"core-{i:03}", "fleet")

    findings, scope = evaluated(t)

    assert findings == []
    # Per platform: the deployment alone (a new member) and the members' one class.
    assert scope.fleet.classes == classes


def test_devices_that_run_different_versions_are_different_classes(
    deleted_range: TargetBuilder,
) -> None:
    for i in range(50):
        deleted_range.device(f"new-{i}")
        deleted_range.member(f"new-{i}", "fleet")

    findings, scope = evaluated(deleted_range)

    assert len([f for f in findings if f.rule is Rule.DEVICE_UNRESOLVABLE]) == 51
    # d-1 alone (which new devices share: they run nothing) and core-old; plus the
    # recommendation for core-old's DELETED LIB, with LIB left out of what it keeps.
    assert scope.fleet.classes == 3


# --- the JSON contract ---------------------------------------------------------------------------


def test_deployment_unresolvable_json(deleted_range: TargetBuilder) -> None:
    finding = one(deleted_range, Rule.DEPLOYMENT_UNRESOLVABLE)

    assert finding.to_json() == {
        "rule": "deployment-unresolvable",
        "severity": "critical",
        "region": REGION,
        "account": ACCOUNT,
        "account_alias": "default",
        "resource_type": "deployment",
        "resource_id": "d-1",
        "message": finding.message,
        "details": {
            "component_name": LIB,
            "component_version": None,
            "vendor_guidance": None,
            "vendor_guidance_message": None,
            "recommended_version": None,
            "latest_version": None,
            "deployment_id": "d-1",
            "target_arn": deleted_range.group("fleet"),
            "deployment_status": "ACTIVE",
            "requirements": {APP: "~1.0.0"},
            "platform": "linux/amd64",
            "deployment_ids": ["d-1"],
            "devices_affected": 2,
        },
    }


def test_device_unresolvable_json(conflict: TargetBuilder) -> None:
    finding = one(conflict, Rule.DEVICE_UNRESOLVABLE)

    assert finding.to_json() == {
        "rule": "device-unresolvable",
        "severity": "critical",
        "region": REGION,
        "account": ACCOUNT,
        "account_alias": "default",
        "resource_type": "core-device",
        "resource_id": "core-1",
        "message": finding.message,
        "details": {
            "component_name": NUCLEUS,
            "component_version": None,
            "vendor_guidance": None,
            "vendor_guidance_message": None,
            "recommended_version": None,
            "latest_version": None,
            "requirements": {"thinggroup/line-a": "=2.12.0", "thinggroup/line-b": "=2.13.0"},
            "platform": "linux/amd64",
            "deployment_ids": ["d-a", "d-b"],
        },
    }


def test_deployment_dependency_discontinued_json(discontinued: TargetBuilder) -> None:
    finding = one(discontinued, Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED)

    assert finding.to_json() == {
        "rule": "deployment-dependency-discontinued",
        "severity": "warning",
        "region": REGION,
        "account": ACCOUNT,
        "account_alias": "default",
        "resource_type": "deployment",
        "resource_id": "d-1",
        "message": finding.message,
        "details": {
            "component_name": LIB,
            "component_version": "1.2.0",
            "vendor_guidance": "DISCONTINUED",
            "vendor_guidance_message": "End of life.",
            "recommended_version": None,
            "latest_version": "2.0.0",
            "recommendation_note": f"Move the component that requires it ({APP} requires "
            "^1.0.0) to a version whose range admits an ACTIVE version.",
            "deployment_id": "d-1",
            "target_arn": discontinued.group("fleet"),
            "deployment_status": "ACTIVE",
            "requirements": {APP: "^1.0.0"},
            "platform": "linux/aarch64, linux/amd64",
            "deployment_ids": ["d-1"],
            "devices_affected": 3,
        },
    }


def test_keys_tell_platforms_apart_only_for_deployment_unresolvable(
    every_case: TargetBuilder,
) -> None:
    findings, _ = evaluated(every_case)

    platforms = {f.rule: f.key[-1] for f in findings if f.rule in RESOLUTION_RULES}
    assert platforms == {
        Rule.DEPLOYMENT_UNRESOLVABLE: "linux/amd64",
        Rule.DEVICE_UNRESOLVABLE: "",
        Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED: "",
    }
