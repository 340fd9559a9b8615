"""The cleanup policy: which stale deployments `select` offers, and what `recheck` vetoes."""

from __future__ import annotations

import datetime as dt
import random
from dataclasses import replace
from typing import Any

import pytest

from ggwatch.cleanup.policy import RETAIN_TAG, Candidate, Fresh, Policy, Skip, recheck, select
from ggwatch.findings import Details, Finding, ResourceType, Rule, Severity
from ggwatch.model import DEFAULT_ALIAS, Deployment, TargetId, TargetSnapshot
from ggwatch.tracker import OpenFinding
from tests.unit.builders import ACCOUNT, NOW, REGION, TargetBuilder, days_ago

GRACE = 3600.0
POLICY = Policy(stale_after_days=7.0, grace_seconds=GRACE, max_percent=100.0, max_per_cycle=100)
PAST_GRACE = NOW - dt.timedelta(seconds=GRACE, hours=1)


def stale_finding(
    deployment_id: str,
    *,
    region: str = REGION,
    rule: Rule = Rule.STALE_DEPLOYMENT,
    since: dt.datetime = PAST_GRACE,
) -> OpenFinding:
    """An open finding about one deployment, opened at `since`."""
    finding = Finding(
        rule=rule,
        severity=Severity.INFO,
        target=TargetId(DEFAULT_ALIAS, region),
        account=ACCOUNT,
        resource_type=ResourceType.DEPLOYMENT,
        resource_id=deployment_id,
        message=f"Deployment {deployment_id} is superseded.",
        details=Details(deployment_id=deployment_id, deployment_status="COMPLETED"),
    )
    return OpenFinding(finding, since)


def superseded(t: TargetBuilder, deployment_id: str, **kwargs: Any) -> Deployment:
    """A deployment the stale rule would report: not latest, finished, 30 days old."""
    kwargs.setdefault("latest", False)
    kwargs.setdefault("status", "COMPLETED")
    kwargs.setdefault("created", days_ago(30))
    return t.deploy(deployment_id, **kwargs)


def fleet(*stale_ids: str, in_force: int = 1) -> TargetBuilder:
    """A complete target: `in_force` latest deployments plus the superseded ones named."""
    t = TargetBuilder()
    for i in range(in_force):
        t.deploy(f"latest-{i}", target=t.group(f"group-{i}"))
    for deployment_id in stale_ids:
        superseded(t, deployment_id)
    return t


def ids(candidates: tuple[Candidate, ...]) -> list[str]:
    return [c.deployment_id for c in candidates]


def policy(**changes: Any) -> Policy:
    return replace(POLICY, **changes)


# --- select: what is a candidate ------------------------------------------------------------


def test_stale_finding_past_grace_on_a_complete_scan_is_a_candidate() -> None:
    t = TargetBuilder()
    superseded(t, "d-1", name="old-rollout", target=t.thing("core-1"))
    t.deploy("d-2")

    selection = select(t.build(), [stale_finding("d-1")], POLICY, NOW)

    assert selection.candidates == (
        Candidate(
            TargetId(DEFAULT_ALIAS, REGION), ACCOUNT, "d-1", t.thing("core-1"), "old-rollout"
        ),
    )
    assert selection.skipped == ()
    assert selection.waiting == ()
    assert selection.blocked is None


def test_no_open_findings_select_nothing() -> None:
    selection = select(fleet("d-1", "d-2").build(), [], POLICY, NOW)

    assert selection.candidates == ()
    assert selection.skipped == ()
    assert selection.waiting == ()
    assert selection.blocked is None


@pytest.mark.parametrize("rule", [r for r in Rule if r is not Rule.STALE_DEPLOYMENT])
def test_findings_of_other_rules_are_not_considered(rule: Rule) -> None:
    target = fleet("d-1").build()

    selection = select(target, [stale_finding("d-1", rule=rule)], POLICY, NOW)

    assert selection.candidates == ()
    assert selection.skipped == ()
    assert selection.waiting == ()


def test_findings_of_other_regions_are_not_considered() -> None:
    target = fleet("d-1").build()
    elsewhere = stale_finding("d-1", region="eu-central-1")

    selection = select(target, [elsewhere], POLICY, NOW)

    assert selection.candidates == ()
    assert selection.skipped == ()
    assert selection.waiting == ()


