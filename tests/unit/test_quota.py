"""The client-side budget: service quotas by Region and AIMD back-off, on a fake clock."""

from __future__ import annotations

import pytest

from ggwatch.aws.quota import MIN_RATE, TokenBucket, service_rate


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("region", "rate"),
    [("us-west-2", 30.0), ("eu-central-1", 30.0), ("cn-north-1", 10.0), ("us-gov-west-1", 10.0)],
)
def test_service_rate_by_region(region: str, rate: float) -> None:
    assert service_rate(region) == rate


def test_throttling_halves_once_per_episode() -> None:
    clock = FakeClock()
    bucket = TokenBucket(30.0, clock)
    bucket.throttled(1.0)
    assert bucket.rate == 15.0
    bucket.throttled(1.0)  # another answer from the same burst: same episode
    assert bucket.rate == 15.0
    clock.now += 1.5
    bucket.throttled(None)
    assert bucket.rate == 7.5
    assert bucket.backoffs == 2


def test_rate_never_drops_to_zero() -> None:
    clock = FakeClock()
    bucket = TokenBucket(30.0, clock)
    for _ in range(40):
        clock.now += 10
        bucket.throttled(0.0)
    assert bucket.rate == MIN_RATE


def test_success_adds_back_a_fifth_of_the_ceiling_per_second_up_to_it() -> None:
    clock = FakeClock()
    bucket = TokenBucket(30.0, clock)
    bucket.throttled(1.0)
    # One second of success at 15 requests/second adds about 6 (a fifth of 30).
    for _ in range(15):
        bucket.succeeded()
    assert 20.0 < bucket.rate < 21.5
    for _ in range(10_000):
        bucket.succeeded()
    assert bucket.rate == 30.0


def test_rate_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rate"):
        TokenBucket(0.0)
