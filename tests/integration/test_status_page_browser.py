"""The status page as a real browser sees it: headless Chromium loads `/` and dumps its DOM.

The server runs on 127.0.0.1:0 in this test's event loop, and Chromium runs as a subprocess
awaited on that same loop, so the server keeps answering while the browser loads. Chromium
is told to resolve no name but 127.0.0.1 and to use no proxy: the test makes loopback traffic
only.
"""

from __future__ import annotations

import functools
import os
from pathlib import Path

import anyio
import pytest
from prometheus_client import CollectorRegistry

from ggwatch.findings import Severity
from ggwatch.web.app import build_app, serve_http
from tests.unit.views import HOSTILE, SCRIPT, holder, read_tables, start_tags

CHROMIUM = Path("/usr/bin/chromium")
BROWSER_SECONDS = 60.0


@pytest.fixture
def chromium() -> Path:
    """Debian's Chromium; missing is a failure, not a skip, so CI cannot pass without it."""
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: run `make tools` (installs Debian's chromium)")
    return CHROMIUM


async def dump_dom(chromium: Path, url: str, profile: Path) -> str:
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",  # root in a container has no user namespace for the sandbox
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--no-proxy-server",
        "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
        f"--user-data-dir={profile}",
        "--dump-dom",
        url,
    ]
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": str(profile)}
    try:
        with anyio.fail_after(BROWSER_SECONDS):  # cancelling run_process kills the browser
            done = await anyio.run_process(command, check=False, env=env)
    except TimeoutError:
        pytest.fail(f"chromium did not dump {url} within {BROWSER_SECONDS:.0f} s")
    if done.returncode != 0 or not done.stdout:
        tail = done.stderr.decode(errors="replace")[-2000:]
        pytest.fail(f"chromium exited {done.returncode} without a DOM:\n{tail}")
    return done.stdout.decode()


async def test_chromium_renders_the_fleets_findings(chromium: Path, tmp_path: Path) -> None:
    state = holder()
    app = build_app(
        state, CollectorRegistry(), poll_interval_seconds=300.0, clock=anyio.current_time
    )
    serve = functools.partial(serve_http, app)
    async with anyio.create_task_group() as tg:
        port = await tg.start(serve, "127.0.0.1", 0)
        dom = await dump_dom(chromium, f"http://127.0.0.1:{port}/", tmp_path / "profile")
        tg.cancel_scope.cancel()

    tables = read_tables(dom)
    header, *rows = tables["findings"]
    assert header[:2] == ["Severity", "Rule"]
    assert len(rows) == len(state.view.findings) == 6
    assert [row[0] for row in rows] == ["critical"] * 2 + ["warning"] * 3 + ["info"]
    ranks = [Severity(row[0]).rank for row in rows]
    assert ranks == sorted(ranks, reverse=True)
    assert {(row[1], row[3]) for row in rows} == {
        (f.rule.value, f"{f.resource_type.value} {f.resource_id}") for f in state.view.findings
    }
    # The hostile name and the publisher's script arrive as text in the cells, not as markup.
    hostile = next(row for row in rows if row[4] == HOSTILE)
    assert hostile[6] == f"DISCONTINUED: {SCRIPT}"
    assert hostile[7] == "7.0.0"
    assert "script" not in start_tags(dom)
    targets = tables["targets"]
    assert [row[0] for row in targets[1:]] == ["123456789012/us-west-2", "123456789012/eu-west-1"]
    assert targets[2][2] == "incomplete"
    assert "<title>ggwatch status</title>" in dom