def test_target_in_another_region_takes_only_its_own_findings() -> None:
    t = TargetBuilder(region="eu-central-1")
    superseded(t, "d-eu")
    findings = [stale_finding("d-eu", region="eu-central-1"), stale_finding("d-us")]

    selection = select(t.build(), findings, POLICY, NOW)

    assert ids(selection.candidates) == ["d-eu"]
    assert selection.candidates[0].target == TargetId(DEFAULT_ALIAS, "eu-central-1")
    assert selection.skipped == ()


def test_incomplete_scan_offers_nothing_and_says_so_for_each_stale_finding() -> None:
    t = fleet("d-1", "d-2")
    t.error("ListDeployments", "ThrottlingException", "Rate exceeded")
    findings = [
        stale_finding("d-2"),
        stale_finding("d-1"),
        stale_finding("core-1", rule=Rule.DEVICE_DELETED),
        stale_finding("d-3", region="eu-central-1"),
    ]

    selection = select(t.build(), findings, POLICY, NOW)

    assert selection.candidates == ()
    assert selection.waiting == ()
    assert sorted(selection.skipped) == [
        ("d-1", Skip.INCOMPLETE_SCAN),
        ("d-2", Skip.INCOMPLETE_SCAN),
    ]


def test_incomplete_scan_skips_even_findings_still_in_grace() -> None:
    t = fleet("d-1")
    t.error("GetDeployment", "InternalServerException", "boom")

    selection = select(t.build(), [stale_finding("d-1", since=NOW)], POLICY, NOW)

    assert selection.skipped == (("d-1", Skip.INCOMPLETE_SCAN),)
    assert selection.candidates == selection.waiting == ()


def test_deployment_missing_from_the_listing_is_not_listed() -> None:
    target = fleet("d-1").build()

    selection = select(target, [stale_finding("d-gone"), stale_finding("d-1")], POLICY, NOW)

    assert ids(selection.candidates) == ["d-1"]
    assert selection.skipped == (("d-gone", Skip.NOT_LISTED),)


def test_not_listed_applies_to_findings_in_grace_too() -> None:
    selection = select(fleet().build(), [stale_finding("d-gone", since=NOW)], POLICY, NOW)

    assert selection.skipped == (("d-gone", Skip.NOT_LISTED),)
    assert selection.waiting == ()


# --- select: grace period --------------------------------------------------------------------


def test_finding_open_for_less_than_grace_waits() -> None:
    since = NOW - dt.timedelta(seconds=GRACE) + dt.timedelta(microseconds=1)

    selection = select(fleet("d-1").build(), [stale_finding("d-1", since=since)], POLICY, NOW)

    assert selection.candidates == ()
    assert ids(selection.waiting) == ["d-1"]
    assert selection.skipped == ()


def test_finding_open_for_exactly_grace_is_ready() -> None:
    since = NOW - dt.timedelta(seconds=GRACE)

    selection = select(fleet("d-1").build(), [stale_finding("d-1", since=since)], POLICY, NOW)

    assert ids(selection.candidates) == ["d-1"]
    assert selection.waiting == ()


def test_zero_grace_makes_a_just_opened_finding_ready() -> None:
    findings = [stale_finding("d-1", since=NOW)]

    selection = select(fleet("d-1").build(), findings, policy(grace_seconds=0.0), NOW)

    assert ids(selection.candidates) == ["d-1"]


def test_waiting_candidates_carry_their_details_oldest_first() -> None:
    t = fleet()
    superseded(t, "d-b", name="b")
    superseded(t, "d-a", name="a")
    findings = [
        stale_finding("d-b", since=NOW - dt.timedelta(minutes=5)),
        stale_finding("d-a", since=NOW - dt.timedelta(minutes=10)),
    ]

    selection = select(t.build(), findings, POLICY, NOW)

    assert selection.waiting == (
        Candidate(TargetId(DEFAULT_ALIAS, REGION), ACCOUNT, "d-a", t.group("fleet"), "a"),
        Candidate(TargetId(DEFAULT_ALIAS, REGION), ACCOUNT, "d-b", t.group("fleet"), "b"),
    )


# --- select: exclusions ----------------------------------------------------------------------


def test_excluded_target_glob_skips() -> None:
    t = fleet()
    superseded(t, "d-kept", target=t.group("lab-robots"))
    superseded(t, "d-gone", target=t.group("production"))
    rules = policy(exclude_target_arns=("arn:aws:iot:*:thinggroup/lab-*",))

    selection = select(t.build(), [stale_finding("d-kept"), stale_finding("d-gone")], rules, NOW)

    assert ids(selection.candidates) == ["d-gone"]
    assert selection.skipped == (("d-kept", Skip.EXCLUDED_TARGET),)


