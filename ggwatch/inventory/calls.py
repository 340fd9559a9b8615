"""How one pass over a target makes its calls: a bounded pool of workers, and the failures met.

A failed call is recorded and the pass carries on; what could not be read stays absent.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import TypeVar

import anyio

from ggwatch.aws.callguard import CIRCUIT_OPEN, DEADLINE
from ggwatch.errors import AWSError
from ggwatch.model import TargetError

T = TypeVar("T")
R = TypeVar("R")


async def bounded_each(
    items: Iterable[T], func: Callable[[T], Awaitable[None]], limit: int
) -> None:
    """Run func over items with at most `limit` in flight: a fixed pool of workers, no gather."""
    source = iter(items)

    async def worker() -> None:
        for item in source:  # the workers share one iterator; each item is taken once
            await func(item)

    async with anyio.create_task_group() as group:
        for _ in range(max(1, limit)):
            group.start_soon(worker)


@dataclass
class Collector:
    """The failures met while collecting one target, and the calls in flight allowed."""

    limit: int
    errors: list[TargetError] = field(default_factory=list)

    def record(self, exc: AWSError) -> None:
        # Once the breaker is open or the deadline passed, every call left fails alike: one
        # error says so, not one per device.
        if exc.code in (CIRCUIT_OPEN, DEADLINE) and any(e.code == exc.code for e in self.errors):
            return
        self.errors.append(TargetError(exc.operation, exc.code, exc.message))

    def found(self) -> tuple[TargetError, ...]:
        """The errors, causes first: a call cut short by the breaker or the deadline may
        finish before the failure that opened it, and the first error is the one reported."""
        return tuple(sorted(self.errors, key=lambda e: e.code in (CIRCUIT_OPEN, DEADLINE)))

    async def guarded(self, call: Callable[[], Awaitable[R]]) -> R | None:
        done, value = await self.attempt(call)
        return value if done else None

    async def attempt(self, call: Callable[[], Awaitable[R]]) -> tuple[bool, R | None]:
        """(True, its answer), or (False, None) with the failure recorded: for a call whose
        answer may itself be None."""
        try:
            return True, await call()
        except AWSError as exc:
            self.record(exc)
            return False, None
