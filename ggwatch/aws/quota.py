"""Client-side pacing under Greengrass V2's shared request budget.

AWS gives each account and Region one budget of 30 requests/second for all Greengrass V2
control-plane operations together (10 in China and GovCloud), shared with the account's deploy
pipelines and consoles. ggwatch takes only a share of it through one bucket per account and
Region that every call passes.

When the service throttles anyway (others are using the budget), the bucket backs off the way
TCP does (AIMD): it halves its rate once per throttling episode and pauses for the service's
Retry-After, then adds back a fifth of its share per second of success, up to its share. Its
burst is a tenth of a second's worth, so it never outruns the service's own bucket.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

from ggwatch.names import partition

FULL_RATE = 30.0
REDUCED_RATE = 10.0
MIN_RATE = 0.2  # never stop entirely: a scan must finish, only slower
RECOVERY = 0.2  # share of the ceiling added back per second of success after a back-off
BURST_SECONDS = 0.1  # tokens a quiet bucket may save up, in seconds of its rate


def service_rate(region: str) -> float:
    """The account's whole Greengrass V2 budget in a Region, requests/second."""
    return REDUCED_RATE if partition(region) != "aws" else FULL_RATE


class TokenBucket:
    """Tokens refill at `rate` per second up to a tenth of a second's worth; `acquire` waits."""

    def __init__(self, ceiling: float, clock: Callable[[], float] | None = None) -> None:
        if ceiling <= 0:
            raise ValueError("rate must be > 0")
        self.ceiling = ceiling
        self.rate = ceiling
        self._clock = clock or anyio.current_time
        self._tokens = self.burst
        self._stamp = self._clock()
        self._paused_until = 0.0
        self._lock = anyio.Lock()
        self.backoffs = 0  # throttling episodes so far, for stats

    @property
    def burst(self) -> float:
        return max(1.0, self.rate * BURST_SECONDS)

    def _refill(self, now: float) -> None:
        self._tokens = min(self.burst, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now

    async def acquire(self) -> None:
        # One waiter at a time, so callers are served in arrival order.
        async with self._lock:
            while True:
                now = self._clock()
                if now < self._paused_until:
                    await anyio.sleep(self._paused_until - now)
                    continue
                self._refill(now)
                if self._tokens >= 1.0:
                    self._tokens -= 1.0
                    return
                await anyio.sleep((1.0 - self._tokens) / self.rate)

    def throttled(self, retry_after: float | None) -> None:
        """The service refused a call for the budget: back off, once per episode."""
        now = self._clock()
        if now >= self._paused_until:  # a new episode, not another answer from the same one
            self.rate = max(MIN_RATE, self.rate / 2.0)
            self.backoffs += 1
        pause = retry_after if retry_after is not None else 1.0 / self.rate
        self._paused_until = max(self._paused_until, now + pause)
        self._tokens = 0.0
        self._stamp = now

    def succeeded(self) -> None:
        """Each success adds a little, so a second of them adds RECOVERY x the ceiling."""
        if self.rate < self.ceiling:
            self.rate = min(self.ceiling, self.rate + RECOVERY * self.ceiling / self.rate)
