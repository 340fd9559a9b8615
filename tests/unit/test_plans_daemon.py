"""The daemon publishes the remediation plans: the evaluator keeps each target's plans from its
last pass, and the real HTTP app serves them as /plans, a status page section and the
ggwatch_remediation_plans gauge. It proposes them; nothing here creates a deployment."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import pytest
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from ggwatch.daemon.evaluator import Evaluator
from ggwatch.daemon.poller import ScanOutcome
from ggwatch.findings import Change, Plan, Rule, Verdict
from ggwatch.model import Guidance, TargetId, TargetSnapshot
from ggwatch.report import timestamp
from ggwatch.rules import RulesConfig, assess
from ggwatch.settings import Settings
from ggwatch.sinks.metrics import register_collector
from ggwatch.state import DaemonView, StateHolder, TargetStatus
from ggwatch.web import app as http
from ggwatch.web import statuspage
from tests.unit.builders import ACCOUNT, NOW, TargetBuilder, snapshot, target_id, v
from tests.unit.views import HOSTILE, SCRIPT, fleet_view, read_tables, start_tags, unscanned_view

APP = "com.example.App"
LIB = "com.example.Lib"
WEST = target_id("us-west-2")
EAST = target_id("eu-west-1")

Client = TestClient[aiohttp.web.Request, aiohttp.web.Application]


def plan(
    deployment_id: str,
    *changes: Change,
    where: TargetId = WEST,
    verdict: Verdict = Verdict.OK,
    reason: str | None = None,
    name: str | None = None,
) -> Plan:
    return Plan(
        target=where,
        account=ACCOUNT,
        deployment_id=deployment_id,
        deployment_name=name,
        target_arn=f"arn:aws:iot:{where.region}:{ACCOUNT}:thinggroup/fleet",
        revision_id="3",
        changes=changes,
        verdict=verdict,
        reason=reason,
        devices=2,
    )


def move(name: str, old: str, new: str | None, rule: Rule = Rule.DEPLOYMENT_DELETED) -> Change:
    return Change(name, old, new, rule)


OK_PLAN = plan(
    "d-1",
    move(APP, "1.0.0", "1.1.0"),
    move(LIB, "2.0.0", "2.1.0", Rule.DEPLOYMENT_DISCONTINUED),
    name="fleet rollout",
)
BLOCKED_PLAN = plan(
    "d-2",
    move(LIB, "2.0.0", None, Rule.DEPLOYMENT_DISCONTINUED),
    verdict=Verdict.BLOCKED,
    reason="No version to move com.example.Lib 2.0.0 to.",
)


def planned_view(*plans: Plan) -> DaemonView:
    """The status page tests' fleet (two targets, us-west-2 complete), with these plans."""
    return dataclasses.replace(fleet_view(), plans=plans)


@asynccontextmanager
async def served(view: DaemonView, *, metrics: bool = False) -> AsyncIterator[Client]:
    """The real app over `view` on 127.0.0.1:0; with metrics, the daemon's collector too."""
    holder, registry = StateHolder(view), CollectorRegistry(auto_describe=True)
    if metrics:
        register_collector(registry, holder, 100, "1.2.3", "3.11.0")
    app = http.build_app(holder, registry, poll_interval_seconds=300.0, clock=lambda: 0.0)
    async with TestClient(TestServer(app)) as client:
        yield client


async def get_text(view: DaemonView, path: str, *, metrics: bool = False) -> str:
    async with served(view, metrics=metrics) as client:
        response = await client.get(path)
        assert response.status == 200
        return await response.text()


# --- /plans ----------------------------------------------------------------------------------


async def test_plans_are_the_plan_json_of_the_view() -> None:
    view = planned_view(OK_PLAN, BLOCKED_PLAN)
    async with served(view) as client:
        response = await client.get("/plans")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json; charset=utf-8"
        assert response.headers["Cache-Control"] == "no-store"
        document = json.loads(await response.text())

    assert document == {
        "generated_at": timestamp(NOW),  # the newest pass of any target
        "plans": [OK_PLAN.to_json(), BLOCKED_PLAN.to_json()],
    }
    assert document["plans"][1]["changes"][0]["to_version"] is None


