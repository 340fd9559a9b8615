"""Client-side pacing under Greengrass V2's shared request budget.

AWS gives each account and Region one budget of 30 requests/second for all Greengrass V2
control-plane operations together (10 in China and GovCloud), shared with the account's deploy
pipelines and consoles. ggwatch takes only a share of it through one bucket per account and
Region that every call passes, and pauses the whole bucket when the service answers with
Retry-After, since every caller of that budget would be refused alike.
"""

from __future__ import annotations

from collections.abc import Callable

import anyio

FULL_RATE = 30.0
REDUCED_RATE = 10.0


def service_rate(region: str) -> float:
    """The account's whole Greengrass V2 budget in a Region, requests/second."""
    return REDUCED_RATE if region.startswith(("cn-", "us-gov-")) else FULL_RATE


class TokenBucket:
    """Tokens refill at `rate` per second up to `burst`; `acquire` waits for one."""

    def __init__(
        self, rate: float, burst: float | None = None, clock: Callable[[], float] | None = None
    ) -> None:
        if rate <= 0:
            raise ValueError("rate must be > 0")
        self.rate = rate
        self.burst = burst if burst is not None else max(1.0, rate)
        self._clock = clock or anyio.current_time
        self._tokens = self.burst
        self._stamp = self._clock()
        self._paused_until = 0.0
        self._lock = anyio.Lock()

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

    def pause(self, seconds: float) -> None:
        """The service said to wait: nobody using this budget calls before then."""
        now = self._clock()
        self._paused_until = max(self._paused_until, now + seconds)
        self._tokens = 0.0
        self._stamp = now
