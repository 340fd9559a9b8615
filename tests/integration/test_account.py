"""A target's account id is known before its first scan and does not depend on any listing."""

from __future__ import annotations

import pytest

from ggwatch.scan import ScanState, scan_once
from ggwatch.settings import Settings
from ggwatch.sim.server import Running

SETTINGS = Settings(regions=("us-west-2",), service_rate=1000.0, quota_share=1.0)


async def test_the_account_comes_from_sts_even_when_listings_fail(sim: Running) -> None:
    sim.simulator.knobs.access_denied = frozenset({"ListComponents", "ListDeployments"})
    result = await scan_once(SETTINGS)
    (target,) = result.snapshot.targets
    assert not target.complete
    assert target.account == "123456789012"
    assert {f.account for f in result.findings} <= {"123456789012"}


async def test_sts_is_asked_once_per_target_for_the_life_of_the_process(
    sim: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    state = ScanState.new(SETTINGS)
    await scan_once(SETTINGS, state)
    assert list(state.accounts.values()) == ["123456789012"]
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")  # not needed again
    again = await scan_once(SETTINGS, state)
    assert again.snapshot.targets[0].complete


async def test_an_unknown_account_means_no_scan(
    sim: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")  # STS unreachable
    result = await scan_once(SETTINGS)
    (target,) = result.snapshot.targets
    assert not target.complete
    assert target.account is None
    assert [e.operation for e in target.errors] == ["GetCallerIdentity"]
    assert result.findings == ()
    assert sim.simulator.calls.counts == {}  # not one Greengrass V2 call


async def test_a_configured_account_needs_no_sts(
    sim: Running, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", "http://127.0.0.1:9")
    result = await scan_once(SETTINGS.model_copy(update={"account_id": "123456789012"}))
    (target,) = result.snapshot.targets
    assert target.complete
    assert target.account == "123456789012"