async def test_plans_before_the_first_scan_are_none_as_of_the_start() -> None:
    view = unscanned_view()

    document = json.loads(await get_text(view, "/plans"))

    assert document == {"generated_at": timestamp(view.started_at), "plans": []}


async def test_plans_are_rendered_once_per_view(monkeypatch: pytest.MonkeyPatch) -> None:
    rendered: list[int] = []

    def counting(plans: tuple[Plan, ...], generated_at: object) -> str:
        rendered.append(len(plans))
        return "{}"

    monkeypatch.setattr(http, "plans_json", counting)
    async with served(planned_view(OK_PLAN)) as client:
        for _ in range(3):
            assert (await client.get("/plans")).status == 200
    assert rendered == [1]


async def test_plans_take_no_other_method() -> None:
    async with served(planned_view(OK_PLAN)) as client:
        assert (await client.head("/plans")).status == 200
        assert (await client.post("/plans")).status == 405


# --- the status page -------------------------------------------------------------------------


async def test_page_lists_each_plan_with_its_changes_verdict_and_reason() -> None:
    page = await get_text(planned_view(OK_PLAN, BLOCKED_PLAN), "/")

    assert read_tables(page)["plans"] == [
        ["Target", "Deployment", "Changes", "Verdict", "Reason"],
        [
            "123456789012/us-west-2",
            "d-1 (fleet rollout)",
            "com.example.App 1.0.0 -> 1.1.0 com.example.Lib 2.0.0 -> 2.1.0",
            "ok",
            "\u2014",
        ],
        [
            "123456789012/us-west-2",
            "d-2",
            "com.example.Lib 2.0.0 -> \u2014",
            "blocked",
            "No version to move com.example.Lib 2.0.0 to.",
        ],
    ]
    assert '<tr class="blocked">' in page
    assert "2 remediation plans (1 ok, 1 blocked)" in page
    assert '<a href="plans">plans (JSON)</a>' in page


async def test_page_without_plans_says_so() -> None:
    page = await get_text(unscanned_view(), "/")

    assert "plans" not in read_tables(page)
    assert "No plans: no in-force deployment names a flagged version." in page
    assert "0 remediation plans (0 ok, 0 blocked)" in page


async def test_page_shows_plan_text_as_text() -> None:
    hostile = plan(
        "d-<b>",
        move(HOSTILE, "6.6.6", "7.0.0"),
        verdict=Verdict.BLOCKED,
        reason=SCRIPT,
        name=SCRIPT,
    )

    page = await get_text(planned_view(hostile), "/")

    assert "script" not in start_tags(page)
    assert "b" not in start_tags(page)
    _, row = read_tables(page)["plans"]
    assert row[1:] == [f"d-<b> ({SCRIPT})", f"{HOSTILE} 6.6.6 -> 7.0.0", "blocked", SCRIPT]


def test_page_caps_plan_rows_and_points_at_plans() -> None:
    many = planned_view(*(plan(f"d-{i:05}", move(APP, "1.0.0", "1.1.0")) for i in range(1003)))

    page = statuspage.render(many)

    assert len(read_tables(page)["plans"]) == 1 + statuspage.MAX_ROWS
    assert '3 more in <a href="plans">plans</a>.' in page


# --- ggwatch_remediation_plans ---------------------------------------------------------------


def plan_samples(exposition: str) -> dict[tuple[str, str], float]:
    """(aws_region, verdict) -> value of ggwatch_remediation_plans."""
    (family,) = (
        f
        for f in text_string_to_metric_families(exposition)
        if f.name == "ggwatch_remediation_plans"
    )
    assert family.type == "gauge"
    out = {}
    for sample in family.samples:
        assert set(sample.labels) == {"verdict", "aws_account_id", "aws_region", "account_alias"}
        out[(sample.labels["aws_region"], sample.labels["verdict"])] = sample.value
    return out


