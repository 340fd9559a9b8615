"""What a botocore failure means to ggwatch: one ggwatch error per failure, and whether (and
how long until) to try again. Shared by every AWS adapter (Greengrass V2, SQS, S3, STS)."""

from __future__ import annotations

from collections.abc import Mapping

from botocore.exceptions import (
    ClientError,
    ConnectionClosedError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    PartialCredentialsError,
    ReadTimeoutError,
)

from ggwatch import errors

RETRYABLE = frozenset(
    {
        "ThrottlingException",
        "TooManyRequestsException",
        "RequestLimitExceeded",
        "InternalServerException",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
    }
)
THROTTLES = errors.THROTTLE_CODES
DENIED = errors.DENIED_CODES
BY_CODE: Mapping[str, type[errors.AWSError]] = {
    **dict.fromkeys(DENIED, errors.AccessDenied),
    **dict.fromkeys(THROTTLES, errors.Throttled),
    "ResourceNotFoundException": errors.NotFound,
    "ConflictException": errors.Conflict,
}
CONNECTION_ERRORS = (
    EndpointConnectionError,
    ConnectTimeoutError,
    ReadTimeoutError,
    ConnectionClosedError,
)
UNREACHABLE = "Unreachable"


def translate(operation: str, exc: Exception) -> errors.AWSError:
    """One ggwatch error for a botocore failure; the original stays as __cause__."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        code = str(error.get("Code") or "Unknown")
        message = str(error.get("Message") or "no message")
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        kind = BY_CODE.get(code)
        if kind is None:
            kind = errors.ServiceError if status >= 500 else errors.RequestRejected
        return kind(operation, code, message.splitlines()[0] if message else message)
    if isinstance(exc, NoCredentialsError | PartialCredentialsError):
        return errors.NoCredentials(operation, "NoCredentials", "no AWS credentials found")
    return errors.Unreachable(operation, UNREACHABLE, str(exc).splitlines()[0])


def retry_after(exc: ClientError) -> float | None:
    """The wait the service asked for (Retry-After, in seconds); None when it asked none."""
    value = exc.response.get("retryAfterSeconds")
    if value is None:
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date; the backoff decides instead
