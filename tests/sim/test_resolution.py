"""The simulator's device-side resolution (ggwatch.sim.resolution), case by case: what the
nucleus picks, and the failures operators meet (conflicts across thing groups, ranges only
DELETED versions satisfy, no version for the platform, a nucleus minor update nobody asked
for), written from ../shared/reference/dependency-resolution.md."""

from __future__ import annotations

from collections.abc import Mapping

from ggwatch.sim.resolution import (
    NO_VERSION,
    UNAUTHORIZED_NUCLEUS,
    Candidate,
    Catalogue,
    Platform,
    Resolution,
    resolve,
)

NUCLEUS = "aws.greengrass.Nucleus"
TES = "aws.greengrass.TokenExchangeService"
LOGS = "aws.greengrass.LogManager"
APP = "com.example.App"
LIB = "com.example.Lib"
LINUX = Platform("linux", "aarch64")
WINDOWS = Platform("windows", "amd64")


def nucleus(version: str) -> Candidate:
    return Candidate(version, nucleus=True)


CATALOGUE: Catalogue = {
    NUCLEUS: [nucleus("2.9.6"), nucleus("2.10.0"), nucleus("2.10.3"), nucleus("2.11.0")],
    TES: [Candidate("2.0.3", {NUCLEUS: ">=2.0.0 <2.12.0"})],
    LOGS: [
        Candidate("2.3.0", {NUCLEUS: ">=2.0.0 <2.11.0", TES: "^2.0.0"}),
        Candidate("2.3.7", {NUCLEUS: ">=2.0.0 <2.12.0", TES: "^2.0.0"}),
    ],
}


def run(
    deployments: Mapping[str, Mapping[str, str]],
    catalogue: Catalogue = CATALOGUE,
    platform: Platform = LINUX,
    local: Mapping[str, str] | None = None,
) -> Resolution:
    return resolve(deployments, catalogue, platform, local or {})


def test_the_highest_version_every_requirement_allows_is_picked() -> None:
    result = run({"thinggroup/fleet": {LOGS: "2.3.7"}})
    assert result.ok
    assert result.picks == {LOGS: "2.3.7", NUCLEUS: "2.11.0", TES: "2.0.3"}
    assert result.roots == {LOGS}


def test_a_dependency_range_bounds_the_nucleus() -> None:
    result = run({"thinggroup/fleet": {LOGS: "2.3.0"}})
    assert result.picks[NUCLEUS] == "2.10.3"  # 2.11.0 is outside LogManager 2.3.0's range


def test_thing_groups_pinning_conflicting_versions_fail_naming_every_requirement() -> None:
    result = run({"thinggroup/fleet": {LOGS: "2.3.0"}, "thinggroup/canary": {NUCLEUS: "2.11.0"}})
    assert result.failure is not None
    assert result.failure.component == NUCLEUS
    assert set(result.failure.requirements) == {
        ("thinggroup/canary", "=2.11.0"),
        (LOGS, ">=2.0.0 <2.11.0"),
    }
    assert result.failure.message.startswith(NO_VERSION)
    assert "thinggroup/canary requires =2.11.0" in result.failure.message
    assert f"{LOGS} requires >=2.0.0 <2.11.0" in result.failure.message


def test_a_range_only_deleted_versions_satisfy_fails_a_new_device() -> None:
    catalogue = {**CATALOGUE, LIB: [Candidate("1.0.0", deleted=True), Candidate("2.0.0")]}
    catalogue[APP] = [Candidate("1.0.0", {LIB: "^1.0.0"})]
    result = run({"thinggroup/fleet": {APP: "1.0.0"}}, catalogue)
    assert result.failure is not None
    assert result.failure.component == LIB
    assert result.failure.requirements == ((APP, "^1.0.0"),)


def test_a_device_that_has_the_deleted_version_keeps_it() -> None:
    catalogue = {**CATALOGUE, LIB: [Candidate("1.0.0", deleted=True), Candidate("2.0.0")]}
    catalogue[APP] = [Candidate("1.0.0", {LIB: "^1.0.0"})]
    result = run({"thinggroup/fleet": {APP: "1.0.0"}}, catalogue, local={LIB: "1.0.0"})
    assert result.ok
    assert result.picks[LIB] == "1.0.0"


def test_a_satisfying_local_version_is_kept_over_a_newer_one() -> None:
    result = run({"thinggroup/fleet": {LOGS: "2.3.7"}}, local={NUCLEUS: "2.10.0"})
    assert result.picks[NUCLEUS] == "2.10.0"


def test_no_version_for_the_devices_platform_says_so() -> None:
    catalogue = {**CATALOGUE, APP: [Candidate("1.0.0", platforms=(Platform("linux", "*"),))]}
    result = run({"thing/win-1": {APP: "1.0.0"}}, catalogue, platform=WINDOWS)
    assert result.failure is not None
    assert "doesn't claim platform {os=windows, architecture=amd64}" in result.failure.message
    assert result.failure.requirements == (("thing/win-1", "=1.0.0"),)
    assert run({"thing/lin-1": {APP: "1.0.0"}}, catalogue).ok


