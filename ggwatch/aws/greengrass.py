"""The Greengrass V2 adapter: pagination, pacing, retries, call counting, error translation.

Callers see domain values (ggwatch.model) and ggwatch errors, never botocore dicts or
exceptions. Every attempt passes the shared token bucket and is counted by operation and
outcome. Throttling is normal: the adapter waits as long as the service's Retry-After says
(botocore ignores that header) and pauses the whole bucket, since every caller of that budget
would be refused alike.

A pass over a target (a scan, a refresh, a cleanup cycle) may carry a `CallGuard`: a circuit
breaker that opens after a run of consecutive connection failures or timeouts, and a deadline.
Once either trips, every further call of the pass fails at once (`Unreachable` with code
CircuitOpen, or `DeadlineExceeded`), so a target whose endpoint vanished or that is throttled
without end ends incomplete within seconds, keeping what it read, instead of retrying every
remaining call.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Mapping
from contextlib import nullcontext
from dataclasses import dataclass
from functools import partial
from types import MappingProxyType
from typing import Any, Protocol, TypeVar

import anyio
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
from ggwatch.aws.quota import TokenBucket
from ggwatch.model import (
    CoreDevice,
    Deployment,
    DeploymentDetail,
    Guidance,
    InstalledComponent,
    VersionRef,
    VersionStatus,
)

T = TypeVar("T")
PAGE_SIZE = 100  # the model's maximum: fewest calls per listing

# Every Greengrass V2 operation ggwatch may call; `AioGreengrass.call` refuses any other. The IAM
# policies in deploy/iam/ grant exactly these (tests/deploy/test_iam.py holds them to it).
READ_OPERATIONS: frozenset[str] = frozenset(
    {
        "ListComponents",
        "ListComponentVersions",
        "DescribeComponent",
        "ListDeployments",
        "GetDeployment",
        "ListCoreDevices",
        "ListInstalledComponents",
    }
)
CLEANUP_OPERATIONS: frozenset[str] = frozenset({"DeleteDeployment"})  # and GetDeployment, a read
OPERATIONS: frozenset[str] = READ_OPERATIONS | CLEANUP_OPERATIONS

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
CIRCUIT_OPEN = "CircuitOpen"
DEADLINE = "ScanDeadline"
# Consecutive connection failures or timeouts (across all calls of a pass) that open the
# breaker: a few calls in flight each failing once or twice is a dead endpoint, not bad luck.
BREAKER_THRESHOLD = 5
# An automatic deadline is this many times the rate-limit floor of what the pass is known to
# need (and never less than the poll interval): room for throttling and retries, not for a hang.
DEADLINE_FLOOR_MULTIPLE = 4.0


class CallGuard:
    """The circuit breaker and deadline one pass over a target shares between its calls.

    `deadline` is on the event loop's clock (anyio.current_time). With `fixed=False` it is the
    automatic one: `expect_calls` moves it out as the pass learns how big the fleet is, to
    `started + max(minimum, DEADLINE_FLOOR_MULTIPLE x calls / budget)`.
    """

    def __init__(
        self,
        *,
        started: float,
        minimum: float,
        budget: float,
        fixed: float | None = None,
        threshold: int = BREAKER_THRESHOLD,
    ) -> None:
        self.started = started
        self.minimum = minimum
        self.budget = budget
        self.fixed = fixed is not None
        self.deadline = started + (fixed if fixed is not None else minimum)
        self.threshold = threshold
        self.failures = 0  # consecutive connection failures or timeouts
        self.opened: str | None = None  # why the breaker opened: the last failure's words

    def expect_calls(self, calls: int) -> None:
        """The pass needs at least `calls` calls: an automatic deadline makes room for them."""
        if not self.fixed:
            floor = calls / self.budget if self.budget > 0 else 0.0
            allowed = max(self.minimum, DEADLINE_FLOOR_MULTIPLE * floor)
            self.deadline = max(self.deadline, self.started + allowed)

    def remaining(self) -> float:
        return self.deadline - anyio.current_time()

    def check(self, operation: str) -> None:
        """Raise at once when the pass may make no more calls."""
        if self.opened is not None:
            raise errors.Unreachable(
                operation,
                CIRCUIT_OPEN,
                f"not called: {self.threshold} consecutive connection failures ({self.opened})",
            )
        if self.remaining() <= 0:
            raise errors.DeadlineExceeded(operation, DEADLINE, self.expired_message())

    def expired_message(self) -> str:
        return f"the scan's deadline of {self.deadline - self.started:.0f} s passed"

    def connection_failed(self, why: str) -> None:
        self.failures += 1
        if self.failures >= self.threshold and self.opened is None:
            self.opened = why

    def answered(self) -> None:
        """The endpoint answered (any answer, an error too): the run of failures ends."""
        self.failures = 0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_attempts: int = 8
    base_delay: float = 0.2  # seconds; doubles per attempt, with full jitter
    max_delay: float = 20.0

    def backoff(self, attempt: int, rng: random.Random) -> float:
        return rng.uniform(0.0, min(self.max_delay, self.base_delay * 2**attempt))


@dataclass(frozen=True, slots=True)
class ComponentSummary:
    name: str
    arn: str  # the component's ARN, without a version


class GreengrassAPI(Protocol):
    """The Greengrass V2 calls ggwatch makes, in domain terms."""

    region: str

    @property
    def budget(self) -> float:
        """Requests/second this client may make: its share of the account's budget."""
        ...

    def expect_calls(self, calls: int) -> None:
        """The pass needs at least `calls` calls: its automatic deadline makes room for them."""
        ...

    async def list_components(self, scope: str) -> tuple[ComponentSummary, ...]: ...
    async def list_deployments(self) -> tuple[Deployment, ...]: ...
    async def get_deployment(self, deployment_id: str) -> DeploymentDetail: ...
    async def describe_component(self, ref: VersionRef, arn: str) -> VersionStatus: ...
    def component_versions(self, component_arn: str) -> AsyncIterator[tuple[str, str]]: ...
    async def list_core_devices(self) -> tuple[CoreDevice, ...]: ...
    async def list_installed_components(self, thing: str) -> tuple[InstalledComponent, ...]: ...


