"""Realism knobs: latency, the shared request quota, DeleteDeployment's ceiling, faults.

Defaults follow the published quotas (shared/reference/greengrass-v2-facts.md): one budget of
30 requests/second for all control-plane operations of an account and Region (10 in China and
GovCloud), at most 10 deployment deletions in progress per account, and CreateComponentVersion's
own budget of 1 request/second per account and Region, on top of the shared one. AWS IoT calls
(served on the same port) draw on a budget of their own, `iot_rate`.
"""

from __future__ import annotations

import math
import random
from collections import deque
from collections.abc import Callable, Collection
from dataclasses import dataclass, field, fields, replace
from typing import Any

from ggwatch.sim.store import CANDIDATES_READINGS, SUPERSEDED_READINGS, Readings

DEFAULT_RATE = 30.0
REDUCED_RATE = 10.0  # China (Beijing, Ningxia) and the GovCloud Regions
COMPONENT_VERSION_RATE = 1.0  # CreateComponentVersion, per account and Region
# AWS IoT calls (ListThingsInThingGroup, ListThingGroupsForThing), per account and Region.
# NOT CONFIRMED: AWS IoT Core's per-API rates are on its quotas page, not in our facts.
IOT_RATE = 10.0
DELETE_ACTIVE_READINGS = ("conflict", "validation")


def default_rate(region: str) -> float:
    if region.startswith(("cn-", "us-gov-")):
        return REDUCED_RATE
    return DEFAULT_RATE


@dataclass(slots=True)
class Knobs:
    """What the simulator does besides answering correctly. All changeable at run time."""

    latency_ms: float = 0.0  # fixed delay before each AWS answer
    jitter_ms: float = 0.0  # plus a uniform random delay of up to this much
    # Requests/second per account and Region; None = the real quota of the Region, 0 = no limit.
    rate_limit: float | None = None
    burst: float | None = None  # bucket size; None = one second's worth
    # CreateComponentVersion's own requests/second; None = the real 1, 0 = no limit. A
    # rate_limit of 0 lifts it too: 0 there turns the quota model off.
    component_version_rate: float | None = None
    # AWS IoT's own requests/second (IOT_RATE, NOT CONFIRMED), apart from Greengrass's budget;
    # 0 = no limit, and a rate_limit of 0 lifts it too.
    iot_rate: float = IOT_RATE
    error_rate: float = 0.0  # share of AWS calls answered 500 InternalServerException
    retry_after_seconds: int = 1  # sent with 500s
    access_denied: frozenset[str] = frozenset()  # operation names, or "*" for all
    page_cap: int = 100  # at most this many items a page, whatever maxResults asks
    deletion_slots: int = 10  # deployment deletions that may be in progress per account
    deletion_seconds: float = 2.0  # how long one stays in progress (its IoT job's deletion)
    readings: Readings = field(default_factory=Readings)

    def update(self, changes: dict[str, Any], operations: Collection[str] = ()) -> None:
        """Apply a partial update from the control API, validating every value first.

        With `operations` (the service model's), access_denied may name only those."""
        names = {f.name for f in fields(self)}
        staged = Knobs(**{n: getattr(self, n) for n in names})
        for key, value in changes.items():
            if key in READING_NAMES:
                staged.readings = _reading(staged.readings, key, value)
            elif key == "access_denied":
                if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
                    raise ValueError("access_denied must be a list of operation names or ['*']")
                staged.access_denied = frozenset(value)
            elif key in names and key != "readings":
                setattr(staged, key, _number(key, value))
            else:
                raise ValueError(f"unknown knob {key!r}")
        staged.check(operations)
        for name in names:
            if name != "readings":
                setattr(self, name, getattr(staged, name))
        # Keep the Readings object: the store holds it, so a change takes effect at once.
        for reading in READING_NAMES:
            setattr(self.readings, reading, getattr(staged.readings, reading))

    def check(self, operations: Collection[str] = ()) -> None:
        """Every knob in range; with `operations`, access_denied names only those (or *)."""
        for name in (
            "latency_ms",
            "jitter_ms",
            "rate_limit",
            "burst",
            "error_rate",
            "component_version_rate",
            "iot_rate",
        ):
            value = getattr(self, name)
            if value is not None and not math.isfinite(value):
                raise ValueError(f"{name} must be a finite number")
        unknown = sorted(self.access_denied - {"*"} - set(operations)) if operations else []
        if unknown:
            raise ValueError(
                f"access_denied: {', '.join(unknown)}: no such Greengrass V2, AWS IoT or Account "
                "operation (names as in the API reference, such as ListDeployments, or *)"
            )
        if self.latency_ms < 0 or self.jitter_ms < 0:
            raise ValueError("latency_ms and jitter_ms must be >= 0")
        for name in ("rate_limit", "component_version_rate", "iot_rate"):
            rate = getattr(self, name)
            if rate is not None and rate < 0:
                raise ValueError(f"{name} must be >= 0")
        if self.burst is not None and self.burst < 1:
            raise ValueError("burst must be >= 1")
        if not 0.0 <= self.error_rate <= 1.0:
            raise ValueError("error_rate must be between 0 and 1")
        if not 1 <= self.page_cap <= 100:
            raise ValueError("page_cap must be between 1 and 100")
        if self.deletion_slots < 1 or self.deletion_seconds < 0:
            raise ValueError("deletion_slots must be >= 1 and deletion_seconds >= 0")
        if self.retry_after_seconds < 0:
            raise ValueError("retry_after_seconds must be >= 0")

    def public(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in fields(self) if f.name != "readings"}
        out["access_denied"] = sorted(self.access_denied)
        out.update({reading: getattr(self.readings, reading) for reading in READING_NAMES})
        return out

    def denies(self, operation: str) -> bool:
        return "*" in self.access_denied or operation in self.access_denied