def test_a_discontinued_dependency_is_picked_and_reported() -> None:
    catalogue = {**CATALOGUE, TES: [Candidate("2.0.3", discontinued=True)]}
    result = run({"thinggroup/fleet": {LOGS: "2.3.7"}}, catalogue)
    assert result.ok
    assert result.picks[TES] == "2.0.3"
    assert result.discontinued == (TES,)


def test_a_pick_that_changes_drops_the_requirements_of_its_old_version() -> None:
    # App is first picked at 2.0.0 (which needs Lib ^2), then Mid bounds it below 2.0.0 and
    # asks for Lib ^1: only once App 2.0.0's requirement on Lib is dropped does Lib resolve.
    catalogue: Catalogue = {
        "com.example.A": [Candidate("1.0.0", {APP: ">=1.0.0"})],
        "com.example.Z": [Candidate("1.0.0", {"com.example.Mid": "*"})],
        "com.example.Mid": [Candidate("1.0.0", {APP: "<2.0.0", LIB: "^1.0.0"})],
        APP: [Candidate("1.0.0"), Candidate("2.0.0", {LIB: "^2.0.0"})],
        LIB: [Candidate("1.0.0"), Candidate("2.0.0")],
    }
    deployments = {
        "thinggroup/a": {"com.example.A": "1.0.0"},
        "thinggroup/z": {"com.example.Z": "1.0.0"},
    }
    result = run(deployments, catalogue)
    assert result.failure is None
    assert result.picks[APP] == "1.0.0"
    assert result.picks[LIB] == "1.0.0"
    # The other reading of when a conflict fails (fleet key `conflicts: eager`): Lib sees
    # {App: ^2.0.0, Mid: ^1.0.0} while App waits to be re-picked, and the device fails there.
    eager = resolve(deployments, catalogue, LINUX, {}, defer=False)
    assert eager.failure is not None
    assert eager.failure.component == LIB
    assert set(eager.failure.requirements) == {(APP, "^2.0.0"), ("com.example.Mid", "^1.0.0")}


def test_the_nucleus_does_not_change_minor_version_unless_a_deployment_names_it() -> None:
    result = run({"thinggroup/fleet": {LOGS: "2.3.7"}}, local={NUCLEUS: "2.9.6"})
    assert result.ok  # 2.9.6 satisfies every range: kept
    catalogue = {**CATALOGUE, TES: [Candidate("2.0.3", {NUCLEUS: ">=2.10.0 <2.12.0"})]}
    moved = run({"thinggroup/fleet": {LOGS: "2.3.7"}}, catalogue, local={NUCLEUS: "2.9.6"})
    assert moved.failure is not None
    assert moved.failure.code == UNAUTHORIZED_NUCLEUS
    named = run(
        {"thinggroup/fleet": {LOGS: "2.3.7", NUCLEUS: "2.11.0"}},
        catalogue,
        local={NUCLEUS: "2.9.6"},
    )
    assert named.picks[NUCLEUS] == "2.11.0"


def test_a_circular_dependency_fails() -> None:
    catalogue: Catalogue = {
        APP: [Candidate("1.0.0", {LIB: "*"})],
        LIB: [Candidate("1.0.0", {APP: "*"})],
    }
    result = run({"thing/t": {APP: "1.0.0"}}, catalogue)
    assert result.failure is not None
    assert result.failure.code == "CIRCULAR"
    assert result.failure.message == f"Circular dependency detected: {APP} -> {LIB} -> {APP}."


def test_an_unknown_component_fails() -> None:
    result = run({"thing/t": {"com.example.Missing": "1.0.0"}})
    assert result.failure is not None
    assert result.failure.component == "com.example.Missing"
    assert result.failure.requirements == (("thing/t", "=1.0.0"),)


def test_pre_releases_are_picked_only_when_a_range_names_one() -> None:
    catalogue: Catalogue = {LIB: [Candidate("1.1.0-beta.1"), Candidate("1.0.0")]}
    catalogue = {**catalogue, APP: [Candidate("1.0.0", {LIB: "^1.0.0"})]}
    assert run({"thing/t": {APP: "1.0.0"}}, catalogue).picks[LIB] == "1.0.0"
    beta = {**catalogue, APP: [Candidate("1.0.0", {LIB: ">=1.1.0-beta.0"})]}
    assert run({"thing/t": {APP: "1.0.0"}}, beta).picks[LIB] == "1.1.0-beta.1"


def test_the_same_inputs_give_the_same_resolution() -> None:
    deployments = {"thinggroup/b": {LOGS: "2.3.7"}, "thinggroup/a": {TES: "2.0.3"}}
    assert run(deployments) == run(dict(reversed(list(deployments.items()))))
