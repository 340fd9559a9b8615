"""The cleanup policy for requests (the webhook): every id answered, the fleet's caps kept."""

from __future__ import annotations

import pytest

from ggwatch.cleanup.policy import HELD_BACK, Skip, select
from ggwatch.tracker import OpenFinding
from tests.unit.builders import NOW, TargetBuilder
from tests.unit.test_cleanup_policy import fleet, ids, policy, stale_finding, superseded


def stale(*deployment_ids: str) -> list[OpenFinding]:
    return [stale_finding(d) for d in deployment_ids]


def test_a_request_names_what_is_acted_on_and_answers_every_other_id() -> None:
    target = fleet("d-1", "d-2", "d-3").build()
    selection = select(
        target,
        stale("d-1", "d-2", "d-3"),
        policy(),
        NOW,
        requested=["d-2", "latest-0", "no-such-id", "d-2"],
    )
    assert ids(selection.candidates) == ["d-2"]
    assert selection.skipped == (("latest-0", Skip.NOT_STALE), ("no-such-id", Skip.NOT_FOUND))


def test_the_blast_radius_is_measured_over_the_fleet_not_the_request() -> None:
    # 3 of 4 deployments are stale: over a 50% cap, whatever one alert names.
    target = fleet("d-1", "d-2", "d-3").build()
    selection = select(
        target, stale("d-1", "d-2", "d-3"), policy(max_percent=50.0), NOW, requested=["d-1"]
    )
    assert selection.candidates == ()
    assert selection.skipped == (("d-1", Skip.BLAST_RADIUS),)
    assert selection.blocked is not None
    assert "3 candidates are more than 50%" in selection.blocked


def test_the_per_cycle_cap_counts_what_was_already_done_since_the_scan() -> None:
    target = fleet("d-1", "d-2", "d-3").build()
    selection = select(
        target,
        stale("d-1", "d-2", "d-3"),
        policy(max_per_cycle=2),
        NOW,
        requested=["d-3", "d-1", "d-2"],
        allowance=1,
    )
    assert ids(selection.candidates) == ["d-3"]  # in the order asked
    assert selection.skipped == (("d-1", Skip.PER_CYCLE), ("d-2", Skip.PER_CYCLE))


def test_the_cycle_shares_the_cap_too() -> None:
    target = fleet("d-1", "d-2", "d-3").build()
    selection = select(
        target, stale("d-1", "d-2", "d-3"), policy(max_per_cycle=5), NOW, allowance=2
    )
    assert ids(selection.candidates) == ["d-1", "d-2"]
    assert ("d-3", Skip.PER_CYCLE) in selection.skipped


def test_a_request_waits_for_the_grace_period_like_the_cycle() -> None:
    target = fleet("d-1").build()
    selection = select(target, [stale_finding("d-1", since=NOW)], policy(), NOW, requested=["d-1"])
    assert selection.candidates == ()
    assert selection.skipped == (("d-1", Skip.GRACE),)


def test_exclusions_and_retention_hold_for_requests() -> None:
    t = TargetBuilder()
    superseded(t, "d-golden", name="golden-image")
    superseded(t, "d-kept", tags={"ggwatch:retain": "true"})
    t.deploy("latest-0", target=t.group("g"))
    selection = select(
        t.build(),
        stale("d-golden", "d-kept"),
        policy(exclude_deployment_names=("golden*",)),
        NOW,
        requested=["d-golden", "d-kept"],
    )
    assert selection.candidates == ()
    assert selection.skipped == (("d-golden", Skip.EXCLUDED_NAME), ("d-kept", Skip.RETAINED))


def test_an_incomplete_scan_holds_every_requested_id_back() -> None:
    t = fleet("d-1")
    t.error("ListCoreDevices", "AccessDeniedException", "denied")
    target = t.build()
    selection = select(target, stale("d-1"), policy(), NOW, requested=["d-1", "d-x"])
    assert selection.skipped == (("d-1", Skip.INCOMPLETE_SCAN), ("d-x", Skip.INCOMPLETE_SCAN))


@pytest.mark.parametrize(
    ("reason", "held"),
    [
        (Skip.GRACE, True),
        (Skip.BLAST_RADIUS, True),
        (Skip.PER_CYCLE, True),
        (Skip.DEADLINE, True),
        (Skip.NOT_FOUND, False),
        (Skip.RETAINED, False),
        (Skip.LATEST, False),
    ],
)
def test_what_is_held_back_may_pass_later_and_what_is_refused_may_not(
    reason: Skip, held: bool
) -> None:
    assert (reason in HELD_BACK) is held