READING_NAMES = (
    "superseded_status",
    "delete_active_error",
    "private_guidance",
    "candidates_for_iam",
)


def _reading(readings: Readings, key: str, value: Any) -> Readings:
    """A copy of `readings` with one switch changed, checked."""
    if key == "superseded_status" and value not in SUPERSEDED_READINGS:
        raise ValueError(f"superseded_status must be one of {SUPERSEDED_READINGS}")
    if key == "delete_active_error" and value not in DELETE_ACTIVE_READINGS:
        raise ValueError(f"delete_active_error must be one of {DELETE_ACTIVE_READINGS}")
    if key == "private_guidance" and not isinstance(value, bool):
        raise TypeError("private_guidance must be true or false")
    if key == "candidates_for_iam" and value not in CANDIDATES_READINGS:
        raise ValueError(f"candidates_for_iam must be one of {CANDIDATES_READINGS}")
    return replace(readings, **{key: value})


def _number(key: str, value: Any) -> Any:
    if value is None and key in ("rate_limit", "burst", "component_version_rate"):
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{key} must be a number")
    if not math.isfinite(value):  # JSON from Python may carry NaN and Infinity
        raise ValueError(f"{key} must be a finite number")
    if key in ("page_cap", "deletion_slots", "retry_after_seconds"):
        if int(value) != value:
            raise ValueError(f"{key} must be a whole number")
        return int(value)
    return float(value)


class TokenBucket:
    """A refilling bucket; `take` answers 0 when a token was taken, else seconds to wait."""

    def __init__(self, rate: float, burst: float, clock: Callable[[], float]) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.clock = clock
        self.stamp = clock()

    def take(self) -> float:
        now = self.clock()
        self.tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate


class Quotas:
    """One request budget per account and Region, shared by every operation."""

    def __init__(self, knobs: Knobs, clock: Callable[[], float]) -> None:
        self.knobs = knobs
        self.clock = clock
        self.buckets: dict[tuple[str, str], TokenBucket] = {}
        self.component_version_buckets: dict[tuple[str, str], TokenBucket] = {}
        self.iot_buckets: dict[tuple[str, str], TokenBucket] = {}
        self.deleting: dict[str, deque[float]] = {}

    def admit(self, account: str, region: str) -> float:
        """0 if the call may go ahead, else the seconds after which a token will be there."""
        rate = self.knobs.rate_limit
        if rate is None:
            rate = default_rate(region)
        if rate == 0:
            return 0.0
        burst = self.knobs.burst or max(1.0, rate)
        bucket = self.buckets.get((account, region))
        if bucket is None or bucket.rate != rate or bucket.burst != burst:
            bucket = self.buckets[(account, region)] = TokenBucket(rate, burst, self.clock)
        return bucket.take()

    def admit_component_version(self, account: str, region: str) -> float:
        """CreateComponentVersion's own bucket (1/s, no burst), drawn after the shared one."""
        rate = self.knobs.component_version_rate
        if rate is None:
            rate = COMPONENT_VERSION_RATE
        if rate == 0 or self.knobs.rate_limit == 0:
            return 0.0
        bucket = self.component_version_buckets.get((account, region))
        if bucket is None or bucket.rate != rate:
            bucket = TokenBucket(rate, 1.0, self.clock)
            self.component_version_buckets[(account, region)] = bucket
        return bucket.take()

    def admit_iot(self, account: str, region: str) -> float:
        """AWS IoT's bucket (`iot_rate`, one second's worth of burst), apart from the shared
        Greengrass one: neither is charged for the other's calls."""
        rate = self.knobs.iot_rate
        if rate == 0 or self.knobs.rate_limit == 0:
            return 0.0
        bucket = self.iot_buckets.get((account, region))
        if bucket is None or bucket.rate != rate:
            bucket = TokenBucket(rate, max(1.0, rate), self.clock)
            self.iot_buckets[(account, region)] = bucket
        return bucket.take()

    def start_deletion(self, account: str) -> bool:
        """Take one of the account's deletion slots; False when all are in progress."""
        now = self.clock()
        running = self.deleting.setdefault(account, deque())
        while running and running[0] <= now:
            running.popleft()
        if len(running) >= self.knobs.deletion_slots:
            return False
        running.append(now + self.knobs.deletion_seconds)
        return True


def retry_after(wait_seconds: float) -> int:
    """Retry-After carries whole seconds; never 0 while the caller must actually wait."""
    return max(1, math.ceil(wait_seconds))


def jitter(knobs: Knobs, rng: random.Random) -> float:
    """Seconds to wait before answering."""
    extra = rng.uniform(0.0, knobs.jitter_ms) if knobs.jitter_ms else 0.0
    return (knobs.latency_ms + extra) / 1000.0