def test_excluded_name_glob_skips() -> None:
    t = fleet()
    superseded(t, "d-kept", name="golden-image-2024")
    superseded(t, "d-gone", name="hotfix-17")
    rules = policy(exclude_deployment_names=("golden-*",))

    selection = select(t.build(), [stale_finding("d-kept"), stale_finding("d-gone")], rules, NOW)

    assert ids(selection.candidates) == ["d-gone"]
    assert selection.skipped == (("d-kept", Skip.EXCLUDED_NAME),)


def test_name_globs_are_case_sensitive_and_whole_name() -> None:
    t = fleet()
    superseded(t, "d-upper", name="Golden-1")
    superseded(t, "d-inner", name="my-golden-1")
    rules = policy(exclude_deployment_names=("golden-*",))

    selection = select(t.build(), [stale_finding("d-upper"), stale_finding("d-inner")], rules, NOW)

    assert sorted(ids(selection.candidates)) == ["d-inner", "d-upper"]


def test_unnamed_deployment_is_not_excluded_by_name() -> None:
    t = fleet()
    superseded(t, "d-1", name=None)

    selection = select(
        t.build(), [stale_finding("d-1")], policy(exclude_deployment_names=("*",)), NOW
    )

    assert ids(selection.candidates) == ["d-1"]


def test_excluded_target_wins_over_excluded_name() -> None:
    t = fleet()
    superseded(t, "d-1", name="golden", target=t.group("lab"))
    rules = policy(exclude_target_arns=("*thinggroup/lab",), exclude_deployment_names=("golden",))

    selection = select(t.build(), [stale_finding("d-1")], rules, NOW)

    assert selection.skipped == (("d-1", Skip.EXCLUDED_TARGET),)


@pytest.mark.parametrize("value", ["true", "TRUE", "True", " true ", "\ttrue\n"])
def test_retain_tag_skips(value: str) -> None:
    t = fleet()
    superseded(t, "d-1", tags={RETAIN_TAG[0]: value, "team": "edge"})

    selection = select(t.build(), [stale_finding("d-1")], POLICY, NOW)

    assert selection.candidates == ()
    assert selection.skipped == (("d-1", Skip.RETAINED),)


@pytest.mark.parametrize(
    "tags",
    [{}, {"ggwatch:retain": "false"}, {"ggwatch:retain": "yes"}, {"ggwatch:retain": ""},
     {"ggwatch:retain": "truee"}, {"ggwatch:keep": "true"}, {"retain": "true"}],
)  # fmt: skip
def test_other_tags_do_not_retain(tags: dict[str, str]) -> None:
    t = fleet()
    superseded(t, "d-1", tags=tags)

    selection = select(t.build(), [stale_finding("d-1")], POLICY, NOW)

    assert ids(selection.candidates) == ["d-1"]


def test_unknown_tags_do_not_retain() -> None:
    """Without a GetDeployment answer the tags are unknown; the executor's recheck reads them."""
    t = fleet()
    superseded(t, "d-1", read=False)
    target = t.build()
    assert "d-1" not in target.details

    selection = select(target, [stale_finding("d-1")], POLICY, NOW)

    assert ids(selection.candidates) == ["d-1"]


def test_retain_tag_is_the_documented_one() -> None:
    assert RETAIN_TAG == ("ggwatch:retain", "true")


def test_excluded_and_retained_findings_in_grace_are_skipped_not_waiting() -> None:
    t = fleet()
    superseded(t, "d-tagged", tags={"ggwatch:retain": "true"})
    superseded(t, "d-named", name="golden")
    findings = [stale_finding("d-tagged", since=NOW), stale_finding("d-named", since=NOW)]

    selection = select(t.build(), findings, policy(exclude_deployment_names=("golden",)), NOW)

    assert selection.waiting == ()
    assert sorted(selection.skipped) == [
        ("d-named", Skip.EXCLUDED_NAME),
        ("d-tagged", Skip.RETAINED),
    ]


# --- select: blast radius ----------------------------------------------------------------------


def ten_deployments_with(ready: int, waiting: int = 0) -> tuple[TargetSnapshot, list[OpenFinding]]:
    """Ten deployments: `ready` stale past grace, `waiting` stale in grace, the rest in force."""
    t = TargetBuilder()
    findings = []
    for i in range(ready):
        superseded(t, f"r-{i}")
        findings.append(stale_finding(f"r-{i}", since=PAST_GRACE + dt.timedelta(seconds=i)))
    for i in range(waiting):
        superseded(t, f"w-{i}")
        findings.append(stale_finding(f"w-{i}", since=NOW))
    for i in range(10 - ready - waiting):
        t.deploy(f"latest-{i}", target=t.group(f"group-{i}"))
    target = t.build()
    assert len(target.deployments) == 10
    return target, findings


