"""`ggwatch plan`, `apply` and `preflight` as users run them: the sample fleet in `ggwatch sim`,
the real command in a subprocess, exit codes, what lands on stdout and stderr, and what the
simulator holds afterwards (read with a plain boto3 client)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import SAMPLE_FLEET, UNMETERED, RunCli, ServeCli, Served

REGION = "us-west-2"
OSAKA = f"arn:aws:iot:{REGION}:123456789012:thinggroup/osaka-line-01"
CONFLICT = f"""\
targetArn: {OSAKA}
components:
  aws.greengrass.Nucleus: {{componentVersion: 2.14.3}}
  aws.greengrass.Cli: {{componentVersion: 2.15.0}}
"""


@pytest.fixture
def fleet(serve_cli: ServeCli) -> Served:
    """The sample fleet in `ggwatch sim`, its quotas lifted: these tests are about what the
    commands say and create, not about pacing."""
    return serve_cli("sim", *SAMPLE_FLEET, *UNMETERED)


@pytest.fixture
def env(fleet: Served) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL_GREENGRASSV2": fleet.endpoint,
        "AWS_ENDPOINT_URL_IOT": fleet.endpoint,
        "AWS_ACCESS_KEY_ID": access_key(0),
        "AWS_SECRET_ACCESS_KEY": "simulated",
        "AWS_DEFAULT_REGION": REGION,
        "GGWATCH_REGIONS": REGION,
        "GGWATCH_SERVICE_RATE": "1000",
    }


def deployment_ids(fleet: Served) -> set[str]:
    client: Any = boto3.client(
        "greengrassv2",
        endpoint_url=fleet.endpoint,
        region_name=REGION,
        aws_access_key_id=access_key(0),
        aws_secret_access_key="simulated",
        config=Config(retries={"max_attempts": 5}),
    )
    ids: set[str] = set()
    for page in client.get_paginator("list_deployments").paginate(historyFilter="ALL"):
        ids |= {d["deploymentId"] for d in page["deployments"]}
    client.close()
    return ids


def no_traceback(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr


def test_plan_then_apply_then_apply_again(
    ggwatch: RunCli, env: dict[str, str], fleet: Served, tmp_path: Path
) -> None:
    directory = tmp_path / "plans"
    planned = ggwatch("plan", "--format", "json", "--output-dir", str(directory), env=env)
    assert planned.code == 1, planned.stderr  # plans written
    no_traceback(planned.stderr)
    plans = json.loads(planned.stdout)["plans"]
    ok = [p for p in plans if p["verdict"] == "ok"]
    assert len(ok) == 2, plans
    assert f"wrote {len(plans)} plan(s) to {directory}" in planned.stderr
    manifest = json.loads((directory / "plans.json").read_text())
    assert [p["deployment_id"] for p in manifest["plans"]] == [p["deployment_id"] for p in plans]
    for plan in ok:
        assert (directory / f"{plan['deployment_id']}.json").is_file()
        assert (directory / f"{plan['deployment_id']}.base.json").is_file()
    before = deployment_ids(fleet)

    dry = ggwatch("apply", str(directory), env=env)
    assert dry.code == 0, dry.stderr
    lines = dry.stdout.splitlines()
    assert len(lines) == len(plans)
    assert sum(line.startswith("would-create ") for line in lines) == len(ok), lines
    assert deployment_ids(fleet) == before  # nothing created without --confirm

    confirmed = ggwatch("apply", str(directory), "--confirm", env=env)
    assert confirmed.code == 0, confirmed.stderr
    created = [line for line in confirmed.stdout.splitlines() if line.startswith("created ")]
    assert len(created) == len(ok), confirmed.stdout
    after = deployment_ids(fleet)
    assert len(after - before) == len(ok)
    assert all(any(new in line for line in created) for new in after - before)

    again = ggwatch("apply", str(directory), "--confirm", env=env)
    assert again.code == 1, again.stderr  # a plan was refused
    refused = [line for line in again.stdout.splitlines() if line.startswith("refused ")]
    assert len(refused) == len(ok), again.stdout
    assert all("the fleet moved since the plan" in line for line in refused)
    assert deployment_ids(fleet) == after


@pytest.mark.parametrize(
    ("manifest", "fault"),
    [
        (None, "no such file"),
        ('{"plans": [{"deployment_id": "abc"}]}', "plan abc: verdict None"),  # edited by hand
    ],
)
def test_apply_of_a_bad_directory_exits_2_with_one_line(
    ggwatch: RunCli, tmp_path: Path, manifest: str | None, fault: str
) -> None:
    if manifest is not None:
        (tmp_path / "plans.json").write_text(manifest)
    result = ggwatch("apply", str(tmp_path), "--confirm", env={"GGWATCH_REGIONS": REGION})
    assert result.code == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert str(tmp_path / "plans.json") in line
    assert fault in line
    no_traceback(result.stderr)


@pytest.mark.parametrize(
    ("text", "fault"),
    [
        ("{not json", "neither JSON nor YAML"),
        ('["a list"]', "not a create-deployment input"),
        ('{"components": {}}', '"targetArn"'),
        ('{"targetArn": "arn:aws:iot:us-west-2:123456789012:job/x"}', "thing or thing group"),
    ],
)
def test_preflight_of_a_bad_file_exits_2_with_one_line(
    ggwatch: RunCli, tmp_path: Path, text: str, fault: str
) -> None:
    # The file is read before any AWS call: no simulator needed.
    path = tmp_path / "bad.json"
    path.write_text(text)
    result = ggwatch("preflight", str(path), env={"GGWATCH_REGIONS": REGION})
    assert result.code == 2, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert str(path) in line
    assert fault in line
    no_traceback(result.stderr)
    assert result.stdout == ""


def test_preflight_of_a_conflicting_file_exits_1_naming_it(
    ggwatch: RunCli, env: dict[str, str], fleet: Served, tmp_path: Path
) -> None:
    path = tmp_path / "conflict.yaml"
    path.write_text(CONFLICT)
    before = deployment_ids(fleet)
    result = ggwatch("preflight", str(path), "--format", "json", env=env)
    assert result.code == 1, result.stderr
    no_traceback(result.stderr)
    findings = json.loads(result.stdout)["findings"]
    rules = {f["rule"] for f in findings}
    assert rules == {"deployment-unresolvable", "device-unresolvable"}, findings
    for finding in findings:
        assert finding["details"]["requirements"]["thinggroup/osaka-line-01"] == "=2.14.3"
        assert finding["details"]["requirements"]["aws.greengrass.Cli"] == ">=2.15.0 <2.16.0"
    assert deployment_ids(fleet) == before  # a prediction creates nothing
