"""ggwatch's scan over real HTTP against the simulator: findings, faults, failures."""

from __future__ import annotations

import json
import sys
from typing import Any

import aiohttp
import anyio
import pytest

from ggwatch.aws.api import IOT_OPERATIONS
from ggwatch.findings import Rule
from ggwatch.report import ScanResult, to_json
from ggwatch.scan import ScanState, scan_once
from ggwatch.settings import Settings
from ggwatch.sim.server import Running

EXPECTED = {
    (Rule.DEPLOYMENT_DELETED, "us-west-2", "berlin nucleus upgrade", "aws.greengrass.Nucleus"),
    (Rule.DEVICE_DELETED, "us-west-2", "gg-berlin-00001", "aws.greengrass.Nucleus"),
    (Rule.DEVICE_DELETED, "us-west-2", "gg-berlin-00002", "aws.greengrass.Nucleus"),
    # The deployment in force still names Auth 2.3.0, which AWS discontinued; it failed on
    # gg-austin-00003 (its recipe wants a nucleus below 2.10), so no device runs it.
    (
        Rule.DEPLOYMENT_DISCONTINUED,
        "us-west-2",
        "austin-00003 client devices",
        "aws.greengrass.clientdevices.Auth",
    ),
    # Telemetry 1.1.0 pulls SecureTunneling 1.1.2 (discontinued by AWS) in as a dependency:
    # the devices run it, though no deployment names it.
    (Rule.DEVICE_DISCONTINUED, "us-west-2", "gg-austin-00003", "aws.greengrass.SecureTunneling"),
    (Rule.DEVICE_DISCONTINUED, "us-west-2", "gg-austin-00004", "aws.greengrass.SecureTunneling"),
    (Rule.DEPLOYMENT_DISCONTINUED, "eu-central-1", "lyon current", "aws.greengrass.Nucleus"),
    (Rule.DEVICE_DISCONTINUED, "eu-central-1", "gg-lyon-00001", "aws.greengrass.Nucleus"),
    # What dependency resolution finds, once AWS IoT says which groups reach each device: new
    # members of berlin-line-01 cannot resolve the DELETED nucleus 2.14.0; gg-austin-00003's
    # own Auth 2.3.0 wants a nucleus below 2.10; gg-osaka-00006's two groups conflict on the
    # nucleus; and the Austin line's Telemetry 1.1.0 reaches the DISCONTINUED SecureTunneling.
    (Rule.DEPLOYMENT_UNRESOLVABLE, "us-west-2", "berlin nucleus upgrade", "aws.greengrass.Nucleus"),
    (Rule.DEVICE_UNRESOLVABLE, "us-west-2", "gg-austin-00003", "aws.greengrass.Nucleus"),
    (Rule.DEVICE_UNRESOLVABLE, "us-west-2", "gg-osaka-00006", "aws.greengrass.Nucleus"),
    (
        Rule.DEPLOYMENT_DEPENDENCY_DISCONTINUED,
        "us-west-2",
        "austin telemetry retry",
        "aws.greengrass.SecureTunneling",
    ),
    (Rule.STALE_DEPLOYMENT, "us-west-2", "berlin baseline", None),
    (Rule.STALE_DEPLOYMENT, "us-west-2", "austin telemetry", None),
    (Rule.STALE_DEPLOYMENT, "us-west-2", "osaka first try", None),
}


def summarize(result: ScanResult) -> set[tuple[Any, ...]]:
    """Findings as (rule, region, deployment name or thing, component) for comparison."""
    names = {d.deployment_id: d.name for t in result.snapshot.targets for d in t.deployments}
    return {
        (f.rule, f.region, names.get(f.resource_id, f.resource_id), f.details.component_name)
        for f in result.findings
    }


async def knobs(sim: Running, **changes: Any) -> None:
    async with aiohttp.ClientSession() as session:
        response = await session.patch(f"{sim.endpoint}/_sim/knobs", json=changes)
        assert response.status == 200, await response.text()


async def test_scan_finds_what_the_fleet_holds(sim: Running, settings: Settings) -> None:
    result = await scan_once(settings)
    assert result.snapshot.complete
    assert summarize(result) == EXPECTED
    nucleus = next(f for f in result.findings if f.rule is Rule.DEPLOYMENT_DELETED)
    assert nucleus.details.recommended_version == "2.15.0"
    tunnel = next(
        f
        for f in result.findings
        if f.details.component_name == "aws.greengrass.SecureTunneling"
        and f.rule is Rule.DEVICE_DISCONTINUED
    )
    # 1.1.3 is the newest ACTIVE version, but Telemetry 1.1.0's range (<1.1.3) admits none:
    # resolution, knowing what reaches the device, recommends no version.
    assert (tunnel.details.component_version, tunnel.details.latest_version) == ("1.1.2", "1.1.3")
    assert tunnel.details.recommended_version is None
    assert nucleus.account == "123456789012"
    assert {t.account for t in result.snapshot.targets} == {"123456789012"}


