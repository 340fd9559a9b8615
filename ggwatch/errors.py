"""ggwatch's errors. Only the CLI turns them into exit codes and one-line messages.

    GGWatchError
    ├── ConfigError            bad settings, config file or arguments          exit 2
    │   ├── ServeError         a listener could not start (port in use, bad address)
    │   └── PlanError          a plan directory or deployment input file that cannot be used
    └── RuntimeFailure         the world did not cooperate                      exit 3
        ├── AWSError           an AWS call failed for good (after retries)
        │   ├── AccessDenied        AccessDeniedException, or credentials the service rejects
        │   ├── NotFound            ResourceNotFoundException
        │   ├── Conflict            ConflictException
        │   ├── Throttled           still throttled when the retries ran out
        │   ├── ServiceError        5xx still failing when the retries ran out
        │   ├── Unreachable         no connection to the endpoint (DNS, refused, timeout), or
        │   │                       not called: the target's circuit breaker is open
        │   ├── DeadlineExceeded    not called or cut off: the scan's deadline passed
        │   ├── NoCredentials       no credentials found in the standard chain
        │   ├── MalformedResponse   an answer without the members the model promises
        │   └── RequestRejected     any other 4xx (ValidationException, ...): a bug or a bad value
        ├── ArchiveError       a deployment's archive could not be written or checked (file, S3),
        │   │                  or the archive cannot take records (its start-up probe failed)
        │   └── ArchiveHeld    the record exists already, written by another process (or by
        │                      one that crashed before its delete): its archived_at and writer
        └── OutputError        standard output cannot be written (a full disk, an I/O error);
                               a closed pipe is not an error: the CLI stops quietly, exit 141

The AWS adapter (ggwatch.aws) is the only code that raises AWSError, from botocore's
exceptions, keeping the original as __cause__.
"""

from __future__ import annotations

import datetime as dt

# AWS error codes that mean the same to ggwatch; the adapter retries or translates them alike,
# and the metrics fold them into one error_code.
THROTTLE_CODES = frozenset(
    {"ThrottlingException", "TooManyRequestsException", "RequestLimitExceeded"}
)
DENIED_CODES = frozenset(
    {
        "AccessDeniedException",
        "UnrecognizedClientException",
        "InvalidSignatureException",
        "ExpiredTokenException",
        "MissingAuthenticationTokenException",
        "InvalidClientTokenId",
    }
)

EXIT_OK = 0
EXIT_FINDINGS = 1  # `ggwatch scan`: findings at or above --fail-on
EXIT_USAGE = 2  # bad command line, settings or config file
EXIT_RUNTIME = 3  # AWS or runtime failure, or an incomplete scan


class GGWatchError(Exception):
    """Base of every expected failure: its message is shown to the user as one line."""

    exit_code = EXIT_RUNTIME


class ConfigError(GGWatchError):
    exit_code = EXIT_USAGE


class ServeError(ConfigError):
    """A port in use or an address that is not ours: the user picks another one."""


class PlanError(ConfigError):
    """A plan directory or a create-deployment input file that cannot be read or used: the
    file and what is wrong with it."""


class RuntimeFailure(GGWatchError):
    exit_code = EXIT_RUNTIME


class AWSError(RuntimeFailure):
    """A failed AWS call: which operation, the AWS error code, and AWS's message."""

    def __init__(self, operation: str, code: str, message: str) -> None:
        super().__init__(f"{operation}: {code}: {message}")
        self.operation = operation
        self.code = code
        self.message = message


class AccessDenied(AWSError):
    pass


class NotFound(AWSError):
    pass


class Conflict(AWSError):
    pass


class Throttled(AWSError):
    pass


class ServiceError(AWSError):
    pass


class Unreachable(AWSError):
    pass


class DeadlineExceeded(AWSError):
    pass


class NoCredentials(AWSError):
    pass


class MalformedResponse(AWSError):
    pass


class RequestRejected(AWSError):
    pass


class ArchiveError(RuntimeFailure):
    """A deployment's archive could not be written or checked: the file path or S3 location,
    and the reason (the OS error, or the AWS error code). Cleanup deletes nothing unarchived."""


class ArchiveHeld(ArchiveError):
    """The record was there already, so this write created nothing: another process archived
    the deployment, and only the writer that created a record deletes it.

    `location` is the record's path or s3:// URI; `archived_at` (UTC) and `writer` are what the
    existing record says, each None when it does not say or cannot be read (`detail` then says
    why), so a caller can tell a live holder from one that crashed between archive and delete.
    """

    def __init__(
        self,
        location: str,
        archived_at: dt.datetime | None,
        writer: str | None,
        detail: str = "",
    ) -> None:
        when = archived_at.isoformat() if archived_at else "at an unknown time"
        message = f"archive {location} exists already: archived {when} by {writer or 'unknown'}"
        super().__init__(f"{message} ({detail})" if detail else message)
        self.location = location
        self.archived_at = archived_at
        self.writer = writer
        self.detail = detail


class OutputError(RuntimeFailure):
    """Standard output could not be written: what the OS said."""
