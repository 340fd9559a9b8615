"""How old a cached guidance read may be when a scan starts (ggwatch.scan.guidance_max_age)."""

from __future__ import annotations

import pytest

from ggwatch.model import DEFAULT_ALIAS, TargetId
from ggwatch.scan import ScanState, guidance_max_age
from ggwatch.settings import Settings


@pytest.mark.parametrize(
    ("refresh", "interval", "jitter", "expected"),
    [
        (900.0, 300.0, 0.1, 570.0),  # the defaults: re-read at the second scan after 570 s
        (900.0, 300.0, 0.0, 600.0),
        (100.0, 300.0, 0.1, 0.0),  # refresh shorter than a poll: every scan re-reads
        (0.0, 60.0, 0.1, 0.0),
    ],
)
def test_max_age_leaves_room_for_the_longest_wait_between_scans(
    refresh: float, interval: float, jitter: float, expected: float
) -> None:
    settings = Settings(
        describe_refresh_seconds=refresh, poll_interval_seconds=interval, poll_jitter=jitter
    )
    assert guidance_max_age(settings.poll) == pytest.approx(expected)


def test_a_read_is_never_older_than_the_refresh_when_the_next_scan_could_replace_it() -> None:
    settings = Settings(describe_refresh_seconds=900.0, poll_interval_seconds=300.0)
    cache = ScanState.new(settings).cache(TargetId(DEFAULT_ALIAS, "eu-west-1"))
    worst_wait = settings.poll_interval_seconds * (1 + settings.poll_jitter)
    assert cache.describe_refresh + worst_wait <= settings.describe_refresh_seconds