async def test_metric_counts_plans_by_verdict_and_target() -> None:
    other = dataclasses.replace(BLOCKED_PLAN, deployment_id="d-3")

    scraped = await get_text(planned_view(OK_PLAN, BLOCKED_PLAN, other), "/metrics", metrics=True)

    assert plan_samples(scraped) == {
        ("us-west-2", "ok"): 1,
        ("us-west-2", "blocked"): 2,
        ("eu-west-1", "ok"): 0,
        ("eu-west-1", "blocked"): 0,
    }


async def test_metric_exists_at_zero_for_both_verdicts_before_any_plan() -> None:
    scraped = await get_text(unscanned_view(), "/metrics", metrics=True)

    assert plan_samples(scraped) == {("us-west-2", "ok"): 0, ("us-west-2", "blocked"): 0}


# --- the evaluator ---------------------------------------------------------------------------


def fleet(
    region: str = "us-west-2", *, fixed: bool = False, failing: bool = False
) -> TargetSnapshot:
    """d-1 names APP 1.0.0, DELETED (moves to 1.1.0: ok); d-2 names LIB 2.0.0, DISCONTINUED
    with nothing to move to (blocked). fixed: d-1 names 1.1.0 already."""
    t = TargetBuilder(region=region)
    t.recipe(APP, "1.0.0")
    t.version(APP, "1.0.0", Guidance.DELETED, "Broken.")
    t.recipe(APP, "1.1.0")
    t.recommend(APP, "1.1.0")
    t.recipe(LIB, "2.0.0")
    t.version(LIB, "2.0.0", Guidance.DISCONTINUED)
    t.deploy("d-2", v(LIB, "2.0.0"), target=t.group("other"))
    t.deploy("d-1", v(APP, "1.1.0" if fixed else "1.0.0"))
    t.device("core-1", v(APP, "1.0.0"))
    t.member("core-1", "fleet")
    t.device("core-2", v(LIB, "2.0.0"))
    t.member("core-2", "other")
    if failing:
        t.error("ListCoreDevices", "ThrottlingException", "Rate exceeded")
    return t.build()


def evaluator(*targets: TargetId) -> Evaluator:
    view = DaemonView(started_at=NOW, targets=tuple(TargetStatus(t) for t in targets))
    return Evaluator(Settings(), StateHolder(view), (), lambda: NOW)


async def fold(into: Evaluator, *snapshots: TargetSnapshot) -> tuple[Plan, ...]:
    for snap in snapshots:
        await into.fold(ScanOutcome(snap.target, snap, 1.0))
    return into.holder.view.plans


async def test_a_pass_publishes_what_assess_proposes() -> None:
    snap = fleet()

    plans = await fold(evaluator(WEST), snap)

    assert plans == assess(snapshot(snap), RulesConfig(), NOW).plans
    assert [(p.deployment_id, p.verdict, p.moves) for p in plans] == [
        ("d-1", Verdict.OK, ((APP, "1.1.0"),)),
        ("d-2", Verdict.BLOCKED, ()),
    ]


async def test_each_target_shows_its_last_pass_even_an_incomplete_one() -> None:
    rig = evaluator(WEST)
    await fold(rig, fleet())

    after_incomplete = await fold(rig, fleet(failing=True))
    # Nothing may be created from a partial view: its plans are all blocked, none kept.
    assert [p.verdict for p in after_incomplete] == [Verdict.BLOCKED, Verdict.BLOCKED]
    assert all("incomplete" in (p.reason or "") for p in after_incomplete)
    assert len(rig.holder.view.findings) == 5  # the findings it could not re-check stay open

    after_fix = await fold(rig, fleet(fixed=True))
    assert [p.deployment_id for p in after_fix] == ["d-2"]


async def test_plans_are_ordered_by_target_whatever_order_passes_finish() -> None:
    first = await fold(evaluator(WEST, EAST), fleet(), fleet("eu-west-1"))
    second = await fold(evaluator(WEST, EAST), fleet("eu-west-1"), fleet())

    assert first == second
    assert [(p.region, p.deployment_id) for p in first] == [
        ("eu-west-1", "d-1"),
        ("eu-west-1", "d-2"),
        ("us-west-2", "d-1"),
        ("us-west-2", "d-2"),
    ]
