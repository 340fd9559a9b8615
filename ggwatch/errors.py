"""ggwatch's errors. Only the CLI turns them into exit codes and one-line messages.

GGWatchError
├── ConfigError        bad settings or config file          exit 2
└── RuntimeFailure     the world did not cooperate          exit 3
    └── ServeError     a listener could not start (port in use, bad address)
"""

from __future__ import annotations

EXIT_OK = 0
EXIT_USAGE = 2  # bad command line, settings or config file
EXIT_RUNTIME = 3  # AWS or runtime failure


class GGWatchError(Exception):
    """Base of every expected failure: its message is shown to the user as one line."""

    exit_code = EXIT_RUNTIME


class ConfigError(GGWatchError):
    exit_code = EXIT_USAGE


class RuntimeFailure(GGWatchError):
    exit_code = EXIT_RUNTIME


class ServeError(RuntimeFailure):
    pass
