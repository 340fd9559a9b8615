"""The `ggwatch` command as users run it: exit codes, one-line errors, the simulator process."""

from __future__ import annotations

import json
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.config import Config

from ggwatch.sim.fleet import access_key
from tests.cli.conftest import ROOT, RunCli, ServeCli


def _client(endpoint: str) -> Any:
    return boto3.client(
        "greengrassv2",
        endpoint_url=endpoint,
        region_name="us-west-2",
        aws_access_key_id=access_key(0),
        aws_secret_access_key="simulated",
        config=Config(retries={"max_attempts": 1}),
    )


def _one_line_error(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_version(ggwatch: RunCli) -> None:
    result = ggwatch("--version")
    assert result.code == 0
    assert result.stdout.startswith("ggwatch ")


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("frobnicate",), "invalid choice"),
        (("sim", "--devices", "many"), "--devices"),
        (("sim", "--error-rate", "2"), "between 0 and 1"),
        (("sim", "--port", "70000"), "0..65535"),
        (("sim", "--max-age-days", "0.5"), "max age"),
        (("sim", "--fleet", "/nonexistent/fleet.yaml"), "cannot read fleet file"),
        (("sim", "--accounts", "2", "--default-account", "2"), "--default-account 2"),
        (("sim", "--latency-ms", "inf"), "must be a finite number >= 0, got inf"),
        (("sim", "--jitter-ms", "nan"), "finite number"),
        (("sim", "--access-denied", "ListDeployment"), "ListDeployment: no such Greengrass V2"),
        ((), "required"),
    ],
)
def test_usage_errors_exit_2_with_one_line(
    ggwatch: RunCli, args: tuple[str, ...], fragment: str
) -> None:
    result = ggwatch(*args)
    assert result.code == 2
    assert fragment in _one_line_error(result.stderr)


def test_bad_setting_names_it_and_exits_2(ggwatch: RunCli) -> None:
    result = ggwatch("check-config", env={"GGWATCH_QUOTA_SHARE": "7"})
    assert result.code == 2
    assert "GGWATCH_QUOTA_SHARE" in _one_line_error(result.stderr)


def test_check_config_prints_effective_settings(ggwatch: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("regions: [eu-west-1]\nquota_share: 0.2\n")
    result = ggwatch("--config", str(config), "check-config", env={"GGWATCH_QUOTA_SHARE": "0.4"})
    assert result.code == 0, result.stderr
    assert '"quota_share": 0.4' in result.stdout
    assert '"eu-west-1"' in result.stdout


def test_bad_fleet_file_exits_2(ggwatch: RunCli, tmp_path: Path) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text("regions: [us-west-2]\naccounts:\n  - id: '42'\n")
    result = ggwatch("sim", "--fleet", str(fleet), "--port", "0")
    assert result.code == 2
    assert "account id" in _one_line_error(result.stderr)


@pytest.mark.parametrize(
    "data", [bytes(range(256)), "regions: [us-west-2]\n".encode("utf-16")], ids=["binary", "utf16"]
)
def test_fleet_file_that_is_not_utf8_exits_2(ggwatch: RunCli, tmp_path: Path, data: bytes) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_bytes(data)
    result = ggwatch("sim", "--fleet", str(fleet), "--port", "0")
    assert result.code == 2
    assert "is not UTF-8 text" in _one_line_error(result.stderr)


def test_port_in_use_exits_2(ggwatch: RunCli) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        result = ggwatch("sim", "--port", str(port), "--devices", "5")
    assert result.code == 2
    assert "cannot listen on 127.0.0.1" in _one_line_error(result.stderr)


def test_sim_serves_real_clients_and_stops_on_sigterm(serve_cli: ServeCli) -> None:
    served = serve_cli(
        "sim", "--port", "0", "--devices", "30", "--deployments", "70", "--seed", "5"
    )
    assert any(line.startswith("  export AWS_ENDPOINT_URL_GREENGRASSV2=") for line in served.banner)
    assert any(line.startswith("  export AWS_ENDPOINT_URL_IOT=") for line in served.banner)
    client = _client(served.endpoint)
    pages = client.get_paginator("list_deployments").paginate(historyFilter="ALL")
    assert sum(len(page["deployments"]) for page in pages) == 70
    devices = client.get_paginator("list_core_devices").paginate()
    assert sum(len(page["coreDevices"]) for page in devices) == 30
    code, _ = served.stop()
    assert code == 0


def test_sim_knobs_from_the_command_line(serve_cli: ServeCli) -> None:
    served = serve_cli("sim", "--port", "0", "--devices", "3", "--access-denied", "ListDeployments")
    client = _client(served.endpoint)
    with pytest.raises(client.exceptions.AccessDeniedException):
        client.list_deployments()
    assert client.list_core_devices()["coreDevices"]
    served.stop()


def test_sim_default_account_answers_unknown_keys(serve_cli: ServeCli) -> None:
    # One simulator process per account, all reached with the same SDK credentials, is how
    # bench.targets gives each target an account of its own.
    served = serve_cli(
        "sim", "--port", "0", "--devices", "3", "--accounts", "3", "--default-account", "2"
    )
    exported = f"  export AWS_ACCESS_KEY_ID={access_key(2)} AWS_SECRET_ACCESS_KEY=simulated"
    assert exported in served.banner

    def account(key: str) -> str:
        client = boto3.client(
            "greengrassv2",
            endpoint_url=served.endpoint,
            region_name="us-west-2",
            aws_access_key_id=key,
            aws_secret_access_key="simulated",
            config=Config(retries={"max_attempts": 1}),
        )
        arn = client.list_components(scope="PRIVATE")["components"][0]["arn"]
        return str(arn.split(":")[4])

    assert account("AKIAUNKNOWN000000000") == account(access_key(2))
    assert account(access_key(0)) == "123456789012" != account(access_key(2))
    served.stop()


def test_demo_runs_the_daemon_against_the_sample_fleet(tmp_path: Path) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "ggwatch", "demo", "--port", "0"],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        banner = []
        for line in process.stdout:
            banner.append(line)
            if "Ctrl-C stops" in line:
                break
        page = next(line.split()[-1] for line in banner if "status page" in line)
        # The sample fleet's dependency conflict and DISCONTINUED dependency, as devices report.
        told = "".join(banner)
        assert "gg-osaka-00006 FAILED thinggroup/osaka-nucleus-hold" in told
        assert "aws.greengrass.SecureTunneling 1.1.2 (DISCONTINUED) as a dependency" in told
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(page + "readyz", timeout=5):
                    break
            except (urllib.error.URLError, ConnectionError):
                time.sleep(0.5)
        with urllib.request.urlopen(page + "findings", timeout=5) as response:
            findings = json.loads(response.read())["findings"]
        assert any(
            f["rule"] == "deployment-uses-deleted-component"
            and f["details"]["component_name"] == "aws.greengrass.Nucleus"
            for f in findings
        )
        process.send_signal(signal.SIGINT)
        assert process.wait(timeout=10) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()
