"""The subprocess fixtures of tests/cli, shared: the end-to-end test starts the same processes."""

from tests.cli.conftest import ggwatch, serve_cli, start_daemon

__all__ = ["ggwatch", "serve_cli", "start_daemon"]