async def test_second_scan_reuses_deployment_details(sim: Running, settings: Settings) -> None:
    state = ScanState.new(settings)
    first = await scan_once(settings, state)
    second = await scan_once(settings, state)
    gets = [
        sum(c.count for c in t.calls if c.operation == "GetDeployment")
        for r in (first, second)
        for t in r.snapshot.targets
    ]
    assert sum(gets[:2]) == 6  # the in-force deployments of both Regions
    assert sum(gets[2:]) == 0
    assert summarize(second) == EXPECTED


async def test_faults_do_not_change_the_result(sim: Running, settings: Settings) -> None:
    # The service allows half of what ggwatch believes (others use the budget): ggwatch must
    # back off to it, and retry the 500s, and page through pages of two.
    await knobs(sim, page_cap=2, error_rate=0.3, retry_after_seconds=0, rate_limit=15, burst=3)
    result = await scan_once(settings.model_copy(update={"service_rate": 30.0}))
    assert result.snapshot.complete, [t.errors for t in result.snapshot.targets]
    assert summarize(result) == EXPECTED
    outcomes = {c.outcome for t in result.snapshot.targets for c in t.calls}
    assert {"ok", "InternalServerException", "ThrottlingException"} <= outcomes


async def test_access_denied_marks_the_target_incomplete_and_keeps_the_rest(
    sim: Running, settings: Settings
) -> None:
    await knobs(sim, access_denied=["ListDeployments"])
    result = await scan_once(settings)
    assert not result.snapshot.complete
    for target in result.snapshot.targets:
        assert [e.code for e in target.errors] == ["AccessDeniedException"]
        assert target.deployments == ()  # unknown, and reported incomplete
    # Devices were still read: their findings stand.
    rules = {f.rule for f in result.findings}
    assert Rule.DEVICE_DELETED in rules
    assert Rule.STALE_DEPLOYMENT not in rules


async def run_cli(*args: str, env: dict[str, str]) -> tuple[int, str, str]:
    """`python -m ggwatch` as a child process, without blocking the simulator's loop."""
    import os

    done = await anyio.run_process(
        [sys.executable, "-m", "ggwatch", *args],
        env={**os.environ, **env},
        check=False,
    )
    return done.returncode, done.stdout.decode(), done.stderr.decode()


FAST = {
    "GGWATCH_SERVICE_RATE": "1000",
    "GGWATCH_IOT_RATE": "1000",
    "GGWATCH_QUOTA_SHARE": "1",
    "GGWATCH_REGIONS": "us-west-2,eu-central-1",
}


async def test_cli_scan_exit_codes_and_json(sim: Running) -> None:
    code, out, err = await run_cli("scan", "--format", "json", env=FAST)
    assert code == 1, err  # warnings and worse exist; --fail-on defaults to warning
    document = json.loads(out)
    assert document["complete"] is True
    assert len(document["findings"]) == len(EXPECTED)
    assert document["stats"]["api_calls"] > 0
    code, _, _ = await run_cli("scan", "--format", "json", "--fail-on", "never", env=FAST)
    assert code == 0


async def test_cli_access_denied_exits_3_and_still_prints(sim: Running) -> None:
    await knobs(sim, access_denied=["ListCoreDevices"])
    code, out, err = await run_cli("scan", "--format", "json", env=FAST)
    assert code == 3
    assert err.count("\n") == 1
    assert "AccessDeniedException" in err
    assert "Traceback" not in err
    document = json.loads(out)
    assert document["complete"] is False
    assert any(f["rule"] == "deployment-uses-deleted-component" for f in document["findings"])


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        (
            {"AWS_ENDPOINT_URL_GREENGRASSV2": "http://127.0.0.1:9", "GGWATCH_MAX_ATTEMPTS": "2"},
            "Unreachable",
        ),
        ({"AWS_ACCESS_KEY_ID": "", "AWS_SECRET_ACCESS_KEY": ""}, "no AWS credentials"),
    ],
)
async def test_cli_unusable_aws_exits_3(sim: Running, env: dict[str, str], fragment: str) -> None:
    code, out, err = await run_cli("scan", "--format", "json", env={**FAST, **env})
    assert code == 3
    assert fragment in err
    assert err.count("\n") == 1
    assert json.loads(out)["complete"] is False