class DeploymentAdmin(Protocol):
    """The calls the cleanup makes: a fresh read, and the delete."""

    region: str

    async def get_deployment_document(self, deployment_id: str) -> dict[str, Any]: ...
    async def delete_deployment(self, deployment_id: str) -> None: ...


class CallCounter:
    """Attempts by (operation, outcome); outcome is "ok" or the AWS error code."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def record(self, operation: str, outcome: str) -> None:
        self.counts[(operation, outcome)] += 1


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


def _retry_after(exc: ClientError) -> float | None:
    value = exc.response.get("retryAfterSeconds")
    if value is None:
        headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
        value = headers.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except (TypeError, ValueError):
        return None  # an HTTP date; the backoff decides instead


class AioGreengrass:
    """GreengrassAPI over one aiobotocore client (one account and Region)."""

    def __init__(
        self,
        client: Any,
        region: str,
        bucket: TokenBucket,
        counter: CallCounter,
        policy: RetryPolicy | None = None,
        rng: random.Random | None = None,
        guard: CallGuard | None = None,
    ) -> None:
        self.client = client
        self.region = region
        self.bucket = bucket
        self.counter = counter
        self.policy = policy or RetryPolicy()
        self.rng = rng or random.Random()
        self.guard = guard

    @property
    def budget(self) -> float:
        return self.bucket.ceiling

    def expect_calls(self, calls: int) -> None:
        if self.guard is not None:
            self.guard.expect_calls(calls)

    async def call(self, operation: str, **params: Any) -> dict[str, Any]:
        """One operation, paced and retried; raises a ggwatch AWSError when it gives up.

        An operation outside OPERATIONS is a bug (the IAM policies would deny it): ValueError.
        """
        if operation not in OPERATIONS:
            raise ValueError(f"{operation} is not a registered Greengrass V2 operation")
        method = getattr(self.client, _snake(operation))
        attempt = 0
        while True:
            try:
                with self._bounded(operation):
                    await self.bucket.acquire()
                    response: dict[str, Any] = await method(**params)
            except ClientError as exc:
                self._answered()
                code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
                self.counter.record(operation, code)
                status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
                if not (code in RETRYABLE or status >= 500):
                    raise translate(operation, exc) from exc
                wait = _retry_after(exc)
                if code in THROTTLES:
                    self.bucket.throttled(wait)
                delay = wait if wait is not None else self.policy.backoff(attempt, self.rng)
                failure: Exception = exc
            except CONNECTION_ERRORS as exc:
                self.counter.record(operation, UNREACHABLE)
                if self.guard is not None:
                    self.guard.connection_failed(str(exc).splitlines()[0])
                delay, failure = self.policy.backoff(attempt, self.rng), exc
            except (NoCredentialsError, PartialCredentialsError) as exc:
                self.counter.record(operation, "NoCredentials")
                raise translate(operation, exc) from exc
            except TimeoutError:
                if self.guard is None or self.guard.remaining() > 0:
                    raise  # not the pass's deadline: a bug below, not a failure to report
                raise errors.DeadlineExceeded(
                    operation, DEADLINE, self.guard.expired_message()
                ) from None
            else:
                self._answered()
                self.counter.record(operation, "ok")
                self.bucket.succeeded()
                return response
            attempt += 1
            if attempt >= self.policy.max_attempts:
                raise translate(operation, failure) from failure
            if self.guard is not None:
                if self.guard.opened is not None and isinstance(failure, CONNECTION_ERRORS):
                    # A call that failed to connect reports its own failure, the cause; only
                    # calls the open breaker stops before they start say CircuitOpen.
                    raise translate(operation, failure) from failure
                self.guard.check(operation)
                delay = min(delay, max(0.0, self.guard.remaining()))
            await anyio.sleep(delay)

    def _bounded(self, operation: str) -> Any:
        """One attempt's scope: none without a guard; else refused at once when the breaker is
        open or the deadline passed, and cut off (TimeoutError) when the deadline comes."""
        if self.guard is None:
            return nullcontext()
        self.guard.check(operation)
        return anyio.fail_after(max(0.0, self.guard.remaining()))

    def _answered(self) -> None:
        if self.guard is not None:
            self.guard.answered()

    async def pages(self, operation: str, key: str, **params: Any) -> AsyncIterator[list[Any]]:
        """Each page's items; every page call is paced and retried on its own."""
        token: str | None = None
        while True:
            extra = {"nextToken": token} if token else {}
            response = await self.call(operation, maxResults=PAGE_SIZE, **params, **extra)
            yield list(response.get(key) or [])
            token = response.get("nextToken")
            if not token:
                return

    async def _all(self, operation: str, key: str, **params: Any) -> list[Any]:
        items: list[Any] = []
        async for page in self.pages(operation, key, **params):
            items.extend(page)
        return items

    async def list_components(self, scope: str) -> tuple[ComponentSummary, ...]:
        items = await self._all("ListComponents", "components", scope=scope)
        return _parsed(
            "ListComponents",
            lambda: tuple(ComponentSummary(i["componentName"], i["arn"]) for i in items),
        )

    async def list_deployments(self) -> tuple[Deployment, ...]:
        items = await self._all("ListDeployments", "deployments", historyFilter="ALL")
        return _parsed("ListDeployments", lambda: tuple(_deployment(i) for i in items))

    async def get_deployment(self, deployment_id: str) -> DeploymentDetail:
        response = await self.call("GetDeployment", deploymentId=deployment_id)
        return _parsed("GetDeployment", lambda: _detail(deployment_id, response))

    async def get_deployment_document(self, deployment_id: str) -> dict[str, Any]:
        """GetDeployment's whole answer (what an archive keeps), without response metadata."""
        response = await self.call("GetDeployment", deploymentId=deployment_id)
        return {k: v for k, v in response.items() if k != "ResponseMetadata"}

    async def delete_deployment(self, deployment_id: str) -> None:
        """DeleteDeployment. NotFound and Conflict reach the caller, who decides what they mean."""
        await self.call("DeleteDeployment", deploymentId=deployment_id)

    async def describe_component(self, ref: VersionRef, arn: str) -> VersionStatus:
        try:
            response = await self.call("DescribeComponent", arn=arn)
        except errors.NotFound:
            return VersionStatus(ref, arn, Guidance.DELETED, None, exists=False)
        return _parsed("DescribeComponent", lambda: _status(ref, arn, response))

    async def component_versions(self, component_arn: str) -> AsyncIterator[tuple[str, str]]:
        pages = self.pages("ListComponentVersions", "componentVersions", arn=component_arn)
        async for page in pages:
            for version in _parsed("ListComponentVersions", partial(_versions, page)):
                yield version

    async def list_core_devices(self) -> tuple[CoreDevice, ...]:
        items = await self._all("ListCoreDevices", "coreDevices")
        return _parsed("ListCoreDevices", lambda: tuple(_device(i) for i in items))

    async def list_installed_components(self, thing: str) -> tuple[InstalledComponent, ...]:
        items = await self._all(
            "ListInstalledComponents",
            "installedComponents",
            coreDeviceThingName=thing,
            topologyFilter="ALL",  # the default, ROOT, hides dependencies such as the nucleus
        )
        return _parsed("ListInstalledComponents", lambda: tuple(_installed(i) for i in items))


