"""The cleanup executor with hand-written fakes: one decision path for the cycle and requests,
bounded work per request, and deletes that are never cut short but by a stop."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import anyio
import pytest

from ggwatch.cleanup import executor
from ggwatch.cleanup.executor import Cleaner, Outcome
from ggwatch.cleanup.policy import Policy
from ggwatch.errors import NotFound
from ggwatch.model import TargetSnapshot
from ggwatch.tracker import OpenFinding
from tests.unit.builders import NOW
from tests.unit.test_cleanup_policy import fleet, stale_finding

POLICY = Policy(stale_after_days=7.0, grace_seconds=0.0, max_percent=100.0, max_per_cycle=2)


class FakeAdmin:
    """A target's deployments in memory; delete takes `delete_seconds`, and the deployment is
    gone once `gone_at` of that time has passed (0: at once, 1: at the end)."""

    region = "us-west-2"

    def __init__(self, target: TargetSnapshot, delete_seconds: float = 0.0) -> None:
        self.documents = {
            d.deployment_id: {
                "deploymentId": d.deployment_id,
                "targetArn": d.target_arn,
                "deploymentStatus": d.status,
                "isLatestForTarget": d.is_latest,
                "creationTimestamp": d.created,
                "tags": {},
            }
            for d in target.deployments
        }
        self.delete_seconds = delete_seconds
        self.gone_at = 1.0
        self.reads: list[str] = []
        self.deletes: list[str] = []

    async def get_deployment_document(self, deployment_id: str) -> dict[str, Any]:
        self.reads.append(deployment_id)
        if deployment_id not in self.documents:
            raise NotFound("GetDeployment", "ResourceNotFoundException", "no such deployment")
        return self.documents[deployment_id]

    async def delete_deployment(self, deployment_id: str) -> None:
        self.deletes.append(deployment_id)
        await anyio.sleep(self.delete_seconds * self.gone_at)
        self.documents.pop(deployment_id, None)
        await anyio.sleep(self.delete_seconds * (1 - self.gone_at))


class FakeArchive:
    def __init__(self) -> None:
        self.written: list[str] = []

    async def write(self, record: Any) -> str:
        self.written.append(record.deployment_id)
        return f"/archive/{record.deployment_id}.json"

    async def exists(self, _region: str, _account: str | None, deployment_id: str) -> bool:
        return deployment_id in self.written

    async def probe(self) -> str:
        return "/archive"


def stale(*deployment_ids: str) -> list[OpenFinding]:
    return [stale_finding(d) for d in deployment_ids]


def cleaner(admin: FakeAdmin, mode: str = "enforce", **options: Any) -> Cleaner:
    archive = FakeArchive() if mode == "enforce" else None
    policy = replace(
        options.pop("policy", POLICY),
        mode=mode,
        on_scan=options.pop("on_scan", True),
        rate_per_second=100.0,
    )
    return Cleaner(policy, {fleet().build().target: admin}, archive, lambda: NOW, **options)


def answers(outcomes: dict[str, Outcome]) -> dict[str, tuple[str, str]]:
    return {k: (o.action, o.outcome) for k, o in outcomes.items()}


async def test_a_request_acts_on_at_most_the_cap_and_holds_the_rest_back() -> None:
    target = fleet("d-1", "d-2", "d-3", "d-4").build()
    admin = FakeAdmin(target)
    c = cleaner(admin, on_scan=False)
    await c.cycle(target, stale("d-1", "d-2", "d-3", "d-4"))
    assert admin.deletes == []  # only requests act

    got = await c.request(target.target, ["d-1", "d-2", "d-3", "d-4"], "alert", 10.0)

    assert answers(got) == {
        "d-1": ("deleted", "ok"),
        "d-2": ("deleted", "ok"),
        "d-3": ("held_back", "per_cycle_cap"),
        "d-4": ("held_back", "per_cycle_cap"),
    }
    assert admin.reads == ["d-1", "d-2"]  # no AWS call for what is held back


async def test_the_cycle_and_requests_share_one_cap_until_the_next_scan() -> None:
    target = fleet("d-1", "d-2", "d-3").build()
    admin = FakeAdmin(target)
    c = cleaner(admin)
    cycled = await c.cycle(target, stale("d-1", "d-2", "d-3"))
    assert [o.deployment_id for o in cycled] == ["d-1", "d-2"]

    got = await c.request(target.target, ["d-3"], "alert", 10.0)
    assert answers(got) == {"d-3": ("held_back", "per_cycle_cap")}

    rescanned = fleet("d-3").build()  # a new scan: a new cycle's cap
    await c.cycle(rescanned, [])
    got = await c.request(target.target, ["d-3"], "alert", 10.0)
    assert answers(got) == {"d-3": ("skipped", "not_stale")}


async def test_nonexistent_deployments_are_not_found_never_deleted() -> None:
    target = fleet("d-1").build()
    admin = FakeAdmin(target)
    c = cleaner(admin, mode="dry-run", on_scan=False)
    await c.cycle(target, stale("d-1"))
    del admin.documents["d-1"]  # gone since the scan

    got = await c.request(target.target, ["no-such-deployment", "d-1"], "alert", 10.0)

    assert answers(got) == {
        "no-such-deployment": ("skipped", "not_found"),
        "d-1": ("skipped", "not_found"),
    }
    assert not any(key[3] == "deleted" for key in c.counts)


async def test_the_blast_radius_holds_every_request_back() -> None:
    target = fleet("d-1", "d-2", "d-3").build()
    admin = FakeAdmin(target)
    policy = Policy(stale_after_days=7.0, grace_seconds=0.0, max_percent=50.0, max_per_cycle=50)
    c = cleaner(admin, policy=policy, on_scan=False)
    await c.cycle(target, stale("d-1", "d-2", "d-3"))

    got = await c.request(target.target, ["d-1", "d-2", "d-3"], "alert", 10.0)

    assert set(answers(got).values()) == {("held_back", "blast_radius")}
    assert admin.reads == []


async def test_before_any_complete_scan_a_request_is_held_back() -> None:
    target = fleet("d-1").build()
    c = cleaner(FakeAdmin(target))
    got = await c.request(target.target, ["d-1"], "alert", 10.0)
    assert answers(got) == {"d-1": ("held_back", "incomplete_scan")}


async def test_a_request_stops_at_its_deadline() -> None:
    target = fleet("d-1", "d-2").build()
    admin = FakeAdmin(target, delete_seconds=0.6)
    policy = Policy(stale_after_days=7.0, grace_seconds=0.0, max_percent=100.0, max_per_cycle=9)
    c = cleaner(admin, policy=policy, on_scan=False)
    await c.cycle(target, stale("d-1", "d-2"))

    got = await c.request(target.target, ["d-1", "d-2"], "alert", 0.3)

    # The started delete finishes (it is never cut short); the next one is not started.
    assert answers(got) == {"d-1": ("deleted", "ok"), "d-2": ("held_back", "deadline")}
    assert admin.deletes == ["d-1"]


async def test_a_slow_delete_outside_a_stop_is_waited_for(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(executor, "DELETE_GRACE_ON_STOP", 0.1)
    target = fleet("d-1").build()
    admin = FakeAdmin(target, delete_seconds=0.5)
    c = cleaner(admin)

    outcomes = await c.cycle(target, stale("d-1"))

    assert [(o.action, o.outcome) for o in outcomes] == [("deleted", "ok")]


@pytest.mark.parametrize(
    ("gone_at", "expected"), [(0.0, ("deleted", "ok")), (1.0, ("skipped", "aws_error"))]
)
async def test_a_delete_cut_short_by_a_stop_is_counted_as_a_fresh_read_says(
    monkeypatch: pytest.MonkeyPatch, gone_at: float, expected: tuple[str, str]
) -> None:
    monkeypatch.setattr(executor, "DELETE_GRACE_ON_STOP", 0.2)
    target = fleet("d-1").build()
    admin = FakeAdmin(target, delete_seconds=5.0)
    admin.gone_at = gone_at  # 0: the service deleted it, only its answer is slow
    stopping = anyio.Event()
    c = cleaner(admin, stopping=stopping)
    outcomes: list[Outcome] = []

    async def run() -> None:
        outcomes.extend(await c.cycle(target, stale("d-1")))

    with anyio.fail_after(3):
        async with anyio.create_task_group() as group:
            group.start_soon(run)
            await anyio.sleep(0.1)
            stopping.set()

    assert [(o.action, o.outcome) for o in outcomes] == [expected]
