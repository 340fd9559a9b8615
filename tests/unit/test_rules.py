"""The rules engine: every rule, its edges, configuration, order and the findings' JSON shape."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
import random
from collections import Counter
from collections.abc import Iterable
from types import MappingProxyType
from typing import Any

import pytest

from ggwatch.findings import Finding, ResourceType, Rule, Severity
from ggwatch.model import Guidance, Snapshot, TargetSnapshot
from ggwatch.rules import RuleOverride, RulesConfig, evaluate
from tests.unit.builders import (
    ACCOUNT,
    NOW,
    REGION,
    TargetBuilder,
    days_ago,
    snapshot,
    thing_arn,
    v,
)

APP = "com.example.App"
NUCLEUS = "aws.greengrass.Nucleus"
SHADOW = "aws.greengrass.ShadowManager"
AMD64_ONLY = "com.example.Amd64Only"
USES = "com.example.Uses"
OLD = "com.example.Old"

FINDING_KEYS = {
    "rule",
    "severity",
    "region",
    "account_alias",
    "account",
    "resource_type",
    "resource_id",
    "message",
    "details",
}
COMPONENT_KEYS = {
    "component_name",
    "component_version",
    "vendor_guidance",
    "vendor_guidance_message",
    "recommended_version",
    "latest_version",
}
DEPLOYMENT_KEYS = {"deployment_id", "target_arn", "deployment_status"}
RESOLUTION_KEYS = {"requirements", "platform", "deployment_ids"}
# The tests here are about rules, not the upgrade policy (test_recommend.py): let any newer
# version be recommended, so that 1.0.0 -> 3.0.0 shows.
ANY_VERSION = RulesConfig(upgrade_policy="major")


def run(
    *targets: TargetBuilder | TargetSnapshot,
    config: RulesConfig | None = None,
    now: dt.datetime = NOW,
) -> tuple[Finding, ...]:
    return evaluate(snapshot(*targets), config or ANY_VERSION, now)


def rules(findings: tuple[Finding, ...]) -> list[Rule]:
    return [f.rule for f in findings]


def of(findings: tuple[Finding, ...], rule: Rule) -> list[Finding]:
    return [f for f in findings if f.rule is rule]


def config(**kwargs: object) -> RulesConfig:
    return RulesConfig.model_validate({"upgrade_policy": "major", **kwargs})


@pytest.fixture
def target() -> TargetBuilder:
    """A target whose catalogue knows one version of each guidance for APP."""
    t = TargetBuilder()
    t.version(APP, "1.0.0", Guidance.DELETED, "Security issue. Upgrade now.")
    t.version(APP, "2.0.0", Guidance.DISCONTINUED, "End of support.")
    t.version(APP, "3.0.0", Guidance.ACTIVE)
    t.recommend(APP, "3.0.0")
    return t


# --- deployments in force ------------------------------------------------------------------


def test_in_force_deployment_naming_a_deleted_version_is_critical(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), name="line rollout")

    (finding,) = run(target)

    assert finding.rule is Rule.DEPLOYMENT_DELETED
    assert finding.severity is Severity.CRITICAL
    assert finding.resource_type is ResourceType.DEPLOYMENT
    assert finding.resource_id == "d-1"
    assert (finding.region, finding.account) == (REGION, ACCOUNT)
    d = finding.details
    assert (d.component_name, d.component_version) == (APP, "1.0.0")
    assert d.vendor_guidance == "DELETED"
    assert d.vendor_guidance_message == "Security issue. Upgrade now."
    assert d.recommended_version == "3.0.0"
    assert d.deployment_id == "d-1"
    assert d.target_arn == target.group("fleet")
    assert d.deployment_status == "ACTIVE"
    assert "'line rollout'" in finding.message
    assert f"{APP} 1.0.0" in finding.message
    assert "Move to 3.0.0." in finding.message


def test_by_default_a_recommendation_stays_within_the_major_version(
    target: TargetBuilder,
) -> None:
    # The upgrade policy (test_recommend.py) defaults to minor: 1.0.0 -> 3.0.0 is too far.
    target.deploy("d-1", v(APP, "1.0.0"))
    target.device("core-1", v(APP, "1.0.0"))

    findings = run(target, config=RulesConfig())

    assert RulesConfig().upgrade_policy == "minor"
    note = f"No ACTIVE version of {APP} within the same major version is known."
    for finding in findings:
        d = finding.details
        assert (d.recommended_version, d.latest_version, d.recommendation_note) == (
            None,
            "3.0.0",
            note,
        )
        assert finding.message.endswith(f"Upgrade now. {note}")
        assert finding.to_json()["details"]["recommendation_note"] == note
    assert len(findings) == 2


def test_in_force_deployment_naming_a_discontinued_version_is_a_warning(
    target: TargetBuilder,
) -> None:
    target.deploy("d-1", v(APP, "2.0.0"))

    (finding,) = run(target)

    assert finding.rule is Rule.DEPLOYMENT_DISCONTINUED
    assert finding.severity is Severity.WARNING
    assert finding.details.vendor_guidance == "DISCONTINUED"
    assert "DISCONTINUED" in finding.message
    assert "End of support" in finding.message
    # The deployment has no name: the message falls back to its id.
    assert "'d-1'" in finding.message


def test_one_finding_per_flagged_version_a_deployment_names(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), v(APP, "2.0.0"), v(APP, "3.0.0"))

    findings = run(target)

    assert rules(findings) == [Rule.DEPLOYMENT_DELETED, Rule.DEPLOYMENT_DISCONTINUED]
    assert [f.details.component_version for f in findings] == ["1.0.0", "2.0.0"]


@pytest.mark.parametrize("status", ["ACTIVE", "COMPLETED", "FAILED", "INACTIVE"])
def test_latest_deployment_not_cancelled_is_in_force(target: TargetBuilder, status: str) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), status=status, created=days_ago(400))

    findings = run(target)

    # In force, however old: never stale.
    assert rules(findings) == [Rule.DEPLOYMENT_DELETED]
    assert findings[0].details.deployment_status == status


def test_completed_single_thing_deployment_is_in_force_when_latest(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "2.0.0"), target=target.thing("core-1"), status="COMPLETED")

    (finding,) = run(target)

    assert finding.rule is Rule.DEPLOYMENT_DISCONTINUED
    assert finding.details.target_arn == thing_arn("core-1")
    assert finding.details.deployment_status == "COMPLETED"


def test_latest_cancelled_deployment_is_not_in_force(target: TargetBuilder) -> None:
    target.deploy("d-new", v(APP, "1.0.0"), status="CANCELED", created=days_ago(2))
    target.deploy("d-old", v(APP, "1.0.0"), status="CANCELED", created=days_ago(45))

    findings = run(target)

    # No component finding for either; only the old one is stale.
    assert rules(findings) == [Rule.STALE_DEPLOYMENT]
    (stale,) = findings
    assert stale.resource_id == "d-old"
    assert "cancelled" in stale.message
    assert "(CANCELED)" in stale.message
    assert "45 days old" in stale.message


def test_superseded_active_deployment_is_not_in_force(target: TargetBuilder) -> None:
    target.deploy("d-new", v(APP, "2.0.0"), status="ACTIVE", latest=False, created=days_ago(3))
    target.deploy("d-old", v(APP, "1.0.0"), status="ACTIVE", latest=False, created=days_ago(90))

    findings = run(target)

    assert rules(findings) == [Rule.STALE_DEPLOYMENT]
    (stale,) = findings
    assert stale.resource_id == "d-old"
    assert "superseded" in stale.message
    assert stale.details.deployment_status == "ACTIVE"


def test_active_version_and_missing_vendor_guidance_give_nothing(target: TargetBuilder) -> None:
    # The adapter maps an absent vendorGuidance to ACTIVE; ACTIVE is never flagged.
    target.version("com.example.NoGuidance", "1.0.0")
    target.deploy("d-1", v(APP, "3.0.0"), v("com.example.NoGuidance", "1.0.0"))
    target.device("core-1", v(APP, "3.0.0"), v("com.example.NoGuidance", "1.0.0"))

    assert run(target) == ()


def test_deployment_whose_detail_was_not_read_names_nothing(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), read=False)
    target.deploy("d-2", v(APP, "1.0.0"))

    assert [f.resource_id for f in run(target)] == ["d-2"]


# --- core devices --------------------------------------------------------------------------


def test_device_running_a_deleted_version_is_critical(target: TargetBuilder) -> None:
    target.device("core-1", v(NUCLEUS, "2.14.0"), v(APP, "1.0.0"))

    (finding,) = run(target)

    assert finding.rule is Rule.DEVICE_DELETED
    assert finding.severity is Severity.CRITICAL
    assert finding.resource_type is ResourceType.CORE_DEVICE
    assert finding.resource_id == "core-1"
    d = finding.details
    assert (d.component_name, d.component_version, d.vendor_guidance) == (APP, "1.0.0", "DELETED")
    assert d.recommended_version == "3.0.0"
    # A device finding names no deployment.
    assert (d.deployment_id, d.target_arn, d.deployment_status) == (None, None, None)
    assert "Core device core-1 runs com.example.App 1.0.0" in finding.message


def test_device_running_a_discontinued_version_is_a_warning(target: TargetBuilder) -> None:
    target.device("core-1", v(APP, "2.0.0"))

    (finding,) = run(target)

    assert finding.rule is Rule.DEVICE_DISCONTINUED
    assert finding.severity is Severity.WARNING
    assert finding.details.vendor_guidance_message == "End of support."


def test_device_whose_components_were_not_read_gives_nothing(target: TargetBuilder) -> None:
    target.device("core-1", installed_read=False)
    target.device("core-2")

    assert run(target) == ()


def test_device_listing_a_version_twice_gives_one_finding(target: TargetBuilder) -> None:
    # The same component can arrive on two pages of ListInstalledComponents.
    target.device("core-1", v(APP, "1.0.0"), v(APP, "1.0.0"))

    assert len(run(target)) == 1


def test_deployment_listed_twice_gives_one_finding_per_version(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), v(APP, "2.0.0"))
    target.deployments.append(target.deployments[0])

    assert len(run(target)) == 2


# --- versions: public and private, many users, gone, not described -------------------------


def test_public_and_private_components_are_named_with_their_target() -> None:
    t = TargetBuilder(region="eu-central-1", account="210987654321")
    t.version(NUCLEUS, "2.9.0", Guidance.DISCONTINUED, "Upgrade the nucleus.")
    t.version("com.acme.Sensor", "1.2.0", Guidance.DELETED)
    t.recommend(NUCLEUS, "2.15.0")
    t.deploy("d-1", v(NUCLEUS, "2.9.0"), v("com.acme.Sensor", "1.2.0"))
    t.device("core-1", v(NUCLEUS, "2.9.0"), v("com.acme.Sensor", "1.2.0"))

    findings = run(t)

    assert {(f.region, f.account) for f in findings} == {("eu-central-1", "210987654321")}
    summary = sorted(
        (f.rule.value, f.details.component_name, f.details.recommended_version) for f in findings
    )
    assert summary == [
        ("deployment-uses-deleted-component", "com.acme.Sensor", None),
        ("deployment-uses-discontinued-component", NUCLEUS, "2.15.0"),
        ("device-runs-deleted-component", "com.acme.Sensor", None),
        ("device-runs-discontinued-component", NUCLEUS, "2.15.0"),
    ]
    sensor = next(f for f in findings if f.details.component_name == "com.acme.Sensor")
    assert sensor.details.recommendation_note == (
        "No ACTIVE version of com.acme.Sensor within any version is known."
    )
    assert sensor.message.endswith(f" {sensor.details.recommendation_note}")
    nucleus = next(f for f in findings if f.details.component_name == NUCLEUS)
    assert nucleus.message.endswith("Move to 2.15.0.")


def test_a_version_used_widely_gives_exactly_one_finding_per_user(target: TargetBuilder) -> None:
    for i in range(3):
        target.deploy(f"d-{i}", v(APP, "2.0.0"), v(APP, "3.0.0"), target=target.group(f"g{i}"))
    target.deploy("d-old", v(APP, "2.0.0"), latest=False, created=days_ago(2))
    for i in range(5):
        target.device(f"core-{i}", v(NUCLEUS, "2.14.0"), v(APP, "2.0.0"))
    target.device("core-twice", v(APP, "2.0.0"), v(APP, "1.0.0"))

    findings = run(target)

    counts = Counter(f.rule for f in findings)
    assert counts == {
        Rule.DEPLOYMENT_DISCONTINUED: 3,
        Rule.DEVICE_DISCONTINUED: 6,
        Rule.DEVICE_DELETED: 1,
    }
    assert sorted(f.resource_id for f in of(findings, Rule.DEPLOYMENT_DISCONTINUED)) == [
        "d-0",
        "d-1",
        "d-2",
    ]
    assert len({f.key for f in findings}) == len(findings) == 10


def test_a_referenced_version_that_no_longer_exists_is_deleted(target: TargetBuilder) -> None:
    target.gone("com.example.Removed", "0.9.0")
    target.deploy("d-1", v("com.example.Removed", "0.9.0"))
    target.device("core-1", v("com.example.Removed", "0.9.0"))

    findings = run(target)

    assert rules(findings) == [Rule.DEPLOYMENT_DELETED, Rule.DEVICE_DELETED]
    for finding in findings:
        assert finding.severity is Severity.CRITICAL
        assert finding.details.vendor_guidance == "DELETED"
        assert finding.details.vendor_guidance_message is None
        assert "no longer exists" in finding.message
        assert "publisher marked" not in finding.message


def test_a_deleted_version_that_still_exists_quotes_its_publisher(target: TargetBuilder) -> None:
    target.device("core-1", v(APP, "1.0.0"))

    (finding,) = run(target)

    assert "no longer exists" not in finding.message
    # The publisher's trailing period is not doubled.
    assert "marked DELETED: Security issue. Upgrade now. Move to 3.0.0." in finding.message


def test_a_version_not_described_gives_no_finding(target: TargetBuilder) -> None:
    # DescribeComponent failed for 9.9.9: unknown is neither ACTIVE nor flagged.
    target.deploy("d-1", v(APP, "9.9.9"), v(APP, "2.0.0"))
    target.device("core-1", v(APP, "9.9.9"))

    findings = run(target)

    assert [(f.resource_id, f.details.component_version) for f in findings] == [("d-1", "2.0.0")]


# --- exclusions ------------------------------------------------------------------------------


def test_target_glob_excludes_deployments_and_devices_by_thing_arn(target: TargetBuilder) -> None:
    target.deploy("d-lab", v(APP, "1.0.0"), target=target.thing("lab-1"))
    target.deploy("d-lab-old", target=target.thing("lab-1"), latest=False, created=days_ago(90))
    target.deploy("d-prod", v(APP, "1.0.0"), target=target.thing("prod-1"))
    target.device("lab-1", v(APP, "1.0.0"))
    target.device("prod-1", v(APP, "1.0.0"))
    cfg = config(exclusions={"target_arns": ["arn:aws:iot:*:*:thing/lab-*"]})

    findings = run(target, config=cfg)

    assert sorted(f.resource_id for f in findings) == ["d-prod", "prod-1"]
    assert len(run(target)) == 5  # without the exclusion


def test_thing_group_glob_excludes_deployments_but_not_devices(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), target=target.group("berlin-line-01"))
    target.device("core-1", v(APP, "1.0.0"))
    cfg = config(exclusions={"target_arns": [target.group("berlin-*")]})

    assert rules(run(target, config=cfg)) == [Rule.DEVICE_DELETED]


def test_target_glob_matches_the_whole_arn(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), target=target.thing("lab-10"))
    target.device("lab-10", v(APP, "1.0.0"))
    cfg = config(exclusions={"target_arns": ["thing/lab-1", "arn:aws:iot:*:thing/lab-1"]})

    assert len(run(target, config=cfg)) == 2


def test_component_glob_excludes_deployment_and_device_findings() -> None:
    t = TargetBuilder()
    t.version(NUCLEUS, "2.9.0", Guidance.DISCONTINUED)
    t.version(SHADOW, "2.0.0", Guidance.DELETED)
    t.version(APP, "1.0.0", Guidance.DELETED)
    t.deploy("d-1", v(NUCLEUS, "2.9.0"), v(SHADOW, "2.0.0"), v(APP, "1.0.0"))
    t.device("core-1", v(NUCLEUS, "2.9.0"), v(SHADOW, "2.0.0"), v(APP, "1.0.0"))
    cfg = config(exclusions={"component_names": ["aws.greengrass.*"]})

    findings = run(t, config=cfg)

    assert {f.details.component_name for f in findings} == {APP}
    assert rules(findings) == [Rule.DEPLOYMENT_DELETED, Rule.DEVICE_DELETED]
    assert len(run(t)) == 6


@pytest.mark.parametrize(
    ("tags", "excluded"),
    [
        ({"team": "lab"}, True),
        ({"team": "lab", "other": "x"}, True),
        ({"team": "prod"}, False),
        ({"owner": "lab"}, False),
        ({}, False),
    ],
)
def test_deployment_tag_exclusion(
    target: TargetBuilder, tags: dict[str, str], excluded: bool
) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), tags=tags)
    target.deploy("d-2", latest=False, created=days_ago(60), tags=tags)
    cfg = config(exclusions={"deployment_tags": {"team": "lab"}})

    findings = run(target, config=cfg)

    assert len(findings) == (0 if excluded else 2)


def test_deployment_tag_with_star_matches_any_value(target: TargetBuilder) -> None:
    target.deploy("d-ignored", v(APP, "1.0.0"), tags={"ggwatch:ignore": ""})
    target.deploy(
        "d-ignored-old", tags={"ggwatch:ignore": "yes"}, latest=False, created=days_ago(60)
    )
    target.deploy("d-kept", v(APP, "1.0.0"), tags={"ggwatch:ignored": "yes"})
    cfg = config(exclusions={"deployment_tags": {"ggwatch:ignore": "*"}})

    assert [f.resource_id for f in run(target, config=cfg)] == ["d-kept"]


def test_unknown_tags_do_not_exclude(target: TargetBuilder) -> None:
    # A superseded deployment whose detail was never read: its tags are unknown.
    target.deploy("d-old", latest=False, created=days_ago(60), read=False)
    cfg = config(exclusions={"deployment_tags": {"ggwatch:ignore": "*"}})

    assert [f.resource_id for f in run(target, config=cfg)] == ["d-old"]


def test_tag_exclusion_does_not_silence_devices(target: TargetBuilder) -> None:
    target.deploy("d-1", v(APP, "1.0.0"), tags={"ggwatch:ignore": "true"})
    target.device("core-1", v(APP, "1.0.0"))
    cfg = config(exclusions={"deployment_tags": {"ggwatch:ignore": "*"}})

    assert rules(run(target, config=cfg)) == [Rule.DEVICE_DELETED]


# --- rule switches and severities ----------------------------------------------------------


@pytest.fixture
def every_rule(target: TargetBuilder) -> TargetBuilder:
    """One finding of each rule."""
    target.deploy("d-del", v(APP, "1.0.0"))
    target.deploy("d-disc", v(APP, "2.0.0"), target=target.group("disc"))
    target.deploy("d-stale", latest=False, created=days_ago(60))
    target.device("core-del", v(APP, "1.0.0"))
    target.device("core-disc", v(APP, "2.0.0"))
    # What resolution reads: every version's recipe, membership, the devices' platforms.
    for version in ("1.0.0", "2.0.0", "3.0.0"):
        target.recipe(APP, version)
    # No version for armv7: the deployment alone fails there, and so does its one member.
    target.recipe(AMD64_ONLY, "1.0.0", platforms=["linux/amd64"])
    target.deploy("d-arm", v(AMD64_ONLY, "1.0.0"), target=target.group("arm"))
    target.device("core-arm", architecture="armv7")
    target.member("core-arm", "arm")
    # A DISCONTINUED version that a deployment pulls in without naming it.
    target.recipe(USES, "1.0.0", (OLD, "^1.0.0"))
    target.recipe(OLD, "1.0.0")
    target.version(OLD, "1.0.0", Guidance.DISCONTINUED)
    target.deploy("d-uses", v(USES, "1.0.0"), target=target.group("uses"))
    target.device("core-uses")
    target.member("core-uses", "uses")
    return target


def test_every_rule_fires_by_default(every_rule: TargetBuilder) -> None:
    assert sorted(rules(run(every_rule))) == sorted(Rule)


@pytest.mark.parametrize("rule", list(Rule))
def test_a_disabled_rule_gives_no_findings(every_rule: TargetBuilder, rule: Rule) -> None:
    cfg = config(rules={rule.value: {"enabled": False}})

    assert sorted(rules(run(every_rule, config=cfg))) == sorted(set(Rule) - {rule})


def test_severity_override_changes_severity_and_order(every_rule: TargetBuilder) -> None:
    cfg = config(
        rules={
            "stale-deployment": {"severity": "critical"},
            "device-runs-deleted-component": {"severity": "info"},
        }
    )

    findings = run(every_rule, config=cfg)

    assert [(f.rule, f.severity) for f in findings] == [
        (Rule.DEPLOYMENT_UNRESOLVABLE, Severity.CRITICAL),
        (Rule.DEPLOYMENT_DELETED, Severity.CRITICAL),
        (Rule.DEVICE_UNRESOLVABLE, Severity.CRITICAL),
        (Rule.STALE_DEPLOYMENT, Severity.CRITICAL),
        (Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED, Severity.WARNING),
        (Rule.DEPLOYMENT_DISCONTINUED, Severity.WARNING),
        (Rule.DEVICE_DISCONTINUED, Severity.WARNING),
        (Rule.DEVICE_DELETED, Severity.INFO),
    ]


def test_an_override_without_severity_keeps_the_default(every_rule: TargetBuilder) -> None:
    cfg = RulesConfig(rules={Rule.DEVICE_DELETED: RuleOverride(enabled=True)})

    (finding,) = of(run(every_rule, config=cfg), Rule.DEVICE_DELETED)
    assert finding.severity is Severity.CRITICAL


def test_severity_override_does_not_change_the_key(every_rule: TargetBuilder) -> None:
    cfg = config(rules={"device-runs-discontinued-component": {"severity": "critical"}})

    assert {f.key for f in run(every_rule)} == {f.key for f in run(every_rule, config=cfg)}


# --- stale age -------------------------------------------------------------------------------


def test_stale_after_days_defaults_to_thirty() -> None:
    assert RulesConfig().stale_after_days == 30


@pytest.mark.parametrize(
    ("age", "stale"),
    [
        (dt.timedelta(days=29, hours=23), False),
        (dt.timedelta(days=30), False),  # exactly at the cutoff: not *more* than 30 days
        (dt.timedelta(days=30, microseconds=1), True),
        (dt.timedelta(days=30, seconds=1), True),
        (dt.timedelta(days=3000), True),
    ],
)
def test_stale_age_boundary(age: dt.timedelta, stale: bool) -> None:
    t = TargetBuilder()
    t.deploy("d-1", latest=False, created=NOW - age)

    assert rules(run(t)) == ([Rule.STALE_DEPLOYMENT] if stale else [])


@pytest.mark.parametrize(
    ("days", "age", "stale"),
    [
        (0, dt.timedelta(0), False),
        (0, dt.timedelta(seconds=1), True),
        (7, dt.timedelta(days=7), False),
        (7, dt.timedelta(days=7, seconds=1), True),
        (0.5, dt.timedelta(hours=13), True),
        (0.5, dt.timedelta(hours=11), False),
    ],
)
def test_stale_after_days_is_configurable(days: float, age: dt.timedelta, stale: bool) -> None:
    t = TargetBuilder()
    t.deploy("d-1", status="CANCELED", created=NOW - age)

    findings = run(t, config=config(stale_after_days=days))

    assert rules(findings) == ([Rule.STALE_DEPLOYMENT] if stale else [])


def test_stale_finding_shape(target: TargetBuilder) -> None:
    target.deploy(
        "d-1", v(APP, "1.0.0"), name="old", latest=False, status="COMPLETED", created=days_ago(31)
    )

    (finding,) = run(target)

    assert finding.rule is Rule.STALE_DEPLOYMENT
    assert finding.severity is Severity.INFO
    assert finding.resource_type is ResourceType.DEPLOYMENT
    assert finding.resource_id == "d-1"
    d = finding.details
    assert (d.deployment_id, d.target_arn, d.deployment_status) == (
        "d-1",
        target.group("fleet"),
        "COMPLETED",
    )
    assert (d.component_name, d.component_version) == (None, None)
    assert "Deployment 'old'" in finding.message
    assert "31 days old" in finding.message


def test_stale_rule_uses_the_now_it_is_given() -> None:
    t = TargetBuilder()
    t.deploy("d-1", latest=False, created=days_ago(10))

    assert run(t) == ()
    assert len(run(t, now=NOW + dt.timedelta(days=21))) == 1


# --- order, idempotence, de-duplication -------------------------------------------------------


def _fleet(seed: int) -> Snapshot:
    """Two targets with every kind of finding, their inputs in an order chosen by the seed."""
    rng = random.Random(seed)
    built = []
    for region, account in [("us-west-2", ACCOUNT), ("eu-west-1", "999999999999")]:
        t = TargetBuilder(region=region, account=account)
        t.version(APP, "1.0.0", Guidance.DELETED)
        t.version(APP, "2.0.0", Guidance.DISCONTINUED)
        t.version(NUCLEUS, "2.9.0", Guidance.DISCONTINUED)
        t.gone("com.example.Removed", "0.1.0")
        t.recommend(APP, "3.0.0")
        refs = [
            v(APP, "1.0.0"),
            v(APP, "2.0.0"),
            v(NUCLEUS, "2.9.0"),
            v("com.example.Removed", "0.1.0"),
        ]
        # Resolution's inputs, so that its rules' findings are part of the order too.
        for ref in refs:
            t.recipe(ref.name, ref.version, platforms=["linux/amd64", "linux/aarch64"])
        t.recipe(APP, "3.0.0", (NUCLEUS, ">=2.9.0"))
        for i in range(6):
            chosen = rng.sample(refs, 2)
            t.deploy(f"d-{i}", *chosen, target=t.group(f"g{i}"))
            t.deploy(
                f"d-{i}-old",
                *chosen,
                target=t.group(f"g{i}"),
                latest=False,
                created=days_ago(40 + i),
            )
            # A device runs one version of a component (the same one may be listed twice).
            installed = {ref.name: ref for ref in rng.sample(refs, 3)}
            t.device(
                f"core-{i}",
                *installed.values(),
                *rng.sample(list(installed.values()), 1),
                architecture=("amd64", "aarch64", "armv7")[i % 3],
            )
            t.member(f"core-{i}", f"g{i}", f"g{(i + 1) % 6}")
        # Pulls in the DISCONTINUED nucleus without naming it.
        t.deploy("d-thing", v(APP, "3.0.0"), target=t.thing("core-0"))
        built.append(t.build())
    return Snapshot(tuple(built))


def _shuffle(rng: random.Random, items: Iterable[Any]) -> tuple[Any, ...]:
    out = list(items)
    rng.shuffle(out)
    return tuple(out)


def _shuffled(snap: Snapshot, seed: int) -> Snapshot:
    """The same snapshot with every sequence and mapping in another order."""
    rng = random.Random(seed)
    targets = []
    for t in snap.targets:
        devices = tuple(
            dataclasses.replace(d, installed=_shuffle(rng, d.installed or ())) for d in t.devices
        )
        targets.append(
            dataclasses.replace(
                t,
                deployments=_shuffle(rng, t.deployments),
                devices=_shuffle(rng, devices),
                details=MappingProxyType(dict(_shuffle(rng, t.details.items()))),
                versions=MappingProxyType(dict(_shuffle(rng, t.versions.items()))),
                recipes=MappingProxyType(dict(_shuffle(rng, t.recipes.items()))),
                membership=MappingProxyType(dict(_shuffle(rng, (t.membership or {}).items()))),
            )
        )
    return Snapshot(_shuffle(rng, targets))


def test_findings_are_ordered_by_severity_then_key() -> None:
    findings = evaluate(_fleet(1), RulesConfig(), NOW)

    assert len(findings) > 20
    assert set(rules(findings)) == set(Rule)
    assert list(findings) == sorted(findings, key=lambda f: (-f.severity.rank, f.key))
    severities = [f.severity for f in findings]
    assert severities == sorted(severities, key=lambda s: -s.rank)
    assert {Severity.CRITICAL, Severity.WARNING, Severity.INFO} <= set(severities)


def test_evaluate_is_idempotent() -> None:
    snap = _fleet(2)

    first = evaluate(snap, RulesConfig(), NOW)
    second = evaluate(snap, RulesConfig(), NOW)

    assert first == second
    assert [f.to_json() for f in first] == [f.to_json() for f in second]


@pytest.mark.parametrize("seed", range(5))
def test_input_order_does_not_change_the_output(seed: int) -> None:
    snap = _fleet(3)
    shuffled = _shuffled(snap, seed)
    assert shuffled != snap  # the shuffle did reorder something

    assert evaluate(shuffled, RulesConfig(), NOW) == evaluate(snap, RulesConfig(), NOW)


def test_findings_are_unique_by_key() -> None:
    snap = _fleet(4)
    doubled = Snapshot(
        tuple(
            dataclasses.replace(t, deployments=t.deployments * 2, devices=t.devices * 2)
            for t in snap.targets
        )
    )

    findings = evaluate(doubled, RulesConfig(), NOW)

    assert len({f.key for f in findings}) == len(findings)
    assert findings == evaluate(snap, RulesConfig(), NOW)


# --- multiple targets --------------------------------------------------------------------------


def test_targets_are_kept_apart() -> None:
    west = TargetBuilder(region="us-west-2", account="111111111111")
    west.version(APP, "1.0.0", Guidance.DELETED)
    west.recommend(APP, "3.0.0")
    east = TargetBuilder(region="us-east-1", account="111111111111")
    east.version(APP, "1.0.0", Guidance.ACTIVE)  # the same name and version, a different Region
    other = TargetBuilder(region="us-west-2", account="222222222222")
    other.version(APP, "1.0.0", Guidance.DISCONTINUED)
    other.recommend(APP, "2.5.0")
    for t in (west, east, other):
        # The same deployment id and thing name in each target.
        t.deploy("d-1", v(APP, "1.0.0"))
        t.device("core-1", v(APP, "1.0.0"))

    findings = run(west, east, other)

    got = sorted(
        (f.account, f.region, f.rule.value, f.resource_id, f.details.recommended_version)
        for f in findings
    )
    assert got == [
        ("111111111111", "us-west-2", "deployment-uses-deleted-component", "d-1", "3.0.0"),
        ("111111111111", "us-west-2", "device-runs-deleted-component", "core-1", "3.0.0"),
        ("222222222222", "us-west-2", "deployment-uses-discontinued-component", "d-1", "2.5.0"),
        ("222222222222", "us-west-2", "device-runs-discontinued-component", "core-1", "2.5.0"),
    ]
    assert all(
        f.details.target_arn.startswith(f"arn:aws:iot:{f.region}:{f.account}:")
        for f in findings
        if f.details.target_arn
    )


def test_device_exclusion_names_its_own_region_and_account() -> None:
    west = TargetBuilder(region="us-west-2")
    east = TargetBuilder(region="us-east-1")
    for t in (west, east):
        t.version(APP, "1.0.0", Guidance.DELETED)
        t.device("core-1", v(APP, "1.0.0"))
    cfg = config(exclusions={"target_arns": [thing_arn("core-1", region="us-east-1")]})

    assert [f.region for f in run(west, east, config=cfg)] == ["us-west-2"]


@pytest.mark.parametrize(
    ("region", "partition"),
    [("cn-north-1", "aws-cn"), ("us-gov-west-1", "aws-us-gov"), ("eu-west-1", "aws")],
)
def test_device_exclusion_uses_the_regions_partition(region: str, partition: str) -> None:
    t = TargetBuilder(region=region)
    t.version(APP, "1.0.0", Guidance.DELETED)
    t.device("core-1", v(APP, "1.0.0"))
    t.device("core-2", v(APP, "1.0.0"))
    arn = f"arn:{partition}:iot:{region}:{ACCOUNT}:thing/core-1"

    assert [f.resource_id for f in run(t, config=config(exclusions={"target_arns": [arn]}))] == [
        "core-2"
    ]


def test_an_empty_snapshot_has_no_findings() -> None:
    assert evaluate(Snapshot(()), RulesConfig(), NOW) == ()
    assert run(TargetBuilder()) == ()


# --- the JSON shape and the key ----------------------------------------------------------------


def test_finding_json_keys_per_rule_type(every_rule: TargetBuilder) -> None:
    findings = run(every_rule)

    by_rule = {f.rule: f.to_json() for f in findings}
    assert set(by_rule) == set(Rule)
    for rule, doc in by_rule.items():
        assert set(doc) == FINDING_KEYS
        assert doc["rule"] == rule.value
        assert doc["region"] == REGION
        assert doc["account"] == ACCOUNT
        assert json.loads(json.dumps(doc)) == doc
    for rule in (Rule.DEPLOYMENT_DELETED, Rule.DEPLOYMENT_DISCONTINUED):
        assert by_rule[rule]["resource_type"] == "deployment"
        assert set(by_rule[rule]["details"]) == COMPONENT_KEYS | DEPLOYMENT_KEYS
    for rule in (Rule.DEVICE_DELETED, Rule.DEVICE_DISCONTINUED):
        assert by_rule[rule]["resource_type"] == "core-device"
        assert set(by_rule[rule]["details"]) == COMPONENT_KEYS
    assert by_rule[Rule.STALE_DEPLOYMENT]["resource_type"] == "deployment"
    assert set(by_rule[Rule.STALE_DEPLOYMENT]["details"]) == DEPLOYMENT_KEYS
    # The resolution rules carry the component keys too, null where they do not apply.
    deployment_unresolvable = by_rule[Rule.DEPLOYMENT_UNRESOLVABLE]
    assert deployment_unresolvable["resource_type"] == "deployment"
    assert set(deployment_unresolvable["details"]) == (
        COMPONENT_KEYS | DEPLOYMENT_KEYS | RESOLUTION_KEYS | {"devices_affected"}
    )
    device_unresolvable = by_rule[Rule.DEVICE_UNRESOLVABLE]
    assert device_unresolvable["resource_type"] == "core-device"
    assert set(device_unresolvable["details"]) == COMPONENT_KEYS | RESOLUTION_KEYS
    dependency = by_rule[Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED]
    assert dependency["resource_type"] == "deployment"
    assert set(dependency["details"]) == (
        COMPONENT_KEYS
        | DEPLOYMENT_KEYS
        | RESOLUTION_KEYS
        | {"devices_affected", "recommendation_note"}
    )


def test_finding_json_values(target: TargetBuilder) -> None:
    target.gone("com.example.Removed", "0.1.0")
    target.deploy("d-1", v("com.example.Removed", "0.1.0"), target=target.thing("core-9"))

    (finding,) = run(target)

    doc = finding.to_json()
    assert doc == {
        "rule": "deployment-uses-deleted-component",
        "severity": "critical",
        "region": REGION,
        "account": ACCOUNT,
        "account_alias": "default",
        "resource_type": "deployment",
        "resource_id": "d-1",
        "message": finding.message,
        "details": {
            "component_name": "com.example.Removed",
            "component_version": "0.1.0",
            "vendor_guidance": "DELETED",
            "vendor_guidance_message": None,  # null where unknown, never left out
            "recommended_version": None,
            "latest_version": None,
            # Said only when no version is recommended.
            "recommendation_note": "No ACTIVE version of com.example.Removed within any "
            "version is known.",
            "deployment_id": "d-1",
            "target_arn": thing_arn("core-9"),
            "deployment_status": "ACTIVE",
        },
    }


WHERE = ("default", ACCOUNT, REGION)  # the alias of the SDK's own account, its id, the Region


def test_finding_key_is_stable_and_names_the_problem(target: TargetBuilder) -> None:
    target.device("core-1", v(APP, "1.0.0"), v(APP, "2.0.0"))
    target.deploy("d-1", v(APP, "1.0.0"))
    target.deploy("d-0", latest=False, created=days_ago(50))

    keys = [f.key for f in run(target)]

    # The last element, the platform, is only deployment-unresolvable's (test_rules_resolution).
    assert keys == [
        ("deployment-uses-deleted-component", *WHERE, "deployment", "d-1", APP, "1.0.0", ""),
        ("device-runs-deleted-component", *WHERE, "core-device", "core-1", APP, "1.0.0", ""),
        (
            "device-runs-discontinued-component",
            "default",
            ACCOUNT,
            REGION,
            "core-device",
            "core-1",
            APP,
            "2.0.0",
            "",
        ),
        ("stale-deployment", *WHERE, "deployment", "d-0", "", "", ""),
    ]
    # A later scan, a day on, with the message's age changed: the same keys.
    assert [f.key for f in run(target, now=NOW + dt.timedelta(days=1))] == keys


def test_unknown_account_is_null_in_json_and_empty_in_key() -> None:
    t = TargetBuilder(account=None)
    t.version(APP, "1.0.0", Guidance.DELETED)
    t.device("core-1", v(APP, "1.0.0"))

    (finding,) = run(t)

    assert finding.to_json()["account"] is None
    assert finding.key[2] == ""