def _deployment(item: Mapping[str, Any]) -> Deployment:
    return Deployment(
        deployment_id=item["deploymentId"],
        name=item.get("deploymentName"),
        target_arn=item["targetArn"],
        revision_id=item.get("revisionId"),
        status=item.get("deploymentStatus", "UNKNOWN"),
        is_latest=bool(item.get("isLatestForTarget")),
        created=_utc(item["creationTimestamp"]),
        parent_target_arn=item.get("parentTargetArn"),
    )


def _detail(deployment_id: str, response: Mapping[str, Any]) -> DeploymentDetail:
    components = response.get("components") or {}
    refs = sorted(VersionRef(name, spec["componentVersion"]) for name, spec in components.items())
    return DeploymentDetail(
        deployment_id, tuple(refs), MappingProxyType(dict(response.get("tags") or {}))
    )


def _status(ref: VersionRef, arn: str, response: Mapping[str, Any]) -> VersionStatus:
    status = response.get("status") or {}
    try:
        guidance = Guidance(status.get("vendorGuidance") or Guidance.ACTIVE.value)
    except ValueError:
        guidance = Guidance.ACTIVE  # a value newer than this code: do not raise false alarms
    return VersionStatus(ref, arn, guidance, status.get("vendorGuidanceMessage"))


def _versions(page: list[Any]) -> list[tuple[str, str]]:
    return [(item["componentVersion"], item["arn"]) for item in page]


def _device(item: Mapping[str, Any]) -> CoreDevice:
    stamp = item.get("lastStatusUpdateTimestamp")
    return CoreDevice(
        thing_name=item["coreDeviceThingName"],
        status=item.get("status"),
        last_status_update=_utc(stamp) if stamp else None,
    )


def _installed(item: Mapping[str, Any]) -> InstalledComponent:
    return InstalledComponent(
        name=item["componentName"],
        version=item["componentVersion"],
        is_root=bool(item.get("isRoot")),
        lifecycle_state=item.get("lifecycleState"),
        installation_source=item.get("lastInstallationSource"),
    )


def _parsed(operation: str, convert: Callable[[], T]) -> T:
    """Build domain values from a response; a missing or mistyped member is a clear error."""
    try:
        return convert()
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        detail = f"missing member {exc}" if isinstance(exc, KeyError) else str(exc)
        raise errors.MalformedResponse(operation, "MalformedResponse", detail) from exc


def _utc(value: dt.datetime) -> dt.datetime:
    return value.astimezone(dt.UTC)


def _snake(operation: str) -> str:
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