async def test_cli_bad_setting_exits_2(sim: Running) -> None:
    code, _, err = await run_cli("scan", env={**FAST, "GGWATCH_STALE_AFTER_DAYS": "-1"})
    assert code == 2
    assert "GGWATCH_STALE_AFTER_DAYS" in err


async def test_cli_without_a_region_exits_2(sim: Running) -> None:
    env = {"GGWATCH_REGIONS": "", "AWS_DEFAULT_REGION": "", "AWS_REGION": ""}
    code, _, err = await run_cli("scan", env=env)
    assert code == 2
    assert "no AWS Region" in err
    assert err.count("\n") == 1


async def test_cli_takes_the_region_from_aws_region_too(sim: Running) -> None:
    env = {**FAST, "GGWATCH_REGIONS": "", "AWS_DEFAULT_REGION": "", "AWS_REGION": "eu-central-1"}
    code, out, err = await run_cli("scan", "--format", "json", env=env)
    assert code == 1, err
    assert [t["region"] for t in json.loads(out)["targets"]] == ["eu-central-1"]


def calls_of(target: Any, operation: str) -> int:
    return sum(c.count for c in target.calls if c.operation == operation)


async def test_a_full_scan_makes_exactly_the_minimal_calls(
    sim: Running, settings: Settings
) -> None:
    # The service grants what the settings say it does: the sample fleet's us-west-2 scan
    # needs more calls (33) than the default quota's one-second burst (30), and each throttled
    # answer, retried as it must be, would be a call above the minimum.
    await knobs(sim, rate_limit=settings.service_rate, iot_rate=settings.iot_rate)
    result = await scan_once(settings)
    for target in result.snapshot.targets:
        assert target.throttled_calls == 0
        assert target.api_calls == target.minimal_calls
        # The floor: Greengrass V2's calls at its budget, or IoT's at its own, the longer.
        iot = sum(calls_of(target, op) for op in IOT_OPERATIONS)
        assert iot > 0
        floors = ((target.minimal_calls - iot) / 1000.0, iot / settings.iot_rate)
        assert target.floor_seconds == pytest.approx(max(floors))
    stats = json.loads(to_json(result))["stats"]
    assert stats["minimal_calls"] == stats["api_calls"]


async def test_steady_state_scans_cost_only_the_list_pages(
    sim: Running, settings: Settings, control: Any
) -> None:
    state = ScanState.new(settings)
    first = await scan_once(settings, state)
    second = await scan_once(settings, state)
    assert summarize(second) == EXPECTED
    for before, after in zip(first.snapshot.targets, second.snapshot.targets, strict=True):
        listings = ("ListComponents", "ListDeployments", "ListCoreDevices")
        assert after.api_calls == sum(calls_of(after, op) for op in listings)
        assert after.minimal_calls == before.minimal_calls
        assert dict(after.cache_sizes)["installed_components"] == len(after.devices)
    # A device reports a change (its lastStatusUpdateTimestamp moves): only it is re-read.
    # It now runs Auth 2.3.0, which AWS discontinued (its guidance is cached already).
    response = await control.post(
        "/_sim/devices/gg-osaka-00005/installed",
        json={
            "region": "us-west-2",
            "componentName": "aws.greengrass.clientdevices.Auth",
            "componentVersion": "2.3.0",
        },
    )
    assert response.status == 200
    third = await scan_once(settings, state)
    west = third.snapshot.targets[0]
    assert calls_of(west, "ListInstalledComponents") == 1
    assert any(
        f.rule is Rule.DEVICE_DISCONTINUED
        and f.resource_id == "gg-osaka-00005"
        and (f.details.component_name, f.details.component_version)
        == ("aws.greengrass.clientdevices.Auth", "2.3.0")
        for f in third.findings
    )


async def test_guidance_is_described_again_after_the_refresh(
    sim: Running, settings: Settings
) -> None:
    eager = settings.model_copy(update={"describe_refresh_seconds": 0.0})
    state = ScanState.new(eager)
    first = await scan_once(eager, state)
    second = await scan_once(eager, state)
    for before, after in zip(first.snapshot.targets, second.snapshot.targets, strict=True):
        assert calls_of(after, "DescribeComponent") >= len(before.versions) - 1