def test_candidates_exactly_at_the_percentage_are_allowed() -> None:
    target, findings = ten_deployments_with(ready=3)

    selection = select(target, findings, policy(max_percent=30.0), NOW)

    assert selection.blocked is None
    assert ids(selection.candidates) == ["r-0", "r-1", "r-2"]


def test_candidates_over_the_percentage_block_the_whole_target() -> None:
    target, findings = ten_deployments_with(ready=4, waiting=1)
    findings.append(stale_finding("d-gone"))

    selection = select(target, findings, policy(max_percent=30.0), NOW)

    assert selection.candidates == ()
    assert selection.waiting == ()
    assert selection.blocked is not None
    assert "4 candidates" in selection.blocked
    assert "30%" in selection.blocked
    assert "10 deployments" in selection.blocked
    blast = [i for i, why in selection.skipped if why is Skip.BLAST_RADIUS]
    assert blast == ["r-0", "r-1", "r-2", "r-3"]
    assert ("d-gone", Skip.NOT_LISTED) in selection.skipped


def test_findings_in_grace_do_not_count_toward_the_blast_radius() -> None:
    target, findings = ten_deployments_with(ready=3, waiting=5)

    selection = select(target, findings, policy(max_percent=30.0), NOW)

    assert selection.blocked is None
    assert len(selection.candidates) == 3
    assert len(selection.waiting) == 5


def test_excluded_findings_do_not_count_toward_the_blast_radius() -> None:
    t = TargetBuilder()
    for i in range(4):
        superseded(t, f"keep-{i}", name=f"golden-{i}")
    superseded(t, "d-1")
    for i in range(5):
        t.deploy(f"latest-{i}", target=t.group(f"group-{i}"))
    findings = [stale_finding(f"keep-{i}") for i in range(4)] + [stale_finding("d-1")]

    rules = policy(max_percent=10.0, exclude_deployment_names=("golden-*",))
    selection = select(t.build(), findings, rules, NOW)

    assert selection.blocked is None
    assert ids(selection.candidates) == ["d-1"]


def test_blast_radius_is_checked_before_the_per_cycle_cap() -> None:
    """The cap would keep the deletions few, but so many candidates mean something is wrong."""
    target, findings = ten_deployments_with(ready=6)

    selection = select(target, findings, policy(max_percent=50.0, max_per_cycle=1), NOW)

    assert selection.blocked is not None
    assert selection.candidates == ()
    assert {why for _, why in selection.skipped} == {Skip.BLAST_RADIUS}


def test_all_deployments_stale_pass_only_at_one_hundred_percent() -> None:
    t = TargetBuilder()
    for i in range(3):
        superseded(t, f"d-{i}")
    findings = [stale_finding(f"d-{i}") for i in range(3)]
    target = t.build()

    assert select(target, findings, policy(max_percent=100.0), NOW).blocked is None
    assert select(target, findings, policy(max_percent=99.9), NOW).blocked is not None


@pytest.mark.parametrize(
    ("total", "percent", "at_limit"),
    [(375, 18.4, 69), (375, 32.8, 123), (1000, 14.3, 143), (3, 33.3, 0), (7, 100.0, 7)],
)
def test_the_percentage_boundary_is_exact_for_decimal_percentages(
    total: int, percent: float, at_limit: int
) -> None:
    """`percent` as configured (e.g. 18.4) is the limit, not its binary approximation."""
    t = TargetBuilder()
    for i in range(total):
        superseded(t, f"d-{i:04d}")
    target = t.build()
    rules = policy(max_percent=percent, max_per_cycle=total)

    def blocked(count: int) -> bool:
        findings = [stale_finding(f"d-{i:04d}") for i in range(count)]
        return select(target, findings, rules, NOW).blocked is not None

    assert not blocked(at_limit)
    if at_limit < total:
        assert blocked(at_limit + 1)


# --- select: per-cycle cap and order ---------------------------------------------------------


