"""The command under hostile input and output: bad variables, odd files, closed pipes, full disks.

The logic has unit tests (tests/unit/test_settings_hardening.py); these show what a user sees:
one line on stderr, no traceback, the documented exit code.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.conftest import ROOT, RunCli, ServeCli


def one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert "Traceback" not in stderr
    return lines[0]


@pytest.mark.parametrize(
    ("env", "fragment"),
    [
        ({"GGWATCH_TARGETS": "{not json"}, "targets [GGWATCH_TARGETS]: not valid JSON"),
        ({"GGWATCH_TARGETS": ""}, "targets [GGWATCH_TARGETS]: empty"),
        ({"GGWATCH_RULES": "{bad"}, "rules [GGWATCH_RULES]: not valid JSON"),
        ({"GGWATCH_RULES": ""}, "rules [GGWATCH_RULES]: empty"),
        ({"GGWATCH_STALE_AFTER_DAYS": "1e9"}, "less than or equal to 36500"),
        ({"GGWATCH_POLL_INTERVAL_SECONDS": "inf"}, "finite number"),
        ({"GGWATCH_CLEANUP_MOD": "enforce"}, "did you mean GGWATCH_CLEANUP_MODE?"),
    ],
)
def test_check_config_refuses_bad_variables_in_one_line(
    ggwatch: RunCli, env: dict[str, str], fragment: str
) -> None:
    result = ggwatch("check-config", env=env)
    assert result.code == 2
    assert fragment in one_line(result.stderr)


@pytest.mark.parametrize(
    "data",
    [b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff", "quota_share: 0.2\n".encode("utf-16")],
    ids=["binary", "utf16"],
)
def test_a_config_file_that_is_not_utf8_exits_2(
    ggwatch: RunCli, tmp_path: Path, data: bytes
) -> None:
    config = tmp_path / "ggwatch.yaml"
    config.write_bytes(data)
    result = ggwatch("--config", str(config), "check-config")
    assert result.code == 2
    assert "is not UTF-8 text" in one_line(result.stderr)


def test_unquoted_off_in_yaml_is_the_word_off(ggwatch: RunCli, tmp_path: Path) -> None:
    config = tmp_path / "ggwatch.yaml"
    config.write_text("cleanup_mode: off\n")
    result = ggwatch("--config", str(config), "check-config")
    assert result.code == 0, result.stderr
    assert '"cleanup_mode": "off"' in result.stdout


def test_unknown_variables_are_a_warning_outside_check_config(ggwatch: RunCli) -> None:
    # A scan against a closed port fails (exit 3), but only after the warning at start.
    result = ggwatch(
        "scan",
        "--format",
        "json",
        env={"GGWATCH_CLEANUP_MOD": "enforce", "GGWATCH_MAX_ATTEMPTS": "1"},
    )
    assert result.code == 3
    warning = next(line for line in result.stderr.splitlines() if "unknown_variables" in line)
    assert "GGWATCH_CLEANUP_MOD (did you mean GGWATCH_CLEANUP_MODE?)" in warning


def test_the_simulator_ignores_ggwatch_settings(
    serve_cli: ServeCli, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("GGWATCH_TARGETS", "{not json")
    monkeypatch.setenv("GGWATCH_CLEANUP_MOD", "enforce")
    served = serve_cli("sim", "--devices", "2", "--port", "0")
    assert served.endpoint.startswith("http://127.0.0.1:")


def test_error_lines_escape_terminal_controls(ggwatch: RunCli) -> None:
    result = ggwatch("check-config", env={"GGWATCH_X\x1b]0;owned\x07": "1"})
    assert result.code == 2
    line = one_line(result.stderr)
    assert "\x1b" not in line
    assert "\x07" not in line
    assert "GGWATCH_X\\x1b]0;owned\\x07" in line


def run_into(stdout: int, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ggwatch", *args],
        cwd=ROOT,
        stdout=stdout,
        stderr=subprocess.PIPE,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_closed_pipe_ends_quietly_with_141() -> None:
    # The reader is gone before ggwatch writes: `ggwatch check-config | head -c 0`.
    read, write = os.pipe()
    os.close(read)
    try:
        done = run_into(write, "check-config")
    finally:
        os.close(write)
    assert done.returncode == 141
    assert done.stderr == ""


def test_a_full_disk_is_one_line_and_exit_3() -> None:
    with open("/dev/full", "w") as full:
        done = run_into(full.fileno(), "check-config")
    assert done.returncode == 3
    assert one_line(done.stderr) == (
        "ggwatch: error: cannot write to standard output: No space left on device"
    )
