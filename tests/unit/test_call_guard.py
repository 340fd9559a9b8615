"""The call guard: a breaker that opens on a run of connection failures, and a deadline."""

from __future__ import annotations

import anyio
import pytest

from ggwatch import errors
from ggwatch.aws.callguard import BREAKER_THRESHOLD, CIRCUIT_OPEN, DEADLINE, CallGuard


def guard(**changes: float) -> CallGuard:
    options = {"started": anyio.current_time(), "minimum": 60.0, "budget": 10.0, **changes}
    return CallGuard(**options)  # type: ignore[arg-type]


async def test_a_run_of_connection_failures_opens_the_breaker() -> None:
    g = guard()
    for _ in range(BREAKER_THRESHOLD - 1):
        g.connection_failed("connection refused")
    g.check("ListDeployments")  # not yet
    g.connection_failed("connection refused")
    with pytest.raises(errors.Unreachable) as caught:
        g.check("ListDeployments")
    assert caught.value.code == CIRCUIT_OPEN
    assert "connection refused" in caught.value.message


async def test_any_answer_ends_the_run() -> None:
    g = guard()
    for _ in range(BREAKER_THRESHOLD * 3):
        g.connection_failed("timeout")
        g.answered()  # a throttle or a 500 is an answer: the endpoint is there
    g.check("ListDeployments")


async def test_the_automatic_deadline_grows_with_what_the_pass_needs() -> None:
    g = guard(minimum=60.0, budget=10.0)
    assert g.deadline - g.started == 60.0
    g.expect_calls(100)  # 10 s at the budget, 40 s with room: the minimum still rules
    assert g.deadline - g.started == 60.0
    g.expect_calls(1000)  # 100 s at the budget: four times that
    assert g.deadline - g.started == pytest.approx(400.0)
    g.expect_calls(10)  # never moves in
    assert g.deadline - g.started == pytest.approx(400.0)


async def test_a_fixed_deadline_does_not_move() -> None:
    g = guard(fixed=5.0)
    g.expect_calls(10_000)
    assert g.deadline - g.started == 5.0


async def test_a_passed_deadline_refuses_every_call() -> None:
    g = guard(started=anyio.current_time() - 10.0, fixed=5.0)
    with pytest.raises(errors.DeadlineExceeded) as caught:
        g.check("GetDeployment")
    assert caught.value.code == DEADLINE
    assert "deadline of 5 s" in caught.value.message