def test_per_cycle_cap_takes_the_oldest_findings_first() -> None:
    t = fleet("d-a", "d-b", "d-c", "d-d", in_force=6)
    findings = [
        stale_finding("d-a", since=PAST_GRACE - dt.timedelta(hours=1)),
        stale_finding("d-b", since=PAST_GRACE - dt.timedelta(hours=3)),
        stale_finding("d-c", since=PAST_GRACE),
        stale_finding("d-d", since=PAST_GRACE - dt.timedelta(hours=2)),
    ]

    selection = select(t.build(), findings, policy(max_per_cycle=2), NOW)

    assert ids(selection.candidates) == ["d-b", "d-d"]
    assert selection.skipped == (("d-a", Skip.PER_CYCLE), ("d-c", Skip.PER_CYCLE))
    assert selection.blocked is None


def test_findings_opened_together_are_taken_in_id_order() -> None:
    t = fleet("d-3", "d-1", "d-2")
    findings = [stale_finding("d-3"), stale_finding("d-1"), stale_finding("d-2")]

    selection = select(t.build(), findings, policy(max_per_cycle=2), NOW)

    assert ids(selection.candidates) == ["d-1", "d-2"]
    assert selection.skipped == (("d-3", Skip.PER_CYCLE),)


def test_per_cycle_cap_of_zero_selects_nothing_but_does_not_block() -> None:
    selection = select(fleet("d-1").build(), [stale_finding("d-1")], policy(max_per_cycle=0), NOW)

    assert selection.candidates == ()
    assert selection.blocked is None
    assert selection.skipped == (("d-1", Skip.PER_CYCLE),)


def test_per_cycle_cap_does_not_limit_waiting() -> None:
    t = fleet("d-1", "d-2", "d-3")
    findings = [
        stale_finding("d-1"),
        stale_finding("d-2", since=NOW),
        stale_finding("d-3", since=NOW),
    ]

    selection = select(t.build(), findings, policy(max_per_cycle=1), NOW)

    assert ids(selection.candidates) == ["d-1"]
    assert ids(selection.waiting) == ["d-2", "d-3"]
    assert selection.skipped == ()


def test_selection_does_not_depend_on_the_order_of_the_findings() -> None:
    t = fleet(*(f"d-{i}" for i in range(8)), in_force=4)
    t.deploy("d-tagged", latest=False, status="COMPLETED", tags={"ggwatch:retain": "true"})
    target = t.build()
    findings = [
        stale_finding(f"d-{i}", since=PAST_GRACE - dt.timedelta(minutes=i % 3)) for i in range(8)
    ]
    findings += [
        stale_finding("d-tagged"),
        stale_finding("d-gone"),
        stale_finding("d-new", since=NOW),
    ]
    rules = policy(max_per_cycle=3)
    expected = select(target, findings, rules, NOW)

    rng = random.Random(7)
    for _ in range(20):
        shuffled = findings[:]
        rng.shuffle(shuffled)
        assert select(target, shuffled, rules, NOW) == expected
    assert ids(expected.candidates) == ["d-2", "d-5", "d-1"]


# --- recheck -------------------------------------------------------------------------------


def fresh(**changes: Any) -> Fresh:
    """A GetDeployment answer that passes every check under POLICY (7 days) at NOW."""
    base = Fresh(
        deployment_id="d-1",
        target_arn="arn:aws:iot:us-west-2:123456789012:thinggroup/fleet",
        name="rollout-1",
        status="COMPLETED",
        is_latest=False,
        created=days_ago(30),
        tags={},
    )
    return replace(base, **changes)


EXCLUDING = policy(exclude_target_arns=("*:thinggroup/lab",), exclude_deployment_names=("keep-*",))


def test_recheck_passes_an_old_superseded_deployment() -> None:
    assert recheck(fresh(), EXCLUDING, NOW) is None


@pytest.mark.parametrize("status", ["COMPLETED", "CANCELED", "FAILED", "INACTIVE"])
def test_recheck_passes_any_finished_status(status: str) -> None:
    assert recheck(fresh(status=status), POLICY, NOW) is None


