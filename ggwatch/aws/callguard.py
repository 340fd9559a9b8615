"""What bounds one pass over a target: its retries, its circuit breaker and deadline, and the
count of its calls.

A pass (a scan, a refresh, a cleanup cycle) may carry a `CallGuard`: a circuit breaker that
opens after a run of consecutive connection failures or timeouts, and a deadline. Once either
trips, every further call of the pass fails at once (`Unreachable` with code CircuitOpen, or
`DeadlineExceeded`), so a target whose endpoint vanished or that is throttled without end ends
incomplete within seconds, keeping what it read, instead of retrying every remaining call.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass

import anyio

from ggwatch import errors

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


class CallCounter:
    """Attempts by (operation, outcome); outcome is "ok" or the AWS error code."""

    def __init__(self) -> None:
        self.counts: Counter[tuple[str, str]] = Counter()

    def record(self, operation: str, outcome: str) -> None:
        self.counts[(operation, outcome)] += 1
