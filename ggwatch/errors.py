"""ggwatch's errors. Only the CLI turns them into exit codes and one-line messages.

    GGWatchError
    ├── ConfigError            bad settings, config file or arguments          exit 2
    │   └── ServeError         a listener could not start (port in use, bad address)
    └── RuntimeFailure         the world did not cooperate                      exit 3
        ├── AWSError           an AWS call failed for good (after retries)
        │   ├── AccessDenied        AccessDeniedException, or credentials the service rejects
        │   ├── NotFound            ResourceNotFoundException
        │   ├── Conflict            ConflictException
        │   ├── Throttled           still throttled when the retries ran out
        │   ├── ServiceError        5xx still failing when the retries ran out
        │   ├── Unreachable         no connection to the endpoint (DNS, refused, timeout)
        │   ├── NoCredentials       no credentials found in the standard chain
        │   ├── MalformedResponse   an answer without the members the model promises
        │   └── RequestRejected     any other 4xx (ValidationException, ...): a bug or a bad value
        └── ArchiveError       a deployment's archive could not be written or checked (file, S3)

The AWS adapter (ggwatch.aws) is the only code that raises AWSError, from botocore's
exceptions, keeping the original as __cause__.
"""

from __future__ import annotations

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


class NoCredentials(AWSError):
    pass


class MalformedResponse(AWSError):
    pass


class RequestRejected(AWSError):
    pass


class ArchiveError(RuntimeFailure):
    """A deployment's archive could not be written or checked: the file path or S3 location,
    and the reason (the OS error, or the AWS error code). Cleanup deletes nothing unarchived."""