def test_recheck_reasons_in_order_of_precedence() -> None:
    """Start with every reason at once; remove the winning one each step."""
    candidate = fresh(
        is_latest=True,
        status="ACTIVE",
        created=NOW,
        tags={"ggwatch:retain": "true"},
        target_arn="arn:aws:iot:us-west-2:123456789012:thinggroup/lab",
        name="keep-me",
    )
    steps: list[tuple[Skip, dict[str, Any]]] = [
        (Skip.LATEST, {"is_latest": False}),
        (Skip.ACTIVE, {"status": "COMPLETED"}),
        (Skip.TOO_YOUNG, {"created": days_ago(30)}),
        (Skip.RETAINED, {"tags": {}}),
        (Skip.EXCLUDED_TARGET, {"target_arn": "arn:aws:iot:us-west-2:123456789012:thing/c"}),
        (Skip.EXCLUDED_NAME, {"name": "rollout-1"}),
    ]
    for expected, fix in steps:
        assert recheck(candidate, EXCLUDING, NOW) is expected
        candidate = replace(candidate, **fix)
    assert recheck(candidate, EXCLUDING, NOW) is None


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"is_latest": True}, Skip.LATEST),
        ({"is_latest": True, "status": "CANCELED"}, Skip.LATEST),
        ({"status": "ACTIVE"}, Skip.ACTIVE),
        ({"created": NOW}, Skip.TOO_YOUNG),
        ({"created": NOW + dt.timedelta(days=1)}, Skip.TOO_YOUNG),
        ({"tags": {"ggwatch:retain": "true"}}, Skip.RETAINED),
        ({"target_arn": "arn:aws:iot:us-west-2:123456789012:thinggroup/lab"}, Skip.EXCLUDED_TARGET),
        ({"name": "keep-forever"}, Skip.EXCLUDED_NAME),
    ],
)
def test_recheck_each_reason_alone(changes: dict[str, Any], expected: Skip) -> None:
    assert recheck(fresh(**changes), EXCLUDING, NOW) is expected


def test_recheck_age_boundary_is_inclusive() -> None:
    exactly = days_ago(7)

    assert recheck(fresh(created=exactly), POLICY, NOW) is Skip.TOO_YOUNG
    older = exactly - dt.timedelta(microseconds=1)
    assert recheck(fresh(created=older), POLICY, NOW) is None


def test_recheck_age_uses_fractional_days() -> None:
    rules = policy(stale_after_days=0.5)

    assert recheck(fresh(created=NOW - dt.timedelta(hours=12)), rules, NOW) is Skip.TOO_YOUNG
    assert recheck(fresh(created=NOW - dt.timedelta(hours=12, seconds=1)), rules, NOW) is None


def test_recheck_age_is_measured_from_the_given_now() -> None:
    candidate = fresh(created=days_ago(8))

    assert recheck(candidate, POLICY, NOW) is None
    assert recheck(candidate, POLICY, NOW - dt.timedelta(days=1)) is Skip.TOO_YOUNG


@pytest.mark.parametrize("value", ["true", "TRUE", "tRuE", "  true", "true\n", " True\t"])
def test_recheck_retain_tag_value_is_case_insensitive_and_trimmed(value: str) -> None:
    assert recheck(fresh(tags={"ggwatch:retain": value}), POLICY, NOW) is Skip.RETAINED


@pytest.mark.parametrize(
    "tags",
    [{"ggwatch:retain": "false"}, {"ggwatch:retain": "1"}, {"ggwatch:retain": "t rue"},
     {"ggwatch:retain": ""}, {"ggwatch:retained": "true"}, {"owner": "true"}],
)  # fmt: skip
def test_recheck_other_tags_do_not_retain(tags: dict[str, str]) -> None:
    assert recheck(fresh(tags=tags), POLICY, NOW) is None


def test_recheck_unnamed_deployment_is_not_excluded_by_name() -> None:
    rules = policy(exclude_deployment_names=("*",))

    assert recheck(fresh(name=None), rules, NOW) is None
    assert recheck(fresh(name=""), rules, NOW) is Skip.EXCLUDED_NAME


def test_recheck_target_globs() -> None:
    rules = policy(exclude_target_arns=("arn:aws:iot:eu-*", "*:thing/test-?"))

    def why(arn: str) -> Skip | None:
        return recheck(fresh(target_arn=arn), rules, NOW)

    assert why("arn:aws:iot:eu-west-1:123456789012:thinggroup/fleet") is Skip.EXCLUDED_TARGET
    assert why("arn:aws:iot:us-west-2:123456789012:thing/test-1") is Skip.EXCLUDED_TARGET
    assert why("arn:aws:iot:us-west-2:123456789012:thing/test-12") is None
    assert why("arn:aws:iot:us-west-2:123456789012:thinggroup/fleet") is None


def test_skip_values_are_stable_metric_labels() -> None:
    assert {s.value for s in Skip} >= {
        "incomplete_scan",
        "not_listed",
        "grace_period",
        "excluded_target",
        "excluded_name",
        "retained_tag",
        "latest_for_target",
        "active",
        "too_young",
        "blast_radius",
        "per_cycle_cap",
    }
