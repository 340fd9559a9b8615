"""What every AWS control-plane adapter of a scan shares: pacing, retries, call counting, the
pass's guard, pagination and error translation, over one aiobotocore client.

Every attempt passes the adapter's token bucket (one per account, Region and service budget)
and is counted by operation and outcome. Throttling is normal: the adapter waits as long as the
service's Retry-After says (botocore ignores that header) and pauses the whole bucket, since
every caller of that budget would be refused alike.

A pass over a target (a scan, a refresh, a cleanup cycle) may carry a `CallGuard`
(ggwatch.aws.callguard): once its breaker opens or its deadline passes, every further call of
the pass fails at once.

Each service's adapter (ggwatch.aws.greengrass.AioGreengrass, ggwatch.aws.iot.AioIot) names
its registry of operations, which `call` enforces, and its largest page.
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from contextlib import nullcontext
from typing import Any, ClassVar, NamedTuple

import anyio
from botocore.exceptions import ClientError, NoCredentialsError, PartialCredentialsError

from ggwatch import errors
from ggwatch.aws.callguard import DEADLINE, CallCounter, CallGuard, RetryPolicy
from ggwatch.aws.failures import (
    CONNECTION_ERRORS,
    RETRYABLE,
    THROTTLES,
    UNREACHABLE,
    retry_after,
    translate,
)
from ggwatch.aws.quota import TokenBucket

__all__ = ["PacedClient"]


class PacedClient:
    """One aiobotocore client (one account, Region and service), paced, retried and counted."""

    # What a subclass names: the service as people say it, the operations it may call (the
    # IAM policies grant exactly these) and the largest page its listings allow.
    service: ClassVar[str]
    operations: ClassVar[frozenset[str]]
    page_size: ClassVar[int]

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

        An operation outside the registry is a bug (the IAM policies would deny it): ValueError.
        """
        if operation not in self.operations:
            raise ValueError(f"{operation} is not a registered {self.service} operation")
        method = getattr(self.client, _snake(operation))
        attempt = 0
        while True:
            outcome = await self._attempt(operation, method, params, attempt)
            if not isinstance(outcome, _Retry):
                return outcome
            attempt += 1
            await anyio.sleep(self._retry_wait(operation, outcome, attempt))

    async def _attempt(
        self, operation: str, method: Any, params: dict[str, Any], attempt: int
    ) -> dict[str, Any] | _Retry:
        """One paced attempt, counted: the answer, or the failure worth retrying and the wait
        it asks for. Raises what is not worth retrying (cancellation is never caught)."""
        try:
            with self._bounded(operation):
                await self.bucket.acquire()
                response: dict[str, Any] = await method(**params)
        except ClientError as exc:
            return self._client_error(operation, exc, attempt)
        except CONNECTION_ERRORS as exc:
            self.counter.record(operation, UNREACHABLE)
            if self.guard is not None:
                self.guard.connection_failed(str(exc).splitlines()[0])
            return _Retry(exc, self.policy.backoff(attempt, self.rng))
        except (NoCredentialsError, PartialCredentialsError) as exc:
            self.counter.record(operation, "NoCredentials")
            raise translate(operation, exc) from exc
        except TimeoutError:
            if self.guard is None or self.guard.remaining() > 0:
                raise  # not the pass's deadline: a bug below, not a failure to report
            raise errors.DeadlineExceeded(
                operation, DEADLINE, self.guard.expired_message()
            ) from None
        self._answered()
        self.counter.record(operation, "ok")
        self.bucket.succeeded()
        return response

    def _client_error(self, operation: str, exc: ClientError, attempt: int) -> _Retry:
        """An answer that is an error, counted by its code: raised unless throttling or a
        service fault, else the wait (Retry-After, or the back-off); throttling pauses the
        bucket."""
        self._answered()
        code = str(exc.response.get("Error", {}).get("Code") or "Unknown")
        self.counter.record(operation, code)
        status = int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode") or 0)
        if not (code in RETRYABLE or status >= 500):
            raise translate(operation, exc) from exc
        wait = retry_after(exc)
        if code in THROTTLES:
            self.bucket.throttled(wait)
        return _Retry(exc, wait if wait is not None else self.policy.backoff(attempt, self.rng))

    def _retry_wait(self, operation: str, retry: _Retry, attempts: int) -> float:
        """How long to wait before the next attempt, after `attempts` failed ones; raises when
        the attempts are used up, the breaker is open or the deadline passed. The wait never
        outlasts the deadline."""
        failure = retry.failure
        if attempts >= self.policy.max_attempts:
            raise translate(operation, failure) from failure
        if self.guard is None:
            return retry.delay
        if self.guard.opened is not None and isinstance(failure, CONNECTION_ERRORS):
            # A call that failed to connect reports its own failure, the cause; only
            # calls the open breaker stops before they start say CircuitOpen.
            raise translate(operation, failure) from failure
        self.guard.check(operation)
        return min(retry.delay, max(0.0, self.guard.remaining()))

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
        """Each page's items, the largest pages the service allows; every page call is paced
        and retried on its own."""
        token: str | None = None
        while True:
            extra = {"nextToken": token} if token else {}
            response = await self.call(operation, maxResults=self.page_size, **params, **extra)
            yield list(response.get(key) or [])
            token = response.get("nextToken")
            if not token:
                return

    async def _all(self, operation: str, key: str, **params: Any) -> list[Any]:
        items: list[Any] = []
        async for page in self.pages(operation, key, **params):
            items.extend(page)
        return items


class _Retry(NamedTuple):
    """A failed attempt worth another: the failure, and the wait it asks for (seconds)."""

    failure: Exception
    delay: float


def _snake(operation: str) -> str:
    out = []
    for index, char in enumerate(operation):
        if char.isupper() and index:
            out.append("_")
        out.append(char.lower())
    return "".join(out)
